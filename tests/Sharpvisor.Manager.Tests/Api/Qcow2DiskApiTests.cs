using System.Net;
using Sharpvisor.Api;
using Sharpvisor.Storage.Qcow2;

namespace Sharpvisor.Manager.Tests.Api;

/// <summary>
/// A definition's disk may be a qcow2 image (<c>"format": "qcow2"</c>): its backing chain is checked as the disk is
/// (regular files under the storage roots), and a VM started from it reads the template and writes only its overlay,
/// also when the VMM runs confined and may open no file by path (the jail opens the backing files for it).
/// </summary>
public sealed class Qcow2DiskApiTests : DaemonTest
{
    private const int SectorSize = 512;
    private const byte TemplateByte = 0xEE;

    /// <summary>A 1 MiB raw template of <see cref="TemplateByte"/> and a qcow2 overlay over it, in <paramref name="directory"/>.</summary>
    private static (string Template, string Overlay) TemplateAndOverlay(string directory, string? backingName = null)
    {
        var template = Path.Combine(directory, "template.raw");
        File.WriteAllBytes(template, Enumerable.Repeat(TemplateByte, 1 << 20).ToArray());
        var overlay = Path.Combine(directory, "overlay.qcow2");
        Qcow2Image.Create(overlay, 1 << 20, backingFile: backingName ?? "template.raw", backingFormat: "raw");
        return (template, overlay);
    }

    [Fact]
    public async Task A_qcow2_disk_is_defined_with_its_format_and_shown_with_it()
    {
        var (_, overlay) = TemplateAndOverlay(D.Directory);
        using var created = await D.Http.PostAsync("api/v1/vms", Json($$"""{"name":"thin","builtInGuest":"idle","memoryMiB":64,"disks":[{"path":"{{overlay}}","format":"qcow2"}]}"""));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var vm = await D.GetAsync("thin");
        Assert.Equal(new DiskSpec(overlay, false, "qcow2"), Assert.Single(vm.Disks));
    }

    [Fact]
    public async Task A_disk_without_a_format_is_raw_even_when_its_bytes_look_like_qcow2()
    {
        // Never probed: a guest that wrote a qcow2 header to its raw disk must not make it an overlay of a host file.
        var (_, overlay) = TemplateAndOverlay(D.Directory);
        await D.CreateAsync("plain");
        using var updated = await D.Http.PutAsync("api/v1/vms/plain", Json($$"""{"disks":[{"path":"{{overlay}}"}]}"""));
        Assert.Equal(HttpStatusCode.OK, updated.StatusCode);
        Assert.Equal("raw", Assert.Single((await D.GetAsync("plain")).Disks).Format);
    }

    [Fact]
    public async Task An_unknown_format_is_refused_naming_the_field()
    {
        var disk = Path.Combine(D.Directory, "disk.vhd");
        await File.WriteAllBytesAsync(disk, new byte[4096]);
        var (field, message, _) = await D.CreateRefusedAsync($$"""{"name":"vhd","builtInGuest":"idle","disks":[{"path":"{{disk}}","format":"vhd"}]}""");
        Assert.Equal(("disks[0].format", "must be raw or qcow2 (or left out: raw)"), (field, message));
    }

