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
        for (var y = 0; y < image.Height; y++)
        {
            for (var x = 0; x < image.Width; x++)
            {
                var expected = ((byte)(x + y), (byte)y, (byte)x);
                Assert.True(image[x, y] == expected, $"pixel ({x}, {y}) is {image[x, y]}, the guest drew {expected}");
            }
        }
    }
}
