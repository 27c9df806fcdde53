namespace Sharpvisor.Vmm.Devices.Virtio.Input;

/// <summary>The Linux input event codes (linux/input-event-codes.h) virtio-input carries: types, buttons, axes.</summary>
internal static class InputCodes
{
    public const ushort EvSyn = 0x00;
    public const ushort EvKey = 0x01;
    public const ushort EvRel = 0x02;
    public const ushort EvAbs = 0x03;
    public const ushort EvRep = 0x14;

    public const ushort SynReport = 0;

    public const ushort BtnLeft = 0x110;
    public const ushort BtnRight = 0x111;
    public const ushort BtnMiddle = 0x112;

    public const ushort RelWheel = 0x08;

    public const ushort AbsX = 0x00;
    public const ushort AbsY = 0x01;

    /// <summary>The tablet's axes run 0..32767, as QEMU's do: the pointer's position scaled, never a delta that drifts.</summary>
    public const int AbsMax = 32767;

    /// <summary>The highest key code the keyboard claims (KEY_MICMUTE is 248; everything a PC keyboard has is below).</summary>
    public const ushort MaxKey = 248;

    public const ushort BusVirtual = 0x06;
}
