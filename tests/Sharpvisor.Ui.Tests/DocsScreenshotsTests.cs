using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Sharpvisor.Api;
using static Microsoft.Playwright.Assertions;

namespace Sharpvisor.Ui.Tests;

/// <summary>
/// The screenshots in docs/ui.md (docs/ui/*.png): each page, in the light and the dark theme, taken from a real daemon
/// with running VMs once their charts have filled, so the documentation shows what the UI does today.
/// </summary>
public sealed class DocsScreenshotsTests
{
    private static readonly Regex Filled = new("^([6-9]|[1-9][0-9]+)$");

    [ChromiumFact(NeedsKvm = true)]
    public async Task The_documentations_screenshots_are_taken_from_the_running_ui()
    {
        await using var session = await PageSession.OpenAsync(hash: "#/");
        var page = session.Page;
        await session.RunAsync("docs-screenshots", async () =>
        {
            await page.SetViewportSizeAsync(1200, 860);
            await page.EmulateMediaAsync(new() { ColorScheme = ColorScheme.Light });
            var disk = session.TempFile("web1.raw", new byte[1 << 20]);
            await session.CreateVmAsync(new VmSpec { Name = "web1", BuiltInGuest = "idle", MemoryMiB = 128, Disks = [new DiskSpec(disk)] });
            await session.CreateVmAsync(new VmSpec { Name = "db1", BuiltInGuest = "idle", Vcpus = 2, MemoryMiB = 256 });
            await session.CreateVmAsync(new VmSpec { Name = "build-runner", BuiltInGuest = "serial-echo", MemoryMiB = 64 });
            foreach (var vm in new[] { "web1", "db1" })
            {
                using var start = await session.Daemon.Http.PostAsync($"api/v1/vms/{vm}/start", null);
                Assert.True(start.IsSuccessStatusCode, await start.Content.ReadAsStringAsync());
            }

            var docs = Directory.CreateDirectory(Path.Combine(TestBinaries.RepositoryRoot, "docs", "ui")).FullName;
            foreach (var theme in new[] { "light", "dark" })
            {
                if (theme == "dark")
                {
                    await page.GetByRole(AriaRole.Navigation).GetByRole(AriaRole.Link, new() { Name = "Dashboard" }).ClickAsync();
                    await page.Locator("#theme-toggle").ClickAsync();
                    await Expect(page.Locator("body")).ToHaveCSSAsync("background-color", "rgb(13, 17, 23)");
                }

                // The dashboard, once its charts hold a few samples.
                await Expect(page.Locator("#vm-counts li[data-state=running]")).ToHaveTextAsync("running 2");
                await Expect(page.Locator("#host-cpu-chart")).ToHaveAttributeAsync("data-points", Filled);
                await Save(page, docs, $"dashboard-{theme}.png", fullPage: true);

                // The list, with the running VMs' sparklines.
                await page.GetByRole(AriaRole.Navigation).GetByRole(AriaRole.Link, new() { Name = "Virtual machines" }).ClickAsync();
                var web1 = page.Locator("tr", new() { Has = page.GetByRole(AriaRole.Link, new() { Name = "web1" }) });
                await Expect(web1.Locator(".spark")).ToHaveAttributeAsync("data-points", Filled);
                await Save(page, docs, $"vm-list-{theme}.png", fullPage: true);

                // The create dialog, a message shown as it is typed.
                await page.GetByRole(AriaRole.Button, new() { Name = "Create VM" }).ClickAsync();
                var dialog = page.GetByRole(AriaRole.Dialog, new() { Name = "Create a VM" });
                await dialog.GetByLabel("Name", new() { Exact = true }).FillAsync("Web2");
                await Expect(dialog.Locator("#error-name")).Not.ToBeEmptyAsync();
                await Save(page, docs, $"create-dialog-{theme}.png", fullPage: false);
                await page.Keyboard.PressAsync("Escape");
                await Expect(dialog).ToBeHiddenAsync();

                // A running VM's page: charts (with its disk's), console, events.
                await page.GetByRole(AriaRole.Link, new() { Name = "web1" }).ClickAsync();
                await Expect(page.Locator("#vm-state")).ToHaveTextAsync("running");
                await Expect(page.Locator("#vm-cpu-chart")).ToHaveAttributeAsync("data-points", Filled);
                await Expect(page.Locator("#vm-disk-chart")).ToHaveAttributeAsync("data-points", Filled);
                await Expect(page.Locator("#console .xterm-rows")).ToContainTextAsync("idle: ready");
                await Save(page, docs, $"vm-page-{theme}.png", fullPage: true);
            }
        });

        Assert.Empty(session.Problems);
    }

    /// <summary>Into docs/ui (what docs/ui.md shows) and artifacts/ui (what CI keeps).</summary>
    private static async Task Save(IPage page, string docs, string name, bool fullPage)
    {
        await page.Mouse.MoveAsync(0, 0); // no hover state in the picture
        var path = Path.Combine(docs, name);
        await page.ScreenshotAsync(new() { Path = path, FullPage = fullPage, Animations = ScreenshotAnimations.Disabled, Caret = ScreenshotCaret.Hide });
        File.Copy(path, Browser.ArtifactPath(name), overwrite: true);
    }
}
