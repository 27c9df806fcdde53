namespace Sharpvisor.Display.Rfb.Encoders;

/// <summary>
/// The distinct colours of a tile in first-seen order, up to a limit: a small open-addressing hash so counting a
/// 64 by 64 tile costs about one probe a pixel whatever the palette size.
/// </summary>
internal sealed class ColourTable
{
    private const int Slots = 512; // a power of two, comfortably above the largest palette asked for (256)
    private const int Empty = -1;

    private readonly uint[] _keys = new uint[Slots];
    private readonly int[] _indices = new int[Slots];
    private readonly uint[] _colours;

    public ColourTable(int capacity)
    {
        _colours = new uint[capacity];
        Array.Fill(_indices, Empty);
    }

    public int Count { get; private set; }

    /// <summary>Whether a colour did not fit (the table stopped counting).</summary>
    public bool Overflowed { get; private set; }

    public ReadOnlySpan<uint> Colours => _colours.AsSpan(0, Count);

    public void Clear()
    {
        Array.Fill(_indices, Empty);
        Count = 0;
        Overflowed = false;
    }

    /// <summary>Adds <paramref name="colour"/> unless known; false once the table is full and the colour new.</summary>
    public bool Add(uint colour)
    {
        var slot = Find(colour);
        if (_indices[slot] != Empty)
        {
            return true;
        }

        if (Count == _colours.Length)
        {
            Overflowed = true;
            return false;
        }

        _keys[slot] = colour;
        _indices[slot] = Count;
        _colours[Count++] = colour;
        return true;
    }

    /// <summary>The index of a colour already added.</summary>
    public int IndexOf(uint colour) => _indices[Find(colour)];

    private int Find(uint colour)
    {
        var slot = (int)((colour * 2654435761u) >> 23) & (Slots - 1);
        while (_indices[slot] != Empty && _keys[slot] != colour)
        {
            slot = (slot + 1) & (Slots - 1);
        }

        return slot;
    }
}
