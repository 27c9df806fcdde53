namespace Sharpvisor.Storage.Tests;

/// <summary>Byte-for-byte comparisons of a backend against a raw reference file.</summary>
internal static class ImageAssert
{
    public static void SameAsRaw(IBlockBackend image, string rawPath)
    {
        var expected = File.ReadAllBytes(rawPath);
        Assert.Equal((ulong)expected.Length, image.Size);
        SameBytes(image, expected, 0, expected.Length);
    }

    public static void SameAs(IBlockBackend image, IBlockBackend reference)
    {
        Assert.Equal(reference.Size, image.Size);
        var expected = new byte[reference.Size];
        reference.Read(0, expected);
        SameBytes(image, expected, 0, expected.Length);
    }

    public static void SameBytes(IBlockBackend image, byte[] expected, long offset, long length)
    {
        var actual = new byte[Math.Min(length, 1 << 20)];
        for (var done = 0L; done < length; done += actual.Length)
        {
            var chunk = actual.AsSpan(0, (int)Math.Min(actual.Length, length - done));
            image.Read(offset + done, chunk);
            var want = expected.AsSpan((int)(offset + done), chunk.Length);
            if (!chunk.SequenceEqual(want))
            {
                var at = chunk.CommonPrefixLength(want);
                Assert.Fail($"byte {offset + done + at} differs: read 0x{chunk[at]:x2}, expected 0x{want[at]:x2}");
            }
        }
    }
}
