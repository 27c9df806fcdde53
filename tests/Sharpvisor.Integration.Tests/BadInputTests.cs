namespace Sharpvisor.Integration.Tests;

/// <summary>
/// Every bad input gives exactly one line on stderr starting "sharpvisor: error:", the documented exit
/// code (2 usage, 1 runtime), and never a stack trace.
/// </summary>
public sealed class BadInputTests
{
    [Fact]
    public async Task MissingKvmDeviceIsARuntimeError()
    {
        var result = await SharpvisorProcess.RunAsync(["run", "--kvm", "/nonexistent/kvm"]);
        CliAssert.OneLineError(result, 1, "/nonexistent/kvm does not exist");
    }

    [Fact]
    public async Task KvmDeviceWithoutPermissionIsARuntimeError()
    {
        // A file the test makes unreadable stands in for /dev/kvm owned by another group. Root ignores
        // mode bits, so drop to nobody through setpriv when running as root.
        var path = Path.Combine(Path.GetTempPath(), $"sharpvisor-kvm-{Guid.NewGuid():N}");
        await File.WriteAllTextAsync(path, "");
        File.SetUnixFileMode(path, UnixFileMode.None);
        try
        {
            var result = Environment.UserName == "root"
                ? await ProcessRunner.RunAsync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", SharpvisorProcess.ExecutablePath, "host-info", "--kvm", path])
                : await SharpvisorProcess.RunAsync(["host-info", "--kvm", path]);
            CliAssert.OneLineError(result, 1, $"no permission to open {path}");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task MissingKernelIsAUsageError()
    {
        var result = await SharpvisorProcess.RunAsync(["run", "--kernel", "/nonexistent/vmlinux"]);
        CliAssert.OneLineError(result, 2, "--kernel /nonexistent/vmlinux: no such file");
    }

    [Fact]
    public async Task NonElfKernelIsAUsageError()
    {
        var path = Path.GetTempFileName();
        await File.WriteAllTextAsync(path, "this is not an ELF file, just some text long enough to have a header");
        try
        {
            var result = await SharpvisorProcess.RunAsync(["run", "--kernel", path]);
            CliAssert.OneLineError(result, 2, "is neither a PVH ELF nor a bzImage");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task ElfWithoutPvhNoteIsAUsageError()
    {
        // gcc's own output: a valid x86-64 ELF executable with no XEN_ELFNOTE_PHYS32_ENTRY note.
        var dir = Directory.CreateTempSubdirectory("sharpvisor-nopvh-").FullName;
        try
        {
            var source = Path.Combine(dir, "k.c");
            var elf = Path.Combine(dir, "k.elf");
            await File.WriteAllTextAsync(source, "void _start(void) { for (;;) __asm__ volatile(\"hlt\"); }\n");
            var gcc = await ProcessRunner.RunAsync("gcc", ["-static", "-nostdlib", "-no-pie", "-Wl,-Ttext=0x200000", "-o", elf, source]);
            Assert.True(gcc.ExitCode == 0, gcc.ToString());
            var result = await SharpvisorProcess.RunAsync(["run", "--kernel", elf]);
            CliAssert.OneLineError(result, 2, "no PVH entry point");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task TruncatedBzImageIsAUsageError()
    {
        // A boot sector and setup header that announce a 64-bit bzImage, cut off right after the header.
        var image = new byte[0x400];
        image[0x1F1] = 1; // setup_sects: one sector of setup code follows the boot sector
        image[0x1FE] = 0x55;
        image[0x1FF] = 0xAA;
        "HdrS"u8.CopyTo(image.AsSpan(0x202));
        image[0x206] = 0x0F; // protocol 2.15
        image[0x207] = 0x02;
        var path = Path.GetTempFileName();
        await File.WriteAllBytesAsync(path, image);
        try
        {
            var result = await SharpvisorProcess.RunAsync(["run", "--kernel", path]);
            CliAssert.OneLineError(result, 2, path);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData("0", "--cpus 0 is out of range")]
    [InlineData("100000", "--cpus 100000 is out of range")]
    [InlineData("two", "--cpus 'two' is not a whole number")]
    public async Task BadCpuCountIsAUsageError(string cpus, string message)
    {
        var result = await SharpvisorProcess.RunAsync(["run", "--cpus", cpus]);
        CliAssert.OneLineError(result, 2, message);
    }

    [Theory]
    [InlineData("1000000T", "exceeds")]
    [InlineData("8M", "below the minimum")]
    [InlineData("lots", "is not a size")]
    [InlineData("12Q", "unknown size suffix")]
    public async Task BadMemorySizeIsAUsageError(string memory, string message)
    {
        var result = await SharpvisorProcess.RunAsync(["run", "--memory", memory]);
        CliAssert.OneLineError(result, 2, message);
    }

    [Fact]
    public async Task CommandLineThatDoesNotFitIsAUsageError()
    {
        var result = await SharpvisorProcess.RunAsync(["run", "--cmdline", new string('x', 70_000)]);
        CliAssert.OneLineError(result, 2, "command line");
    }

    [Theory]
    [InlineData(new[] { "frobnicate" }, "unknown command 'frobnicate'")]
    [InlineData(new[] { "run", "--bogus" }, "unknown option '--bogus'")]
    [InlineData(new[] { "run", "--kernel" }, "--kernel needs a value")]
    [InlineData(new[] { "run", "--serial", "tcp:1234" }, "--serial 'tcp:1234' must be stdio, file:PATH, socket:PATH or none")]
    [InlineData(new[] { "run", "--on-reboot", "explode" }, "--on-reboot 'explode' must be stop or restart")]
    [InlineData(new string[0], "no command given")]
    public async Task BadCommandLinesAreUsageErrors(string[] args, string message)
    {
        var result = await SharpvisorProcess.RunAsync(args);
        CliAssert.OneLineError(result, 2, message);
    }

    [Theory]
    [InlineData("--disk", ",readonly", 2, "needs a file path")]
    [InlineData("--disk", "/tmp/x.img,bogus", 2, "unknown or invalid setting 'bogus'")]
    [InlineData("--disk", "/tmp/x.img,format=vmdk", 2, "unknown format 'vmdk' (expected raw or qcow2)")]
    [InlineData("--net", "tap=", 2, "is not a valid interface name")]
    [InlineData("--net", "tap=much-too-long-name0", 2, "is not a valid interface name")]
    [InlineData("--net", "tap=t0,mac=01:00:00:00:00:01", 2, "must be six hex bytes")]
    [InlineData("--net", "tap=t0,mac=zz", 2, "must be six hex bytes")]
    [InlineData("--net", "mac=02:00:00:00:00:01", 2, "needs tap=NAME")]
    [InlineData("--display", "heads=17", 2, "'heads=17' is not a setting")]
    [InlineData("--display", "size=0x600", 2, "'size=0x600' is not a setting")]
    [InlineData("--display", "size=100000x600", 2, "'size=100000x600' is not a setting")]
    [InlineData("--display", "listen=0.0.0.0:5900", 2, "'listen=0.0.0.0:5900' is not a setting")] // loopback only
    [InlineData("--display", "heads=4,listen=127.0.0.1:65534", 2, "4 heads need ports 65534 to 65537")]
    [InlineData("--display", "colour=blue", 2, "'colour=blue' is not a setting")]
    [InlineData("--display", "heads=16,size=8192x8192", 2, "16 heads of 8192x8192 are over the 256 MiB")]
    [InlineData("--display", "password-file=/nonexistent/pw", 2, "no such file")]
    [InlineData("--console", "vga", 2, "--console 'vga' must be serial or virtio")]
    [InlineData("--disk", "/dev/null", 2, "/dev/null is a device node")]
    [InlineData("--disk", "/tmp", 2, "/tmp is a directory")]
    public async Task BadDeviceOptionsAreUsageErrors(string option, string value, int exitCode, string fragment)
    {
        var result = await SharpvisorProcess.RunAsync(["run", option, value]);
        CliAssert.OneLineError(result, exitCode, fragment);
    }

    /// <summary>A disk said to be qcow2 that is not one, or whose backing file is gone: one line naming the problem.</summary>
    [KvmFact]
    public async Task ABrokenQcow2DiskIsAOneLineUsageError()
    {
        var scratch = Directory.CreateTempSubdirectory("sv-badqcow2-");
        try
        {
            var raw = Path.Combine(scratch.FullName, "raw.img");
            await File.WriteAllBytesAsync(raw, new byte[65536]);
            var notQcow2 = await SharpvisorProcess.RunAsync(["run", "--disk", $"{raw},format=qcow2"]);
            CliAssert.OneLineError(notQcow2, 2, $"--disk {raw}: ");
            Assert.Contains("magic", notQcow2.Stderr, StringComparison.OrdinalIgnoreCase);

            var overlay = Path.Combine(scratch.FullName, "overlay.qcow2");
            var created = await ProcessRunner.RunAsync("qemu-img", ["create", "-q", "-f", "qcow2", "-F", "raw", "-b", raw, overlay]);
            Assert.True(created.ExitCode == 0, created.ToString());
            File.Delete(raw);
            var orphan = await SharpvisorProcess.RunAsync(["run", "--disk", $"{overlay},format=qcow2"]);
            CliAssert.OneLineError(orphan, 2, $"backing file {raw} of {overlay} does not exist");
        }
        finally
        {
            scratch.Delete(recursive: true);
        }
    }

    [KvmFact]
    public async Task AMissingDiskImageIsAUsageError()
    {
        var result = await SharpvisorProcess.RunAsync(["run", "--disk", "/nonexistent/disk.img"]);
        CliAssert.OneLineError(result, 2, "--disk /nonexistent/disk.img: no such file");
    }

    [KvmFact]
    public async Task ADiskThatIsADirectoryIsRefused()
    {
        var result = await SharpvisorProcess.RunAsync(["run", "--disk", Path.GetTempPath()]);
        Assert.NotEqual(0, result.ExitCode);
        CliAssert.OneLineError(result, result.ExitCode, "--disk");
    }
}
