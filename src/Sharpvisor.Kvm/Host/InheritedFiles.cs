using System.Globalization;
using Microsoft.Win32.SafeHandles;

namespace Sharpvisor.Kvm.Host;

/// <summary>
/// Files the VMM's launcher opened for it. A confined VMM runs as an unprivileged uid of its own that may not open its
/// disks, kernel or /dev/kvm by path; the manager's jail opens them as root and names the descriptors in
/// <see cref="Variable"/>, one <c>FD PATH</c> per line (a path may come more than once: /dev/net/tun, one per TAP).
/// Whoever would open one of those paths takes a descriptor instead (each once, in order), so the command line keeps
/// its paths and <c>sharpvisor run</c> without a launcher opens them itself as ever.
/// </summary>
public static class InheritedFiles
{
    public const string Variable = "SHARPVISOR_INHERITED_FDS";

    // Well above anything a launcher hands over; a larger number is a malformed list, not a file.
    private const int MaxDescriptor = 1 << 20;

    private static readonly Lock Gate = new();
    private static readonly Dictionary<string, Queue<int>> Descriptors = new(StringComparer.Ordinal);

    /// <summary>Reads the list from the environment (and removes it there, so nothing the VMM starts sees it).</summary>
    public static void AdoptFromEnvironment()
    {
        var text = Environment.GetEnvironmentVariable(Variable);
        Environment.SetEnvironmentVariable(Variable, null);
        if (text is not null)
        {
            Adopt(text);
        }
    }

    /// <summary>Adds the <c>FD PATH</c> lines of <paramref name="text"/>; throws <see cref="IOException"/> on a malformed line.</summary>
    public static void Adopt(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parsed = new List<(string Path, int Fd)>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var space = line.IndexOf(' ', StringComparison.Ordinal);
            if (space <= 0
                || !int.TryParse(line.AsSpan(0, space), NumberStyles.None, CultureInfo.InvariantCulture, out var fd)
                || fd < 3 || fd > MaxDescriptor
                || line[(space + 1)..] is not { Length: > 0 } path || !Path.IsPathFullyQualified(path))
            {
                throw new IOException($"{Variable}: '{line}' is not 'FD /absolute/path'");
            }

            parsed.Add((path, fd));
        }

        lock (Gate)
        {
            foreach (var (path, fd) in parsed)
            {
                if (!Descriptors.TryGetValue(path, out var queue))
                {
                    Descriptors[path] = queue = new Queue<int>();
                }

                queue.Enqueue(fd);
            }
        }
    }

    /// <summary>The descriptor opened for <paramref name="path"/>, now the caller's to close; null when none was.</summary>
    public static SafeFileHandle? Take(string path) =>
        TakeDescriptor(path) is { } fd ? new SafeFileHandle(fd, ownsHandle: true) : null;

    /// <summary>As <see cref="Take"/>, the raw number (for a handle type of this assembly's own).</summary>
    internal static int? TakeDescriptor(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        lock (Gate)
        {
            return Descriptors.TryGetValue(path, out var queue) && queue.TryDequeue(out var fd) ? fd : null;
        }
    }

    /// <summary>The whole content of the file opened for <paramref name="path"/>, or null when none was.</summary>
    public static byte[]? ReadAll(string path)
    {
        using var file = Take(path);
        if (file is null)
        {
            return null;
        }

        var length = RandomAccess.GetLength(file);
        if (length > Array.MaxLength)
        {
            throw new IOException($"{path}: {length} bytes is more than one read can hold");
        }

        var bytes = new byte[length];
        var done = 0;
        while (done < bytes.Length)
        {
            var read = RandomAccess.Read(file, bytes.AsSpan(done), done);
            if (read == 0)
            {
                Array.Resize(ref bytes, done); // it shrank since: what is there is the file
                break;
            }

            done += read;
        }

        return bytes;
    }
}
