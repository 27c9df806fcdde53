using Microsoft.Playwright;
using Sharpvisor.Manager.Ui;
using static Microsoft.Playwright.Assertions;

namespace Sharpvisor.Ui.Tests;

/// <summary>The page itself on a real daemon: its headers, the token from the address, and the token form.</summary>
public sealed class TokenAndPageTests
{
    [Fact]
    public async Task Files_are_served_from_the_assembly_with_their_types_and_a_strict_policy()
    {
        await using var daemon = await UiDaemon.StartAsync();
        using var anonymous = new HttpClient { BaseAddress = daemon.Daemon.Url };

        foreach (var (path, type) in new[] { ("/", "text/html"), ("/app.js", "text/javascript"), ("/xterm.js", "text/javascript"), ("/xterm.css", "text/css"),
            ("/uPlot.iife.min.js", "text/javascript"), ("/uPlot.min.css", "text/css"), ("/charts.js", "text/javascript"), ("/theme-early.js", "text/javascript") })
        {
            using var response = await anonymous.GetAsync(path);
            Assert.True(response.IsSuccessStatusCode, $"{path}: {(int)response.StatusCode}");
            Assert.Equal(type, response.Content.Headers.ContentType?.MediaType);
            Assert.Equal(UiEndpoints.ContentSecurityPolicy, string.Join(";", response.Headers.GetValues("Content-Security-Policy")));
            Assert.Equal("nosniff", Assert.Single(response.Headers.GetValues("X-Content-Type-Options")));
        }

        Assert.Contains("script-src 'self';", UiEndpoints.ContentSecurityPolicy, StringComparison.Ordinal);
        using (var head = await anonymous.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/app.js")))
        {
            Assert.Equal(System.Net.HttpStatusCode.OK, head.StatusCode);
            Assert.Equal("text/javascript", head.Content.Headers.ContentType?.MediaType);
        }

        // Every file of the page's source is served: a module left out of the table fails the whole page at import.
        foreach (var file in Directory.EnumerateFiles(Path.Combine(TestBinaries.RepositoryRoot, "src", "Sharpvisor.Manager", "Ui", "web")))
        {
            var path = "/" + Path.GetFileName(file);
            using var response = await anonymous.GetAsync(path == "/index.html" ? "/" : path);
            Assert.True(response.IsSuccessStatusCode, $"{path} is in Ui/web but not served: {(int)response.StatusCode} (UiEndpoints.Files)");
        }

        using var missing = await anonymous.GetAsync("/nothing.js");
        Assert.Equal(System.Net.HttpStatusCode.NotFound, missing.StatusCode);
    }

    [ChromiumFact]
    public async Task The_token_comes_from_the_address_and_a_missing_or_refused_one_is_asked_for()
    {
        await using var daemon = await UiDaemon.StartAsync();
        await using var browser = await Browser.LaunchAsync();
        var problems = new List<string>();
        var page = await browser.NewPageAsync(problems);

        // No token: the form, saying where the token is.
        await page.GotoAsync(daemon.Daemon.Url.ToString());
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Access token" })).ToBeVisibleAsync();
        await Expect(page.Locator("#login-help")).ToContainTextAsync("DATA/token");

        // A wrong one is refused, and asked for again.
        await page.GetByLabel("Token", new() { Exact = true }).FillAsync("0123");
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Expect(page.Locator("#login-reason")).ToHaveTextAsync("The token was refused.");
        await Expect(page.Locator("#login-view")).ToBeVisibleAsync();

        // The printed address: the token is kept and leaves the address bar; the host's dashboard, then the VM list
        // (by its link) with the default VM.
        await page.GotoAsync(daemon.Daemon.UiUrl);
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Host" })).ToBeVisibleAsync();
        await page.GetByRole(AriaRole.Navigation).GetByRole(AriaRole.Link, new() { Name = "Virtual machines" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Link, new() { Name = "testguest" })).ToBeVisibleAsync();
        Assert.DoesNotContain(daemon.Daemon.Token.Value, page.Url, StringComparison.Ordinal);
        Assert.Equal(daemon.Daemon.Token.Value, await page.EvaluateAsync<string>("localStorage.getItem('sharpvisor.token')"));
        await Expect(page.Locator("#connection")).ToHaveTextAsync("Events: live");

        // A reload without the fragment still works from localStorage.
        await page.ReloadAsync();
        await Expect(page.GetByRole(AriaRole.Link, new() { Name = "testguest" })).ToBeVisibleAsync();

        // Keyboard: Tab from the top reaches the VM's link and then its first enabled action.
        await page.Locator("header .brand").FocusAsync();
        for (var i = 0; i < 12 && await page.EvaluateAsync<string>("document.activeElement.textContent") != "testguest"; i++)
        {
            await page.Keyboard.PressAsync("Tab");
        }

        Assert.Equal("testguest", await page.EvaluateAsync<string>("document.activeElement.textContent"));
        await page.Keyboard.PressAsync("Tab");
        Assert.Equal("Start testguest", await page.EvaluateAsync<string>("document.activeElement.getAttribute('aria-label')"));

        // The 401 errors of the refused token are expected; nothing else (no CSP violation, no script error).
        // Each is printed whole when it fails (one CI run saw a "Failed to load resource" that was not a 401).
        Assert.All(problems, p => Assert.True(p.Contains("401", StringComparison.Ordinal), $"unexpected browser console message: {p}"));
    }
}
