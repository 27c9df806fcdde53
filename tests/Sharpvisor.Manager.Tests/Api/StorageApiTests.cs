using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Sharpvisor.Api;
using Sharpvisor.Kvm.Host;
using Sharpvisor.Storage;
using Sharpvisor.Storage.Qcow2;

namespace Sharpvisor.Manager.Tests.Api;

/// <summary>
/// Storage pools through the API: each storage root is a named pool whose images are listed with their format, sizes,
/// backing file and users; images are made, uploaded, downloaded and deleted, held to the VMs that use them. A real
/// daemon with two pools ("gold" and "scratch"), real files.
/// </summary>
public sealed class StorageApiTests : IAsyncLifetime
{
    private TestDaemon? _daemon;

    private TestDaemon D => _daemon ?? throw new InvalidOperationException("not initialized");

    private string Gold => Path.Combine(D.Directory, "gold");

    public async Task InitializeAsync() => _daemon = await TestDaemon.StartAsync(null, pools: ["gold", "scratch"]);

    public async Task DisposeAsync()
    {
        if (_daemon is not null)
        {
            await _daemon.DisposeAsync();
        }
    }

    /// <summary>A qcow2 image of 4 MiB with <paramref name="data"/> at 1 MiB, made outside the pools.</summary>
    private string Qcow2File(string name, byte[] data)
    {
        var path = Path.Combine(D.Directory, name);
        Qcow2Image.Create(path, 4 << 20);
        using (var image = Qcow2Image.Open(path, readOnly: false))
        {
            image.Write(1 << 20, data);
            image.Flush();
        }

        return path;
    }

    private async Task<HttpResponseMessage> UploadAsync(string pool, string name, byte[] bytes)
    {
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        return await D.Http.PutAsync($"api/v1/pools/{pool}/images/{name}", content);
    }

