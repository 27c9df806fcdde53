using System.Text.RegularExpressions;

namespace Sharpvisor.Integration.Tests;

/// <summary>
/// The remote desktop as a user has it: a Linux VM whose shell runs on its display's console (fbcon on virtio-gpu,
/// keys from virtio-input), a standard VNC viewer to type into, and a standard VNC client's capture of the screen
/// read back as text. Needs guest user space, so on PVM hosts it runs in the nested KVM host.
/// </summary>
[Trait("Category", "Slow")]
[Collection(nameof(LinuxBootTests))]
public sealed class LinuxDesktopTests : IDisposable
{
    private static readonly TimeSpan BootTime = TimeSpan.FromMinutes(3);
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("sharpvisor-desktop-");

    public void Dispose() => _directory.Delete(recursive: true);

    [KvmFact(NeedsGuestUserSpace = true)]
    public async Task AUserTypesUnameInAVncViewerAndReadsTheAnswerOnTheScreen()
    {
        var kernel = Path.Combine(await LinuxImages.DisplayKernelDirectoryAsync(), "vmlinux");
        var passwordFile = Path.Combine(_directory.FullName, "vnc-password");
        await File.WriteAllTextAsync(passwordFile, "desktop\n");
        var socket = Path.Combine(_directory.FullName, "vm.vnc");
        var port = VncCapture.FreePort();
        // The last console= is /dev/console: the shell runs on the display's console; the serial port keeps the kernel's messages.
        await using var vm = GuestConsole.Start(
            ["run", "--kernel", kernel, "--initrd", await LinuxImages.InitramfsAsync(), "--memory", "256M",
             "--cmdline", "console=ttyS0 console=tty0 panic=-1 rdinit=/bin/sh",
             "--display", $"heads=1,size=640x480,vnc={socket},listen=127.0.0.1:{port},password-file={passwordFile}"]);
        TestTrace.Step("desktop: booting Linux");
        await vm.WaitForAsync("Run /bin/sh as init process", TestTime.Ceiling(BootTime));
        TestTrace.Step("desktop: init runs; starting Xvfb and the viewer");

        await using (var viewer = await VncViewer.StartAsync(socket))
        {
            await viewer.TypeLineAsync(ScreenText.CommandLineShowing("uname -a"));

            TestTrace.Step("desktop: typed");
        }

        // What uname -a prints for the kernel that booted: the release and version compiled into it.
        var (release, version) = LinuxImages.KernelIdentity(kernel);
        var answer = new Regex($@"Linux \(none\) {Regex.Escape(release)} {Regex.Escape(version)} x86_64");
        var screen = new ScreenText();
        var rows = Array.Empty<string>();
        var deadline = DateTime.UtcNow + TestTime.Ceiling(TimeSpan.FromSeconds(90));
        for (var attempt = 0; DateTime.UtcNow < deadline; attempt++)
        {
            var file = Path.Combine(_directory.FullName, $"screen-{attempt}.png");
            var capture = await VncCapture.CaptureAsync(port, file, "desktop");
            Assert.True(capture.ExitCode == 0, $"gvnccapture failed:\n{capture}");
            var image = PngImage.Read(file);
            Assert.Equal((640, 480), (image.Width, image.Height));
            File.Copy(file, Path.Combine(LinuxImages.RepositoryRoot, "artifacts", "linux-desktop-screen.png"), overwrite: true); // the last look, kept for a failure
            TestTrace.Step($"desktop: screen {attempt} captured");
            rows = screen.LearnAndRead(image) ?? rows;
            if (answer.IsMatch(string.Concat(rows)))
            {
                break;
            }

            await Task.Delay(TimeSpan.FromSeconds(1));
        }

        Assert.True(answer.IsMatch(string.Concat(rows)), $"the screen does not show {answer}; it reads ({screen.Known} glyphs known):\n{string.Join('\n', rows)}\nserial:\n{vm.Output}");
        // The answer reached the screen only: the serial port has the kernel's messages, not the shell's.
        Assert.DoesNotContain("(none)", vm.Output, StringComparison.Ordinal);
    }
}
