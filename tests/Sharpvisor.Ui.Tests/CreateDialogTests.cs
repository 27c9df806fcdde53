using System.Net.Http.Json;
using Microsoft.Playwright;
using Sharpvisor.Api;
using static Microsoft.Playwright.Assertions;

namespace Sharpvisor.Ui.Tests;

/// <summary>
/// The create dialog on a real daemon: its defaults, a field's message as it is typed (before any request), and the
/// API's own 400 beside its field after a submit the page could not judge (a kernel path that does not exist).
/// </summary>
public sealed class CreateDialogTests
{
    [ChromiumFact]
    public async Task The_dialog_checks_as_you_type_shows_the_apis_error_after_submit_and_creates_with_its_defaults()
    {
        await using var session = await PageSession.OpenAsync();
        var page = session.Page;
        await session.RunAsync("create-dialog", async () =>
        {
            await Expect(page.GetByRole(AriaRole.Link, new() { Name = "testguest" })).ToBeVisibleAsync();
            var dialog = page.GetByRole(AriaRole.Dialog, new() { Name = "Create a VM" });
            var name = dialog.GetByLabel("Name", new() { Exact = true });
            var memory = dialog.GetByLabel("Memory (MiB)");

            // "c" on the list opens it, focus in its first field, with the defaults.
            await page.Keyboard.PressAsync("c");
            await Expect(dialog).ToBeVisibleAsync();
            await Expect(name).ToBeFocusedAsync();
            await Expect(dialog.GetByLabel("vCPUs")).ToHaveValueAsync("1");
            await Expect(memory).ToHaveValueAsync("128");
            await Expect(dialog.GetByLabel("Built-in guest scenario")).ToHaveValueAsync("idle");
            await Expect(dialog.GetByLabel("Built-in test guest")).ToBeCheckedAsync();
            await Expect(dialog.GetByLabel("Kernel path")).ToBeHiddenAsync();

            // As it is typed: a name with a capital letter, then a memory size out of range, each beside its field.
            await name.PressSequentiallyAsync("Web");
            await Expect(dialog.Locator("#error-name")).ToHaveTextAsync("must be lowercase letters, digits and '-', starting with a letter");
            await Expect(name).ToHaveAttributeAsync("aria-invalid", "true");
            await name.FillAsync("web-1");
            await Expect(dialog.Locator("#error-name")).ToBeEmptyAsync();
            await Expect(name).Not.ToHaveAttributeAsync("aria-invalid", "true");
            await memory.FillAsync("8");
            await Expect(dialog.Locator("#error-memoryMiB")).ToHaveTextAsync("must be between 16 and 65536");
            await page.ScreenshotAsync(new() { Path = Browser.ArtifactPath("create-dialog-typing.png") });
            await memory.FillAsync("96");
            await Expect(dialog.Locator("#error-memoryMiB")).ToBeEmptyAsync();

            // A kernel: a relative path is refused as typed; an absolute one that does not exist only the daemon can
            // judge: its 400 lands beside the field, focus goes there, the dialog stays and nothing is created.
            await dialog.GetByLabel("A Linux kernel").CheckAsync();
            await Expect(dialog.GetByLabel("Built-in guest scenario")).ToBeHiddenAsync();
            var kernel = dialog.GetByLabel("Kernel path");
            await kernel.FillAsync("vmlinuz");
            await Expect(dialog.Locator("#error-kernel")).ToHaveTextAsync("must be an absolute path");
            var missing = $"/nonexistent-{Guid.NewGuid():N}/vmlinuz";
            await kernel.FillAsync(missing);
            await Expect(dialog.Locator("#error-kernel")).ToBeEmptyAsync();
            await dialog.GetByRole(AriaRole.Button, new() { Name = "Create", Exact = true }).ClickAsync();
            await Expect(dialog.Locator("#error-kernel")).ToHaveTextAsync($"'{missing}' does not exist on this host");
            await Expect(kernel).ToHaveAttributeAsync("aria-invalid", "true");
            await Expect(kernel).ToBeFocusedAsync();
            await Expect(dialog).ToBeVisibleAsync();
            session.Problems.Clear(); // the browser logs the expected 400
            using (var notCreated = await session.Daemon.Http.GetAsync("api/v1/vms/web-1"))
            {
                Assert.Equal(System.Net.HttpStatusCode.NotFound, notCreated.StatusCode);
            }

            await page.ScreenshotAsync(new() { Path = Browser.ArtifactPath("create-dialog-api-error.png") });

            // Back to the built-in guest: created with what the dialog holds, listed, the dialog closed.
            await dialog.GetByLabel("Built-in test guest").CheckAsync();
            await dialog.GetByRole(AriaRole.Button, new() { Name = "Create", Exact = true }).ClickAsync();
            await Expect(dialog).ToBeHiddenAsync();
            var row = page.Locator("tr", new() { Has = page.GetByRole(AriaRole.Link, new() { Name = "web-1" }) });
            await Expect(row.Locator(".state")).ToHaveTextAsync("defined");
            await Expect(row.Locator("td[data-label=Memory]")).ToHaveTextAsync("96 MiB");
            var vm = await session.Daemon.Http.GetFromJsonAsync("api/v1/vms/web-1", ApiJsonContext.Default.VmResource);
            Assert.Equal((1, 96, "idle", (string?)null), (vm!.Vcpus, vm.MemoryMiB, vm.BuiltInGuest, vm.Kernel));

            // Opened again: the defaults again, no message left over.
            await page.GetByRole(AriaRole.Button, new() { Name = "Create VM" }).ClickAsync();
            await Expect(name).ToHaveValueAsync("");
            await Expect(memory).ToHaveValueAsync("128");
            await Expect(dialog.Locator(".error:not(:empty)")).ToHaveCountAsync(0);
            await page.Keyboard.PressAsync("Escape");
            await Expect(dialog).ToBeHiddenAsync();
        });

        Assert.Empty(session.Problems);
    }
}
