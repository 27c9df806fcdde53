using System.Net.Http.Json;
using Microsoft.Playwright;
using Sharpvisor.Api;

namespace Sharpvisor.Ui.Tests;

/// <summary>A daemon, a browser and a page signed in with the daemon's token; a failure saves a screenshot.</summary>
public sealed class PageSession : IAsyncDisposable
{
    private readonly IUiDaemon _daemon;
    private string? _files;

    private PageSession(IUiDaemon daemon, Browser browser, IPage page, List<string> problems)
    {
        _daemon = daemon;
        Browser = browser;
        Page = page;
        Problems = problems;
    }

    /// <summary>The daemon in this process (of <see cref="OpenAsync(string?, string, TimeSpan?)"/>).</summary>
    public UiDaemon Daemon => _daemon as UiDaemon ?? throw new InvalidOperationException("this session's daemon runs in a process of its own");

    public Browser Browser { get; }

    public IPage Page { get; }

    /// <summary>Console errors and script errors of the page.</summary>
    public List<string> Problems { get; }

    /// <param name="kvmDevice">The daemon's KVM device (see <see cref="UiDaemon.StartAsync"/>); null: /dev/kvm.</param>
    /// <param name="hash">The page to show once signed in: the VM list by default (the address alone shows the dashboard).</param>
    /// <param name="metricsInterval">How often the daemon samples its metrics history; null: 1 s, so charts fill quickly.</param>
    public static async Task<PageSession> OpenAsync(string? kvmDevice = null, string hash = "#/vms", TimeSpan? metricsInterval = null) =>
        await OpenAsync(await UiDaemon.StartAsync(kvmDevice, metricsInterval ?? TimeSpan.FromSeconds(1)), hash);

    /// <summary>A browser and a page signed in to <paramref name="daemon"/>, which the session disposes (also when this fails).</summary>
    public static async Task<PageSession> OpenAsync(IUiDaemon daemon, string hash = "#/vms")
    {
        // Chromium's JIT under an emulated CPU (the nested KVM host) is many times slower than on hardware.
        var timeout = (float)TestTime.Ceiling(TimeSpan.FromSeconds(30)).TotalMilliseconds;
        Assertions.SetDefaultExpectTimeout(timeout);
        Browser? browser = null;
        try
        {
            browser = await Browser.LaunchAsync();
            var problems = new List<string>();
            var page = await browser.NewPageAsync(problems);
            page.SetDefaultTimeout(timeout);
            page.SetDefaultNavigationTimeout(timeout);
            await page.GotoAsync(daemon.UiUrl);
            await Assertions.Expect(page.Locator("#connection")).ToHaveTextAsync("Events: live");
            if (hash != "#/")
            {
                await page.EvaluateAsync("hash => { location.hash = hash; }", hash);
            }

            return new PageSession(daemon, browser, page, problems);
        }
        catch
        {
            if (browser is not null)
            {
                await browser.DisposeAsync();
            }

            await daemon.DisposeAsync();
            throw;
        }
    }

    /// <summary>Defines a VM behind the page's back (POST /api/v1/vms) and returns it as the API answered.</summary>
    public async Task<VmResource> CreateVmAsync(VmSpec spec)
    {
        using var response = await _daemon.Http.PostAsJsonAsync("api/v1/vms", spec, ApiJsonContext.Default.VmSpec);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync(ApiJsonContext.Default.VmResource))!;
    }

    /// <summary>A file under a temporary directory of this session (removed with it), for a definition's kernel path.</summary>
    public string TempFile(string relativePath, byte[] content)
    {
        _files ??= Directory.CreateTempSubdirectory("svu-files-").FullName;
        var path = Path.Combine(_files, relativePath);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, content);
        return path;
    }

    /// <summary>Changes only the address's hash, as typing an address into the same tab does (no reload).</summary>
    public Task GoToHashAsync(string hash) => Page.EvaluateAsync("hash => { location.hash = hash; }", hash);

    /// <summary>Runs the test's steps; on a failure, saves artifacts/ui/NAME-failure.png and adds the page's problems to the message.</summary>
    public async Task RunAsync(string name, Func<Task> steps)
    {
        try
        {
            await steps();
        }
        catch (Exception e) when (e is PlaywrightException or Xunit.Sdk.XunitException or TimeoutException)
        {
            await Page.ScreenshotAsync(new() { Path = Browser.ArtifactPath($"{name}-failure.png"), FullPage = true });
            throw new InvalidOperationException($"{e.Message}\npage problems: {string.Join("\n", Problems)}", e);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Browser.DisposeAsync();
        await _daemon.DisposeAsync();
        if (_files is not null)
        {
            Directory.Delete(_files, recursive: true);
        }
    }
}
