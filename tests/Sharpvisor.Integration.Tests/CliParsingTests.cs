using Sharpvisor.Cli;

namespace Sharpvisor.Integration.Tests;

public sealed class CliParsingTests
{
    private const ulong KiB = 1UL << 10;
    private const ulong MiB = 1UL << 20;
    private const ulong GiB = 1UL << 30;
    private const ulong TiB = 1UL << 40;

    [Theory]
    [InlineData("128M", 128 * MiB)]
    [InlineData("128MiB", 128 * MiB)]
    [InlineData("128MB", 128 * MiB)]
    [InlineData("128", 128 * MiB)] // a bare number is MiB, as QEMU's -m
    [InlineData("4G", 4 * GiB)]
    [InlineData("4GiB", 4 * GiB)]
    [InlineData("64G", 64 * GiB)]
    [InlineData("1T", TiB)]
    [InlineData("1TiB", TiB)]
    [InlineData("512K", 512 * KiB)]
    [InlineData("512KiB", 512 * KiB)]
    [InlineData("4096B", 4096UL)]
    [InlineData("2g", 2 * GiB)]
    [InlineData("256m", 256 * MiB)]
    [InlineData("8gib", 8 * GiB)]
    [InlineData(" 1G ", GiB)]
    [InlineData("16777215T", 16777215 * TiB)] // the largest whole number of TiB that fits
    public void SizesParse(string text, ulong expected)
    {
        Assert.Equal(expected, SizeParser.Parse(text, "--memory"));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("0G")]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("lots")]
    [InlineData("G")]
    [InlineData("12Q")]
    [InlineData("12GG")]
    [InlineData("1.5G")]
    [InlineData("-1G")]
    [InlineData("-128")]
    [InlineData("+128")]
    [InlineData("1 G")]
    [InlineData("0x100M")]
    [InlineData("99999999999T")]
    [InlineData("16777216T")]
    [InlineData("99999999999999999999999")]
    public void BadSizesAreUsageErrorsNamingTheOption(string text)
    {
        var e = Assert.Throws<UsageException>(() => SizeParser.Parse(text, "--memory"));
        Assert.Contains("--memory", e.Message, StringComparison.Ordinal);
    }

    private static readonly HashSet<string> ValueOptions = ["--kernel", "--cpus", "--memory", "--cmdline"];
    private static readonly HashSet<string> FlagOptions = ["--verbose"];

    private static ArgumentReader Read(params string[] args) => new(args, ValueOptions, FlagOptions);

    [Fact]
    public void ValuesFollowTheirOptionOrAnEqualsSign()
    {
        var options = Read("--kernel", "/boot/vmlinux", "--cpus=4", "--cmdline", "console=ttyS0 quiet", "--memory=root=x=y");

        Assert.Equal("/boot/vmlinux", options.Get("--kernel"));
        Assert.Equal("4", options.Get("--cpus"));
        Assert.Equal(4, options.GetInt("--cpus", 1));
        Assert.Equal("console=ttyS0 quiet", options.Get("--cmdline"));
        Assert.Equal("root=x=y", options.Get("--memory")); // only the first '=' separates
    }

    [Fact]
    public void AValueMayBeEmptyOrLookLikeAnOption()
    {
        var options = Read("--cmdline=", "--kernel", "--verbose");
        Assert.True(options.Has("--cmdline"));
        Assert.Equal("", options.Get("--cmdline"));
        Assert.Equal("--verbose", options.Get("--kernel"));
        Assert.False(options.Has("--verbose"));
    }

    [Fact]
    public void FlagsArePresentWithoutAValue()
    {
        var options = Read("--verbose", "--cpus", "2");
        Assert.True(options.Has("--verbose"));
        Assert.Null(options.Get("--verbose"));
        Assert.Equal(2, options.GetInt("--cpus", 1));
    }

    [Fact]
    public void AbsentOptionsFallBackToDefaults()
    {
        var options = Read();
        Assert.False(options.Has("--kernel"));
        Assert.Null(options.Get("--kernel"));
        Assert.Equal(7, options.GetInt("--cpus", 7));
        Assert.False(options.Has("--verbose"));
    }

    [Fact]
    public void ALaterValueReplacesAnEarlierOne()
    {
        Assert.Equal("8", Read("--cpus", "2", "--cpus=8").Get("--cpus"));
    }

    [Theory]
    [InlineData("--bogus")]
    [InlineData("--bogus=1")]
    [InlineData("--Kernel")] // option names are case-sensitive
    public void UnknownOptionsAreNamed(string arg)
    {
        var e = Assert.Throws<UsageException>(() => Read("--cpus", "2", arg));
        Assert.Contains("unknown option", e.Message, StringComparison.Ordinal);
        Assert.Contains(arg.Split('=')[0], e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AMissingValueIsNamed()
    {
        var e = Assert.Throws<UsageException>(() => Read("--verbose", "--kernel"));
        Assert.Contains("--kernel", e.Message, StringComparison.Ordinal);
        Assert.Contains("needs a value", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AFlagGivenAValueIsNamed()
    {
        var e = Assert.Throws<UsageException>(() => Read("--verbose=yes"));
        Assert.Contains("--verbose", e.Message, StringComparison.Ordinal);
        Assert.Contains("no value", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("vmlinux")]
    [InlineData("-v")]
    [InlineData("")]
    public void PositionalArgumentsAreRejected(string arg)
    {
        var e = Assert.Throws<UsageException>(() => Read("--cpus", "2", arg));
        Assert.Contains($"'{arg}'", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("four")]
    [InlineData("-1")]
    [InlineData("1.0")]
    [InlineData("99999999999")]
    public void NonNumericIntegersAreNamed(string value)
    {
        var e = Assert.Throws<UsageException>(() => Read("--cpus", value).GetInt("--cpus", 1));
        Assert.Contains("--cpus", e.Message, StringComparison.Ordinal);
        Assert.Contains(value, e.Message, StringComparison.Ordinal);
    }
}
