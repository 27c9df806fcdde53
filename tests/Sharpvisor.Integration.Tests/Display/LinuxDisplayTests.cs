using Sharpvisor.Display;
using Sharpvisor.Vmm.Devices.Virtio.Input;
using Sharpvisor.Vmm.Machine;

namespace Sharpvisor.Integration.Tests;

/// <summary>
/// Linux's own drivers on our display devices: virtio_gpu (DRM, fbdev emulation) must bring its console up on the
/// head and virtio_input must register the keyboard and the tablet. Slow on emulating hosts (two minutes to fbcon);
/// it runs with the other Linux boots, alone.
/// </summary>
[Trait("Category", "Slow")]
[Collection(nameof(LinuxBootTests))]
public sealed class LinuxDisplayTests
{
    private static readonly TimeSpan BootLimit = TestTime.Ceiling(TimeSpan.FromMinutes(12));

    [KvmFact]
    public async Task LinuxShowsItsConsoleOnTheDisplayAndFindsTheKeyboardAndTablet()
    {
        var kernel = await File.ReadAllBytesAsync(Path.Combine(await LinuxImages.DisplayKernelDirectoryAsync(), "vmlinux"));
        var initramfs = await File.ReadAllBytesAsync(await LinuxImages.InitramfsAsync());
        var head = new Framebuffer(640, 480); // what the head shows before the guest sets it
        var config = new VmConfig
        {
            Kernel = kernel,
            Initrd = initramfs,
            MemoryBytes = 256UL << 20,
            CommandLine = "console=ttyS0 console=tty0 panic=-1",
            DisplayHeads = [head],
            DisplayInput = new DisplayInput(),
        };
        using var vm = new SnapshotTests.RunningMachine(config);
        vm.Serial.WaitFor(@"fb0: virtio_gpudrmfb frame buffer device", BootLimit);

        var text = vm.Serial.Text;
        Assert.Contains("input: Sharpvisor Keyboard as", text, StringComparison.Ordinal);
        Assert.Contains("input: Sharpvisor Tablet as", text, StringComparison.Ordinal);
        Assert.Contains("[drm] number of scanouts: 1", text, StringComparison.Ordinal);
        // fbcon on the head the device offered (640x480: 80x30 cells of 8x16), its boot messages in light grey on black.
        Assert.Contains("Console: switching to colour frame buffer device 80x30", text, StringComparison.Ordinal);
        Assert.Equal((640, 480), head.Size);
        // The fbdev emulation flushes what fbcon drew a little later: look until the text is there.
        var (lit, rows) = (0, 0);
        for (var deadline = DateTime.UtcNow + TestTime.Ceiling(TimeSpan.FromSeconds(60)); DateTime.UtcNow < deadline; await Task.Delay(200))
        {
            (lit, rows) = LitPixels(head);
            if (lit > 2000 && rows >= 10)
            {
                break;
            }
        }

        Assert.True(lit > 2000 && rows >= 10, $"the console shows {lit} lit pixels on {rows} text rows");
    }

    /// <summary>Light pixels (text) and the 16-pixel text rows holding any.</summary>
    private static (int Lit, int Rows) LitPixels(Framebuffer head)
    {
        var (width, height) = head.Size;
        var pixels = new byte[width * height * 4];
        head.CopyTo(new Rect(0, 0, width, height), pixels, width * 4);
        var lit = 0;
        var rows = new HashSet<int>();
        for (var i = 0; i < pixels.Length; i += 4)
        {
            if (pixels[i] > 0x80 && pixels[i + 1] > 0x80 && pixels[i + 2] > 0x80)
            {
                lit++;
                rows.Add(i / 4 / width / 16);
            }
        }

        return (lit, rows.Count);
    }
}
