using System.Net.Http.Json;
using Microsoft.Playwright;
using Sharpvisor.Api;
using Sharpvisor.Storage.Qcow2;
using static Microsoft.Playwright.Assertions;

namespace Sharpvisor.Ui.Tests;

/// <summary>
/// Templates and thin clones from the web UI, in Chromium on a real daemon: a stopped VM's page makes it a template
/// (its Start goes away for good, the list marks it), and "New VM from template" asks a name and lands on the new VM's
/// page, whose disk is a qcow2 overlay over the template's (read back from the file the daemon made).
/// </summary>
public sealed class TemplateCloneTests
{
    [ChromiumFact]
    public async Task A_VM_made_a_template_on_its_page_is_cloned_from_there_into_a_VM_on_an_overlay()
    {
        await using var session = await PageSession.OpenAsync();
        var page = session.Page;
        page.Dialog += (_, dialog) => dialog.AcceptAsync(); // "Make gold a template?"
        await session.RunAsync("template-clone", async () =>
        {
            var disk = session.TempFile("gold.raw", new byte[1 << 20]);
            await session.CreateVmAsync(new VmSpec { Name = "gold", BuiltInGuest = "idle", MemoryMiB = 64, Disks = [new DiskSpec(disk)] });
            await session.GoToHashAsync("#/vm/gold");
            var start = page.GetByRole(AriaRole.Button, new() { Name = "Start gold" });
            await Expect(start).ToBeEnabledAsync();
            await Expect(page.GetByRole(AriaRole.Button, new() { Name = "New VM from template gold" })).ToBeHiddenAsync();

            await page.GetByRole(AriaRole.Button, new() { Name = "Make template gold" }).ClickAsync();
            await Expect(page.Locator("#vm-template")).ToBeVisibleAsync();
            await Expect(start).ToBeDisabledAsync();
            await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Make template gold" })).ToBeHiddenAsync();
            Assert.True((await session.Daemon.Http.GetFromJsonAsync("api/v1/vms/gold", ApiJsonContext.Default.VmResource))!.Template);

            var clone = page.GetByRole(AriaRole.Button, new() { Name = "New VM from template gold" });
            await Expect(clone).ToBeEnabledAsync();
            await clone.ClickAsync();
            var dialog = page.GetByRole(AriaRole.Dialog, new() { Name = "New VM from template gold" });
            await Expect(dialog).ToBeVisibleAsync();
            var name = dialog.GetByLabel("Name");
            await Expect(name).ToBeFocusedAsync();

            // A bad name is said beside the field, with no request made.
            await name.FillAsync("Desk 1");
            await dialog.GetByRole(AriaRole.Button, new() { Name = "Create" }).ClickAsync();
            await Expect(dialog.Locator("#clone-error-name")).ToContainTextAsync("lowercase letters");

            await name.FillAsync("desk-1");
            await page.ScreenshotAsync(new() { Path = Browser.ArtifactPath("clone-dialog.png") });
            await dialog.GetByRole(AriaRole.Button, new() { Name = "Create" }).ClickAsync();
            await Expect(dialog).ToBeHiddenAsync();
            await Expect(page.Locator("#vm-title")).ToHaveTextAsync("desk-1");
            var overlay = Path.Combine(Path.GetDirectoryName(disk)!, "desk-1-disk0.qcow2");
            await Expect(page.Locator("#vm-details")).ToContainTextAsync($"{overlay} (qcow2)");
            await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Start desk-1" })).ToBeEnabledAsync();
            Assert.Equal(disk, Qcow2Image.ReadInfo(overlay).BackingFile);

            // The list marks the template, and only it.
            await session.GoToHashAsync("#/vms");
            await Expect(page.Locator("tr", new() { Has = page.GetByRole(AriaRole.Link, new() { Name = "gold", Exact = true }) }).Locator(".tag"))
                .ToHaveTextAsync("template");
            await Expect(page.Locator("tr", new() { Has = page.GetByRole(AriaRole.Link, new() { Name = "desk-1", Exact = true }) }).Locator(".tag"))
                .ToHaveCountAsync(0);
        });

        Assert.Empty(session.Problems);
    }
}
