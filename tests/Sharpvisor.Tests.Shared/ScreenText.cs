namespace Sharpvisor.Tests.Shared;

/// <summary>
/// Reads the text on a picture of a Linux framebuffer console (fbcon: 8x16 character cells from the top left, light
/// text on black), so a test can check what a user would read on the screen. It knows no font: it learns the glyphs
/// from rows whose text the test made the guest print (<see cref="Learn"/>), then reads any cell drawn with one of
/// them; a cell it cannot read comes out as '?', so a wrong picture never reads as the right text by accident.
/// </summary>
public sealed class ScreenText
{
    public const int CellWidth = 8;
    public const int CellHeight = 16;

    /// <summary>
    /// Two rows that between them hold every character a Linux shell's answers need here (uname's among them), for a
    /// test to have the guest print (<see cref="CommandLineShowing"/>) and the reader to learn from.
    /// </summary>
    public static readonly string[] KnownRows = ["ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789", "abcdefghijklmnopqrstuvwxyz #:()-_./+,=[]"];

    // A cell's picture as 128 bits, one per pixel (lit or not), row by row.
    private readonly Dictionary<UInt128, char> _glyphs = new() { [UInt128.Zero] = ' ' };

    /// <summary>How many different characters it can read.</summary>
    public int Known => _glyphs.Count;

    /// <summary>
    /// Finds the row of <paramref name="image"/> that shows exactly <paramref name="text"/> from its first column on
    /// (blank cells where the text has spaces and after it, a drawn cell for every other character, the same picture
    /// for the same character and different ones for different characters) and learns its glyphs. False when no row
    /// shows it, or a glyph it shows there contradicts one learnt before.
    /// </summary>
    public bool Learn(PngImage image, string text)
    {
        var columns = image.Width / CellWidth;
        if (text.Length > columns)
        {
            throw new ArgumentException($"\"{text}\" is wider than the screen's {columns} columns", nameof(text));
        }

        for (var row = 0; row < image.Height / CellHeight; row++)
        {
            var cells = Enumerable.Range(0, columns).Select(column => Cell(image, column, row)).ToArray();
            if (Shows(cells, text))
            {
                return text.Select((c, column) => (c, cells[column])).All(glyph => Add(glyph.Item2, glyph.c));
            }
        }

        return false;
    }

    /// <summary>
    /// One shell command line that quiets the kernel's messages, clears the screen, prints <see cref="KnownRows"/> (the
    /// punctuation quoted), then runs <paramref name="command"/>. One line, so that nothing the test types is still
    /// being echoed (typed ahead) while the known rows are printed, which would shift them off their first column.
    /// </summary>
    public static string CommandLineShowing(string command) =>
        string.Join("; ", KnownRows.Select(row => row.IndexOf(' ', StringComparison.Ordinal) is var space and > 0
                ? $"echo {row[..(space + 1)]}'{row[(space + 1)..]}'"
                : $"echo {row}")
            .Prepend("clear").Prepend("dmesg -n 1").Append(command));

    /// <summary>The screen's rows as text once <paramref name="image"/> shows <see cref="KnownRows"/> to learn from; else null.</summary>
    public string[]? LearnAndRead(PngImage image) => KnownRows.All(row => Learn(image, row)) ? Read(image) : null;

    /// <summary>The screen's rows as text, each as wide as the screen (a line the console wrapped continues on the next).</summary>
    public string[] Read(PngImage image)
    {
        var rows = new string[image.Height / CellHeight];
        for (var row = 0; row < rows.Length; row++)
        {
            var line = new char[image.Width / CellWidth];
            for (var column = 0; column < line.Length; column++)
            {
                line[column] = _glyphs.GetValueOrDefault(Cell(image, column, row), '?');
            }

            rows[row] = new string(line);
        }

        return rows;
    }

    private static bool Shows(UInt128[] cells, string text)
    {
        var pictures = new Dictionary<char, UInt128>();
        for (var column = 0; column < cells.Length; column++)
        {
            var c = column < text.Length ? text[column] : ' ';
            if ((c == ' ') != (cells[column] == UInt128.Zero))
            {
                return false;
            }

            if (pictures.TryGetValue(c, out var seen) ? seen != cells[column] : !pictures.TryAdd(c, cells[column]))
            {
                return false;
            }
        }

        return pictures.Values.Distinct().Count() == pictures.Count;
    }

    private bool Add(UInt128 picture, char c) => _glyphs.TryAdd(picture, c) || _glyphs[picture] == c;

    private static UInt128 Cell(PngImage image, int column, int row)
    {
        var bits = UInt128.Zero;
        for (var y = 0; y < CellHeight; y++)
        {
            for (var x = 0; x < CellWidth; x++)
            {
                var (r, g, b) = image[(column * CellWidth) + x, (row * CellHeight) + y];
                if (Math.Max(r, Math.Max(g, b)) > 0x80)
                {
                    bits |= UInt128.One << ((y * CellWidth) + x);
                }
            }
        }

        return bits;
    }
}
