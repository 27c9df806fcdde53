namespace Sharpvisor.Cli;

/// <summary>
/// The keyboard escape of an interactive console (<c>run</c>'s serial console, <c>vm console</c>), as QEMU's:
/// Ctrl-A x quits, Ctrl-A Ctrl-A sends one Ctrl-A, Ctrl-A followed by anything else is dropped. Stateful across
/// reads, since the two keys may arrive in separate reads; one instance per input stream.
/// </summary>
internal sealed class ConsoleEscapeFilter
{
    private const byte EscapeByte = 0x01; // Ctrl-A
    private const byte QuitAfterEscape = (byte)'x';

    private bool _escapePending;

    /// <summary>Removes the escape sequences from <paramref name="bytes"/> in place; returns what the guest should get.</summary>
    public Span<byte> Filter(Span<byte> bytes, out bool quit)
    {
        quit = false;
        var kept = 0;
        foreach (var b in bytes)
        {
            if (_escapePending)
            {
                _escapePending = false;
                if (b == QuitAfterEscape)
                {
                    quit = true;
                    continue;
                }

                if (b != EscapeByte)
                {
                    continue;
                }
            }
            else if (b == EscapeByte)
            {
                _escapePending = true;
                continue;
            }

            bytes[kept++] = b;
        }

        return bytes[..kept];
    }
}