    private async Task<ImageResource> CreatedAsync(HttpResponseMessage response)
    {
        using (response)
        {
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.Created, $"{response.StatusCode}: {body}");
            return System.Text.Json.JsonSerializer.Deserialize(body, ApiJsonContext.Default.ImageResource)!;
        }
    }

    private static async Task<string> RefusedAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        using (response)
        {
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == status, $"{response.StatusCode}: {body}");
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            return body;
        }
    }

    [Fact]
    public async Task Each_storage_root_is_a_pool_with_its_room_and_its_images()
    {
        await File.WriteAllBytesAsync(Path.Combine(Gold, "a.raw"), new byte[4096]);
        await File.WriteAllBytesAsync(Path.Combine(Gold, ".hidden"), new byte[512]); // an upload in progress looks so
        Directory.CreateDirectory(Path.Combine(Gold, "sub"));
        File.CreateSymbolicLink(Path.Combine(Gold, "link.raw"), "/etc/passwd"); // never listed nor served

        var pools = (await D.Http.GetFromJsonAsync("api/v1/pools", ApiJsonContext.Default.IReadOnlyListPoolResource))!;

        Assert.Equal(["gold", "scratch"], pools.Select(p => p.Name));
        var gold = pools[0];
        Assert.Equal((Gold, 1), (gold.Path, gold.ImageCount));
        Assert.True(gold.FreeBytes > 0 && gold.TotalBytes >= gold.FreeBytes, $"{gold.FreeBytes} of {gold.TotalBytes}");
        var image = Assert.Single((await D.Http.GetFromJsonAsync("api/v1/pools/gold/images", ApiJsonContext.Default.IReadOnlyListImageResource))!);
        Assert.Equal(("a.raw", "gold", Path.Combine(Gold, "a.raw"), "raw", 4096L), (image.Name, image.Pool, image.Path, image.Format, image.VirtualSizeBytes));
        await RefusedAsync(await D.Http.GetAsync("api/v1/pools/gold/images/link.raw/content"), HttpStatusCode.NotFound);
        await RefusedAsync(await D.Http.GetAsync("api/v1/pools/nowhere/images"), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task An_uploaded_qcow2_image_is_described_and_comes_back_byte_for_byte()
    {
        var data = Enumerable.Range(0, 8192).Select(i => (byte)(i * 7)).ToArray();
        var bytes = await File.ReadAllBytesAsync(Qcow2File("made.qcow2", data));

        var image = await CreatedAsync(await UploadAsync("gold", "disk.qcow2", bytes));

        Assert.Equal(("disk.qcow2", "qcow2", 4L << 20, (string?)null), (image.Name, image.Format, image.VirtualSizeBytes, image.BackingFile));
        using (var stored = Qcow2Image.Open(Path.Combine(Gold, "disk.qcow2"), readOnly: true))
        {
            var read = new byte[data.Length];
            stored.Read(1 << 20, read);
            Assert.Equal(data, read);
        }

        Assert.Equal(bytes, await D.Http.GetByteArrayAsync("api/v1/pools/gold/images/disk.qcow2/content"));
        using var range = new HttpRequestMessage(HttpMethod.Get, "api/v1/pools/gold/images/disk.qcow2/content");
        range.Headers.Range = new RangeHeaderValue(4, 7); // a download resumes where it broke off
        using var partial = await D.Http.SendAsync(range);
        Assert.Equal(HttpStatusCode.PartialContent, partial.StatusCode);
        Assert.Equal(bytes[4..8], await partial.Content.ReadAsByteArrayAsync());
        Assert.Empty(Directory.GetFiles(Gold, ".*")); // no staging file left behind
    }

    [Fact]
    public async Task An_upload_keeps_blocks_of_zeros_out_of_the_file()
    {
        var bytes = new byte[8 << 20];
        bytes[5 << 20] = 0x5A;

        var image = await CreatedAsync(await UploadAsync("scratch", "sparse.raw", bytes));

        Assert.Equal(("raw", 8L << 20), (image.Format, image.VirtualSizeBytes));
        Assert.True(image.ActualSizeBytes < 1 << 20, $"{image.ActualSizeBytes} bytes allocated for 64 KiB of data");
        Assert.Equal(bytes, await File.ReadAllBytesAsync(Path.Combine(D.Directory, "scratch", "sparse.raw")));
    }

    [Fact]
    public async Task Hostile_uploads_are_refused_and_leave_nothing_behind()
    {
        var good = await File.ReadAllBytesAsync(Qcow2File("good.qcow2", [1, 2, 3]));
        var truncated = good[..200]; // the header promises tables past the end

        Assert.Contains("not an image this host can use", await RefusedAsync(await UploadAsync("gold", "bad.qcow2", truncated), HttpStatusCode.BadRequest), StringComparison.Ordinal);
        Assert.Contains("\"name\"", await RefusedAsync(await UploadAsync("gold", ".sneaky", good), HttpStatusCode.BadRequest), StringComparison.Ordinal);
        await RefusedAsync(await UploadAsync("gold", "..%2F..%2Fescape", good), HttpStatusCode.BadRequest);
        await RefusedAsync(await UploadAsync("nowhere", "x.qcow2", good), HttpStatusCode.NotFound);
        await CreatedAsync(await UploadAsync("gold", "once.qcow2", good));
        Assert.Contains("already", await RefusedAsync(await UploadAsync("gold", "once.qcow2", [9, 9, 9]), HttpStatusCode.Conflict), StringComparison.Ordinal);

        Assert.Equal(["once.qcow2"], Directory.GetFileSystemEntries(Gold).Select(Path.GetFileName));
        Assert.Equal(good, await File.ReadAllBytesAsync(Path.Combine(Gold, "once.qcow2")));
        Assert.Empty(Directory.GetFileSystemEntries(D.Directory, "escape*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task A_header_naming_a_host_file_is_refused_and_never_opened()
    {
        // An upload's backing file must be an image of its pool, named without a directory.
        var overlay = Path.Combine(D.Directory, "evil.qcow2");
        Qcow2Image.Create(overlay, 1 << 20, backingFile: "/etc/passwd", backingFormat: "raw");
        Assert.Contains("not an image name of this pool", await RefusedAsync(await UploadAsync("gold", "evil.qcow2", await File.ReadAllBytesAsync(overlay)), HttpStatusCode.BadRequest), StringComparison.Ordinal);

        // One already in the pool (put there by hand) whose backing file is a FIFO: opening that would block for ever.
        var fifo = Path.Combine(D.Directory, "pipe");
        using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", fifo))
        {
            await mkfifo.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.Equal(0, mkfifo.ExitCode);
        }

        Qcow2Image.Create(Path.Combine(Gold, "trap.qcow2"), 1 << 20, backingFile: fifo, backingFormat: "qcow2");
        await File.WriteAllBytesAsync(Path.Combine(Gold, "plain.raw"), new byte[4096]);

        var images = (await D.Http.GetFromJsonAsync("api/v1/pools/gold/images", ApiJsonContext.Default.IReadOnlyListImageResource))!;
        Assert.Equal(fifo, images.Single(i => i.Name == "trap.qcow2").BackingFile);
        var trap = Path.Combine(Gold, "trap.qcow2");
        var (field, message, _) = await D.CreateRefusedAsync($$"""{"name":"trapped","builtInGuest":"idle","disks":[{"path":"{{trap}}","format":"qcow2"}]}""");
        Assert.Equal("disks[0].path", field);
        Assert.Contains("FIFO", message, StringComparison.Ordinal);
        using var deleted = await D.Http.DeleteAsync("api/v1/pools/gold/images/plain.raw"); // walks every overlay's chain
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
    }

    [Fact]
    public async Task An_image_the_file_system_cannot_hold_is_refused_and_leaves_no_file()
    {
        // 1 PiB of raw: ext4 and most file systems stop far below (EFBIG); tmpfs and xfs may make it, sparse.
        using var response = await D.Http.PostAsync("api/v1/pools/gold/images", TestDaemon.Json("""{"name":"vast.raw","format":"raw","sizeBytes":1125899906842624}"""));
        if (response.StatusCode == HttpStatusCode.Created)
        {
            return;
        }

        Assert.Contains("could not be made", await RefusedAsync(response, HttpStatusCode.BadRequest), StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(Gold));
    }

    [Fact]
    public async Task Images_are_made_empty_or_as_overlays_over_an_image_of_the_pool()
    {
        var base_ = await CreatedAsync(await D.Http.PostAsync("api/v1/pools/gold/images", TestDaemon.Json("""{"name":"base.raw","format":"raw","sizeBytes":2097152}""")));
        Assert.Equal(("raw", 2L << 20), (base_.Format, base_.VirtualSizeBytes));
        Assert.True(base_.ActualSizeBytes < 64 * 1024, "a new raw image is sparse");

        var overlay = await CreatedAsync(await D.Http.PostAsync("api/v1/pools/gold/images", TestDaemon.Json("""{"name":"desk.qcow2","backing":"base.raw"}""")));

        Assert.Equal(("qcow2", 2L << 20, "base.raw"), (overlay.Format, overlay.VirtualSizeBytes, overlay.BackingFile));
        Assert.Equal([(Path.Combine(Gold, "base.raw"), DiskFormat.Raw)], Qcow2Image.BackingFiles(overlay.Path));
        Assert.Contains("sizeBytes", await RefusedAsync(await D.Http.PostAsync("api/v1/pools/gold/images", TestDaemon.Json("""{"name":"odd.qcow2","sizeBytes":1000}""")), HttpStatusCode.BadRequest), StringComparison.Ordinal);
        Assert.Contains("sizeBytes", await RefusedAsync(await D.Http.PostAsync("api/v1/pools/gold/images", TestDaemon.Json("""{"name":"huge.qcow2","sizeBytes":9223372036854775807}""")), HttpStatusCode.BadRequest), StringComparison.Ordinal);
        Assert.Contains("format", await RefusedAsync(await D.Http.PostAsync("api/v1/pools/gold/images", TestDaemon.Json("""{"name":"x.vhd","format":"vhd","sizeBytes":512}""")), HttpStatusCode.BadRequest), StringComparison.Ordinal);
        await RefusedAsync(await D.Http.PostAsync("api/v1/pools/gold/images", TestDaemon.Json("""{"name":"y.qcow2","backing":"missing.raw"}""")), HttpStatusCode.NotFound);
        await RefusedAsync(await D.Http.PostAsync("api/v1/pools/gold/images", TestDaemon.Json("""{"name":"base.raw","sizeBytes":512}""")), HttpStatusCode.Conflict);
        Assert.Equal(2L << 20, new FileInfo(Path.Combine(Gold, "base.raw")).Length); // not replaced
    }

    [Fact]
    public async Task An_image_in_use_is_not_deleted_and_an_unused_one_is()
    {
        await CreatedAsync(await D.Http.PostAsync("api/v1/pools/gold/images", TestDaemon.Json("""{"name":"base.raw","format":"raw","sizeBytes":1048576}""")));
        var overlay = await CreatedAsync(await D.Http.PostAsync("api/v1/pools/gold/images", TestDaemon.Json("""{"name":"desk.qcow2","backing":"base.raw"}""")));
        using (var created = await D.Http.PostAsync("api/v1/vms", TestDaemon.Json($$"""{"name":"desk","builtInGuest":"idle","memoryMiB":64,"disks":[{"path":"{{overlay.Path}}","format":"qcow2"}]}""")))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }

        var listed = (await D.Http.GetFromJsonAsync("api/v1/pools/gold/images", ApiJsonContext.Default.IReadOnlyListImageResource))!;
        Assert.Equal([["desk"], ["desk"]], listed.Select(i => i.UsedBy)); // base.raw read below the overlay, desk.qcow2 itself
        Assert.Contains("'desk'", await RefusedAsync(await D.Http.DeleteAsync("api/v1/pools/gold/images/desk.qcow2"), HttpStatusCode.Conflict), StringComparison.Ordinal);
        Assert.Contains("'desk'", await RefusedAsync(await D.Http.DeleteAsync("api/v1/pools/gold/images/base.raw"), HttpStatusCode.Conflict), StringComparison.Ordinal);

        using (var deleted = await D.Http.DeleteAsync("api/v1/vms/desk"))
        {
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        }

        Assert.Contains("overlay over 'base.raw'", await RefusedAsync(await D.Http.DeleteAsync("api/v1/pools/gold/images/base.raw"), HttpStatusCode.Conflict), StringComparison.Ordinal);
        using (var gone = await D.Http.DeleteAsync("api/v1/pools/gold/images/desk.qcow2"))
        {
            Assert.Equal(HttpStatusCode.NoContent, gone.StatusCode);
        }

        using (var gone = await D.Http.DeleteAsync("api/v1/pools/gold/images/base.raw"))
        {
            Assert.Equal(HttpStatusCode.NoContent, gone.StatusCode);
        }

        Assert.Empty(Directory.GetFiles(Gold));
        await RefusedAsync(await D.Http.DeleteAsync("api/v1/pools/gold/images/base.raw"), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task A_download_link_takes_the_token_in_its_query_and_nothing_else_does()
    {
        await File.WriteAllBytesAsync(Path.Combine(Gold, "a.raw"), [1, 2, 3, 4]);
        using var anonymous = D.NewClient(token: null);

        Assert.Equal([1, 2, 3, 4], await anonymous.GetByteArrayAsync($"api/v1/pools/gold/images/a.raw/content?access_token={D.Daemon.Token.Value}"));
        await RefusedAsync(await anonymous.GetAsync("api/v1/pools/gold/images/a.raw/content"), HttpStatusCode.Unauthorized);
        await RefusedAsync(await anonymous.GetAsync($"api/v1/pools/gold/images?access_token={D.Daemon.Token.Value}"), HttpStatusCode.Unauthorized);
    }

    [KvmFact]
    public async Task An_image_a_running_VM_writes_is_not_downloaded_until_it_stops()
    {
        await CreatedAsync(await D.Http.PostAsync("api/v1/pools/gold/images", TestDaemon.Json("""{"name":"data.raw","format":"raw","sizeBytes":1048576}""")));
        using (var created = await D.Http.PostAsync("api/v1/vms", TestDaemon.Json($$"""{"name":"writer","builtInGuest":"idle","memoryMiB":64,"disks":[{"path":"{{Path.Combine(Gold, "data.raw")}}"}]}""")))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }

        await D.ActOkAsync("writer", "start");
        Assert.Contains("'writer' is running", await RefusedAsync(await D.Http.GetAsync("api/v1/pools/gold/images/data.raw/content"), HttpStatusCode.Conflict), StringComparison.Ordinal);

        await D.ActOkAsync("writer", "kill");
        Assert.Equal(1L << 20, (await D.Http.GetByteArrayAsync("api/v1/pools/gold/images/data.raw/content")).LongLength);
        Assert.Equal(HostFileKind.Regular, HostFile.KindOf(Path.Combine(Gold, "data.raw")));
    }
}
