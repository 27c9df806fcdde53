using System.Net.Http.Json;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Sharpvisor.Api;
using static Microsoft.Playwright.Assertions;

namespace Sharpvisor.Ui.Tests;

/// <summary>
/// Running VMs on a real daemon and real VMMs: the list's state badge, uptime and CPU sparkline, the VM page's live
/// charts (disk too, for a VM with a disk), and the keyboard: "s" starts, "t" stops, "?" lists the keys, and keys
/// typed into a field stay in the field.
/// </summary>
public sealed class LiveMetricsAndShortcutsTests
{
    private static readonly Regex SomePoints = new("^([2-9]|[1-9][0-9]+)$");

    [ChromiumFact(NeedsKvm = true)]
    public async Task A_running_vm_has_a_cpu_sparkline_and_uptime_in_the_list()
    {
        await using var session = await PageSession.OpenAsync();
        var page = session.Page;
        await session.RunAsync("vm-list-live", async () =>
        {
            await session.CreateVmAsync(new VmSpec { Name = "spark1", BuiltInGuest = "idle", MemoryMiB = 64 });
            using (var start = await session.Daemon.Http.PostAsync("api/v1/vms/spark1/start", null))
            {
                Assert.True(start.IsSuccessStatusCode, await start.Content.ReadAsStringAsync());
            }

            var row = page.Locator("tr", new() { Has = page.GetByRole(AriaRole.Link, new() { Name = "spark1" }) });
            await Expect(row.Locator(".state")).ToHaveTextAsync("running");
            await Expect(row.Locator(".state")).ToHaveClassAsync(new Regex(@"\bstate-running\b"));
            await Expect(row.Locator("td[data-label=vCPUs]")).ToHaveTextAsync("1");
            await Expect(row.Locator("td[data-label=Memory]")).ToHaveTextAsync("64 MiB");
            await Expect(row.Locator("td[data-label=Uptime]")).ToHaveTextAsync(new Regex(@"^\d+ (s|min)$"));

            // The sparkline: a uPlot canvas, points from the VM's history, its latest value in its label.
            var spark = row.Locator(".spark");
            await Expect(spark.Locator("canvas")).ToHaveCountAsync(1);
            await Expect(spark).ToHaveAttributeAsync("data-points", SomePoints);
            await Expect(spark).ToHaveAttributeAsync("aria-label", new Regex(@"^CPU of spark1: \d+(\.\d)? % now$"));
            var history = await session.Daemon.Http.GetFromJsonAsync("api/v1/vms/spark1/history", ApiJsonContext.Default.VmHistoryResource);
            Assert.True(history!.CpuPercent.Count(c => c is not null) >= 2, "the daemon's history has fewer points than the sparkline");

            // A VM that does not run: no uptime, an empty line; its row's sparkline moves with the row when it changes.
            var idle = page.Locator("tr", new() { Has = page.GetByRole(AriaRole.Link, new() { Name = "testguest" }) });
            await Expect(idle.Locator("td[data-label=Uptime]")).ToHaveTextAsync("–");
            await Expect(idle.Locator(".spark")).ToHaveAttributeAsync("data-points", "0");
            await page.ScreenshotAsync(new() { Path = Browser.ArtifactPath("vm-list-live.png"), FullPage = true });
        });

        Assert.Empty(session.Problems);
    }

    [ChromiumFact(NeedsKvm = true)]
    public async Task On_a_vms_page_s_starts_it_t_stops_it_and_its_charts_fill_while_it_runs()
    {
        await using var session = await PageSession.OpenAsync();
        var page = session.Page;
        await session.RunAsync("vm-keys", async () =>
        {
            var disk = session.TempFile("keys1.raw", new byte[1 << 20]);
            await session.CreateVmAsync(new VmSpec { Name = "keys1", BuiltInGuest = "idle", MemoryMiB = 64, Disks = [new DiskSpec(disk)] });
            await session.GoToHashAsync("#/vm/keys1");
            var state = page.Locator("#vm-state");
            await Expect(state).ToHaveTextAsync("defined");

            // "?" lists the keys; Escape closes the list.
            await page.Keyboard.PressAsync("?");
            var help = page.GetByRole(AriaRole.Dialog, new() { Name = "Keyboard shortcuts" });
            await Expect(help).ToBeVisibleAsync();
            await Expect(help).ToContainTextAsync("Start the VM");
            await Expect(help).ToContainTextAsync("Stop the VM");
            await page.ScreenshotAsync(new() { Path = Browser.ArtifactPath("shortcuts-help.png") });
            await page.Keyboard.PressAsync("Escape");
            await Expect(help).ToBeHiddenAsync();

            // Typed into a field, "s" is a letter: the VM does not start.
            var cmdline = page.GetByRole(AriaRole.Form, new() { Name = "Edit" }).GetByLabel("Kernel command line");
            await cmdline.PressSequentiallyAsync("s");
            await Expect(cmdline).ToHaveValueAsync("s");
            await cmdline.FillAsync("");
            await cmdline.BlurAsync();
            await Expect(state).ToHaveTextAsync("defined");

            // Outside fields: "t" does nothing while Stop is disabled, "s" starts it (the Start button's action).
            await page.Keyboard.PressAsync("t");
            await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Stop keys1" })).ToBeDisabledAsync();
            await page.Keyboard.PressAsync("s");
            await Expect(state).ToHaveTextAsync("running");
            var running = await session.Daemon.Http.GetFromJsonAsync("api/v1/vms/keys1", ApiJsonContext.Default.VmResource);
            Assert.Equal("running", running!.State);
            await Expect(page.Locator("#edit-form")).ToBeHiddenAsync();
            await Expect(page.Locator("#edit-locked")).ToBeVisibleAsync();
            await Expect(page.Locator("#vm-uptime")).ToHaveTextAsync(new Regex(@"^up \d+ (s|min)$"));

            // Its charts fill from its history: CPU, memory, and disk (it has a virtio-blk); no network chart.
            foreach (var chart in new[] { "#vm-cpu-chart", "#vm-memory-chart", "#vm-disk-chart" })
            {
                await Expect(page.Locator(chart)).ToBeVisibleAsync();
                await Expect(page.Locator(chart)).ToHaveAttributeAsync("data-points", SomePoints);
            }

            await Expect(page.Locator("#vm-net-chart")).ToBeHiddenAsync();
            await Expect(page.Locator("#vm-memory-chart .now")).ToHaveTextAsync(new Regex(@"^\d+(\.\d)? MiB$"));
            await Expect(page.Locator("#vm-disk-chart .now")).ToHaveTextAsync(new Regex(@"^\d+(\.\d)? req/s$"));
            await DashboardTests.ExpectLineDrawnAsync(page, "#vm-memory-chart canvas", "--chart-2");
            await page.ScreenshotAsync(new() { Path = Browser.ArtifactPath("vm-page-live.png"), FullPage = true });

            // Focus in the console's terminal: keys go to the guest, not to the page.
            await page.Locator("#console").ClickAsync();
            await page.Keyboard.PressAsync("t");
            await Expect(state).ToHaveTextAsync("running");
            await page.Locator("#vm-title").ClickAsync(); // out of the terminal

            // "t" stops it.
            await page.Keyboard.PressAsync("t");
            await Expect(state).ToHaveTextAsync("stopped");
            await Expect(page.Locator("#edit-form")).ToBeVisibleAsync();
            var stopped = await session.Daemon.Http.GetFromJsonAsync("api/v1/vms/keys1", ApiJsonContext.Default.VmResource);
            Assert.Equal("stopped", stopped!.State);
        });

        Assert.Empty(session.Problems);
    }
}
