using Sharpvisor.Vmm.Arch.X86.Acpi;

namespace Sharpvisor.Vmm.Tests.Arch.X86.Acpi;

public class AmlTests
{
    [Theory]
    [InlineData(0UL, new byte[] { 0x00 })]
    [InlineData(1UL, new byte[] { 0x01 })]
    [InlineData(5UL, new byte[] { 0x0A, 0x05 })]
    [InlineData(0x3F8UL, new byte[] { 0x0B, 0xF8, 0x03 })]
    [InlineData(0x12345678UL, new byte[] { 0x0C, 0x78, 0x56, 0x34, 0x12 })]
    [InlineData(0x1_0000_0000UL, new byte[] { 0x0E, 0, 0, 0, 0, 1, 0, 0, 0 })]
    public void IntegersUseTheShortestEncoding(ulong value, byte[] expected) => Assert.Equal(expected, Aml.Integer(value));

    [Theory]
    [InlineData(0, new byte[] { 0x01 })]
    [InlineData(62, new byte[] { 0x3F })]
    [InlineData(63, new byte[] { 0x41, 0x04 })] // 65 = 0x41 total: two bytes, low nibble 1, then 0x04
    [InlineData(4093, new byte[] { 0x4F, 0xFF })] // 4095 total: the largest two-byte length
    [InlineData(4094, new byte[] { 0x81, 0x00, 0x01 })] // 4097 total
    public void PkgLengthCountsItselfAndGrowsAsNeeded(int bodyLength, byte[] expectedPrefix)
    {
        var encoded = Aml.WithPkgLength(new byte[bodyLength]);

        Assert.Equal(expectedPrefix, encoded[..expectedPrefix.Length]);
        Assert.Equal(bodyLength + expectedPrefix.Length, encoded.Length);
    }

    [Fact]
    public void EisaIdCompressesTheVendorLetters() => Assert.Equal(new byte[] { 0x0C, 0x41, 0xD0, 0x05, 0x01 }, Aml.EisaId("PNP0501"));

    [Theory]
    [InlineData(@"\_S5", new byte[] { 0x5C, 0x5F, 0x53, 0x35, 0x5F })]
    [InlineData("COM1", new byte[] { 0x43, 0x4F, 0x4D, 0x31 })]
    [InlineData(@"\_SB.COM1", new byte[] { 0x5C, 0x2E, 0x5F, 0x53, 0x42, 0x5F, 0x43, 0x4F, 0x4D, 0x31 })]
    public void NameStringsPadSegmentsAndMarkMultiPartPaths(string path, byte[] expected) => Assert.Equal(expected, Aml.NameString(path));

    [Theory]
    [InlineData("com1")]
    [InlineData("TOOLONG")]
    [InlineData("1ABC")]
    [InlineData("")]
    public void BadNamesAreRefused(string path) => Assert.Throws<ArgumentException>(() => Aml.NameString(path));
}
