using System.Globalization;
using System.Net;
using Sharpvisor.Display;

namespace Sharpvisor.Cli;

/// <summary>
/// <c>--display heads=N[,size=WxH][,vnc=PATH][,listen=HOST:PORT][,password-file=FILE]</c>: a virtio-gpu with N heads
/// (1-16, default 1), each preferring W x H (default 1024x768), with a virtio keyboard and tablet; an RFB (VNC)
/// server per head on unix socket PATH (head N > 0 at PATH.N) and, only when asked, on a loopback TCP port (head N
/// at PORT + N). With a password file, clients authenticate with its first line (VNC authentication).
/// </summary>
internal sealed record DisplayOptions(int Heads, int Width, int Height, string? VncSocket, IPEndPoint? Listen, string? PasswordFile)
{
    public const int MaxHeads = 16;

    public static DisplayOptions Parse(string spec)
    {
        var options = new DisplayOptions(1, 1024, 768, null, null, null);
        foreach (var part in spec.Split(','))
        {
            var (key, value) = part.IndexOf('=') is var eq and > 0 ? (part[..eq], part[(eq + 1)..]) : (part, "");
            options = key switch
            {
                "heads" when int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var heads) && heads is >= 1 and <= MaxHeads
                    => options with { Heads = heads },
                "size" when ParseSize(value) is { } size => options with { Width = size.Width, Height = size.Height },
                "vnc" when value.Length > 0 => options with { VncSocket = value },
                "listen" when ParseListen(value) is { } endpoint => options with { Listen = endpoint },
                "password-file" when value.Length > 0 => options with { PasswordFile = value },
                _ => throw new UsageException(
                    $"--display '{spec}': '{part}' is not a setting (heads=1-{MaxHeads}, size=WxH of 1-{Framebuffer.MaxDimension}, vnc=PATH, listen=127.0.0.1:PORT (0: any), password-file=FILE)"),
            };
        }

        if ((long)options.Heads * options.Width * options.Height * Framebuffer.BytesPerPixel > Vmm.Devices.Virtio.Gpu.VirtioGpu.DefaultMaxHostMemory)
        {
            throw new UsageException($"--display '{spec}': {options.Heads} heads of {options.Width}x{options.Height} are over the {Vmm.Devices.Virtio.Gpu.VirtioGpu.DefaultMaxHostMemory >> 20} MiB a VM's screens may take");
        }

        if (options.Listen is { } listen && listen.Port + options.Heads - 1 > IPEndPoint.MaxPort)
        {
            throw new UsageException($"--display '{spec}': {options.Heads} heads need ports {listen.Port} to {listen.Port + options.Heads - 1}");
        }

        return options;
    }

    /// <summary>Head <paramref name="head"/>'s unix socket: PATH for the first, PATH.N for the others.</summary>
    public string? SocketFor(int head) => VncSocket is null ? null : head == 0 ? VncSocket : $"{VncSocket}.{head}";

    /// <summary>Head <paramref name="head"/>'s TCP endpoint: PORT + N, or with port 0 any free port for each.</summary>
    public IPEndPoint? EndPointFor(int head) => Listen is null ? null : new IPEndPoint(Listen.Address, Listen.Port == 0 ? 0 : Listen.Port + head);

    private static (int Width, int Height)? ParseSize(string value)
    {
        var parts = value.Split('x');
        return parts.Length == 2
            && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var width) && width is >= 1 and <= Framebuffer.MaxDimension
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var height) && height is >= 1 and <= Framebuffer.MaxDimension
            ? (width, height) : null;
    }

    /// <summary>A loopback address and port: a VNC port on other interfaces would put the guest's screen on the network.</summary>
    private static IPEndPoint? ParseListen(string value) =>
        IPEndPoint.TryParse(value, out var endpoint) && IPAddress.IsLoopback(endpoint.Address) ? endpoint : null;
}
