namespace Sharpvisor.Integration.Tests;

/// <summary>
/// The screen reader the desktop tests rely on, on a real screen: fbcon-uname.png is what gvnccapture saw of a Linux
/// guest's console in the nested KVM host after the desktop test typed its lines (the known rows, then uname -a; the
/// digits were not quoted then).
/// </summary>
public sealed class ScreenTextTests
{
    private static readonly PngImage Screen = PngImage.Read(Path.Combine(AppContext.BaseDirectory, "Display", "fbcon-uname.png"));

    [Fact]
    public void It_reads_every_row_once_it_has_learnt_the_known_ones()
    {
        var rows = new ScreenText().LearnAndRead(Screen);

        Assert.NotNull(rows);
        Assert.Equal(30, rows.Length); // 480 / 16
        Assert.Equal("/ # echo ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789", rows[0].TrimEnd());
        Assert.Equal("/ # uname -a", rows[4].TrimEnd());
        Assert.Equal("Linux (none) 6.1.192 #1 SMP Mon Dec  7 12:48:11 UTC 2026 x86_64 GNU/Linux", rows[5].TrimEnd());
        Assert.All(rows[7..], row => Assert.Equal(new string(' ', 80), row));
    }

    [Fact]
    public void A_glyph_it_never_learnt_reads_as_a_question_mark_and_absent_rows_teach_nothing()
    {
        var reader = new ScreenText();
        Assert.False(reader.Learn(Screen, "NOT ON THE SCREEN"));
        Assert.True(reader.Learn(Screen, ScreenText.KnownRows[0])); // capitals and digits only

        var answer = reader.Read(Screen)[5];
        Assert.StartsWith("L???? ?????? 6?1?192 ?1 SMP M?? D??  7 12?48?11 UTC 2026 ?86?64 GNU?L????", answer, StringComparison.Ordinal);
    }
}
