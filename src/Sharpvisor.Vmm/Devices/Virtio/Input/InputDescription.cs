namespace Sharpvisor.Vmm.Devices.Virtio.Input;

/// <summary>
/// What an input device tells its driver through the config space: its name and serial, ids, property bits, the
/// event codes it sends per type, and each absolute axis's range.
/// </summary>
internal sealed record InputDescription(string Name, string Serial, ushort Product, IReadOnlyDictionary<ushort, ushort[]> Events)
{
    public IReadOnlyDictionary<ushort, (int Min, int Max)> Axes { get; init; } = new Dictionary<ushort, (int, int)>();

    /// <summary>
    /// A PC keyboard: every key code up to <see cref="InputCodes.MaxKey"/>. No EV_REP: the client's machine repeats a
    /// held key (<see cref="DisplayInput"/> passes its repeats on), because a guest timing the repeat itself would
    /// repeat every key whose release came late over a slow network (seen: "NNNNNNN" typed as "N" in a nested host).
    /// </summary>
    public static InputDescription Keyboard { get; } = new(
        "Sharpvisor Keyboard", "0", 1,
        new Dictionary<ushort, ushort[]>
        {
            [InputCodes.EvKey] = [.. Enumerable.Range(1, InputCodes.MaxKey).Select(k => (ushort)k)],
        });

    /// <summary>An absolute pointer with three buttons and a wheel: the VNC pointer lands where the client's is.</summary>
    public static InputDescription Tablet { get; } = new(
        "Sharpvisor Tablet", "0", 2,
        new Dictionary<ushort, ushort[]>
        {
            [InputCodes.EvKey] = [InputCodes.BtnLeft, InputCodes.BtnRight, InputCodes.BtnMiddle],
            [InputCodes.EvRel] = [InputCodes.RelWheel],
            [InputCodes.EvAbs] = [InputCodes.AbsX, InputCodes.AbsY],
        })
    {
        Axes = new Dictionary<ushort, (int, int)> { [InputCodes.AbsX] = (0, InputCodes.AbsMax), [InputCodes.AbsY] = (0, InputCodes.AbsMax) },
    };
}
