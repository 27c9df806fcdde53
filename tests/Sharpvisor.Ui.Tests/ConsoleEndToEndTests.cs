using System.Net.Http.Json;
using Microsoft.Playwright;
using Sharpvisor.Api;
using static Microsoft.Playwright.Assertions;

namespace Sharpvisor.Ui.Tests;

/// <summary>
/// The whole UI on a real daemon and real VMMs: create a VM through the form (a bad value first), start it, see state
/// changes made elsewhere arrive without a reload, and type into its serial console.
/// </summary>
public sealed class ConsoleEndToEndTests
{
    [ChromiumFact(NeedsKvm = true)]
    public async Task Create_with_a_bad_value_first_then_start_and_see_a_stop_arrive_live()
    {
        await using var session = await PageSession.OpenAsync();
        var page = session.Page;
        await session.RunAsync("vm-lifecycle", async () =>
        {
            // A bad value: its message appears beside its field as it is typed, focus goes there at submit, and
            // nothing is created.
            await page.GetByRole(AriaRole.Button, new() { Name = "Create VM" }).ClickAsync();
            var dialog = page.Locator("#create-dialog");
            await dialog.GetByLabel("Name", new() { Exact = true }).FillAsync("echo1");
            await dialog.GetByLabel("Built-in guest scenario").FillAsync("serial-echo");
            await dialog.GetByLabel("vCPUs").FillAsync("0");
            await Expect(dialog.Locator("#error-vcpus")).ToContainTextAsync("must be between");
            await dialog.GetByRole(AriaRole.Button, new() { Name = "Create", Exact = true }).ClickAsync();
            await Expect(dialog.GetByLabel("vCPUs")).ToHaveAttributeAsync("aria-invalid", "true");
            await Expect(dialog.GetByLabel("vCPUs")).ToBeFocusedAsync();
            await Expect(page.GetByRole(AriaRole.Link, new() { Name = "echo1" })).ToHaveCountAsync(0);

            // Fixed: created and listed, the dialog closed, only the actions of a defined VM enabled.
            await dialog.GetByLabel("vCPUs").FillAsync("1");
            await Expect(dialog.Locator("#error-vcpus")).ToBeEmptyAsync();
            await dialog.GetByLabel("Memory (MiB)").FillAsync("64");
            await dialog.GetByRole(AriaRole.Button, new() { Name = "Create", Exact = true }).ClickAsync();
            await Expect(page.GetByRole(AriaRole.Link, new() { Name = "echo1" })).ToBeVisibleAsync();
            await Expect(dialog).ToBeHiddenAsync();
            var row = page.Locator("tr", new() { Has = page.GetByRole(AriaRole.Link, new() { Name = "echo1" }) });
            await Expect(row.GetByRole(AriaRole.Button, new() { Name = "Stop echo1" })).ToBeDisabledAsync();
            await Expect(row.GetByRole(AriaRole.Button, new() { Name = "Delete echo1" })).ToBeEnabledAsync();

            // Start from the list; the buttons follow the state.
            await row.GetByRole(AriaRole.Button, new() { Name = "Start echo1" }).ClickAsync();
            await Expect(row.Locator(".state")).ToHaveTextAsync("running");
            await Expect(row.GetByRole(AriaRole.Button, new() { Name = "Start echo1" })).ToBeDisabledAsync();
            await Expect(row.GetByRole(AriaRole.Button, new() { Name = "Delete echo1" })).ToBeDisabledAsync();
            await Expect(row.GetByRole(AriaRole.Button, new() { Name = "Pause echo1" })).ToBeEnabledAsync();
            await page.ScreenshotAsync(new() { Path = Browser.ArtifactPath("vm-list.png"), FullPage = true });

            // Its page, with its recent events.
            await page.GetByRole(AriaRole.Link, new() { Name = "echo1" }).ClickAsync();
            await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "echo1" })).ToBeVisibleAsync();
            await Expect(page.Locator("#vm-state")).ToHaveTextAsync("running");
            await Expect(page.Locator("#vm-events")).ToContainTextAsync("state: running");
            await page.ScreenshotAsync(new() { Path = Browser.ArtifactPath("vm-running.png"), FullPage = true });

            // Pause and resume with its buttons, each enabled only in its state.
            await page.GetByRole(AriaRole.Button, new() { Name = "Pause echo1" }).ClickAsync();
            await Expect(page.Locator("#vm-state")).ToHaveTextAsync("paused");
            await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Pause echo1" })).ToBeDisabledAsync();
            await page.GetByRole(AriaRole.Button, new() { Name = "Resume echo1" }).ClickAsync();
            await Expect(page.Locator("#vm-state")).ToHaveTextAsync("running");
            await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Resume echo1" })).ToBeDisabledAsync();

