using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Sharpvisor.Ui.Tests;

/// <summary>The light and the dark theme: the system's by default (prefers-color-scheme), a toggle that is remembered.</summary>
public sealed class ThemeTests
{
    private const string Light = "rgb(255, 255, 255)";
    private const string Dark = "rgb(13, 17, 23)";

    [ChromiumFact]
    public async Task The_theme_follows_the_system_until_the_toggle_picks_one_which_is_kept()
    {
        await using var session = await PageSession.OpenAsync(hash: "#/");
        var page = session.Page;
        await session.RunAsync("theme", async () =>
        {
            var body = page.Locator("body");
            var toggle = page.Locator("#theme-toggle");

            // Nothing stored: the system's choice, both ways.
            await page.EmulateMediaAsync(new() { ColorScheme = ColorScheme.Light });
            await Expect(body).ToHaveCSSAsync("background-color", Light);
            await Expect(toggle).ToHaveTextAsync("Dark theme");
            await page.EmulateMediaAsync(new() { ColorScheme = ColorScheme.Dark });
            await Expect(body).ToHaveCSSAsync("background-color", Dark);
            await Expect(toggle).ToHaveTextAsync("Light theme");
            Assert.Null(await page.EvaluateAsync<string?>("localStorage.getItem('sharpvisor.theme')"));

            // The toggle picks the other one, beats the system's, and is stored.
            await toggle.ClickAsync();
            await Expect(body).ToHaveCSSAsync("background-color", Light);
            Assert.Equal("light", await page.EvaluateAsync<string?>("localStorage.getItem('sharpvisor.theme')"));
            await toggle.ClickAsync();
            await Expect(body).ToHaveCSSAsync("background-color", Dark);
            await Expect(toggle).ToHaveTextAsync("Light theme");

            // Kept across a reload, on a light system, from the first paint (set before the page's modules run).
            await page.EmulateMediaAsync(new() { ColorScheme = ColorScheme.Light });
            await page.ReloadAsync(new() { WaitUntil = WaitUntilState.Commit });
            await page.WaitForSelectorAsync("body", new() { State = WaitForSelectorState.Attached });
            Assert.Equal("dark", await page.EvaluateAsync<string?>("document.documentElement.dataset.theme ?? null"));
            await Expect(body).ToHaveCSSAsync("background-color", Dark);

            // The charts draw in the theme's colours: their line is the dark theme's --chart-2.
            await Expect(page.Locator("#host-memory-chart")).Not.ToHaveAttributeAsync("data-points", "0");
            await DashboardTests.ExpectLineDrawnAsync(page, "#host-memory-chart canvas", "--chart-2");
            await Expect(page.Locator("header")).ToHaveCSSAsync("color", "rgb(230, 237, 243)");
            await page.ScreenshotAsync(new() { Path = Browser.ArtifactPath("dashboard-dark.png"), FullPage = true });
        });

        Assert.Empty(session.Problems);
    }
}
