using System.Buffers.Binary;
using Sharpvisor.Display;
using Sharpvisor.Vmm.Devices.Virtio.Gpu;
using Sharpvisor.Vmm.Tests.Devices.Virtio.Transport;
using Buffer = Sharpvisor.Vmm.Tests.Devices.Virtio.Queue.Buffer;

namespace Sharpvisor.Vmm.Tests.Devices.Virtio.Gpu;

/// <summary>A test driver for virtio-gpu: builds commands as the wire has them and returns the response header's type.</summary>
internal sealed class GpuDriver : IDisposable
{
    public const uint OkNoData = 0x1100;
    public const uint OkDisplayInfo = 0x1101;
    public const uint ErrUnspecified = 0x1200;
    public const uint ErrOutOfMemory = 0x1201;
    public const uint ErrInvalidScanoutId = 0x1202;
    public const uint ErrInvalidResourceId = 0x1203;
    public const uint ErrInvalidParameter = 0x1205;
    public const uint B8G8R8X8 = 2;
    public const uint X8R8G8B8 = 4;
    public const uint R8G8B8X8 = 134;

    private readonly ushort[] _used = new ushort[2]; // per queue

    public GpuDriver(IReadOnlyList<Framebuffer> heads, long maxHostMemory = VirtioGpu.DefaultMaxHostMemory)
    {
        Device = new VirtioGpu(heads, maxHostMemory);
        Driver = new VirtioPciDriver(Device);
        Driver.Start();
    }

    public VirtioGpu Device { get; }

    public VirtioPciDriver Driver { get; }

    /// <summary>The last response, whole.</summary>
    public byte[] Response { get; private set; } = [];

    public void Dispose() => Driver.Dispose();

    /// <summary>Sends header type + <paramref name="words"/> (little-endian u32s) and returns the response type.</summary>
    public uint Command(uint type, params uint[] words) => Send(Request(type, words));

    public static byte[] Request(uint type, params uint[] words)
    {
        var request = new byte[24 + (4 * words.Length)];
        BinaryPrimitives.WriteUInt32LittleEndian(request, type);
        for (var i = 0; i < words.Length; i++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(request.AsSpan(24 + (4 * i)), words[i]);
        }

        return request;
    }

    /// <summary>Sends raw request bytes with a 512-byte response buffer; the response type, or 0 when none came back.</summary>
    public uint Send(byte[] request, int queue = 0)
    {
        var requestAddress = Driver.Allocate(request);
        var response = Driver.Allocate(512);
        Driver.Queues[queue]!.Add(new Buffer(requestAddress, (uint)request.Length), new Buffer(response, 512, Write: true));
        Driver.Kick(queue);
        var used = Driver.WaitForUsed(queue, ++_used[queue]);
        var length = (int)used[^1].Length;
        Response = Driver.ReadGuest(response, length);
        return length >= 4 ? BinaryPrimitives.ReadUInt32LittleEndian(Response) : 0;
    }

    /// <summary>A resource of <paramref name="width"/> x <paramref name="height"/>, backed by guest pages holding <paramref name="pixels"/>.</summary>
    public ulong CreateBacked(uint id, uint format, uint width, uint height, byte[] pixels)
    {
        Assert.Equal(OkNoData, Command(0x0101, id, format, width, height));
        var backing = Driver.Allocate(pixels);
        Assert.Equal(OkNoData, Attach(id, (backing, (uint)pixels.Length)));
        return backing;
    }

    public uint Attach(uint id, params (ulong Address, uint Length)[] entries)
    {
        var words = new List<uint> { id, (uint)entries.Length };
        foreach (var (address, length) in entries)
        {
            words.AddRange([(uint)address, (uint)(address >> 32), length, 0]);
        }

        return Command(0x0106, [.. words]);
    }

    public uint Transfer(uint id, uint x, uint y, uint width, uint height, ulong offset = 0) =>
        Command(0x0105, x, y, width, height, (uint)offset, (uint)(offset >> 32), id, 0);

    public uint SetScanout(uint scanout, uint id, uint x, uint y, uint width, uint height) => Command(0x0103, x, y, width, height, scanout, id);

    public uint Flush(uint id, uint x, uint y, uint width, uint height) => Command(0x0104, x, y, width, height, id, 0);
}
