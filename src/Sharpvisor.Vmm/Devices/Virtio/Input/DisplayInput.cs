using Sharpvisor.Display;

namespace Sharpvisor.Vmm.Devices.Virtio.Input;

/// <summary>
/// The display clients' keyboard and pointer, delivered to the VM's virtio keyboard and tablet. The devices are
/// swapped in when a machine is built (a guest reboot builds a new one), so one instance serves the display
/// servers for the life of the process. Input with no device attached is dropped.
/// </summary>
public sealed class DisplayInput : IDisplayInput
{
    // EV_KEY's values: released, pressed, and pressed again while held (the client's autorepeat).
    private const uint Released = 0, Pressed = 1, Repeated = 2;

    private readonly Lock _keysGate = new();
    private readonly bool[] _held = new bool[InputCodes.MaxKey + 1];
    private Tuple<VirtioInput, VirtioInput>? _devices; // a reference, so that both are swapped at once
    private int _buttons;

    /// <summary>Sends input to these devices from now on (null: drop it); a new keyboard has no key held.</summary>
    public void Attach(VirtioInput? keyboard, VirtioInput? tablet)
    {
        lock (_keysGate)
        {
            Array.Clear(_held);
            Volatile.Write(ref _devices, keyboard is null || tablet is null ? null : Tuple.Create(keyboard, tablet));
        }
    }

    /// <summary>
    /// A key event of any client. A press of a key already held is the client's autorepeat and reaches the guest as a
    /// repeat (the keyboard has no EV_REP, so the guest repeats nothing itself, and Linux would drop a second press).
    /// </summary>
    public void Key(uint keysym, uint scancode, bool down)
    {
        var code = KeyMap.ToKeyCode(keysym, scancode);
        if (code == 0 || code >= _held.Length)
        {
            return;
        }

        lock (_keysGate)
        {
            if (Volatile.Read(ref _devices) is not { } devices)
            {
                return;
            }

            var value = !down ? Released : _held[code] ? Repeated : Pressed;
            _held[code] = down;
            devices.Item1.Send([new InputEvent(InputCodes.EvKey, code, value)]);
        }
    }

    public void Pointer(int x, int y, int width, int height, int buttons)
    {
        if (Volatile.Read(ref _devices) is not { } devices)
        {
            return;
        }

        Span<InputEvent> events = stackalloc InputEvent[8];
        var count = 0;
        events[count++] = new InputEvent(InputCodes.EvAbs, InputCodes.AbsX, Scale(x, width));
        events[count++] = new InputEvent(InputCodes.EvAbs, InputCodes.AbsY, Scale(y, height));
        var previous = Interlocked.Exchange(ref _buttons, buttons);
        ReadOnlySpan<ushort> codes = [InputCodes.BtnLeft, InputCodes.BtnMiddle, InputCodes.BtnRight];
        for (var bit = 0; bit < codes.Length; bit++)
        {
            if (((previous ^ buttons) & (1 << bit)) != 0)
            {
                events[count++] = new InputEvent(InputCodes.EvKey, codes[bit], (uint)((buttons >> bit) & 1));
            }
        }

        // RFB's wheel is buttons 4 (up) and 5 (down), pressed and released per notch: count the presses.
        if ((buttons & ~previous & 0x08) != 0)
        {
            events[count++] = new InputEvent(InputCodes.EvRel, InputCodes.RelWheel, 1);
        }

        if ((buttons & ~previous & 0x10) != 0)
        {
            events[count++] = new InputEvent(InputCodes.EvRel, InputCodes.RelWheel, unchecked((uint)-1));
        }

        devices.Item2.Send(events[..count]);
    }

    /// <summary>A position on a screen of <paramref name="size"/> pixels as 0..32767, clamped (the client's numbers are hostile).</summary>
    private static uint Scale(int position, int size) =>
        size <= 1 ? 0 : (uint)(Math.Clamp((long)position, 0, size - 1) * InputCodes.AbsMax / (size - 1));
}
