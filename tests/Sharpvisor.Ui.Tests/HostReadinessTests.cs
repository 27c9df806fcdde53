using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Playwright;
using Sharpvisor.Manager.Api.Contracts;
using Sharpvisor.Vmm.Machine;
using static Microsoft.Playwright.Assertions;

namespace Sharpvisor.Ui.Tests;

/// <summary>
/// What the page says when VMs cannot run: the host's KVM readiness (GET /api/v1/host's <c>kvm</c>) as a banner on
/// every page, and a VM that failed to start or crashed, with the reason beside its state.
/// </summary>
public sealed class HostReadinessTests
{
    private const string BannerPrefix = "VMs cannot start on this host: ";

    [ChromiumFact]
    public async Task The_banner_says_on_every_page_when_kvm_is_not_usable_with_the_reason_the_host_gives()
    {
        await using var session = await PageSession.OpenAsync();
        var page = session.Page;
        await session.RunAsync("host-banner", async () =>
        {
            var banner = page.Locator("#host-banner");
            var alert = page.GetByRole(AriaRole.Alert).Filter(new() { HasText = BannerPrefix });

            // The daemon's own answer: a banner exactly when its kvm says not usable (this test also runs on KVM hosts).
            var host = JsonNode.Parse(await session.Daemon.Http.GetStringAsync("api/v1/host"))!;
            var kvm = host["kvm"] ?? throw new Xunit.Sdk.XunitException($"GET /api/v1/host has no kvm field: {host.ToJsonString()}");
            await Expect(page.GetByRole(AriaRole.Link, new() { Name = "testguest" })).ToBeVisibleAsync();
            if (kvm["usable"]!.GetValue<bool>())
            {
                await Expect(banner).ToBeHiddenAsync();
            }
            else
            {
                await Expect(alert).ToHaveTextAsync(BannerPrefix + kvm["reason"]!.GetValue<string>());
            }

            // Where KVM works, the daemon's answer is rewritten to what it says on a host without it: the kvm the same
            // readiness probe gives for a device that does not exist. The banner, an alert, above the page, on every page.
            var missing = KvmReadiness.Probe("/nonexistent/kvm");
            Assert.False(missing.Usable);
            Assert.False(string.IsNullOrWhiteSpace(missing.Reason));
            JsonNode? rewrittenKvm = JsonSerializer.SerializeToNode(
                new KvmResource(missing.Device, missing.Present, missing.Usable, missing.Backend, missing.Reason), ApiJsonContext.Default.KvmResource);
            await page.RouteAsync("**/api/v1/host", async route =>
            {
                var answer = await route.FetchAsync();
                var json = JsonNode.Parse(await answer.TextAsync())!.AsObject();
                json.Remove("kvm");
                if (rewrittenKvm is not null)
                {
                    json["kvm"] = rewrittenKvm.DeepClone();
                }

                await route.FulfillAsync(new() { Response = answer, Body = json.ToJsonString() });
            });
            await page.ReloadAsync();
            await Expect(alert).ToHaveTextAsync(BannerPrefix + missing.Reason);
            Assert.True((await banner.BoundingBoxAsync())!.Y < (await page.Locator("#main").BoundingBoxAsync())!.Y, "the banner is not above the page");
            await page.ScreenshotAsync(new() { Path = Browser.ArtifactPath("host-banner.png"), FullPage = true });

            await page.GetByRole(AriaRole.Link, new() { Name = "testguest" }).ClickAsync();
            await Expect(page.Locator("#vm-state")).ToHaveTextAsync("defined");
            await Expect(alert).ToHaveTextAsync(BannerPrefix + missing.Reason);

            // A daemon from before the field (its answer without kvm): no banner, and no script error.
            rewrittenKvm = null;
            await page.RunAndWaitForRequestFinishedAsync(
                () => page.ReloadAsync(),
                new() { Predicate = request => request.Url.EndsWith("/api/v1/host", StringComparison.Ordinal) });
            await Expect(page.Locator("#vm-state")).ToHaveTextAsync("defined");
            await page.EvaluateAsync("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))");
            await Expect(banner).ToBeHiddenAsync();
        });

        Assert.Empty(session.Problems);
    }