    [Fact]
    public async Task A_raw_file_given_as_qcow2_is_refused()
    {
        var disk = Path.Combine(D.Directory, "raw.img");
        await File.WriteAllBytesAsync(disk, new byte[4096]);
        var (field, message, _) = await D.CreateRefusedAsync($$"""{"name":"notq","builtInGuest":"idle","disks":[{"path":"{{disk}}","format":"qcow2"}]}""");
        Assert.Equal("disks[0].path", field);
        Assert.Contains("is not a qcow2 image", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_overlay_whose_backing_file_is_outside_the_storage_roots_is_refused()
    {
        // The overlay is under a root; what it names as its backing file is not: the VMM would read /etc/passwd.
        var overlay = Path.Combine(D.Directory, "sneaky.qcow2");
        Qcow2Image.Create(overlay, 1 << 20, backingFile: "/etc/passwd", backingFormat: "raw");
        var (field, message, _) = await D.CreateRefusedAsync($$"""{"name":"sneaky","builtInGuest":"idle","disks":[{"path":"{{overlay}}","format":"qcow2"}]}""");
        Assert.Equal("disks[0].path", field);
        Assert.Contains($"a backing file of '{overlay}'", message, StringComparison.Ordinal);
        Assert.Contains("'/etc/passwd' is outside the storage roots", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_overlay_whose_backing_file_is_missing_or_a_device_is_refused()
    {
        var missing = Path.Combine(D.Directory, "orphan.qcow2");
        Qcow2Image.Create(missing, 1 << 20, backingFile: "gone.raw", backingFormat: "raw");
        var (_, message, _) = await D.CreateRefusedAsync($$"""{"name":"orphan","builtInGuest":"idle","disks":[{"path":"{{missing}}","format":"qcow2"}]}""");
        Assert.Contains("gone.raw", message, StringComparison.Ordinal);
        Assert.Contains("does not exist", message, StringComparison.Ordinal);

        // A link under the root to a device node: a read would block or read the host's memory, never a template's.
        var link = Path.Combine(D.Directory, "zero.raw");
        File.CreateSymbolicLink(link, "/dev/zero");
        var device = Path.Combine(D.Directory, "device.qcow2");
        Qcow2Image.Create(device, 1 << 20, backingFile: "zero.raw", backingFormat: "raw");
        (_, message, _) = await D.CreateRefusedAsync($$"""{"name":"device","builtInGuest":"idle","disks":[{"path":"{{device}}","format":"qcow2"}]}""");
        Assert.Contains("a backing file of", message, StringComparison.Ordinal);
    }

    [KvmFact]
    public async Task A_VM_on_a_thin_overlay_reads_the_template_and_writes_only_the_overlay()
    {
        var (template, overlay) = TemplateAndOverlay(D.Directory);
        // The manager's own, as a template is: a confined VMM's uid cannot open it by path, only through the jail.
        File.SetUnixFileMode(template, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        const int start = 8, sectors = 16;
        using var created = await D.Http.PostAsync("api/v1/vms", Json($$"""
            {"name":"thin","builtInGuest":"virtio-blk","cmdline":"sectors={{sectors}} start={{start}}","memoryMiB":64,
             "disks":[{"path":"{{overlay}}","format":"qcow2"}]}
            """));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);

        var started = await D.ActOkAsync("thin", "start");
        Assert.True(started.State is "running" or "stopped", $"the VM did not start: {started.State} {started.ExitReason}");
        var ended = await VmWait.EndedAsync(D, "thin", TestTime.Ceiling(TimeSpan.FromSeconds(60)));
        Assert.True(ended.State == "stopped", $"the guest's disk test failed: {ended.State}, {ended.ExitReason}");

        // The template is untouched; the overlay holds the guest's sectors and shows the template everywhere else.
        Assert.All(await File.ReadAllBytesAsync(template), b => Assert.Equal(TemplateByte, b));
        using var image = Qcow2Image.Open(overlay, readOnly: true);
        var sector = new byte[SectorSize];
        for (var s = 0L; s < (1 << 20) / SectorSize; s++)
        {
            image.Read(s * SectorSize, sector);
            var written = s is >= start and < start + sectors;
            for (var i = 0; i < SectorSize; i++)
            {
                var expected = written ? (byte)(((s * 31) + (i * 7)) ^ 0x5A) : TemplateByte;
                Assert.True(sector[i] == expected, $"sector {s} byte {i}: 0x{sector[i]:x2}, expected 0x{expected:x2}");
            }
        }

        Assert.True(Qcow2Image.Check(overlay).IsClean, "the overlay the VMM wrote is not clean");
    }

    private static StringContent Json(string json) => TestDaemon.Json(json);
}
