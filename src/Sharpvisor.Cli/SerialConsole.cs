using Microsoft.Win32.SafeHandles;
using Sharpvisor.Kvm;
using Sharpvisor.Vmm.ConsoleSocket;
using Sharpvisor.Vmm.Machine;

namespace Sharpvisor.Cli;

/// <summary>
/// Connects COM1 (or hvc0) to the host: output to stdout or a file with input from stdin, or both ways over a unix
/// socket with a 64 KiB replay for every new client (socket:PATH, see <see cref="ConsoleServer"/>). With a terminal on stdin it
/// switches the terminal to raw mode (restored on dispose) and reserves Ctrl-A x to quit, as QEMU does.
/// </summary>
internal sealed class SerialConsole : IDisposable
{
    private readonly Stream? _input;
    private readonly Stream? _fileOrTerminal;
    private readonly TerminalRawMode? _rawMode;
    private Machine? _machine;
    private Thread? _inputThread;
    private readonly ConsoleEscapeFilter _escapes = new(); // only used by the input thread

    private ConsoleServer? _socket;

    private SerialConsole(Stream? output, Stream? input, TerminalRawMode? rawMode)
    {
        _fileOrTerminal = output;
        _input = input;
        _rawMode = rawMode;
    }

    public Stream? Output => _socket?.Output ?? _fileOrTerminal;

    public static SerialConsole Create(string spec)
    {
        if (spec == "none")
        {
            return new SerialConsole(null, null, null);
        }

        if (spec == "stdio")
        {
            // Plain file streams over fds 0 and 1, not System.Console's: on a terminal, Console's stdin stream
            // runs its own line editor and echo, which would fight the raw mode the guest needs.
            var rawMode = TerminalRawMode.TryEnter(0);
            var output = new FileStream(new SafeFileHandle(1, ownsHandle: false), FileAccess.Write, bufferSize: 0);
            var input = new FileStream(new SafeFileHandle(0, ownsHandle: false), FileAccess.Read, bufferSize: 0);
            return new SerialConsole(output, input, rawMode);
        }

        if (spec.StartsWith("file:", StringComparison.Ordinal) && spec.Length > "file:".Length)
        {
            var path = spec["file:".Length..];
            try
            {
                return new SerialConsole(new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read), null, null);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new UsageException($"--serial file:{path}: cannot create the file: {e.Message}");
            }
        }

        if (spec.StartsWith("socket:", StringComparison.Ordinal) && spec.Length > "socket:".Length)
        {
            var path = spec["socket:".Length..];
            var console = new SerialConsole(null, null, null);
            try
            {
                console._socket = ConsoleServer.Start(
                    path,
                    bytes => Volatile.Read(ref console._machine)?.QueueConsoleInput(bytes.Span),
                    message => System.Console.Error.WriteLine($"sharpvisor: {message}"));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Net.Sockets.SocketException)
            {
                throw new UsageException($"--serial socket:{path}: {e.Message}");
            }

            return console;
        }

        throw new UsageException($"--serial '{spec}' must be stdio, file:PATH, socket:PATH or none");
    }

    /// <summary>Feeds host input to this machine's UART from now on (called again after a guest reboot).</summary>
    public void Attach(Machine machine)
    {
        Volatile.Write(ref _machine, machine);
        if (_input is not null && _inputThread is null)
        {
            _inputThread = new Thread(PumpInput) { Name = "serial-input", IsBackground = true };
            _inputThread.Start();
        }
    }

    public void Dispose()
    {
        Output?.Flush();
        _rawMode?.Dispose();
        _socket?.Dispose();
        if (Output is FileStream file)
        {
            file.Dispose();
        }
    }

    private void PumpInput()
    {
        var buffer = new byte[256];
        while (true)
        {
            int read;
            try
            {
                read = _input!.Read(buffer);
            }
            catch (IOException)
            {
                return;
            }

            if (read <= 0)
            {
                return; // end of input: the guest just sees no more bytes
            }

            var bytes = buffer.AsSpan(0, read);
            if (_rawMode is not null)
            {
                bytes = _escapes.Filter(bytes, out var quit);
                if (quit)
                {
                    Volatile.Read(ref _machine)?.RequestStop(StopReason.Host("quit from the console (Ctrl-A x)"));
                }
            }

            Volatile.Read(ref _machine)?.QueueConsoleInput(bytes);
        }
    }
}
