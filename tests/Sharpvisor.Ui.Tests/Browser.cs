using Microsoft.Playwright;

namespace Sharpvisor.Ui.Tests;

/// <summary>Playwright on the system's chromium (never a downloaded browser), headless, with its network chatter off.</summary>
public sealed class Browser : IAsyncDisposable
{
    public const string ChromiumPath = "/usr/bin/chromium";

    private readonly IPlaywright _playwright;

    private Browser(IPlaywright playwright, IBrowser browser)
    {
        _playwright = playwright;
        Chromium = browser;
    }

    public IBrowser Chromium { get; }

    public static async Task<Browser> LaunchAsync()
    {
        Assert.True(File.Exists(ChromiumPath), $"{ChromiumPath} is missing: apt-get install chromium");
        var playwright = await Playwright.CreateAsync();
        try
        {
            var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = ChromiumPath,
                Headless = true,
                Args =
                [
                    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                ],
            });
            return new Browser(playwright, browser);
        }
        catch
        {
            playwright.Dispose();
            throw;
        }
    }

    /// <summary>A fresh page (own storage); everything it logs as an error or fails to load lands in <paramref name="problems"/>.</summary>
    public async Task<IPage> NewPageAsync(List<string> problems)
    {
        var context = await Chromium.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new() { Width = 1200, Height = 1000 } });
        var page = await context.NewPageAsync();
        page.Console += (_, message) =>
        {
            if (message.Type == "error")
            {
                lock (problems)
                {
                    // "Failed to load resource" names no URL in its text: the location says which one.
                    problems.Add($"console: {message.Text} [{message.Location}]");
                }
            }
        };
        page.PageError += (_, error) =>
        {
            lock (problems)
            {
                problems.Add($"page error: {error}");
            }
        };
        return page;
    }

    /// <summary>artifacts/ui/NAME at the repository's root (CI keeps artifacts/).</summary>
    public static string ArtifactPath(string name)
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Sharpvisor.slnx")))
        {
            directory = directory.Parent;
        }

        var root = directory?.FullName ?? throw new InvalidOperationException("no Sharpvisor.slnx above " + AppContext.BaseDirectory);
        var artifacts = Directory.CreateDirectory(Path.Combine(root, "artifacts", "ui"));
        return Path.Combine(artifacts.FullName, name);
    }

    public async ValueTask DisposeAsync()
    {
        await Chromium.DisposeAsync();
        _playwright.Dispose();
    }
}
