namespace Sharpvisor.Vmm.Devices.Virtio.Gpu;

/// <summary>virtio-gpu's wire values (virtio 1.2, 5.7.6): command and response types, flags, the 2D formats.</summary>
internal static class GpuProtocol
{
    /// <summary>The control header every command and response starts with: type, flags, fence_id, ctx_id, ring_idx.</summary>
    public const int HeaderSize = 24;

    public const int MaxScanouts = 16;

    public const uint FlagFence = 1;

    public const int FeatureEdid = 1;

    public const uint EventDisplay = 1;

    // 2D commands on the control queue.
    public const uint GetDisplayInfo = 0x0100;
    public const uint ResourceCreate2D = 0x0101;
    public const uint ResourceUnref = 0x0102;
    public const uint SetScanout = 0x0103;
    public const uint ResourceFlush = 0x0104;
    public const uint TransferToHost2D = 0x0105;
    public const uint ResourceAttachBacking = 0x0106;
    public const uint ResourceDetachBacking = 0x0107;
    public const uint GetEdid = 0x010a;

    // Cursor queue.
    public const uint UpdateCursor = 0x0300;
    public const uint MoveCursor = 0x0301;

    // Responses.
    public const uint OkNoData = 0x1100;
    public const uint OkDisplayInfo = 0x1101;
    public const uint OkEdid = 0x1104;
    public const uint ErrUnspecified = 0x1200;
    public const uint ErrOutOfMemory = 0x1201;
    public const uint ErrInvalidScanoutId = 0x1202;
    public const uint ErrInvalidResourceId = 0x1203;
    public const uint ErrInvalidParameter = 0x1205;

    /// <summary>A display_one entry of GET_DISPLAY_INFO's answer: a rectangle, enabled, flags.</summary>
    public const int DisplayOneSize = 24;

    public const int DisplayInfoSize = HeaderSize + (MaxScanouts * DisplayOneSize);

    /// <summary>An attach-backing entry: addr (le64), length (le32), padding.</summary>
    public const int MemEntrySize = 16;
}