            // Stopped behind the page's back: the state, the buttons and the events change with no reload.
            var navigations = 0;
            page.FrameNavigated += (_, frame) => navigations += frame == page.MainFrame ? 1 : 0;
            using (var stop = await session.Daemon.Http.PostAsync("api/v1/vms/echo1/stop", null))
            {
                Assert.True(stop.IsSuccessStatusCode, await stop.Content.ReadAsStringAsync());
            }

            await Expect(page.Locator("#vm-state")).ToHaveTextAsync("stopped");
            await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Start echo1" })).ToBeEnabledAsync();
            await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Stop echo1" })).ToBeDisabledAsync();
            await Expect(page.Locator("#vm-events")).ToContainTextAsync("state: stopped");
            Assert.Equal(0, navigations);

            // Started again from its page, then stopped with its own button.
            await page.GetByRole(AriaRole.Button, new() { Name = "Start echo1" }).ClickAsync();
            await Expect(page.Locator("#vm-state")).ToHaveTextAsync("running");
            await page.GetByRole(AriaRole.Button, new() { Name = "Stop echo1" }).ClickAsync();
            await Expect(page.Locator("#vm-state")).ToHaveTextAsync("stopped");
            await page.ScreenshotAsync(new() { Path = Browser.ArtifactPath("vm-stopped.png"), FullPage = true });

            var vm = await session.Daemon.Http.GetFromJsonAsync("api/v1/vms/echo1", ApiJsonContext.Default.VmResource);
            Assert.Equal("stopped", vm!.State);

            // Deleted after a confirmation: back to the list, without it.
            page.Dialog += (_, dialog) => dialog.AcceptAsync();
            await page.GetByRole(AriaRole.Button, new() { Name = "Delete echo1" }).ClickAsync();
            await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Virtual machines" })).ToBeVisibleAsync();
            await Expect(page.GetByRole(AriaRole.Link, new() { Name = "testguest" })).ToBeVisibleAsync();
            await Expect(page.GetByRole(AriaRole.Link, new() { Name = "echo1" })).ToHaveCountAsync(0);
            using var gone = await session.Daemon.Http.GetAsync("api/v1/vms/echo1");
            Assert.Equal(System.Net.HttpStatusCode.NotFound, gone.StatusCode);
        });

        // Whole, with each message's URL: xunit's collection printout cuts them at 50 characters.
        Assert.True(session.Problems.Count == 0, string.Join("\n", session.Problems));
    }

    [ChromiumFact(NeedsKvm = true)]
    public async Task The_console_shows_the_guest_output_and_echoes_what_is_typed()
    {
        await using var session = await PageSession.OpenAsync();
        var page = session.Page;
        await session.RunAsync("vm-console", async () =>
        {
            using (var create = await session.Daemon.Http.PostAsJsonAsync("api/v1/vms",
                new VmSpec { Name = "echo2", BuiltInGuest = "serial-echo", MemoryMiB = 64 }, ApiJsonContext.Default.VmSpec))
            {
                Assert.True(create.IsSuccessStatusCode, await create.Content.ReadAsStringAsync());
            }

            // Not running yet: a message in the console's place; running: the terminal instead.
            await page.GetByRole(AriaRole.Link, new() { Name = "echo2" }).ClickAsync();
            await Expect(page.Locator("#console-idle")).ToContainTextAsync("not running");
            await page.GetByRole(AriaRole.Button, new() { Name = "Start echo2" }).ClickAsync();
            await Expect(page.Locator("#vm-state")).ToHaveTextAsync("running");
            await Expect(page.Locator("#console-idle")).ToBeHiddenAsync();

            // The guest's first line arrives (replayed if it came before the socket), and typed keys come back.
            var terminal = page.Locator("#console .xterm-rows");
            await Expect(terminal).ToContainTextAsync("serial-echo: ready");
            await page.Locator("#console").ClickAsync();
            await page.Keyboard.TypeAsync("hello sharpvisor", new() { Delay = 30 });
            await Expect(terminal).ToContainTextAsync("hello sharpvisor");
            await page.ScreenshotAsync(new() { Path = Browser.ArtifactPath("vm-console.png"), FullPage = true });

            await page.GetByRole(AriaRole.Button, new() { Name = "Stop echo2" }).ClickAsync();
            await Expect(page.Locator("#vm-state")).ToHaveTextAsync("stopped");
            await Expect(page.Locator("#console-status")).ToContainTextAsync("Disconnected");
        });
        Assert.Empty(session.Problems);
    }
}
