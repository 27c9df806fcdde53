namespace Sharpvisor.Vmm.Devices.Legacy;

/// <summary>
/// The calendar as the RTC's time registers hold it, as plain numbers (hour 0-23, day of week 1 = Sunday).
/// The fields may hold nonsense while a guest is halfway through setting the clock.
/// </summary>
internal readonly record struct RtcTime(
    int Second, int Minute, int Hour, int DayOfWeek, int Day, int Month, int YearOfCentury, int Century)
{
    public static RtcTime From(DateTime time) => new(
        time.Second, time.Minute, time.Hour, (int)time.DayOfWeek + 1, time.Day, time.Month, time.Year % 100, time.Year / 100);

    /// <summary>The moment these fields name, or null if they name none. The day of week is not checked: the chip never does.</summary>
    public DateTime? ToDateTime()
    {
        var year = (Century * 100) + YearOfCentury;
        var valid = Second is >= 0 and < 60 && Minute is >= 0 and < 60 && Hour is >= 0 and < 24 &&
                    YearOfCentury is >= 0 and < 100 && year is >= 1 and <= 9999 && Month is >= 1 and <= 12 &&
                    Day >= 1 && Day <= DateTime.DaysInMonth(year, Month);
        return valid ? new DateTime(year, Month, Day, Hour, Minute, Second, DateTimeKind.Utc) : null;
    }
}
