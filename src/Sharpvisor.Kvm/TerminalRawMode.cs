using Sharpvisor.Kvm.Interop;

namespace Sharpvisor.Kvm;

/// <summary>
/// Puts a terminal fd into raw mode (bytes pass to the guest's UART unchanged: no echo, no line editing, no
/// signals from ^C) and restores the saved mode on dispose, including when the VMM exits on an error.
/// </summary>
public sealed unsafe class TerminalRawMode : IDisposable
{
    private readonly int _fd;
    private readonly Libc.Termios _saved;
    private int _restored;

    private TerminalRawMode(int fd, Libc.Termios saved)
    {
        _fd = fd;
        _saved = saved;
    }

    public static bool IsTerminal(int fd) => Libc.isatty(fd) == 1;

    /// <summary>Returns null when <paramref name="fd"/> is not a terminal (a pipe or file needs no mode change).</summary>
    public static TerminalRawMode? TryEnter(int fd)
    {
        if (!IsTerminal(fd))
        {
            return null;
        }

        Libc.Termios saved;
        if (Libc.tcgetattr(fd, &saved) != 0)
        {
            return null;
        }

        var raw = saved;
        Libc.cfmakeraw(&raw);
        // Keep output post-processing so the host terminal still turns the guest's "\n" into a new line.
        raw.c_oflag = saved.c_oflag;
        return Libc.tcsetattr(fd, Libc.TCSANOW, &raw) == 0 ? new TerminalRawMode(fd, saved) : null;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _restored, 1) == 0)
        {
            var saved = _saved;
            _ = Libc.tcsetattr(_fd, Libc.TCSANOW, &saved);
        }
    }
}
