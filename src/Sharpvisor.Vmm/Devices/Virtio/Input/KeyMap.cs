namespace Sharpvisor.Vmm.Devices.Virtio.Input;

/// <summary>
/// From what a display client sends to Linux key codes. A PC scancode (QEMU's extended key event) says which key
/// whatever the layout, so it wins; a bare X11 keysym is mapped as the key that types it on a US layout (the
/// client sends Shift apart, so 'A' and 'a' are one key).
/// </summary>
internal static class KeyMap
{
    // Set 1 scancodes 0x01..0x58 are the Linux key codes themselves; the 0xE0-prefixed ones differ.
    private static readonly Dictionary<uint, ushort> Extended = new()
    {
        [0xE01C] = 96, [0xE01D] = 97, [0xE035] = 98, [0xE037] = 99, [0xE038] = 100, [0xE047] = 102, [0xE048] = 103,
        [0xE049] = 104, [0xE04B] = 105, [0xE04D] = 106, [0xE04F] = 107, [0xE050] = 108, [0xE051] = 109, [0xE052] = 110,
        [0xE053] = 111, [0xE05B] = 125, [0xE05C] = 126, [0xE05D] = 127,
    };

    private static readonly Dictionary<uint, ushort> Keysyms = BuildKeysyms();

    /// <summary>The key code, or 0 when neither the scancode nor the keysym names a key we have.</summary>
    public static ushort ToKeyCode(uint keysym, uint scancode)
    {
        if (scancode is >= 0x01 and <= 0x58)
        {
            return (ushort)scancode;
        }

        if (Extended.TryGetValue(scancode, out var extended))
        {
            return extended;
        }

        return Keysyms.GetValueOrDefault(keysym is >= 'A' and <= 'Z' ? keysym + 32 : keysym);
    }

    private static Dictionary<uint, ushort> BuildKeysyms()
    {
        var map = new Dictionary<uint, ushort>
        {
            [0xff08] = 14, [0xff09] = 15, [0xff0d] = 28, [0xff1b] = 1, [0xffff] = 111, [0xff50] = 102, [0xff51] = 105,
            [0xff52] = 103, [0xff53] = 106, [0xff54] = 108, [0xff55] = 104, [0xff56] = 109, [0xff57] = 107, [0xff63] = 110,
            [0xffe1] = 42, [0xffe2] = 54, [0xffe3] = 29, [0xffe4] = 97, [0xffe9] = 56, [0xffea] = 100, [0xffe7] = 125,
            [0xffeb] = 125, [0xffec] = 126, [0xffe5] = 58, [0xff67] = 127, [0xff61] = 99, [0xff13] = 119, [0xff14] = 70,
            [0xff7f] = 69, [0xff8d] = 96, [' '] = 57,
        };
        // F1..F10 are 59..68, F11 and F12 87 and 88.
        for (uint f = 0; f < 12; f++)
        {
            map[0xffbe + f] = (ushort)(f < 10 ? 59 + f : 87 + f - 10);
        }

        // US rows: each character and its shifted twin.
        AddRow(map, "1234567890-=", "!@#$%^&*()_+", 2);
        AddRow(map, "qwertyuiop[]", "QWERTYUIOP{}", 16);
        AddRow(map, "asdfghjkl;'`", "ASDFGHJKL:\"~", 30);
        AddRow(map, "zxcvbnm,./", "ZXCVBNM<>?", 44);
        map['\\'] = 43;
        map['|'] = 43;
        return map;
    }

    private static void AddRow(Dictionary<uint, ushort> map, string plain, string shifted, int first)
    {
        for (var i = 0; i < plain.Length; i++)
        {
            map[plain[i]] = (ushort)(first + i);
            map[shifted[i]] = (ushort)(first + i);
        }
    }
}
