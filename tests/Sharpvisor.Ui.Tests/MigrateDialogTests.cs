using System.Net;
using System.Net.Http.Json;
using Microsoft.Playwright;
using Sharpvisor.Api;
using static Microsoft.Playwright.Assertions;

namespace Sharpvisor.Ui.Tests;

/// <summary>
/// The migrate dialog on a real daemon, with a second daemon as the destination (two managers on one machine): a
/// running VM's Migrate button asks where to, refuses an address that is no URL before any request, and once the
/// API answers the VM has left the list and runs at the other manager; a migration under way is stopped from the
/// same dialog and the VM runs on here.
/// </summary>
public sealed class MigrateDialogTests
{
    [ChromiumFact(NeedsKvm = true)]
    public async Task A_running_vm_migrated_from_its_page_leaves_the_list_and_runs_at_the_other_manager()
    {
        await using var session = await PageSession.OpenAsync();
        await using var destination = await UiDaemon.StartAsync();
        var page = session.Page;
        await session.RunAsync("migrate-dialog", async () =>
        {
            await session.CreateVmAsync(new VmSpec { Name = "mover", BuiltInGuest = "serial-echo", MemoryMiB = 64 });
            using (var started = await session.Daemon.Http.PostAsync("api/v1/vms/mover/start", null))
            {
                Assert.True(started.IsSuccessStatusCode, await started.Content.ReadAsStringAsync());
            }

            await session.GoToHashAsync("#/vm/mover");
            var migrate = page.GetByRole(AriaRole.Button, new() { Name = "Migrate mover" });
            await Expect(migrate).ToBeEnabledAsync();
            await migrate.ClickAsync();
            var dialog = page.GetByRole(AriaRole.Dialog, new() { Name = "Migrate mover" });
            await Expect(dialog).ToBeVisibleAsync();
            var to = dialog.GetByLabel("Destination manager URL");
            await Expect(to).ToBeFocusedAsync();
            await Expect(dialog.GetByLabel("Longest pause (ms)")).ToHaveValueAsync("300");

            // Not a URL: said beside the field, no request made, the VM still here.
            await to.FillAsync("host2");
            await dialog.GetByRole(AriaRole.Button, new() { Name = "Migrate", Exact = true }).ClickAsync();
            await Expect(dialog.Locator("#migrate-error-to")).ToHaveTextAsync("must be the other manager's URL, like https://host2:7780");

            await to.FillAsync(destination.Daemon.Url.ToString());
            await dialog.GetByLabel("Its token").FillAsync(destination.Daemon.Token.Value);
            await page.ScreenshotAsync(new() { Path = Browser.ArtifactPath("migrate-dialog.png") });
            await dialog.GetByRole(AriaRole.Button, new() { Name = "Migrate", Exact = true }).ClickAsync();

            await Expect(page.Locator("#list-message")).ToContainTextAsync($"mover now runs at {destination.Daemon.Url}");
            await Expect(dialog).ToBeHiddenAsync();
            await Expect(page.GetByRole(AriaRole.Link, new() { Name = "mover", Exact = true })).ToHaveCountAsync(0);
            var moved = await destination.Http.GetFromJsonAsync("api/v1/vms/mover", ApiJsonContext.Default.VmResource);
            Assert.Equal("running", moved!.State);
            using var gone = await session.Daemon.Http.GetAsync("api/v1/vms/mover");
            Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
            session.Problems.RemoveAll(p => p.Contains("404", StringComparison.Ordinal)); // the page's last read of the VM that left
        });

        Assert.Empty(session.Problems);
    }

    [ChromiumFact(NeedsKvm = true)]
    public async Task A_migration_under_way_is_stopped_from_the_dialog_and_the_vm_runs_on_here()
    {
        await using var session = await PageSession.OpenAsync();
        await using var destination = await UiDaemon.StartAsync();
        var page = session.Page;
        await session.RunAsync("migrate-dialog-stop", async () =>
        {
            // 4 MiB written once, over 1 MB/s: round 1 takes seconds, time enough to stop it.
            var id = (await session.CreateVmAsync(new VmSpec { Name = "stayer", BuiltInGuest = "generation", Cmdline = "mib=4 period_ms=1000000", MemoryMiB = 64 })).Id;
            using (var started = await session.Daemon.Http.PostAsync("api/v1/vms/stayer/start", null))
            {
                Assert.True(started.IsSuccessStatusCode, await started.Content.ReadAsStringAsync());
            }

            await session.GoToHashAsync("#/vm/stayer");
            await page.GetByRole(AriaRole.Button, new() { Name = "Migrate stayer" }).ClickAsync();
            var dialog = page.GetByRole(AriaRole.Dialog, new() { Name = "Migrate stayer" });
            await dialog.GetByLabel("Destination manager URL").FillAsync(destination.Daemon.Url.ToString());
            await dialog.GetByLabel("Its token").FillAsync(destination.Daemon.Token.Value);
            await dialog.GetByLabel("Bandwidth limit (MB/s, 0: none)").FillAsync("1");
            await dialog.GetByRole(AriaRole.Button, new() { Name = "Migrate", Exact = true }).ClickAsync();

            // Once the rounds run (the first progress event), the dialog's Cancel stops them.
            var deadline = DateTime.UtcNow + TestTime.Ceiling(TimeSpan.FromSeconds(30));
            while (!(await session.Daemon.Daemon.Store.ListLatestEventsAsync(50, id)).Any(e => e.Message.StartsWith("migration round 1: ", StringComparison.Ordinal)))
            {
                Assert.True(DateTime.UtcNow < deadline, "no migration round within 30 s");
                await Task.Delay(50);
            }

            await dialog.GetByRole(AriaRole.Button, new() { Name = "Stop migration" }).ClickAsync();
            await Expect(dialog.Locator("#migrate-error")).ToContainTextAsync("was cancelled");
            await Expect(dialog.GetByRole(AriaRole.Button, new() { Name = "Cancel", Exact = true })).ToBeEnabledAsync();
            Assert.Equal("running", (await session.Daemon.Http.GetFromJsonAsync("api/v1/vms/stayer", ApiJsonContext.Default.VmResource))!.State);
            using var there = await destination.Http.GetAsync("api/v1/vms/stayer");
            Assert.Equal(HttpStatusCode.NotFound, there.StatusCode);
            session.Problems.RemoveAll(p => p.Contains("409", StringComparison.Ordinal)); // the migrate's answer, which the dialog shows
        });

        Assert.Empty(session.Problems);
    }
}
