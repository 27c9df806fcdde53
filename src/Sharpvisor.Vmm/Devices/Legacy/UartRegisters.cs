namespace Sharpvisor.Vmm.Devices.Legacy;

/// <summary>
/// Register offsets and bits of the 8250/16550 UART family (National Semiconductor PC16550D datasheet).
/// With <see cref="LineControlDivisorLatch"/> set, offsets 0 and 1 reach the baud-rate divisor instead.
/// </summary>
internal static class UartRegisters
{
    public const int Data = 0;            // RBR on read, THR on write; DLL with DLAB
    public const int InterruptEnable = 1; // IER; DLM with DLAB
    public const int InterruptId = 2;     // IIR on read, FCR on write
    public const int LineControl = 3;
    public const int ModemControl = 4;
    public const int LineStatus = 5;
    public const int ModemStatus = 6;
    public const int Scratch = 7;
    public const int Count = 8;

    public const byte EnableReceivedData = 0x01;
    public const byte EnableTransmitterEmpty = 0x02;
    public const byte EnableLineStatus = 0x04;
    public const byte EnableModemStatus = 0x08;
    public const byte InterruptEnableMask = 0x0f; // the 16550A has no bits above these

    // IIR identification codes, highest priority first; bit 0 set means "nothing pending".
    public const byte IdLineStatus = 0x06;
    public const byte IdReceivedData = 0x04;
    public const byte IdCharacterTimeout = 0x0c;
    public const byte IdTransmitterEmpty = 0x02;
    public const byte IdModemStatus = 0x00;
    public const byte IdNone = 0x01;
    public const byte IdFifosEnabled = 0xc0;

    public const byte FifoEnable = 0x01;
    public const byte FifoClearReceive = 0x02;
    public const int FifoTriggerShift = 6;

    public const byte LineControlDivisorLatch = 0x80;

    public const byte ModemControlDtr = 0x01;
    public const byte ModemControlRts = 0x02;
    public const byte ModemControlOut1 = 0x04;
    public const byte ModemControlOut2 = 0x08;
    public const byte ModemControlLoopback = 0x10;
    public const byte ModemControlMask = 0x1f;

    public const byte LineStatusDataReady = 0x01;
    public const byte LineStatusOverrun = 0x02;
    public const byte LineStatusThrEmpty = 0x20;
    public const byte LineStatusTransmitterEmpty = 0x40;

    public const byte ModemStatusDeltaCts = 0x01;
    public const byte ModemStatusDeltaDsr = 0x02;
    public const byte ModemStatusTrailingEdgeRi = 0x04;
    public const byte ModemStatusDeltaDcd = 0x08;
    public const byte ModemStatusCts = 0x10;
    public const byte ModemStatusDsr = 0x20;
    public const byte ModemStatusRi = 0x40;
    public const byte ModemStatusDcd = 0x80;
}
