using System.Net;
using Microsoft.Playwright;
using Sharpvisor.Api;
using Sharpvisor.Storage;
using Sharpvisor.Storage.Qcow2;
using static Microsoft.Playwright.Assertions;

namespace Sharpvisor.Ui.Tests;

/// <summary>
/// The storage page in Chromium on a real daemon: the pools with their room, an image uploaded from a file, a thin
/// overlay made over it, the VM using them named beside each (and their Delete held back), a download that brings the
/// same bytes back, and a delete. Every step is checked against the files the daemon wrote.
/// </summary>
public sealed class StorageTests
{
    [ChromiumFact]
    public async Task Images_are_uploaded_overlaid_downloaded_and_deleted_from_the_storage_page()
    {
        await using var session = await PageSession.OpenAsync(hash: "#/");
        var page = session.Page;
        page.Dialog += (_, dialog) => dialog.AcceptAsync(); // "Delete the image ...?"
        await session.RunAsync("storage", async () =>
        {
            var pool = session.Daemon.PoolDirectory;
            var content = Enumerable.Range(0, 1 << 20).Select(i => (byte)(i % 253)).ToArray();
            var source = session.TempFile("upload/gold.raw", content);

            await page.GetByRole(AriaRole.Link, new() { Name = "Storage" }).ClickAsync();
            var pools = page.GetByRole(AriaRole.Table, new() { Name = "Storage pools" });
            await Expect(pools.Locator("tr", new() { HasText = "desktops" })).ToContainTextAsync(pool);
            await Expect(page.Locator("#pool-select")).ToHaveValueAsync("desktops");
            await Expect(page.Locator("#image-empty")).ToBeVisibleAsync();

            await page.GetByLabel("Image file (raw or qcow2)").SetInputFilesAsync(source);
            await page.GetByRole(AriaRole.Button, new() { Name = "Upload" }).ClickAsync();
            await Expect(page.Locator("#storage-message")).ToHaveTextAsync("Uploaded gold.raw (raw, 1 MiB).");
            Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(pool, "gold.raw")));

            var newImage = page.GetByRole(AriaRole.Form, new() { Name = "New image" });
            await newImage.GetByLabel("Name").FillAsync("desk.qcow2");
            await newImage.GetByLabel("Overlay over").SelectOptionAsync("gold.raw");
            await page.GetByRole(AriaRole.Button, new() { Name = "Create image" }).ClickAsync();
            await Expect(page.Locator("#storage-message")).ToHaveTextAsync("Created desk.qcow2 (qcow2, 1 MiB).");
            var images = page.GetByRole(AriaRole.Table, new() { Name = "Images" });
            var overlayRow = images.Locator("tr[data-image='desk.qcow2']");
            await Expect(overlayRow.Locator("td[data-label='Backing']")).ToHaveTextAsync("gold.raw");
            Assert.Equal([(Path.Combine(pool, "gold.raw"), DiskFormat.Raw)], Qcow2Image.BackingFiles(Path.Combine(pool, "desk.qcow2")));

            // A VM on the overlay: both images name it, and neither may go while it is defined.
            await session.CreateVmAsync(new VmSpec { Name = "desk", BuiltInGuest = "idle", MemoryMiB = 64, Disks = [new DiskSpec(Path.Combine(pool, "desk.qcow2"), Format: "qcow2")] });
            await session.GoToHashAsync("#/vms");
            await session.GoToHashAsync("#/storage");
            var goldRow = images.Locator("tr[data-image='gold.raw']");
            await Expect(goldRow.Locator("td[data-label='Used by']")).ToHaveTextAsync("desk");
            await Expect(overlayRow.Locator("td[data-label='Used by']")).ToHaveTextAsync("desk");
            await Expect(goldRow.GetByRole(AriaRole.Button, new() { Name = "Delete" })).ToBeDisabledAsync();
            await page.ScreenshotAsync(new() { Path = Browser.ArtifactPath("storage.png"), FullPage = true });

            var download = await page.RunAndWaitForDownloadAsync(() => goldRow.GetByRole(AriaRole.Link, new() { Name = "Download" }).ClickAsync());
            Assert.Equal("gold.raw", download.SuggestedFilename);
            var saved = Path.Combine(Path.GetDirectoryName(source)!, "downloaded.raw");
            await download.SaveAsAsync(saved);
            Assert.Equal(content, await File.ReadAllBytesAsync(saved));

            using (var deleted = await session.Daemon.Http.DeleteAsync("api/v1/vms/desk"))
            {
                Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
            }

            await session.GoToHashAsync("#/vms");
            await session.GoToHashAsync("#/storage");
            await overlayRow.GetByRole(AriaRole.Button, new() { Name = "Delete" }).ClickAsync();
            await Expect(page.Locator("#storage-message")).ToHaveTextAsync("Deleted desk.qcow2.");
            await Expect(overlayRow).ToHaveCountAsync(0);
            Assert.False(File.Exists(Path.Combine(pool, "desk.qcow2")));
            await Expect(goldRow.GetByRole(AriaRole.Button, new() { Name = "Delete" })).ToBeEnabledAsync();
        });

        Assert.Empty(session.Problems);
    }
}
