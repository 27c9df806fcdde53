using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Sharpvisor.Api;
using static Microsoft.Playwright.Assertions;

namespace Sharpvisor.Ui.Tests;

/// <summary>
/// The issue's user story end to end: a Linux VM started from the web UI, its Display section showing the Linux
/// console through noVNC, a user typing <c>uname -a</c> there and reading the answer on the canvas (read back as text
/// from the canvas's pixels). The shell runs on the display's console, so the answer can reach the test no other way.
/// Needs guest user space: on PVM hosts it runs in the nested KVM host.
/// </summary>
public sealed class LinuxDesktopTabTests
{
    // Rows the test has the guest print so the screen reader learns the console font's glyphs.
    private const string Capitals = "ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789";
    private const string Smalls = "abcdefghijklmnopqrstuvwxyz #:()-_./+,=[]";

    [ChromiumFact(NeedsGuestUserSpace = true)]
    public async Task A_user_types_uname_on_the_Linux_console_in_the_display_tab_and_reads_the_answer()
    {
        var kernel = Path.Combine(await LinuxImages.DisplayKernelDirectoryAsync(), "vmlinux");
        var initramfs = await LinuxImages.InitramfsAsync();
        var (release, version) = LinuxImages.KernelIdentity(kernel);
        var answer = new Regex($@"Linux \(none\) {Regex.Escape(release)} {Regex.Escape(version)} x86_64");

        await using var session = await PageSession.OpenAsync();
        var page = session.Page;
        await session.RunAsync("vm-linux-desktop", async () =>
        {
            // The last console= is /dev/console: the shell runs on the display; the serial console keeps the kernel's messages.
            await session.CreateVmAsync(new VmSpec
            {
                Name = "desk1", Kernel = kernel, Initrd = initramfs, MemoryMiB = 256,
                Cmdline = "console=ttyS0 console=tty0 panic=-1 rdinit=/bin/sh", Display = new DisplaySpec(1, 640, 480),
            });
            await page.GetByRole(AriaRole.Link, new() { Name = "desk1" }).ClickAsync();
            await page.GetByRole(AriaRole.Button, new() { Name = "Start desk1" }).ClickAsync();
            await Expect(page.Locator("#display-status")).ToContainTextAsync("Connected");
            await page.Locator("#console").ScrollIntoViewIfNeededAsync();
            await Expect(page.Locator("#console .xterm-rows")).ToContainTextAsync("Run /bin/sh as init process", new() { Timeout = Minutes(5) });

            var canvas = page.Locator("#display canvas");
            await canvas.ScrollIntoViewIfNeededAsync();
            await canvas.ClickAsync();
            foreach (var line in new[] { "dmesg -n 1; clear", $"echo {Capitals}", $"echo {Smalls[..27]}'{Smalls[27..]}'", "uname -a" })
            {
                await page.Keyboard.TypeAsync(line, new() { Delay = 20 });
                await page.Keyboard.PressAsync("Enter");
            }

            var screen = new ScreenText();
            var rows = Array.Empty<string>();
            for (var deadline = DateTime.UtcNow + TestTime.Ceiling(TimeSpan.FromMinutes(2)); DateTime.UtcNow < deadline; await Task.Delay(500))
            {
                var image = PngImage.Read(Convert.FromBase64String(await page.EvaluateAsync<string>(CanvasPng)));
                if (image.Width == 640 && screen.Learn(image, Capitals) && screen.Learn(image, Smalls))
                {
                    rows = screen.Read(image);
                    if (answer.IsMatch(string.Concat(rows)))
                    {
                        break;
                    }
                }
            }

            Assert.True(answer.IsMatch(string.Concat(rows)), $"the canvas does not show {answer}; it reads ({screen.Known} glyphs known):\n{string.Join('\n', rows)}");
            await page.ScreenshotAsync(new() { Path = Browser.ArtifactPath("vm-linux-desktop.png"), FullPage = true });
            await page.GetByRole(AriaRole.Button, new() { Name = "Stop desk1" }).ClickAsync();
            await Expect(page.Locator("#display-status")).ToContainTextAsync("not running");
        });
        Assert.Empty(session.Problems);
    }

    // The canvas noVNC draws the framebuffer on, at its own size, as a PNG without the data: URL's prefix.
    private const string CanvasPng = "() => document.querySelector('#display canvas').toDataURL('image/png').split(',')[1]";

    private static float Minutes(int minutes) => (float)TestTime.Ceiling(TimeSpan.FromMinutes(minutes)).TotalMilliseconds;
}
