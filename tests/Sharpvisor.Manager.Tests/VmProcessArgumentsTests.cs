using Sharpvisor.Manager.Store;
using Sharpvisor.Manager.Supervisor;

namespace Sharpvisor.Manager.Tests;

public sealed class VmProcessArgumentsTests
{
    [Fact]
    public void A_kernel_definition_becomes_every_option()
    {
        var args = VmProcessArguments.Build(VmStoreTests.Sample(), "/run/sv/x.sock", "/run/sv/x.console");

        Assert.Equal(
            [
                "run", "--cpus", "2", "--memory", "512M",
                "--kernel", "/var/lib/sharpvisor/kernels/vmlinux", "--initrd", "/var/lib/sharpvisor/initrd.img",
                "--cmdline", "console=ttyS0 panic=-1 root=/dev/vda — ünïcödé",
                "--disk", "/var/lib/sharpvisor/disks/root.img", "--disk", "/srv/data.img,readonly",
                "--net", "tap=tap0,mac=02:00:00:00:00:01", "--net", "tap=tap1",
                "--console", "virtio", "--serial", "socket:/run/sv/x.console", "--control", "/run/sv/x.sock",
            ],
            args);
    }

    [Fact]
    public void A_display_serves_its_vnc_on_the_vms_own_socket()
    {
        var definition = new VmDefinition { Name = "t", BuiltInGuest = "display", MemoryMiB = 64, Display = new DisplayDefinition(2, 800, 600, "127.0.0.1:5901") };

        var args = VmProcessArguments.Build(definition, "/s", "/o", displaySocket: "/run/sv/x/vm.vnc").ToList();

        Assert.Equal("heads=2,size=800x600,vnc=/run/sv/x/vm.vnc,listen=127.0.0.1:5901", args[args.IndexOf("--display") + 1]);
        Assert.DoesNotContain("--display", VmProcessArguments.Build(definition with { Display = null }, "/s", "/o", displaySocket: "/run/sv/x/vm.vnc"));
        var guarded = VmProcessArguments.Build(definition, "/s", "/o", displaySocket: "/run/sv/x/vm.vnc", vncPasswordFile: "/run/sv/x/vnc-password").ToList();
        Assert.Equal("heads=2,size=800x600,vnc=/run/sv/x/vm.vnc,listen=127.0.0.1:5901,password-file=/run/sv/x/vnc-password", guarded[guarded.IndexOf("--display") + 1]);
    }

    [Fact]
    public void An_exit_file_comes_last()
    {
        var definition = new VmDefinition { Name = "t", BuiltInGuest = "idle", MemoryMiB = 64 };

        var args = VmProcessArguments.Build(definition, "/s", "/o", "/run/sv/x.exit");

        Assert.Equal(["--control", "/s", "--exit-file", "/run/sv/x.exit"], args.TakeLast(4));
    }

    [Fact]
    public void The_built_in_guests_scenario_leads_its_command_line()
    {
        var definition = new VmDefinition { Name = "t", BuiltInGuest = "idle", MemoryMiB = 64 };

        var args = VmProcessArguments.Build(definition, "/s", "/o");
        var withArgs = VmProcessArguments.Build(definition with { Cmdline = "a b" }, "/s", "/o");

        Assert.Equal("idle", args[args.ToList().IndexOf("--cmdline") + 1]);
        Assert.Equal("idle a b", withArgs[withArgs.ToList().IndexOf("--cmdline") + 1]);
        Assert.DoesNotContain("--kernel", args);
    }

    [Fact]
    public void A_disk_path_with_a_comma_is_refused()
    {
        var definition = VmStoreTests.Sample() with { Disks = [new DiskDefinition("/a,readonly")] };

        Assert.Throws<ArgumentException>(() => VmProcessArguments.Build(definition, "/s", "/o"));
    }
}
