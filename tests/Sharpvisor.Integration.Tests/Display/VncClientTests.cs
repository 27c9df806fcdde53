namespace Sharpvisor.Integration.Tests;

/// <summary>
/// The VMM's VNC server with a real client: the test guest draws its pattern through virtio-gpu and Debian's
/// gvnccapture must see every pixel of it; a wrong password gets nothing and costs the VM nothing.
/// </summary>
public sealed class VncClientTests : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("sharpvisor-vnc-");

    public void Dispose() => _directory.Delete(recursive: true);

    [KvmFact]
    public async Task TheControlSocketTellsWhereTheScreensAreIssuesOneTimeTicketsAndTakesScreenshots()
    {
        var control = Path.Combine(_directory.FullName, "vm.sock");
        var vnc = Path.Combine(_directory.FullName, "vm.vnc");
        var port = VncCapture.FreePort();
        await using var vm = GuestConsole.Start(
            ["run", "--cmdline", "display width=300 height=100 rewidth=257 reheight=130", "--control", control,
             "--display", $"heads=2,size=640x480,vnc={vnc},listen=127.0.0.1:{port}"]);
        await vm.WaitForAsync("display: ready", Limit);
        using var client = await Sharpvisor.Control.ControlClient.ConnectAsync(control);

        var display = await client.DisplayAsync();
        Assert.False(display.Password);
        Assert.Equal(2, display.Heads.Count);
        Assert.Equal(new Sharpvisor.Control.DisplayHeadInfo(0, 257, 130, vnc, $"127.0.0.1:{port}"), display.Heads[0]);
        Assert.Equal(new Sharpvisor.Control.DisplayHeadInfo(1, 640, 480, vnc + ".1", $"127.0.0.1:{port + 1}"), display.Heads[1]);

        // The screenshot is written by the VMM under its seccomp filter, and is the guest's pattern exactly.
        var screenshot = await client.ScreenshotAsync(Path.Combine(_directory.FullName, "head0.png"));
        Assert.Equal((257, 130), (screenshot.Width, screenshot.Height));
        AssertPattern(PngImage.Read(screenshot.Path));

        // A TCP port without a password file takes tickets only, each good for one connection.
        var ticket = (await client.DisplayTicketAsync()).Ticket;
        var first = await VncCapture.CaptureAsync(port, Path.Combine(_directory.FullName, "first.png"), ticket);
        Assert.True(first.ExitCode == 0, $"the ticket did not let gvnccapture in:\n{first}");
        AssertPattern(PngImage.Read(Path.Combine(_directory.FullName, "first.png")));
        var again = await VncCapture.CaptureAsync(port, Path.Combine(_directory.FullName, "again.png"), ticket);
        Assert.True(again.ExitCode != 0, $"a used ticket let a second client in:\n{again}");

        var bad = await client.SendAsync("screenshot", new Sharpvisor.Control.ControlArguments { Path = Path.Combine(_directory.FullName, "x.png"), Head = 2 });
        Assert.Equal("head 2 does not exist: this VM has 2", bad.Error);
    }

    [KvmFact]
    public async Task ADebianVncClientSeesEveryPixelTheGuestDrew()
    {
        var passwordFile = Path.Combine(_directory.FullName, "vnc-password");
        await File.WriteAllTextAsync(passwordFile, "s3cret!\n");
        var port = VncCapture.FreePort();
        await using var vm = GuestConsole.Start(
            ["run", "--cmdline", "display width=320 height=200", "--display", $"heads=1,size=640x480,listen=127.0.0.1:{port},password-file={passwordFile}"]);
        await vm.WaitForAsync("display: ready", Limit);

        var refused = Path.Combine(_directory.FullName, "refused.png");
        var wrong = await VncCapture.CaptureAsync(port, refused, "not-it");
        Assert.True(wrong.ExitCode != 0 && !File.Exists(refused), $"a wrong password was let in:\n{wrong}");

        var file = Path.Combine(_directory.FullName, "screen.png");
        var capture = await VncCapture.CaptureAsync(port, file, "s3cret!");
        Assert.True(capture.ExitCode == 0, $"gvnccapture failed:\n{capture}");
        var image = PngImage.Read(file);
        Assert.Equal((320, 200), (image.Width, image.Height));
        AssertPattern(image);
    }

    [KvmFact]
    public async Task FourHeadsEachShowTheirOwnPictureToTheirOwnClient()
    {
        var passwordFile = Path.Combine(_directory.FullName, "vnc-password");
        await File.WriteAllTextAsync(passwordFile, "4heads\n");
        var port = VncCapture.FreePorts(4);
        await using var vm = GuestConsole.Start(
            ["run", "--cmdline", "display heads=4", "--display", $"heads=4,size=640x480,listen=127.0.0.1:{port},password-file={passwordFile}"]);
        await vm.WaitForAsync("display: ready", Limit);
        Assert.Contains("display: 4 heads, head 0 640x480", vm.Output, StringComparison.Ordinal);

        // Head k shows the pattern from row k on, so a client on the wrong head (or a head showing another's picture)
        // fails the check.
        for (var head = 0; head < 4; head++)
        {
            var file = Path.Combine(_directory.FullName, $"head{head}.png");
            var capture = await VncCapture.CaptureAsync(port + head, file, "4heads");
            Assert.True(capture.ExitCode == 0, $"gvnccapture of head {head} failed:\n{capture}");
            var image = PngImage.Read(file);
            Assert.Equal((640, 480), (image.Width, image.Height));
            AssertPattern(image, rowOffset: head);
        }
    }

    /// <summary>The test guest's pattern from row <paramref name="rowOffset"/> on: pixel (x, y) is red x + y', green y', blue x (low bytes), y' = y + rowOffset.</summary>
    private static void AssertPattern(PngImage image, int rowOffset = 0)
    {
        for (var row = 0; row < image.Height; row++)
        {
            for (var x = 0; x < image.Width; x++)
            {
                var y = row + rowOffset;
                var expected = ((byte)(x + y), (byte)y, (byte)x);
                Assert.True(image[x, row] == expected, $"pixel ({x}, {row}) is {image[x, row]}, the guest drew {expected}");
            }
        }
    }
}
