namespace Sharpvisor.Cli;

/// <summary>
/// A one-line progress bar on stderr ("converting  42% [#########.............]"), redrawn with '\r' only when the
/// percentage changes; silent unless stderr is a terminal or the user asked for it, so logs and pipes stay clean.
/// </summary>
internal sealed class ProgressBar(string label, bool shown)
{
    private const int Width = 30;

    private int _lastPercent = -1;

    /// <summary>Shown when <paramref name="asked"/> (--progress) or when stderr is a terminal.</summary>
    public static ProgressBar For(string label, bool asked) => new(label, asked || !Console.IsErrorRedirected);

    public void Report(ulong done, ulong total)
    {
        if (!shown)
        {
            return;
        }

        var percent = total == 0 ? 100 : (int)Math.Min(100, (double)done * 100 / total);
        if (percent == _lastPercent)
        {
            return;
        }

        _lastPercent = percent;
        var filled = percent * Width / 100;
        Console.Error.Write($"\r{label} {percent,3}% [{new string('#', filled)}{new string('.', Width - filled)}]");
        Console.Error.Flush();
    }

    /// <summary>Ends the line the bar was drawn on, so what follows starts on a fresh one.</summary>
    public void Finish()
    {
        if (shown && _lastPercent >= 0)
        {
            Console.Error.WriteLine();
        }
    }
}
