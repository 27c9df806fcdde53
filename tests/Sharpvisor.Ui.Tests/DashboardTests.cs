using System.Net.Http.Json;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Sharpvisor.Api;
using static Microsoft.Playwright.Assertions;

namespace Sharpvisor.Ui.Tests;

/// <summary>
/// The host dashboard, the page the printed address opens: the host's tiles, VM counts by state that follow changes
/// made elsewhere, and live CPU and memory charts drawn (by uPlot) from the daemon's own metrics history.
/// </summary>
public sealed class DashboardTests
{
    [ChromiumFact]
    public async Task The_first_page_is_the_host_dashboard_with_vm_counts_and_live_cpu_and_memory_charts()
    {
        await using var session = await PageSession.OpenAsync(hash: "#/");
        var page = session.Page;
        await session.RunAsync("dashboard", async () =>
        {
            var host = await session.Daemon.Http.GetFromJsonAsync("api/v1/host", ApiJsonContext.Default.HostResource);
            await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Host" })).ToContainTextAsync(host!.Hostname);
            await Expect(page.GetByRole(AriaRole.Navigation).GetByRole(AriaRole.Link, new() { Name = "Dashboard" })).ToHaveAttributeAsync("aria-current", "page");
            await Expect(page.Locator("#tile-vms")).ToHaveTextAsync(host.VmCount.ToString(System.Globalization.CultureInfo.InvariantCulture));
            await Expect(page.Locator("#tile-vcpus")).ToHaveTextAsync($"{host.VcpusCommitted} of {host.HostCpus}");
            await Expect(page.Locator("#tile-kvm")).ToHaveTextAsync(host.Kvm.Usable ? host.Kvm.Backend : "not usable");

            // Counts by state, as the API gives them: testguest is defined, nothing runs.
            await Expect(Count(page, "defined")).ToHaveTextAsync("defined 1");
            await Expect(Count(page, "running")).ToHaveTextAsync("running 0");

            // A VM defined elsewhere shows in the counts without a reload (the dashboard refreshes while shown).
            await session.CreateVmAsync(new VmSpec { Name = "dash2", BuiltInGuest = "idle", MemoryMiB = 64 });
            await Expect(Count(page, "defined")).ToHaveTextAsync("defined 2");
            await Expect(page.Locator("#tile-vms")).ToHaveTextAsync("2");

            // The charts fill from GET /api/v1/host/history (1 s samples here): a canvas each, several points, and
            // the latest value in words beside the title.
            var cpu = page.Locator("#host-cpu-chart");
            var memory = page.Locator("#host-memory-chart");
            await Expect(cpu.Locator("canvas")).ToHaveCountAsync(1);
            await Expect(memory.Locator("canvas")).ToHaveCountAsync(1);
            await Expect(cpu).ToHaveAttributeAsync("data-points", new Regex("^([3-9]|[1-9][0-9]+)$"));
            await Expect(memory).ToHaveAttributeAsync("data-points", new Regex("^([3-9]|[1-9][0-9]+)$"));
            await Expect(cpu.Locator(".now")).ToHaveTextAsync(new Regex(@"^\d+(\.\d)? %$"));
            await Expect(memory.Locator(".now")).ToHaveTextAsync(new Regex(@"^\d+(\.\d)? (MiB|GiB)$"));

            // What is drawn is the daemon's: no more points than its history holds, and they are drawn (pixels).
            var points = int.Parse(await memory.GetAttributeAsync("data-points") ?? "0", System.Globalization.CultureInfo.InvariantCulture);
            var history = await session.Daemon.Http.GetFromJsonAsync("api/v1/host/history", ApiJsonContext.Default.HostHistoryResource);
            Assert.InRange(points, 3, history!.MemoryUsedMiB.Count(m => m is not null));
            await ExpectLineDrawnAsync(page, "#host-memory-chart canvas", "--chart-2");
            await ExpectLineDrawnAsync(page, "#host-cpu-chart canvas", "--chart-1");

            // Charts do not stand still: more points arrive while the page is shown.
            await Expect(memory).Not.ToHaveAttributeAsync("data-points", points.ToString(System.Globalization.CultureInfo.InvariantCulture));
            await page.ScreenshotAsync(new() { Path = Browser.ArtifactPath("dashboard.png"), FullPage = true });
        });

        Assert.Empty(session.Problems);
    }

    /// <summary>The dashboard's count of one state (its badge and the number).</summary>
    private static ILocator Count(IPage page, string state) => page.Locator($"#vm-counts li[data-state=\"{state}\"]");

    /// <summary>
    /// How many pixels of a chart's canvas are its line's colour (the CSS variable the chart draws with, opaque): a
    /// line drawn, not only axes and an empty grid. Arguments: [canvas selector, variable name].
    /// </summary>
    public const string LinePixelsScript = """
        ([selector, variable]) => {
          const canvas = document.querySelector(selector);
          if (!canvas) return 0; // the chart is not on the page yet: no line either
          const hex = getComputedStyle(document.documentElement).getPropertyValue(variable).trim();
          const [r, g, b] = [1, 3, 5].map(i => parseInt(hex.slice(i, i + 2), 16));
          const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
          let count = 0;
          for (let i = 0; i < data.length; i += 4) {
            if (data[i + 3] > 200 && Math.abs(data[i] - r) < 12 && Math.abs(data[i + 1] - g) < 12 && Math.abs(data[i + 2] - b) < 12) count++;
          }
          return count;
        }
        """;

    /// <summary>Waits (in the page, with the default ceiling) until the chart's line has been drawn, a stretch of it at least.</summary>
    public static Task ExpectLineDrawnAsync(IPage page, string canvasSelector, string variable) =>
        page.WaitForFunctionAsync($"args => ({LinePixelsScript})(args) >= 20", new[] { canvasSelector, variable }, new() { PollingInterval = 250 });
}
