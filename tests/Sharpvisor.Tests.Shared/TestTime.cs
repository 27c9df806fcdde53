using System.Diagnostics;
using System.Globalization;

namespace Sharpvisor.Tests.Shared;

/// <summary>
/// Deadlines that hold on any machine. A test waits for an event (a line of output, a socket, a state) and gives up
/// only after a ceiling; a ceiling written for a quiet machine is multiplied by <see cref="Slowness"/>, which this
/// machine measures, so a slow host (a loaded CI runner, the nested KVM host under software emulation) makes a test
/// slower, never red.
/// </summary>
public static class TestTime
{
    /// <summary>Overrides the measurement (a number, at least 1): <c>SHARPVISOR_TEST_SLOWNESS=20</c>.</summary>
    public const string OverrideVariable = "SHARPVISOR_TEST_SLOWNESS";

    // What the two probes below take on a quiet development machine (2 cores, native, 2026-12): the slowness is how
    // many times longer they take here. Measured with the probes themselves; the larger ratio counts, because the
    // tests wait both for computation (JIT-compiled code, guests) and for processes to start.
    private static readonly TimeSpan ReferenceCompute = TimeSpan.FromMilliseconds(36);
    private static readonly TimeSpan ReferenceSpawn = TimeSpan.FromMilliseconds(20);

    private static readonly Lazy<double> Measured = new(Measure);

    /// <summary>How many times slower than a quiet development machine this one is (1 or more, at most 100).</summary>
    public static double Slowness => Measured.Value;

    /// <summary>A ceiling for a wait that takes at most <paramref name="onAQuietMachine"/> there, scaled for this machine.</summary>
    public static TimeSpan Ceiling(TimeSpan onAQuietMachine) => onAQuietMachine * Slowness;

    /// <summary>What the measurement found, for a test's failure message.</summary>
    public static string Describe() => $"slowness factor {Slowness:0.#} ({OverrideVariable} overrides it)";

    private static double Measure()
    {
        if (Environment.GetEnvironmentVariable(OverrideVariable) is { Length: > 0 } text
            && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var given) && given >= 1)
        {
            return Math.Min(given, 100);
        }

        var compute = Math.Min(Time(Compute).Ticks, Time(Compute).Ticks); // the better of two: the first also pays for the JIT
        var spawn = Math.Min(Time(Spawn).Ticks, Time(Spawn).Ticks);
        var ratio = Math.Max((double)compute / ReferenceCompute.Ticks, (double)spawn / ReferenceSpawn.Ticks);
        return Math.Clamp(ratio, 1, 100);
    }

    private static TimeSpan Time(Action probe)
    {
        var clock = Stopwatch.StartNew();
        probe();
        return clock.Elapsed;
    }

    /// <summary>A fixed amount of integer work that no optimizer removes (its result is checked).</summary>
    private static void Compute()
    {
        var x = 0x9E3779B97F4A7C15UL;
        for (var i = 0; i < 20_000_000; i++)
        {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }

        if (x == 0)
        {
            throw new InvalidOperationException("xorshift never reaches 0");
        }
    }

    /// <summary>Starts and waits for a few trivial processes: what every test that runs a VMM or a daemon pays.</summary>
    private static void Spawn()
    {
        for (var i = 0; i < 5; i++)
        {
            using var process = Process.Start(new ProcessStartInfo("true") { UseShellExecute = false })!;
            process.WaitForExit();
        }
    }
}
