using System.Buffers.Binary;
using Sharpvisor.Display;
using Sharpvisor.Vmm.Devices.Virtio.Queue;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Devices.Virtio.Gpu;

/// <summary>
/// The commands. Each reads its fixed-size request from the chain's readable part, checks every field the guest
/// chose (ids, rectangles against the resource, offsets against the backing, all in 64-bit sums) and answers in the
/// writable part; a bad field is an error response and a counted guest error, never an exception out of the device.
/// </summary>
public sealed partial class VirtioGpu
{
    /// <summary>The largest fixed request: UPDATE_CURSOR (56 bytes); ATTACH_BACKING's entries are read apart.</summary>
    private const int MaxRequest = 64;

    private const int MaxResponse = GpuProtocol.DisplayInfoSize;

    private readonly byte[] _request = new byte[MaxRequest];
    private readonly byte[] _response = new byte[MaxResponse];
    private byte[] _row = [];

    private uint Serve(VirtioQueue queue, DescriptorChain chain, VirtioActivation activation)
    {
        Interlocked.Increment(ref _commands);
        var request = _request.AsSpan(0, chain.CopyFromReadable(queue.Memory, _request));
        var response = _response.AsSpan();
        response[..GpuProtocol.HeaderSize].Clear();
        var (type, length) = request.Length < GpuProtocol.HeaderSize
            ? (GpuProtocol.ErrUnspecified, GpuProtocol.HeaderSize)
            : Execute(BinaryPrimitives.ReadUInt32LittleEndian(request), request, chain, queue.Memory, response);
        if (type >= GpuProtocol.ErrUnspecified)
        {
            Interlocked.Increment(ref _errors);
            activation.GuestError($"gpu: command 0x{(request.Length >= 4 ? BinaryPrimitives.ReadUInt32LittleEndian(request) : 0):x} answered 0x{type:x}");
        }

        if (queue.Index == CursorQueue)
        {
            return 0; // the cursor queue's commands have no response (the driver posts none)
        }

        BinaryPrimitives.WriteUInt32LittleEndian(response, type);
        if (request.Length >= GpuProtocol.HeaderSize && (BinaryPrimitives.ReadUInt32LittleEndian(request[4..]) & GpuProtocol.FlagFence) != 0)
        {
            // Every command completes before its response is written, so a fence is signalled as soon as it is asked for.
            BinaryPrimitives.WriteUInt32LittleEndian(response[4..], GpuProtocol.FlagFence);
            request.Slice(8, 12).CopyTo(response[8..]); // fence_id and ctx_id
        }

        return (uint)chain.CopyToWritable(queue.Memory, response[..length]);
    }

    private (uint Type, int Length) Execute(uint command, ReadOnlySpan<byte> request, DescriptorChain chain, GuestMemory memory, Span<byte> response)
    {
        var body = request[GpuProtocol.HeaderSize..];
        var result = command switch
        {
            GpuProtocol.GetDisplayInfo => DisplayInfo(response),
            GpuProtocol.ResourceCreate2D when body.Length >= 16 => Create(U32(body, 0), U32(body, 4), U32(body, 8), U32(body, 12)),
            GpuProtocol.ResourceUnref when body.Length >= 8 => Unref(U32(body, 0)),
            GpuProtocol.SetScanout when body.Length >= 24 => SetScanout(GpuRect.Read(body), U32(body, 16), U32(body, 20)),
            GpuProtocol.ResourceFlush when body.Length >= 24 => Flush(GpuRect.Read(body), U32(body, 16)),
            GpuProtocol.TransferToHost2D when body.Length >= 32 =>
                Transfer(GpuRect.Read(body), BinaryPrimitives.ReadUInt64LittleEndian(body[16..]), U32(body, 24), memory),
            GpuProtocol.ResourceAttachBacking when body.Length >= 8 => Attach(U32(body, 0), U32(body, 4), chain, memory),
            GpuProtocol.ResourceDetachBacking when body.Length >= 8 => Detach(U32(body, 0)),
            GpuProtocol.UpdateCursor when body.Length >= 32 => UpdateCursor(U32(body, 0), U32(body, 16), U32(body, 20), U32(body, 24)),
            GpuProtocol.MoveCursor when body.Length >= 32 => U32(body, 0) < _scanouts.Length ? GpuProtocol.OkNoData : GpuProtocol.ErrInvalidScanoutId,
            _ => GpuProtocol.ErrUnspecified,
        };
        return (result, result == GpuProtocol.OkDisplayInfo ? GpuProtocol.DisplayInfoSize : GpuProtocol.HeaderSize);
    }

    private static uint U32(ReadOnlySpan<byte> body, int offset) => BinaryPrimitives.ReadUInt32LittleEndian(body[offset..]);

    private uint DisplayInfo(Span<byte> response)
    {
        response[GpuProtocol.HeaderSize..GpuProtocol.DisplayInfoSize].Clear();
        for (var i = 0; i < _scanouts.Length; i++)
        {
            var entry = response.Slice(GpuProtocol.HeaderSize + (i * GpuProtocol.DisplayOneSize), GpuProtocol.DisplayOneSize);
            BinaryPrimitives.WriteUInt32LittleEndian(entry[8..], (uint)_scanouts[i].PreferredWidth);
            BinaryPrimitives.WriteUInt32LittleEndian(entry[12..], (uint)_scanouts[i].PreferredHeight);
            BinaryPrimitives.WriteUInt32LittleEndian(entry[16..], 1); // enabled: every head is connected
        }

        return GpuProtocol.OkDisplayInfo;
    }

