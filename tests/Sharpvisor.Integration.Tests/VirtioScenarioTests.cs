namespace Sharpvisor.Integration.Tests;

/// <summary>
/// The test guest's virtio drivers against our virtio-pci devices, through the real `sharpvisor run`: what the
/// guest writes is checked in the host file, what the host offers (serial, read-only, entropy) in the guest's
/// output. Pass = exit status 1 with "PASS scenario" last, as for every test-guest scenario.
/// </summary>
public sealed class VirtioScenarioTests : IDisposable
{
    private const int GuestPassed = 1;
    private const int SectorSize = 512;
    private readonly string _dir = Directory.CreateTempSubdirectory("sharpvisor-virtio-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>The guest's blk pattern (guests/testguest/README.md): byte i of sector s.</summary>
    public static byte PatternByte(long sector, int i) => (byte)(((sector * 31) + (i * 7)) ^ 0x5A);

    [KvmTheory]
    [InlineData("", 0, 16)]
    [InlineData(" indirect=1 eventidx=1", 100, 64)]
    [InlineData(" indirect=0 eventidx=1 depth=8", 7, 33)]
    public async Task BlockWritesReachTheImageFileAndReadBack(string options, long start, int sectors)
    {
        var image = NewImage(1 << 20, fill: 0xEE);
        var result = await SharpvisorProcess.RunAsync(["run", "--disk", image, "--cmdline", $"virtio-blk sectors={sectors} start={start}{options}"]);

        AssertPassed(result, "virtio-blk");
        Assert.Contains($"virtio-blk: capacity 2048 sectors, serial '{Path.GetFileName(image)}'", result.Stdout, StringComparison.Ordinal);
        Assert.Contains($"virtio-blk: wrote and read back {sectors} sectors", result.Stdout, StringComparison.Ordinal);
        var bytes = await File.ReadAllBytesAsync(image);
        for (var s = 0L; s < bytes.Length / SectorSize; s++)
        {
            var written = s >= start && s < start + sectors;
            for (var i = 0; i < SectorSize; i++)
            {
                var expected = written ? PatternByte(s, i) : (byte)0xEE;
                Assert.True(bytes[(s * SectorSize) + i] == expected, $"sector {s} byte {i}: 0x{bytes[(s * SectorSize) + i]:x2}, expected 0x{expected:x2}");
            }
        }
    }

    [KvmFact]
    public async Task DiskIdIsWhatTheGuestReads()
    {
        var image = NewImage(64 * 1024);
        var result = await SharpvisorProcess.RunAsync(["run", "--disk", $"{image},id=sv-disk-0", "--cmdline", "virtio-blk sectors=1"]);
        AssertPassed(result, "virtio-blk");
        Assert.Contains("virtio-blk: capacity 128 sectors, serial 'sv-disk-0'", result.Stdout, StringComparison.Ordinal);
    }

    [KvmFact]
    public async Task ReadOnlyDiskRefusesWritesAndLeavesTheFileAlone()
    {
        var image = NewImage(64 * 1024, fill: 0xA5);
        var result = await SharpvisorProcess.RunAsync(["run", "--disk", $"{image},readonly", "--cmdline", "virtio-blk"]);
        AssertPassed(result, "virtio-blk");
        Assert.Contains("virtio-blk: read-only, write refused", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("a5a5a5a5", result.Stdout, StringComparison.Ordinal);
        Assert.All(await File.ReadAllBytesAsync(image), b => Assert.Equal(0xA5, b));
    }

    [KvmFact]
    public async Task WriteZeroesClearsTheRangeInTheFile()
    {
        var image = NewImage(64 * 1024, fill: 0xFF);
        var result = await SharpvisorProcess.RunAsync(["run", "--disk", image, "--cmdline", "virtio-blk-zero start=4 sectors=8"]);
        AssertPassed(result, "virtio-blk-zero");
        var bytes = await File.ReadAllBytesAsync(image);
        for (var at = 0; at < bytes.Length; at++)
        {
            var zeroed = at >= 4 * SectorSize && at < 12 * SectorSize;
            Assert.True(bytes[at] == (zeroed ? 0 : 0xFF), $"byte {at}: 0x{bytes[at]:x2}");
        }
    }

    [KvmFact]
    public async Task EntropyArrivesFromTheHost()
    {
        var result = await SharpvisorProcess.RunAsync(["run", "--rng", "--cmdline", "virtio-rng bytes=256"]);
        AssertPassed(result, "virtio-rng");
        Assert.Matches("virtio-rng: [0-9a-f]{32}", result.Stdout);
    }

    [KvmFact]
    public async Task VirtioConsoleOutputReachesTheHost()
    {
        var result = await SharpvisorProcess.RunAsync(["run", "--console", "virtio", "--cmdline", "virtio-console"]);
        AssertPassed(result, "virtio-console");
        Assert.Contains("hello from hvc0\n", result.Stdout, StringComparison.Ordinal);
    }

    [KvmFact]
    public async Task SeveralDevicesShareTheBus()
    {
        var first = NewImage(64 * 1024);
        var second = NewImage(128 * 1024);
        var result = await SharpvisorProcess.RunAsync(["run", "--disk", first, "--disk", second, "--rng", "--console", "virtio", "--cmdline", "virtio-blk sectors=2"]);
        AssertPassed(result, "virtio-blk");
        Assert.Contains("virtio-blk: capacity 128 sectors", result.Stdout, StringComparison.Ordinal); // the first disk
        Assert.Equal(PatternByte(1, 3), (await File.ReadAllBytesAsync(first))[SectorSize + 3]);
        Assert.All(await File.ReadAllBytesAsync(second), b => Assert.Equal(0, b));
    }

    /// <summary>
    /// A hostile driver: the device fails the request or sets NEEDS_RESET, the VMM keeps running and the device
    /// works again after a reset; the VMM says so on stderr once, not once per bad request.
    /// </summary>
    [KvmTheory]
    [InlineData("loop", true)]
    [InlineData("toolong", true)]
    [InlineData("outside", true)]
    [InlineData("mmiohole", true)]
    [InlineData("overflow", true)]
    [InlineData("usedring-outside", true)]
    [InlineData("early-notify", true)]
    public async Task HostileDriverCannotHurtTheVmm(string hostileCase, bool logged)
    {
        var image = NewImage(64 * 1024);
        var result = await SharpvisorProcess.RunAsync(["run", "--disk", image, "--cmdline", $"virtio-blk-hostile case={hostileCase}"]);
        AssertPassed(result, "virtio-blk-hostile");
        Assert.Contains($"virtio-blk-hostile {hostileCase}: ", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("device recovered", result.Stdout, StringComparison.Ordinal);
        var lines = result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == (logged ? 1 : 0), $"expected {(logged ? "one line" : "nothing")} on stderr:\n{result}");
        Assert.DoesNotContain("Exception", result.Stderr, StringComparison.Ordinal);
    }

    private string NewImage(int size, byte fill = 0)
    {
        var path = Path.Combine(_dir, $"disk{Directory.GetFiles(_dir).Length}.img");
        var bytes = new byte[size];
        Array.Fill(bytes, fill);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static void AssertPassed(ProcessResult result, string scenario)
    {
        Assert.True(result.ExitCode == GuestPassed, result.ToString());
        Assert.Contains($"PASS {scenario}\n", result.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("FAIL", result.Stdout, StringComparison.Ordinal);
    }
}
