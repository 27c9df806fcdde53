using System.Buffers.Binary;
using Sharpvisor.Vmm.Bus;

namespace Sharpvisor.Vmm.Devices.Legacy;

/// <summary>
/// A port through which a test guest ends the VM with a status, compatible with QEMU's isa-debug-exit
/// (registered at 0xf4, length 4): writing v asks to exit with <c>(v &lt;&lt; 1) | 1</c>, so a guest can never
/// fake a clean exit 0 by accident.
/// </summary>
public sealed class DebugExitPort : IBusDevice
{
    public const ulong RangeLength = 4;

    private readonly Action<int> _exitRequested;

    /// <param name="exitRequested">Called on the writing vCPU thread with the exit status.</param>
    public DebugExitPort(Action<int> exitRequested)
    {
        ArgumentNullException.ThrowIfNull(exitRequested);
        _exitRequested = exitRequested;
    }

    /// <summary>Computes the exit status for a written value; wider results are truncated to 32 bits, as QEMU's exit() call does.</summary>
    public static int ExitStatusFor(ulong value) => unchecked((int)((value << 1) | 1));

    public void Read(ulong offset, Span<byte> data) => data.Fill(0xff);

    public void Write(ulong offset, ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty)
        {
            return;
        }

        // Any offset in the range counts, and the value is as wide as the access.
        Span<byte> value = stackalloc byte[sizeof(ulong)];
        value.Clear();
        data[..Math.Min(data.Length, sizeof(ulong))].CopyTo(value);
        _exitRequested(ExitStatusFor(BinaryPrimitives.ReadUInt64LittleEndian(value)));
    }
}