    [ChromiumFact]
    public async Task A_vm_that_failed_to_start_says_so_and_why_in_the_list_and_on_its_page()
    {
        await using var session = await PageSession.OpenAsync();
        var page = session.Page;
        await session.RunAsync("vm-failed", async () =>
        {
            // A kernel file that is no kernel: the VMM exits before the VM ever runs, on any host.
            var kernel = session.TempFile("not-a-kernel", "this is not a PVH ELF nor a bzImage\n"u8.ToArray());
            var vm = await session.CreateVmAsync(new VmSpec { Name = "nokernel", Kernel = kernel, MemoryMiB = 64 });
            var row = page.Locator("tr", new() { Has = page.GetByRole(AriaRole.Link, new() { Name = "nokernel" }) });
            await row.GetByRole(AriaRole.Button, new() { Name = "Start nokernel" }).ClickAsync();
            await Expect(row.Locator(".state")).ToHaveTextAsync("failed to start");
            session.Problems.Clear(); // the browser logs the start's error answer, if the daemon gives one

            var failed = await session.Daemon.Http.GetFromJsonAsync($"api/v1/vms/{vm.Id}", ApiJsonContext.Default.VmResource);
            Assert.Equal("failed", failed!.State);
            Assert.False(string.IsNullOrWhiteSpace(failed.ExitReason));
            await ExpectStateAsync(page, row.Locator(".state"), row.Locator(".reason"), "failed to start", failed.ExitReason);
            await page.ScreenshotAsync(new() { Path = Browser.ArtifactPath("vm-failed-list.png"), FullPage = true });

            await page.GetByRole(AriaRole.Link, new() { Name = "nokernel" }).ClickAsync();
            await ExpectStateAsync(page, page.Locator("#vm-state"), page.Locator("#vm-reason"), "failed to start", failed.ExitReason);
            await Expect(page.Locator("#console-idle")).ToBeVisibleAsync();
        });

        Assert.Empty(session.Problems);
    }

    [ChromiumFact(NeedsKvm = true)]
    public async Task A_vm_whose_vmm_was_killed_shows_crashed_and_why_in_the_list_and_on_its_page()
    {
        await using var session = await PageSession.OpenAsync();
        var page = session.Page;
        await session.RunAsync("vm-crashed", async () =>
        {
            var vm = await session.CreateVmAsync(new VmSpec { Name = "victim", BuiltInGuest = "idle", MemoryMiB = 64 });
            var row = page.Locator("tr", new() { Has = page.GetByRole(AriaRole.Link, new() { Name = "victim" }) });
            await row.GetByRole(AriaRole.Button, new() { Name = "Start victim" }).ClickAsync();
            await Expect(row.Locator(".state")).ToHaveTextAsync("running");

            var running = await session.Daemon.Http.GetFromJsonAsync($"api/v1/vms/{vm.Id}", ApiJsonContext.Default.VmResource);
            using (var vmm = Process.GetProcessById(running!.Pid!.Value))
            {
                vmm.Kill(); // SIGKILL, from outside the manager
            }

            await Expect(row.Locator(".state")).ToHaveTextAsync("crashed");
            var crashed = await session.Daemon.Http.GetFromJsonAsync($"api/v1/vms/{vm.Id}", ApiJsonContext.Default.VmResource);
            Assert.False(string.IsNullOrWhiteSpace(crashed!.ExitReason));
            await ExpectStateAsync(page, row.Locator(".state"), row.Locator(".reason"), "crashed", crashed.ExitReason);

            await page.GetByRole(AriaRole.Link, new() { Name = "victim" }).ClickAsync();
            await ExpectStateAsync(page, page.Locator("#vm-state"), page.Locator("#vm-reason"), "crashed", crashed.ExitReason);
        });

        Assert.Empty(session.Problems);
    }

    /// <summary>The state's words in the colour of an error message, and the reason beside it as visible text.</summary>
    private static async Task ExpectStateAsync(IPage page, ILocator state, ILocator reason, string label, string exitReason)
    {
        await Expect(state).ToHaveTextAsync(label);
        await Expect(reason).ToBeVisibleAsync();
        await Expect(reason).ToContainTextAsync(exitReason);
        var errorColor = await page.EvaluateAsync<string>(
            "() => { const p = document.createElement('p'); p.className = 'error'; document.body.append(p); const c = getComputedStyle(p).color; p.remove(); return c; }");
        await Expect(state).ToHaveCSSAsync("color", errorColor);
    }
}
