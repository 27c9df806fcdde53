using Microsoft.Playwright;
using Sharpvisor.Api;
using static Microsoft.Playwright.Assertions;

namespace Sharpvisor.Ui.Tests;

/// <summary>
/// One VM's page on a real daemon, with no VM running (these run where /dev/kvm is missing): a name that matches no
/// VM, an answer for the previous page that arrives late, and the console's place while the VM does not run.
/// </summary>
public sealed class VmPageTests
{
    [ChromiumFact]
    public async Task A_vm_that_does_not_exist_shows_only_that_and_nothing_of_the_vm_shown_before()
    {
        await using var session = await PageSession.OpenAsync();
        var page = session.Page;
        await session.RunAsync("vm-missing", async () =>
        {
            var d3 = await session.CreateVmAsync(new VmSpec { Name = "d3", BuiltInGuest = "idle", MemoryMiB = 64 });
            await session.GoToHashAsync("#/vm/d3");
            await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "d3" })).ToBeVisibleAsync();
            await Expect(page.Locator("#vm-details")).ToContainTextAsync(d3.Id.ToString());
            await Expect(page.Locator("#vm-events")).ToContainTextAsync("defined");
            await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Delete d3" })).ToBeEnabledAsync();

            // Another name typed into the same tab: it says there is no such VM, and nothing of d3 is left to act on.
            await session.GoToHashAsync("#/vm/ghost");
            await ExpectMissingAsync(page, "ghost", d3);
            session.Problems.Clear(); // the browser logs the expected 404

            // Back to d3: all of it again.
            await page.GoBackAsync();
            await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "d3" })).ToBeVisibleAsync();
            await Expect(page.Locator("#vm-details")).ToContainTextAsync(d3.Id.ToString());
            await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Start d3" })).ToBeEnabledAsync();
            await Expect(page.Locator("#vm-message")).ToBeEmptyAsync();

            // Deleted behind the page's back while shown: it becomes the page of a VM that does not exist.
            using (var delete = await session.Daemon.Http.DeleteAsync("api/v1/vms/d3"))
            {
                Assert.True(delete.IsSuccessStatusCode, await delete.Content.ReadAsStringAsync());
            }

            await ExpectMissingAsync(page, "d3", d3);
        });

        Assert.Empty(session.Problems);
    }

    [ChromiumFact]
    public async Task An_answer_for_the_previous_vm_that_arrives_late_does_not_repaint_the_page()
    {
        await using var session = await PageSession.OpenAsync();
        var page = session.Page;
        await session.RunAsync("vm-late-answer", async () =>
        {
            var d3 = await session.CreateVmAsync(new VmSpec { Name = "d3", BuiltInGuest = "idle", MemoryMiB = 64 });

            // The daemon's answer for d3 is held back until the page has moved on to another VM's address.
            var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            await page.RouteAsync("**/api/v1/vms/d3", async route =>
            {
                var answer = await route.FetchAsync();
                held.TrySetResult();
                await release.Task;
                await route.FulfillAsync(new() { Response = answer });
            });

            await session.GoToHashAsync("#/vm/d3");
            await held.Task.WaitAsync(TestTime.Ceiling(TimeSpan.FromSeconds(30)));
            await session.GoToHashAsync("#/vm/ghost");
            await ExpectMissingAsync(page, "ghost", d3);

            // Now d3's answer arrives; once the page has taken it (two frames later), the page is still ghost's.
            await page.RunAndWaitForRequestFinishedAsync(
                () => { release.SetResult(); return Task.CompletedTask; },
                new() { Predicate = request => request.Url.EndsWith("/api/v1/vms/d3", StringComparison.Ordinal) });
            await page.EvaluateAsync("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))");
            await ExpectMissingAsync(page, "ghost", d3);
            session.Problems.Clear(); // the browser logs the expected 404
        });

        Assert.Empty(session.Problems);
    }

    [ChromiumFact]
    public async Task The_console_of_a_vm_that_does_not_run_says_so_instead_of_an_empty_terminal()
    {
        await using var session = await PageSession.OpenAsync();
        var page = session.Page;
        await session.RunAsync("vm-console-idle", async () =>
        {
            await page.GetByRole(AriaRole.Link, new() { Name = "testguest" }).ClickAsync();
            await Expect(page.Locator("#vm-state")).ToHaveTextAsync("defined");
            await Expect(page.Locator("#console-idle")).ToBeVisibleAsync();
            await Expect(page.Locator("#console-idle")).ToHaveTextAsync("The VM is not running: start it to see its console.");
            await Expect(page.Locator("#console")).ToBeHiddenAsync();
            await Expect(page.Locator("#console .xterm")).ToHaveCountAsync(0);
        });

        Assert.Empty(session.Problems);
    }

    /// <summary>The page of a VM that does not exist: the message, and no state, details, buttons, console or events.</summary>
    private static async Task ExpectMissingAsync(IPage page, string name, VmResource shownBefore)
    {
        var view = page.Locator("#vm-view");
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = name })).ToBeVisibleAsync();
        await Expect(page.Locator("#vm-message")).ToHaveTextAsync($"There is no VM named {name}.");
        await Expect(view.GetByRole(AriaRole.Button)).ToHaveCountAsync(0);
        await Expect(page.Locator("#vm-details")).ToBeHiddenAsync();
        await Expect(page.Locator("#vm-details")).ToBeEmptyAsync();
        await Expect(page.Locator("#vm-state")).ToBeHiddenAsync();
        await Expect(page.Locator("#console")).ToBeHiddenAsync();
        await Expect(page.Locator("#console-idle")).ToBeHiddenAsync();
        await Expect(page.Locator("#vm-events")).ToBeEmptyAsync();
        await Expect(view).Not.ToContainTextAsync(shownBefore.Id.ToString());
        if (name != shownBefore.Name)
        {
            await Expect(view).Not.ToContainTextAsync(shownBefore.Name);
        }
    }
}
