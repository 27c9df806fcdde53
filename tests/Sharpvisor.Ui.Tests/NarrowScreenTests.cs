using Microsoft.Playwright;
using Sharpvisor.Manager.Api.Contracts;
using static Microsoft.Playwright.Assertions;

namespace Sharpvisor.Ui.Tests;

/// <summary>The pages on a phone-sized screen (420 px wide): everything fits the width, nothing scrolls sideways.</summary>
public sealed class NarrowScreenTests
{
    [ChromiumFact]
    public async Task At_420_pixels_the_list_and_a_vm_page_have_no_horizontal_scroll()
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

            // Just under and just over the width where the cards become a table again (50rem).
            foreach (var width in new[] { 790, 820 })
            {
                await page.SetViewportSizeAsync(width, 800);
                await ExpectNoHorizontalScrollAsync(page);
            }

            await page.SetViewportSizeAsync(420, 800);

            await page.GetByRole(AriaRole.Link, new() { Name = name }).ClickAsync();
            await Expect(page.GetByRole(AriaRole.Heading, new() { Name = name })).ToBeVisibleAsync();
            await Expect(page.Locator("#vm-details")).ToContainTextAsync("vmlinuz-6.12.0-1-cloud-amd64");
            await page.ScreenshotAsync(new() { Path = Browser.ArtifactPath("narrow-vm.png"), FullPage = true });
            await ExpectNoHorizontalScrollAsync(page);
        });

        Assert.Empty(session.Problems);
    }

    private static async Task ExpectNoHorizontalScrollAsync(IPage page)
    {
        var widths = await page.EvaluateAsync<int[]>("[document.documentElement.scrollWidth, document.documentElement.clientWidth]");
        Assert.True(widths[0] <= widths[1], $"the page is {widths[0]} px wide in a {widths[1]} px window: it scrolls sideways");
    }
}
