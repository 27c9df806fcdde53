using System.Runtime.InteropServices;

namespace Sharpvisor.Vmm.Devices.Virtio.Net;

/// <summary>Where a virtual NIC's Ethernet frames go and come from (a TAP device on the host).</summary>
public interface INetBackend : IDisposable
{
    /// <summary>Becomes readable when a frame is waiting; the device thread polls it.</summary>
    SafeHandle ReadableHandle { get; }

    /// <summary>Reads one waiting frame; 0 when none is.</summary>
    int Receive(Span<byte> frame);

    /// <summary>Sends one frame; false when the host side dropped it (queue full, link down).</summary>
    bool Send(ReadOnlySpan<byte> frame);
}
