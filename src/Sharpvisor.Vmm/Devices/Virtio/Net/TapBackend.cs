using System.Runtime.InteropServices;
using Sharpvisor.Kvm.Host;

namespace Sharpvisor.Vmm.Devices.Virtio.Net;

/// <summary>A host TAP interface as a NIC backend.</summary>
public sealed class TapBackend(TapDevice tap) : INetBackend
{
    public SafeHandle ReadableHandle => tap.Handle;

    public string Name => tap.Name;

    public static TapBackend Open(string name) => new(TapDevice.Open(name));

    public int Receive(Span<byte> frame) => tap.Read(frame);

    public bool Send(ReadOnlySpan<byte> frame) => tap.Write(frame);

    public void Dispose() => tap.Dispose();
}
