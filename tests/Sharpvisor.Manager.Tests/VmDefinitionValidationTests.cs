using Sharpvisor.Api;
using Sharpvisor.Manager.Store;
using Sharpvisor.Vmm.Arch.X86;

namespace Sharpvisor.Manager.Tests;

public sealed class VmDefinitionValidationTests
{
    private static VmDefinition Valid => VmStoreTests.Sample();

    private static string Single(VmDefinition definition) => Assert.Single(definition.Validate()).ToString();

    [Fact]
    public void The_sample_and_a_minimal_built_in_guest_are_valid()
    {
        Assert.Empty(Valid.Validate());
        Assert.Empty(new VmDefinition { Name = "a", BuiltInGuest = "hello" }.Validate());
    }

    [Fact]
    public void The_limits_are_the_vmms()
    {
        Assert.Equal(16, VmLimits.MinMemoryMiB);
        Assert.Equal(MemoryLayout.MinimumRamSize, (ulong)VmLimits.MinMemoryMiB << 20);
        Assert.Equal(MemoryLayout.MaxCommandLineSize - 1, (ulong)VmLimits.MaxCmdlineBytes);
        Assert.Equal(65_535, VmLimits.MaxCmdlineBytes);
    }

    [Theory]
    [InlineData("a")]
    [InlineData("web-1")]
    [InlineData("a23456789012345678901234567890123456789012345678901234567890123")] // 63
    [InlineData("x--")]
    public void Good_names(string name) => Assert.Empty((Valid with { Name = name }).Validate());

    [Theory]
    [InlineData("", "name: is required")]
    [InlineData("a234567890123456789012345678901234567890123456789012345678901234", "name: must be at most 63 characters")]
    [InlineData("1abc", "name: must be lowercase letters, digits and '-', starting with a letter")]
    [InlineData("-abc", "name: must be lowercase letters, digits and '-', starting with a letter")]
    [InlineData("Web", "name: must be lowercase letters, digits and '-', starting with a letter")]
    [InlineData("web_1", "name: must be lowercase letters, digits and '-', starting with a letter")]
    [InlineData("wéb", "name: must be lowercase letters, digits and '-', starting with a letter")]
    public void Bad_names(string name, string problem) => Assert.Equal(problem, Single(Valid with { Name = name }));