    private uint Create(uint id, uint format, uint width, uint height)
    {
        if (id == 0 || _resources.ContainsKey(id))
        {
            return GpuProtocol.ErrInvalidResourceId;
        }

        if (!GpuFormats.IsKnown(format) || width == 0 || height == 0)
        {
            return GpuProtocol.ErrInvalidParameter;
        }

        // Each side below 2^29 first, so the product cannot wrap; then the budget, never negative.
        if (width > MaxSide || height > MaxSide || _resources.Count >= MaxResources
            || (ulong)width * height * GpuFormats.BytesPerPixel > (ulong)Math.Max(0, MaxHostMemory - _hostMemory))
        {
            return GpuProtocol.ErrOutOfMemory;
        }

        _resources[id] = new GpuResource(id, (GpuFormat)format, (int)width, (int)height);
        Interlocked.Add(ref _hostMemory, (long)width * height * GpuFormats.BytesPerPixel);
        return GpuProtocol.OkNoData;
    }

    private uint Unref(uint id)
    {
        if (!_resources.Remove(id, out var resource))
        {
            return GpuProtocol.ErrInvalidResourceId;
        }

        Interlocked.Add(ref _hostMemory, -resource.Pixels.LongLength);
        _backingEntries -= resource.Backing?.Entries.Count ?? 0;
        foreach (var scanout in _scanouts.Where(s => s.ResourceId == id))
        {
            scanout.ResourceId = 0;
        }

        return GpuProtocol.OkNoData;
    }

    private uint SetScanout(GpuRect rect, uint scanoutId, uint resourceId)
    {
        if (scanoutId >= _scanouts.Length)
        {
            return GpuProtocol.ErrInvalidScanoutId;
        }

        var scanout = _scanouts[scanoutId];
        if (resourceId == 0)
        {
            scanout.ResourceId = 0; // the head is off; its framebuffer keeps the last picture
            return GpuProtocol.OkNoData;
        }

        if (!_resources.TryGetValue(resourceId, out var resource))
        {
            return GpuProtocol.ErrInvalidResourceId;
        }

        if (!resource.Contains(rect) || rect.Width > Framebuffer.MaxDimension || rect.Height > Framebuffer.MaxDimension)
        {
            return GpuProtocol.ErrInvalidParameter;
        }

        if (!HeadsFit(scanoutId, rect))
        {
            return GpuProtocol.ErrOutOfMemory;
        }

        scanout.ResourceId = resourceId;
        scanout.Source = rect;
        scanout.Framebuffer.Resize((int)rect.Width, (int)rect.Height);
        Show(scanout, resource, rect);
        return GpuProtocol.OkNoData;
    }

    private uint Flush(GpuRect rect, uint resourceId)
    {
        if (!_resources.TryGetValue(resourceId, out var resource))
        {
            return GpuProtocol.ErrInvalidResourceId;
        }

        if (!resource.Contains(rect))
        {
            return GpuProtocol.ErrInvalidParameter;
        }

        foreach (var scanout in _scanouts.Where(s => s.ResourceId == resourceId))
        {
            Show(scanout, resource, rect.Intersect(scanout.Source));
        }

        return GpuProtocol.OkNoData;
    }

    /// <summary>
    /// True when the heads' framebuffers, head <paramref name="scanoutId"/> at <paramref name="size"/>'s size, stay within
    /// <see cref="MaxHostMemory"/> together: they are host copies too (16 heads of 8192x8192 would be 4 GiB).
    /// </summary>
    private bool HeadsFit(long scanoutId, GpuRect size)
    {
        long total = 0;
        for (var i = 0; i < _scanouts.Length; i++)
        {
            var (width, height) = i == scanoutId ? ((long)size.Width, (long)size.Height) : _scanouts[i].Framebuffer.Size;
            total += width * height * Framebuffer.BytesPerPixel;
        }

        return total <= MaxHostMemory;
    }

    /// <summary>Copies <paramref name="area"/> (resource coordinates, inside the scanout's source) onto the head.</summary>
    private void Show(GpuScanout scanout, GpuResource resource, GpuRect area)
    {
        if (area.IsEmpty)
        {
            return;
        }

        var target = new Rect((int)(area.X - scanout.Source.X), (int)(area.Y - scanout.Source.Y), (int)area.Width, (int)area.Height);
        var start = ((long)area.Y * resource.Stride) + ((long)area.X * GpuFormats.BytesPerPixel);
        if (GpuFormats.IsNative(resource.Format))
        {
            scanout.Framebuffer.Write(target, resource.Pixels.AsSpan((int)start), resource.Stride);
            return;
        }

        var rowBytes = (int)area.Width * GpuFormats.BytesPerPixel;
        if (_row.Length < rowBytes)
        {
            _row = new byte[rowBytes];
        }

        for (var row = 0; row < area.Height; row++)
        {
            GpuFormats.ToFramebuffer(resource.Format, resource.Pixels.AsSpan((int)(start + ((long)row * resource.Stride)), rowBytes), _row);
            scanout.Framebuffer.Write(target with { Y = target.Y + row, Height = 1 }, _row, rowBytes);
        }
    }
}
