using System.Net;
using System.Net.Http.Json;
using Microsoft.Playwright;
using Sharpvisor.Api;
using static Microsoft.Playwright.Assertions;

namespace Sharpvisor.Ui.Tests;

/// <summary>
/// The migrate dialog on a real daemon, with a second daemon as the destination (two managers on one machine): a
/// running VM's Migrate button asks where to, refuses an address that is no URL before any request, and once the
/// API answers the VM has left the list and runs at the other manager.
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
}
