using System.Net.Http.Json;
using Microsoft.Playwright;
using Sharpvisor.Api;
using static Microsoft.Playwright.Assertions;

namespace Sharpvisor.Ui.Tests;

/// <summary>The edit form on the page of a VM that does not run: PUT /api/v1/vms/{vm} with its version.</summary>
public sealed class EditFormTests
{
    [ChromiumFact]
    public async Task A_stopped_vm_is_edited_on_its_page_and_a_change_made_elsewhere_is_not_overwritten()
    {
        await using var session = await PageSession.OpenAsync();
        var page = session.Page;
        await session.RunAsync("edit-form", async () =>
        {
            var vm = await session.CreateVmAsync(new VmSpec { Name = "edit1", BuiltInGuest = "idle", MemoryMiB = 64 });
            await session.GoToHashAsync("#/vm/edit1");
            var form = page.GetByRole(AriaRole.Form, new() { Name = "Edit" });
            var memory = form.GetByLabel("Memory (MiB)");
            await Expect(memory).ToHaveValueAsync("64");
            await Expect(form.GetByLabel("vCPUs")).ToHaveValueAsync("1");
            await Expect(form.GetByLabel("Built-in guest scenario")).ToHaveValueAsync("idle");

            // Checked as typed, in the API's words; nothing is sent while a field is wrong.
            await memory.FillAsync("70000");
            await Expect(form.Locator("[data-field=memoryMiB]")).ToHaveTextAsync("must be between 16 and 65536");
            await form.GetByRole(AriaRole.Button, new() { Name = "Save" }).ClickAsync();
            await Expect(memory).ToBeFocusedAsync();
            Assert.Equal(64, (await GetAsync(session, "edit1")).MemoryMiB);

            // Saved: the API has it, the page's definition shows it, the form holds the stored values.
            await memory.FillAsync("96");
            await form.GetByLabel("vCPUs").FillAsync("2");
            await form.GetByRole(AriaRole.Button, new() { Name = "Save" }).ClickAsync();
            await Expect(form.Locator(".form-status")).ToHaveTextAsync($"Saved: version {vm.Version + 1}.");
            await Expect(page.Locator("#vm-details")).ToContainTextAsync("96 MiB");
            var saved = await GetAsync(session, "edit1");
            Assert.Equal((2, 96, vm.Version + 1), (saved.Vcpus, saved.MemoryMiB, saved.Version));
            await page.ScreenshotAsync(new() { Path = Browser.ArtifactPath("edit-form.png"), FullPage = true });

            // Typed into here while someone changes it elsewhere: the typing stays until Save, whose 409 (the version
            // moved on) is said, and the form then shows what is stored.
            await memory.FillAsync("128");
            using (var elsewhere = await session.Daemon.Http.PutAsJsonAsync("api/v1/vms/edit1", new VmSpec { MemoryMiB = 100 }, ApiJsonContext.Default.VmSpec))
            {
                Assert.True(elsewhere.IsSuccessStatusCode, await elsewhere.Content.ReadAsStringAsync());
            }

            await Expect(page.Locator("#vm-details")).ToContainTextAsync("100 MiB");
            await Expect(memory).ToHaveValueAsync("128");
            await form.GetByRole(AriaRole.Button, new() { Name = "Save" }).ClickAsync();
            await Expect(form.Locator(".form-error")).ToContainTextAsync("changed since it was read");
            await Expect(memory).ToHaveValueAsync("100");
            Assert.Equal(100, (await GetAsync(session, "edit1")).MemoryMiB);
            session.Problems.Clear(); // the browser logs the expected 409

            // The API's 400 beside its field: a kernel that does not exist (giving a kernel drops the built-in guest).
            await form.GetByLabel("Built-in guest scenario").FillAsync("");
            await form.GetByLabel("Kernel path").FillAsync("/nonexistent/vmlinuz");
            await form.GetByRole(AriaRole.Button, new() { Name = "Save" }).ClickAsync();
            await Expect(form.Locator("[data-field=kernel]")).ToHaveTextAsync("'/nonexistent/vmlinuz' does not exist on this host");
            await Expect(form.GetByLabel("Kernel path")).ToBeFocusedAsync();
            session.Problems.Clear(); // and the 400
        });

        Assert.Empty(session.Problems);
    }

    private static async Task<VmResource> GetAsync(PageSession session, string name) =>
        (await session.Daemon.Http.GetFromJsonAsync($"api/v1/vms/{name}", ApiJsonContext.Default.VmResource))!;
}