    [Fact]
    public void A_null_name_is_required() => Assert.Equal("name: is required", Single(Valid with { Name = null! }));

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(256)]
    public void Vcpus_out_of_range(int vcpus) => Assert.Equal("vcpus: must be between 1 and 255", Single(Valid with { Vcpus = vcpus }));

    [Theory]
    [InlineData(1)]
    [InlineData(255)]
    public void Vcpus_in_range(int vcpus) => Assert.Empty((Valid with { Vcpus = vcpus }).Validate());

    [Theory]
    [InlineData(15)]
    [InlineData(0)]
    [InlineData(65537)]
    public void Memory_out_of_range(int mib) => Assert.Equal("memoryMiB: must be between 16 and 65536", Single(Valid with { MemoryMiB = mib }));

    [Theory]
    [InlineData(16)]
    [InlineData(65536)]
    public void Memory_in_range(int mib) => Assert.Empty((Valid with { MemoryMiB = mib }).Validate());

    [Fact]
    public void Exactly_one_of_kernel_and_built_in_guest()
    {
        Assert.Equal("kernel: give either kernel or builtInGuest, not both", Single(Valid with { BuiltInGuest = "hello" }));
        Assert.Equal("kernel: either kernel or builtInGuest is required", Single(Valid with { Kernel = null, Initrd = null }));
        Assert.Equal("initrd: only a kernel takes an initrd, not the built-in guest", Single(Valid with { Kernel = null, BuiltInGuest = "hello" }));
    }

    [Theory]
    [InlineData("vmlinux", "kernel: must be an absolute path")]
    [InlineData("", "kernel: is required")]
    [InlineData("/boot/vm\0linux", "kernel: must not contain NUL characters")]
    public void Kernel_paths(string kernel, string problem) => Assert.Equal(problem, Single(Valid with { Kernel = kernel }));

    [Fact]
    public void Long_paths_are_refused() =>
        Assert.Equal("initrd: must be at most 4095 bytes", Single(Valid with { Initrd = "/" + new string('i', 4095) }));

    [Theory]
    [InlineData("Hello")]
    [InlineData("smp cpus=2")]
    [InlineData("")]
    public void Built_in_guest_must_be_a_scenario_name(string scenario) =>
        Assert.Equal(
            "builtInGuest: must be a scenario name: 1-32 lowercase letters, digits and '-' (e.g. hello)",
            Single(Valid with { Kernel = null, Initrd = null, BuiltInGuest = scenario }));

    [Fact]
    public void Cmdline_limit_is_in_utf8_bytes()
    {
        Assert.Empty((Valid with { Cmdline = new string('a', 65_535) }).Validate());
        Assert.Equal("cmdline: must be at most 65535 bytes in UTF-8", Single(Valid with { Cmdline = new string('a', 65_536) }));
        Assert.Equal("cmdline: must be at most 65535 bytes in UTF-8", Single(Valid with { Cmdline = new string('é', 32_768) }));
        Assert.Equal("cmdline: must not contain NUL characters", Single(Valid with { Cmdline = "a\0b" }));
        Assert.Equal("cmdline: must not be null (use \"\")", Single(Valid with { Cmdline = null! }));
    }

    [Fact]
    public void Disks_are_absolute_and_distinct()
    {
        Assert.Equal("disks[1].path: must be an absolute path", Single(Valid with { Disks = [new("/a.img"), new("b.img")] }));
        Assert.Equal("disks[1].path: names the same file as an earlier disk", Single(Valid with { Disks = [new("/a.img"), new("/a.img", true)] }));
        Assert.Equal("disks[0]: must not be null", Single(Valid with { Disks = [null!] }));
        Assert.Equal("disks: must not be null (use [])", Single(Valid with { Disks = null! }));
    }

    [Fact]
    public void Nics_have_valid_taps_and_unicast_macs()
    {
        Assert.Equal(
            "nics[0].tap: must be a valid interface name (1-15 letters, digits, '-', '_', '.')",
            Single(Valid with { Nics = [new("tap/0")] }));
        Assert.Equal(
            "nics[0].tap: must be a valid interface name (1-15 letters, digits, '-', '_', '.')",
            Single(Valid with { Nics = [new("sixteen-chars-xx")] }));
        Assert.Equal("nics[1].tap: names the same TAP as an earlier NIC", Single(Valid with { Nics = [new("tap0"), new("tap0")] }));
        Assert.Equal(
            "nics[0].mac: must be six hex bytes like 02:00:00:00:00:01, unicast",
            Single(Valid with { Nics = [new("tap0", "03:00:00:00:00:01")] }));
        Assert.Equal(
            "nics[0].mac: must be six hex bytes like 02:00:00:00:00:01, unicast",
            Single(Valid with { Nics = [new("tap0", "02:00:00:00:00")] }));
        Assert.Equal(
            "nics[1].mac: is the same as an earlier NIC's",
            Single(Valid with { Nics = [new("tap0", "02:00:00:00:00:0a"), new("tap1", "02:00:00:00:00:0A")] }));
        Assert.Empty((Valid with { Nics = [new("tap0", "52:54:00:AB:cd:01")] }).Validate());
    }

    [Fact]
    public void Disks_and_nics_share_the_pci_bus()
    {
        var disks = Enumerable.Range(0, 20).Select(i => new DiskDefinition($"/d{i}.img")).ToArray();
        var nics = Enumerable.Range(0, 10).Select(i => new NicDefinition($"tap{i}")).ToArray();
        Assert.Equal("disks: at most 29 disks and NICs together (they share the root PCI bus)", Single(Valid with { Disks = disks, Nics = nics }));
        Assert.Empty((Valid with { Disks = disks, Nics = nics[..9] }).Validate());
    }

    [Theory]
    [InlineData("serial")]
    [InlineData("virtio")]
    public void Good_consoles(string console) => Assert.Empty((Valid with { Console = console }).Validate());

    [Fact]
    public void Bad_console() => Assert.Equal("console: must be \"serial\" or \"virtio\"", Single(Valid with { Console = "Serial" }));

    [Fact]
    public void Every_problem_is_reported_in_field_order_and_grouped_for_problem_details()
    {
        var problems = new VmDefinition { Name = "", Vcpus = 0, MemoryMiB = 0, Cmdline = "x\0", Console = "" }.Validate();

        Assert.Equal(["name", "vcpus", "memoryMiB", "kernel", "cmdline", "console"], problems.Select(p => p.Field));
        var errors = ValidationProblem.ToErrors([.. problems, new ValidationProblem("name", "second")]);
        Assert.Equal(["is required", "second"], errors["name"]);
    }

    [Fact]
    public void Definitions_compare_by_content_including_lists()
    {
        Assert.Equal(Valid, Valid with { Disks = [.. Valid.Disks], Nics = [.. Valid.Nics] });
        Assert.NotEqual(Valid, Valid with { Disks = [Valid.Disks[0]] });
        Assert.Equal(Valid.GetHashCode(), (Valid with { Nics = [.. Valid.Nics] }).GetHashCode());
    }

    [Theory]
    [InlineData(0, 1024, 768, null, "display.heads: must be between 1 and 16")]
    [InlineData(17, 1024, 768, null, "display.heads: must be between 1 and 16")]
    [InlineData(1, 0, 768, null, "display.width: width and height must be between 1 and 8192")]
    [InlineData(1, 1024, 8193, null, "display.width: width and height must be between 1 and 8192")]
    [InlineData(16, 8192, 8192, null, "display.width: 16 heads of 8192x8192 take over the 256 MiB a VM's screens may")]
    [InlineData(1, 1024, 768, "0.0.0.0:5901", "display.vncListen: must be a loopback HOST:PORT (127.0.0.1:5901) with a port for every head, or null")]
    [InlineData(4, 1024, 768, "127.0.0.1:65534", "display.vncListen: must be a loopback HOST:PORT (127.0.0.1:5901) with a port for every head, or null")]
    [InlineData(1, 1024, 768, "localhost", "display.vncListen: must be a loopback HOST:PORT (127.0.0.1:5901) with a port for every head, or null")]
    public void Bad_displays(int heads, int width, int height, string? listen, string problem) =>
        Assert.Equal(problem, Single(Valid with { Display = new DisplayDefinition(heads, width, height, listen) }));

    [Theory]
    [InlineData("")]
    [InlineData("123456789")]
    [InlineData("tab\there")]
    [InlineData("caf\u00e9")]
    public void A_vnc_password_is_1_to_8_printable_ascii_characters(string password) =>
        Assert.Equal(
            "display.vncPassword: must be 1 to 8 printable ASCII characters (VNC authentication uses no more), or null",
            Single(Valid with { Display = new DisplayDefinition(VncListen: "127.0.0.1:5901", VncPassword: password) }));

    [Fact]
    public void A_vnc_password_of_8_printable_characters_is_valid() =>
        Assert.Empty((Valid with { Display = new DisplayDefinition(VncPassword: "s3cret!~") }).Validate());

    [Fact]
    public void A_vnc_password_never_shows_in_a_definitions_text() =>
        Assert.DoesNotContain("s3cret", (Valid with { Display = new DisplayDefinition(VncPassword: "s3cret") }).ToString(), StringComparison.Ordinal);

    [Fact]
    public void A_display_takes_three_of_the_slots_disks_and_nics_share()
    {
        var disks = Enumerable.Range(0, 27).Select(i => new DiskDefinition($"/srv/d{i}.img")).ToList();
        Assert.Empty((Valid with { Disks = disks[..24], Display = new DisplayDefinition() }).Validate());
        Assert.Equal("disks: at most 26 disks and NICs together with a display (it takes three PCI slots)", Single(Valid with { Disks = disks[..25], Display = new DisplayDefinition() }));
        Assert.Empty((Valid with { Disks = disks, Nics = [] }).Validate());
    }
}
