namespace Sharpvisor.Vmm.Devices.Legacy;

/// <summary>The six counting modes of an 8254 counter, numbered as in the control word.</summary>
internal enum PitMode
{
    InterruptOnTerminalCount = 0,
    HardwareRetriggerableOneShot = 1,
    RateGenerator = 2,
    SquareWave = 3,
    SoftwareTriggeredStrobe = 4,
    HardwareTriggeredStrobe = 5,
}

/// <summary>How a counter's 16-bit value travels through its 8-bit port (control word bits 5:4; 0 is the latch command).</summary>
internal enum PitAccess
{
    LowByteOnly = 1,
    HighByteOnly = 2,
    LowThenHighByte = 3,
}
