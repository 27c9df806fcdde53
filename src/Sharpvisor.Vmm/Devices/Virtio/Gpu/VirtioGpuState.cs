using Sharpvisor.Display;
using Sharpvisor.Vmm.Memory;
using Sharpvisor.Vmm.State;

namespace Sharpvisor.Vmm.Devices.Virtio.Gpu;

/// <summary>
/// The GPU's own saved state: u32 events_read; u32 heads, then per head u32 resource id, its source rectangle (4 x
/// u32) and the preferred width and height; u32 resources, then per resource u32 id, format, width, height and u32
/// backing entries (0xFFFFFFFF: no backing), each u64 address and u32 length. Pixels are not saved (a resource may
/// hold more than a section): the restored device reads each resource whole from its backing in the restored RAM,
/// which is what the guest last drew there, and shows the heads again.
/// </summary>
public sealed partial class VirtioGpu
{
    private const uint NoBacking = uint.MaxValue;

    /// <summary>Set by a restore: the next activation fills the resources from their backing before serving.</summary>
    private bool _reloadOnActivate;

    public override void SaveDeviceState(StatePayload payload)
    {
        ArgumentNullException.ThrowIfNull(payload);
        payload.U32(Volatile.Read(ref _eventsRead)).U32((uint)_scanouts.Length);
        foreach (var scanout in _scanouts)
        {
            payload.U32(scanout.ResourceId).U32(scanout.Source.X).U32(scanout.Source.Y).U32(scanout.Source.Width).U32(scanout.Source.Height)
                .U32((uint)scanout.PreferredWidth).U32((uint)scanout.PreferredHeight);
        }

        payload.U32((uint)_resources.Count);
        foreach (var resource in _resources.Values.OrderBy(r => r.Id))
        {
            payload.U32(resource.Id).U32((uint)resource.Format).U32((uint)resource.Width).U32((uint)resource.Height);
            if (resource.Backing is not { } backing)
            {
                payload.U32(NoBacking);
                continue;
            }

            payload.U32((uint)backing.Entries.Count);
            foreach (var (address, length) in backing.Entries)
            {
                payload.U64(address.Value).U32(length);
            }
        }
    }

    public override Action ReadDeviceState(ref StatePayloadReader reader, string section)
    {
        var events = reader.U32();
        StateFields.Require((events & ~GpuProtocol.EventDisplay) == 0, section, $"events 0x{events:x} has bits this GPU does not raise");
        var heads = reader.U32();
        StateFields.Require(heads == _scanouts.Length, section, $"{heads} display heads were saved, this VM has {_scanouts.Length}");
        var shown = new (uint Resource, GpuRect Source, int Width, int Height)[heads];
        for (var i = 0; i < heads; i++)
        {
            var resource = reader.U32();
            var source = new GpuRect(reader.U32(), reader.U32(), reader.U32(), reader.U32());
            var (width, height) = (reader.U32(), reader.U32());
            StateFields.Require(width is >= 1 and <= Framebuffer.MaxDimension && height is >= 1 and <= Framebuffer.MaxDimension,
                section, $"head {i} prefers {width}x{height}");
            shown[i] = (resource, source, (int)width, (int)height);
        }

        var resources = ReadResources(ref reader, section);
        for (var i = 0; i < shown.Length; i++)
        {
            var (id, source, _, _) = shown[i];
            StateFields.Require(id == 0 || (resources.TryGetValue(id, out var resource) && resource.Contains(source)
                && source.Width <= Framebuffer.MaxDimension && source.Height <= Framebuffer.MaxDimension),
                section, $"head {i} shows resource {id} at {source}, which it does not hold");
        }

        // Each source is at most 8192x8192 now: the sum cannot wrap.
        var headBytes = shown.Sum(h => h.Resource == 0 ? 0 : (long)h.Source.Width * h.Source.Height * Framebuffer.BytesPerPixel);
        StateFields.Require(headBytes <= MaxHostMemory, section, $"the heads would take {headBytes} bytes, over {MaxHostMemory}");

        return () =>
        {
            Volatile.Write(ref _eventsRead, events);
            _resources.Clear();
            foreach (var (id, resource) in resources)
            {
                _resources[id] = resource;
            }

            _backingEntries = resources.Values.Sum(r => r.Backing?.Entries.Count ?? 0);
            Interlocked.Exchange(ref _hostMemory, resources.Values.Sum(r => r.Pixels.LongLength));
            for (var i = 0; i < shown.Length; i++)
            {
                (_scanouts[i].ResourceId, _scanouts[i].Source, _scanouts[i].PreferredWidth, _scanouts[i].PreferredHeight) = shown[i];
            }

            _reloadOnActivate = true;
        };
    }

    private Dictionary<uint, GpuResource> ReadResources(ref StatePayloadReader reader, string section)
    {
        var count = reader.U32();
        StateFields.Require(count <= MaxResources, section, $"{count} resources, over the limit of {MaxResources}");
        var resources = new Dictionary<uint, GpuResource>();
        long bytes = 0;
        long entries = 0;
        for (var i = 0; i < count; i++)
        {
            var (id, format, width, height) = (reader.U32(), reader.U32(), reader.U32(), reader.U32());
            StateFields.Require(id != 0 && !resources.ContainsKey(id) && GpuFormats.IsKnown(format) && width is > 0 and <= MaxSide && height is > 0 and <= MaxSide,
                section, $"resource {id} ({format}, {width}x{height}) is not one this GPU could have made");
            bytes += (long)width * height * GpuFormats.BytesPerPixel; // each side below 2^29: no wrap
            StateFields.Require(bytes <= MaxHostMemory, section, $"resource {id} ({width}x{height}) takes the resources past {MaxHostMemory} bytes");
            var resource = new GpuResource(id, (GpuFormat)format, (int)width, (int)height);
            var pieces = reader.U32();
            if (pieces != NoBacking)
            {
                entries += pieces;
                StateFields.Require(pieces is > 0 and <= GpuBacking.MaxEntries && entries <= MaxBackingEntries, section, $"resource {id} has {pieces} backing entries");
                var list = new (GuestAddress, uint)[pieces];
                for (var e = 0; e < pieces; e++)
                {
                    list[e] = (new GuestAddress(reader.U64()), reader.U32());
                    StateFields.Require(list[e].Item2 > 0, section, $"resource {id}'s backing entry {e} is empty");
                }

                resource.Backing = new GpuBacking(list);
            }

            resources[id] = resource;
        }

        return resources;
    }

    /// <summary>
    /// After a restore: each resource takes its backing's bytes (a backing that is not RAM in this machine is dropped,
    /// so the guest's next transfer fails instead of the VMM), then every head shows its rectangle again.
    /// </summary>
    private void ReloadFromBacking(GuestMemory memory)
    {
        foreach (var resource in _resources.Values)
        {
            if (resource.Backing is not { } backing)
            {
                continue;
            }

            if (backing.Entries.Any(e => !memory.IsValid(e.Address, e.Length)))
            {
                _backingEntries -= backing.Entries.Count;
                resource.Backing = null;
                continue;
            }

            var length = (int)Math.Min((ulong)resource.Pixels.Length, backing.Length);
            backing.Read(memory, 0, resource.Pixels.AsSpan(0, length));
        }

        foreach (var scanout in _scanouts.Where(s => s.ResourceId != 0))
        {
            var resource = _resources[scanout.ResourceId];
            scanout.Framebuffer.Resize((int)scanout.Source.Width, (int)scanout.Source.Height);
            Show(scanout, resource, scanout.Source);
        }
    }
}
