using System.Net.Http.Json;
using Microsoft.Playwright;
using Sharpvisor.Api;
using static Microsoft.Playwright.Assertions;

namespace Sharpvisor.Ui.Tests;

/// <summary>
/// The VM page's Display section on a real daemon and VMM: noVNC in Chromium, through the daemon's VNC WebSocket, shows
/// the pattern the test guest drew with virtio-gpu pixel for pixel, and a key pressed on it reaches the guest's
/// virtio keyboard (the guest echoes its input events on the serial console below).
/// </summary>
public sealed class DisplayTabTests
{
    [ChromiumFact(NeedsKvm = true)]
    public async Task The_display_shows_the_guests_picture_and_sends_it_keys()
    {
        await using var session = await PageSession.OpenAsync();
        var page = session.Page;
        await session.RunAsync("vm-display", async () =>
        {
            var spec = new VmSpec
            {
                Name = "screen1", BuiltInGuest = "display", Cmdline = "width=320 height=200 input=100", MemoryMiB = 64,
                Display = new DisplaySpec(2, 640, 480),
            };
            using (var create = await session.Daemon.Http.PostAsJsonAsync("api/v1/vms", spec, ApiJsonContext.Default.VmSpec))
            {
                Assert.True(create.IsSuccessStatusCode, await create.Content.ReadAsStringAsync());
            }

            await page.GetByRole(AriaRole.Link, new() { Name = "screen1" }).ClickAsync();
            await Expect(page.Locator("#display-status")).ToContainTextAsync("not running");
            await page.GetByRole(AriaRole.Button, new() { Name = "Start screen1" }).ClickAsync();
            await Expect(page.Locator("#display-status")).ToContainTextAsync("Connected");
            // xterm.js draws only while its terminal is in view, and the display above pushes it down.
            await page.Locator("#console").ScrollIntoViewIfNeededAsync();
            await Expect(page.Locator("#console .xterm-rows")).ToContainTextAsync("input: ready");

            // The canvas holds the framebuffer at its own size (scaled by CSS): its pixel (17, 9) is the guest's.
            const string Pixel = "() => { const c = document.querySelector('#display canvas'); if (!c || c.width !== 320) return null; const d = c.getContext('2d').getImageData(17, 9, 1, 1).data; return [d[0], d[1], d[2]]; }";
            int[]? rgb = null;
            for (var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60); DateTime.UtcNow < deadline; await Task.Delay(200))
            {
                rgb = await page.EvaluateAsync<int[]?>(Pixel);
                if (rgb is [26, 9, 17])
                {
                    break;
                }
            }

            Assert.Equal([26, 9, 17], rgb ?? []); // red x + y, green y, blue x
            await Expect(page.GetByLabel("Head")).ToHaveCountAsync(1);
            await Expect(page.Locator("#display-head option")).ToHaveCountAsync(2);

            // A key on the screen: noVNC sends it, the daemon passes it, the VMM's keyboard gives it to the guest.
            await page.Locator("#display canvas").ClickAsync();
            await page.Keyboard.PressAsync("a");
            await page.Locator("#console").ScrollIntoViewIfNeededAsync();
            await Expect(page.Locator("#console .xterm-rows")).ToContainTextAsync("input: key 30 1");
            await Expect(page.Locator("#console .xterm-rows")).ToContainTextAsync("input: key 30 0");
            await page.ScreenshotAsync(new() { Path = Browser.ArtifactPath("vm-display.png"), FullPage = true });

            await page.GetByRole(AriaRole.Button, new() { Name = "Stop screen1" }).ClickAsync();
            await Expect(page.Locator("#display-status")).ToContainTextAsync("not running");
        });
        Assert.Empty(session.Problems);
    }
}
