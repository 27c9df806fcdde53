using Sharpvisor.Vmm.State;
using static Sharpvisor.Vmm.Devices.Legacy.UartRegisters;

namespace Sharpvisor.Vmm.Devices.Legacy;

/// <summary>
/// The UART's saved state: u8 IER, LCR, MCR, scratch, DLL, DLM and last received byte; bool FIFOs enabled; u8 receive
/// trigger level; bools THRE interrupt pending and overrun; u8 modem status deltas; then as byte strings the receive
/// FIFO and the host input still queued for it. The modem inputs follow from MCR and are not saved.
/// </summary>
public sealed partial class Uart16550 : IDeviceState
{
    public string StateTag => "UART";

    public uint StateVersion => 1;

    public void SaveState(StatePayload payload)
    {
        ArgumentNullException.ThrowIfNull(payload);
        lock (_lock)
        {
            payload.U8(_interruptEnable).U8(_lineControl).U8(_modemControl).U8(_scratch).U8(_divisorLow).U8(_divisorHigh)
                .U8(_lastReceived).Bool(_fifoEnabled).U8((byte)_receiveTriggerLevel).Bool(_transmitterEmptyInterruptPending)
                .Bool(_overrun).U8(_modemDeltas).Bytes(_receiveFifo.ToArray()).Bytes(_hostQueue.ToArray());
        }
    }

    public void RestoreState(StateSection section)
    {
        ArgumentNullException.ThrowIfNull(section);
        var reader = section.Expect(StateVersion).Reader();
        var interruptEnable = reader.U8();
        Require(interruptEnable <= InterruptEnableMask, $"IER 0x{interruptEnable:x2} sets bits a 16550A does not have");
        var lineControl = reader.U8();
        var modemControl = reader.U8();
        Require(modemControl <= ModemControlMask, $"MCR 0x{modemControl:x2} sets bits a 16550A does not have");
        var scratch = reader.U8();
        var divisorLow = reader.U8();
        var divisorHigh = reader.U8();
        var lastReceived = reader.U8();
        var fifoEnabled = reader.Bool();
        var triggerLevel = reader.U8();
        Require(
            fifoEnabled ? triggerLevel is 1 or 4 or 8 or 14 : triggerLevel == 1,
            $"receive trigger level {triggerLevel} is not 1, 4, 8 or 14 (1 with the FIFOs off)");
        var transmitterEmptyInterruptPending = reader.Bool();
        var overrun = reader.Bool();
        var modemDeltas = reader.U8();
        Require(
            modemDeltas <= (ModemStatusDeltaCts | ModemStatusDeltaDsr | ModemStatusTrailingEdgeRi | ModemStatusDeltaDcd),
            $"modem status deltas 0x{modemDeltas:x2} set bits that are not deltas");
        var receiveCapacity = fifoEnabled ? FifoCapacity : 1;

        // No limit given to the reader, so that the checks here name the field; it still refuses a length past the end.
        var receiveFifo = reader.Bytes(int.MaxValue);
        Require(receiveFifo.Length <= receiveCapacity, $"{receiveFifo.Length} received bytes overfill a {receiveCapacity}-byte receiver");
        var hostQueue = reader.Bytes(int.MaxValue);
        Require(hostQueue.Length <= _hostQueueCapacity, $"{hostQueue.Length} bytes of host input overfill this UART's {_hostQueueCapacity}-byte queue");
        reader.ExpectEnd();

        lock (_lock)
        {
            _interruptEnable = interruptEnable;
            _lineControl = lineControl;
            _modemControl = modemControl;
            _modemInputs = ModemInputs(modemControl);
            _scratch = scratch;
            _divisorLow = divisorLow;
            _divisorHigh = divisorHigh;
            _lastReceived = lastReceived;
            _fifoEnabled = fifoEnabled;
            _receiveTriggerLevel = triggerLevel;
            _transmitterEmptyInterruptPending = transmitterEmptyInterruptPending;
            _overrun = overrun;
            _modemDeltas = modemDeltas;
            Refill(_receiveFifo, receiveFifo);
            Refill(_hostQueue, hostQueue);

            // A saved FIFO always has as much host input as fits; a crafted one with room to spare is topped up as the
            // guest's next read would. The line starts from what this device last drove, so it follows the registers now.
            MoveHostInputIntoFifo();
            UpdateInterruptLine();
        }
    }

    private static void Refill(Queue<byte> queue, ReadOnlySpan<byte> bytes)
    {
        queue.Clear();
        foreach (var b in bytes)
        {
            queue.Enqueue(b);
        }
    }

    private static void Require(bool valid, string problem)
    {
        if (!valid)
        {
            throw new StateException($"section UART: {problem}");
        }
    }
}
