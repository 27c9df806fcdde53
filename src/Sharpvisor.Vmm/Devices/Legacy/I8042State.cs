using Sharpvisor.Vmm.State;

namespace Sharpvisor.Vmm.Devices.Legacy;

/// <summary>
/// The 8042's saved state: u8 command byte, u8 output port, u8 output buffer, bools output full, output from the aux
/// port and last write was a command, u8 the command awaiting its parameter (0 if none).
/// </summary>
public sealed partial class I8042Controller : IDeviceState
{
    public string StateTag => "8042";

    public uint StateVersion => 1;

    public void SaveState(StatePayload payload)
    {
        ArgumentNullException.ThrowIfNull(payload);
        lock (_lock)
        {
            payload.U8(_configuration).U8(_outputPort).U8(_outputBuffer).Bool(_outputFull).Bool(_outputFromAux)
                .Bool(_lastWriteWasCommand).U8(_awaitingParameterFor);
        }
    }

    public void RestoreState(StateSection section)
    {
        ArgumentNullException.ThrowIfNull(section);
        var reader = section.Expect(StateVersion).Reader();
        var configuration = reader.U8();
        var outputPort = reader.U8();
        var outputBuffer = reader.U8();
        var outputFull = reader.Bool();
        var outputFromAux = reader.Bool();
        if (outputFromAux && !outputFull)
        {
            throw new StateException("section 8042: the output buffer is marked as from the aux port but is empty");
        }

        var lastWriteWasCommand = reader.Bool();
        var awaitingParameterFor = reader.U8();
        if (awaitingParameterFor is not (0 or WriteCommandByte or WriteOutputPort or WriteKeyboardOutputBuffer
            or WriteAuxOutputBuffer or WriteToAuxDevice))
        {
            throw new StateException($"section 8042: command 0x{awaitingParameterFor:x2} takes no parameter byte");
        }

        reader.ExpectEnd();

        lock (_lock)
        {
            _configuration = configuration;
            _outputPort = outputPort;
            _outputBuffer = outputBuffer;
            _outputFull = outputFull;
            _outputFromAux = outputFromAux;
            _lastWriteWasCommand = lastWriteWasCommand;
            _awaitingParameterFor = awaitingParameterFor;
        }
    }
}
