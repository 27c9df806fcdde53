using Sharpvisor.Vmm.Bus;

namespace Sharpvisor.Vmm.Devices.Legacy;

/// <summary>
/// The PS/2 (8042) keyboard controller, registered at port 0x60 with length 5: offset 0 is the data port
/// (0x60), offset 4 the status/command port (0x64). It answers the controller commands Linux probes with and
/// carries the CPU reset line; no keyboard or mouse sits behind it, so bytes meant for them are ignored
/// (Linux then finds no keyboard and says nothing; <c>i8042.noaux i8042.dumbkbd</c> skips the probe timeouts).
/// </summary>
public sealed partial class I8042Controller : IBusDevice
{
    public const ulong DataPortOffset = 0;
    public const ulong CommandPortOffset = 4;
    public const ulong RangeLength = 5;

    private const byte StatusOutputFull = 0x01;
    private const byte StatusSystemFlag = 0x04;
    private const byte StatusLastWriteWasCommand = 0x08;
    private const byte StatusKeyboardNotInhibited = 0x10;
    private const byte StatusAuxData = 0x20;

    private const byte ConfigKeyboardInterrupt = 0x01;
    private const byte ConfigSystemFlag = 0x04;
    private const byte ConfigKeyboardDisabled = 0x10;
    private const byte ConfigAuxDisabled = 0x20;
    private const byte ConfigTranslateScancodes = 0x40;

    private const byte ReadCommandByte = 0x20;
    private const byte WriteCommandByte = 0x60;
    private const byte DisableAux = 0xa7;
    private const byte EnableAux = 0xa8;
    private const byte TestAuxInterface = 0xa9;
    private const byte SelfTest = 0xaa;
    private const byte TestKeyboardInterface = 0xab;
    private const byte DisableKeyboard = 0xad;
    private const byte EnableKeyboard = 0xae;
    private const byte ReadOutputPort = 0xd0;
    private const byte WriteOutputPort = 0xd1;
    private const byte WriteKeyboardOutputBuffer = 0xd2;
    private const byte WriteAuxOutputBuffer = 0xd3;
    private const byte WriteToAuxDevice = 0xd4;
    private const byte PulseOutputLinesFirst = 0xf0;

    private const byte SelfTestPassed = 0x55;
    private const byte InterfaceTestPassed = 0x00;
    private const byte OutputPortResetDeasserted = 0x01; // active low: clearing it resets the CPU
    private const byte OutputPortA20Enabled = 0x02;

    private readonly Lock _lock = new();
    private readonly Action _resetRequested;

    // What a BIOS leaves behind after POST.
    private byte _configuration = ConfigKeyboardInterrupt | ConfigSystemFlag | ConfigTranslateScancodes;
    private byte _outputPort = OutputPortResetDeasserted | OutputPortA20Enabled;
    private byte _outputBuffer;
    private bool _outputFull;
    private bool _outputFromAux;
    private bool _lastWriteWasCommand;

    /// <summary>The command whose parameter byte the next data-port write supplies, or 0 if none.</summary>
    private byte _awaitingParameterFor;

    /// <param name="resetRequested">
    /// Called, outside the device lock and on the vCPU thread that asked, when the guest pulses the reset line;
    /// the machine decides whether that means stop or restart.
    /// </param>
    public I8042Controller(Action resetRequested)
    {
        ArgumentNullException.ThrowIfNull(resetRequested);
        _resetRequested = resetRequested;
    }

    public void Read(ulong offset, Span<byte> data)
    {
        lock (_lock)
        {
            for (var i = 0; i < data.Length; i++)
            {
                data[i] = (offset + (ulong)i) switch
                {
                    DataPortOffset => ReadData(),
                    CommandPortOffset => ReadStatus(),
                    _ => 0xff,
                };
            }
        }
    }

    public void Write(ulong offset, ReadOnlySpan<byte> data)
    {
        var reset = false;
        lock (_lock)
        {
            for (var i = 0; i < data.Length; i++)
            {
                reset |= (offset + (ulong)i) switch
                {
                    DataPortOffset => WriteData(data[i]),
                    CommandPortOffset => WriteCommand(data[i]),
                    _ => false,
                };
            }
        }

        // Outside the lock: the machine may stop vCPUs, and another vCPU may be waiting for this lock.
        if (reset)
        {
            _resetRequested();
        }
    }

    private byte ReadData()
    {
        // A read with nothing new returns the stale byte, as the real latch does.
        _outputFull = false;
        _outputFromAux = false;
        return _outputBuffer;
    }

    private byte ReadStatus()
    {
        var status = StatusKeyboardNotInhibited;
        if (_outputFull)
        {
            status |= StatusOutputFull;
        }

        if (_outputFromAux)
        {
            status |= StatusAuxData;
        }

        if ((_configuration & ConfigSystemFlag) != 0)
        {
            status |= StatusSystemFlag;
        }

        if (_lastWriteWasCommand)
        {
            status |= StatusLastWriteWasCommand;
        }

        // The input buffer is never full: every write is consumed before the vCPU resumes.
        return (byte)status;
    }

    /// <returns>True if the write asked for a CPU reset.</returns>
    private bool WriteCommand(byte command)
    {
        _lastWriteWasCommand = true;
        _awaitingParameterFor = 0;
        switch (command)
        {
            case ReadCommandByte:
                Respond(_configuration);
                break;
            case WriteCommandByte or WriteOutputPort or WriteKeyboardOutputBuffer or WriteAuxOutputBuffer or WriteToAuxDevice:
                _awaitingParameterFor = command;
                break;
            case DisableAux:
                _configuration |= ConfigAuxDisabled;
                break;
            case EnableAux:
                _configuration = (byte)(_configuration & ~ConfigAuxDisabled);
                break;
            case TestAuxInterface or TestKeyboardInterface:
                Respond(InterfaceTestPassed);
                break;
            case SelfTest:
                _configuration |= ConfigSystemFlag;
                Respond(SelfTestPassed);
                break;
            case DisableKeyboard:
                _configuration |= ConfigKeyboardDisabled;
                break;
            case EnableKeyboard:
                _configuration = (byte)(_configuration & ~ConfigKeyboardDisabled);
                break;
            case ReadOutputPort:
                Respond(_outputPort);
                break;
            case >= PulseOutputLinesFirst:
                // Commands 0xf0-0xff pulse the output-port lines whose bits are clear in the low nibble; bit 0 is reset.
                return (command & OutputPortResetDeasserted) == 0;
            default:
                // Commands for hardware that is not here (controller RAM, input port, password, ...): ignored.
                break;
        }

        return false;
    }

    /// <returns>True if the write asked for a CPU reset.</returns>
    private bool WriteData(byte value)
    {
        _lastWriteWasCommand = false;
        var command = _awaitingParameterFor;
        _awaitingParameterFor = 0;
        switch (command)
        {
            case WriteCommandByte:
                _configuration = value;
                break;
            case WriteOutputPort:
                _outputPort = value;
                return (value & OutputPortResetDeasserted) == 0;
            case WriteKeyboardOutputBuffer:
                Respond(value);
                break;
            case WriteAuxOutputBuffer:
                Respond(value, fromAux: true);
                break;
            default:
                // A byte for the keyboard (no command pending) or for the mouse (after 0xd4): nobody is there.
                break;
        }

        return false;
    }

    private void Respond(byte value, bool fromAux = false)
    {
        _outputBuffer = value;
        _outputFull = true;
        _outputFromAux = fromAux;
    }
}
