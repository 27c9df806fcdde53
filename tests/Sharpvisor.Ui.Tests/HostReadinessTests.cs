using System.Diagnostics;
using System.Net.Http.Json;
using Microsoft.Playwright;
using Sharpvisor.Api;
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
        // A real daemon on a host without KVM, on any machine: its KVM device is a path that does not exist, so its
        // GET /api/v1/host says kvm not usable, with its own reason (and its VMMs could not start either).
        var device = Path.Combine(Path.GetTempPath(), $"svu-no-kvm-{Guid.NewGuid():N}", "kvm");
        Assert.False(File.Exists(device));
        await using var session = await PageSession.OpenAsync(kvmDevice: device);
        var page = session.Page;
        await session.RunAsync("host-banner", async () =>
        {
            var host = await session.Daemon.Http.GetFromJsonAsync("api/v1/host", ApiJsonContext.Default.HostResource);
            Assert.Equal(device, host!.Kvm.Device);
            Assert.False(host.Kvm.Usable);
            Assert.False(string.IsNullOrWhiteSpace(host.Kvm.Reason));
            var expected = BannerPrefix + host.Kvm.Reason;

            // The banner is an alert, above the page, on every page.
            var banner = page.Locator("#host-banner");
            var alert = page.GetByRole(AriaRole.Alert).Filter(new() { HasText = BannerPrefix });
            await Expect(page.GetByRole(AriaRole.Link, new() { Name = "testguest" })).ToBeVisibleAsync();
            await Expect(alert).ToHaveTextAsync(expected);
            Assert.True((await banner.BoundingBoxAsync())!.Y < (await page.Locator("#main").BoundingBoxAsync())!.Y, "the banner is not above the page");
            await page.ScreenshotAsync(new() { Path = Browser.ArtifactPath("host-banner.png"), FullPage = true });

            await page.GetByRole(AriaRole.Link, new() { Name = "testguest" }).ClickAsync();
            await Expect(page.Locator("#vm-state")).ToHaveTextAsync("defined");
            await Expect(alert).ToHaveTextAsync(expected);

            await page.GetByRole(AriaRole.Navigation).GetByRole(AriaRole.Link, new() { Name = "Dashboard" }).ClickAsync();
            await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Host" })).ToBeVisibleAsync();
            await Expect(alert).ToHaveTextAsync(expected);
            await Expect(page.Locator("#tile-kvm")).ToHaveTextAsync("not usable");
            await page.GoBackAsync();

            // A reload reads the host again: still there.
            await page.ReloadAsync();
            await Expect(page.Locator("#vm-state")).ToHaveTextAsync("defined");
            await Expect(alert).ToHaveTextAsync(expected);
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
