using System.Buffers.Binary;
using Sharpvisor.Vmm.State;

namespace Sharpvisor.Vmm.Tests.Devices;

/// <summary>A device's section as a snapshot carries it, the damaged and hostile variants of it a restore must refuse, and that check.</summary>
internal static class SavedState
{
    /// <summary>Saves <paramref name="device"/> and reads its section back through the file format, checksum and all.</summary>
    public static StateSection Save(IDeviceState device)
    {
        var payload = new StatePayload();
        device.SaveState(payload);
        using var stream = new MemoryStream();
        var writer = new StateWriter(stream);
        writer.Section(device.StateTag, device.StateVersion, payload);
        writer.End();
        stream.Position = 0;
        var section = new StateReader(stream, stream.Length).Next();
        Assert.NotNull(section);
        return section;
    }

    public static StateSection Newer(StateSection section) => section with { Version = section.Version + 1 };

    public static StateSection Extended(StateSection section) => section with { Payload = [.. section.Payload, 0] };

    public static StateSection WithU8(StateSection section, int offset, byte value) =>
        Patched(section, payload => payload[offset] = value);

    public static StateSection WithU32(StateSection section, int offset, uint value) =>
        Patched(section, payload => BinaryPrimitives.WriteUInt32LittleEndian(payload.AsSpan(offset), value));

    public static StateSection WithU64(StateSection section, int offset, ulong value) =>
        Patched(section, payload => BinaryPrimitives.WriteUInt64LittleEndian(payload.AsSpan(offset), value));

    /// <summary>
    /// Asserts that restoring <paramref name="section"/> fails with one line containing <paramref name="expected"/> and
    /// leaves <paramref name="device"/> exactly as it was (its own saved state unchanged).
    /// </summary>
    public static void AssertRefused(IDeviceState device, StateSection section, string expected)
    {
        var before = Save(device).Payload;

        var e = Assert.Throws<StateException>(() => device.RestoreState(section));

        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
        Assert.Equal(before, Save(device).Payload);
    }

    /// <summary>
    /// Every cut of the section short of its end, a newer version and a byte too many are all refused, leaving
    /// <paramref name="device"/> (which should differ from the saved one, so a partial restore would show) untouched.
    /// </summary>
    public static void AssertDamageRefused(IDeviceState device, StateSection section)
    {
        for (var length = 0; length < section.Payload.Length; length++)
        {
            AssertRefused(device, section with { Payload = section.Payload[..length] }, "is truncated");
        }

        AssertRefused(device, Newer(section), $"has version {section.Version + 1}");
        AssertRefused(device, Extended(section), "1 bytes left over");
    }

    private static StateSection Patched(StateSection section, Action<byte[]> patch)
    {
        var payload = (byte[])section.Payload.Clone();
        patch(payload);
        return section with { Payload = payload };
    }
}
