using Microsoft.Playwright;
using Sharpvisor.Api;
using static Microsoft.Playwright.Assertions;

namespace Sharpvisor.Ui.Tests;

/// <summary>
/// Every page on a phone-sized screen (420 px wide): the dashboard, the list, the create dialog and a VM's page all fit
/// the width; nothing scrolls sideways. Also at the widths either side of where the list's table becomes cards (64rem)
/// and where forms become one column (50rem).
/// </summary>
public sealed class NarrowScreenTests
{
    [ChromiumFact]
    public async Task At_420_pixels_every_page_has_no_horizontal_scroll()
    {
        await using var session = await PageSession.OpenAsync();
        var page = session.Page;
        await session.RunAsync("narrow", async () =>
        {
            // Long words that cannot wrap at a space: the longest name the API takes, a deep kernel path, a long argument.
            var name = "build-runner-" + new string('x', 28) + "-0123456789-abcdefghij";
            Assert.True(name.Length <= 63, name);
            await session.CreateVmAsync(new VmSpec
            {
                Name = name,
                Kernel = session.TempFile("debian-13-generic-amd64-20260101-1234/boot/vmlinuz-6.12.0-1-cloud-amd64", [0]),
                Cmdline = "console=ttyS0 init=/usr/lib/systemd/systemd-with-a-very-long-path-that-has-no-spaces-at-all",
                MemoryMiB = 64,
            });

            await page.SetViewportSizeAsync(420, 800);
            await page.ReloadAsync();
            await Expect(page.GetByRole(AriaRole.Link, new() { Name = name })).ToBeVisibleAsync();
            await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Start testguest" })).ToBeVisibleAsync();
            await page.ScreenshotAsync(new() { Path = Browser.ArtifactPath("narrow-list.png"), FullPage = true });
            await ExpectNoHorizontalScrollAsync(page);

            // Just under and just over the widths where the cards become a table again (64rem) and the forms two
            // columns (50rem).
            foreach (var width in new[] { 790, 820, 1004, 1044 })
            {
                await page.SetViewportSizeAsync(width, 800);
                await ExpectNoHorizontalScrollAsync(page);
            }

            await page.SetViewportSizeAsync(420, 800);

            // The create dialog fits too, with its messages.
            await page.GetByRole(AriaRole.Button, new() { Name = "Create VM" }).ClickAsync();
            var dialog = page.Locator("#create-dialog");
            await dialog.GetByLabel("Name", new() { Exact = true }).FillAsync("Not-A-Valid-Name-" + new string('x', 40));
            await Expect(dialog.Locator("#error-name")).Not.ToBeEmptyAsync();
            await ExpectNoHorizontalScrollAsync(page);
            var box = await dialog.BoundingBoxAsync();
            Assert.True(box!.X >= 0 && box.X + box.Width <= 420, $"the dialog spans {box.X} to {box.X + box.Width} in a 420 px window");
            await page.ScreenshotAsync(new() { Path = Browser.ArtifactPath("narrow-create.png") });
            await page.Keyboard.PressAsync("Escape");
            await Expect(dialog).ToBeHiddenAsync();

            await page.GetByRole(AriaRole.Link, new() { Name = name }).ClickAsync();
            await Expect(page.GetByRole(AriaRole.Heading, new() { Name = name })).ToBeVisibleAsync();
            await Expect(page.Locator("#vm-details")).ToContainTextAsync("vmlinuz-6.12.0-1-cloud-amd64");
            await Expect(page.Locator("#edit-form")).ToBeVisibleAsync();
            await page.ScreenshotAsync(new() { Path = Browser.ArtifactPath("narrow-vm.png"), FullPage = true });
            await ExpectNoHorizontalScrollAsync(page);

            // The dashboard: its tiles and charts in one column, the charts as wide as the screen allows.
            await page.GetByRole(AriaRole.Navigation).GetByRole(AriaRole.Link, new() { Name = "Dashboard" }).ClickAsync();
            await Expect(page.Locator("#host-cpu-chart canvas")).ToHaveCountAsync(1);
            await Expect(page.Locator("#host-memory-chart")).Not.ToHaveAttributeAsync("data-points", "0");
            await page.ScreenshotAsync(new() { Path = Browser.ArtifactPath("narrow-dashboard.png"), FullPage = true });
            await ExpectNoHorizontalScrollAsync(page);
            var chart = await page.Locator("#host-memory-chart canvas").BoundingBoxAsync();
            Assert.True(chart!.Width is > 250 and <= 420, $"the memory chart is {chart.Width} px wide in a 420 px window");
        });

        Assert.Empty(session.Problems);
    }

    private static async Task ExpectNoHorizontalScrollAsync(IPage page)
    {
        var widths = await page.EvaluateAsync<int[]>("[document.documentElement.scrollWidth, document.documentElement.clientWidth]");
        Assert.True(widths[0] <= widths[1], $"the page is {widths[0]} px wide in a {widths[1]} px window: it scrolls sideways");
    }
}
