using System.Net;
using System.Net.Http.Json;
using Sharpvisor.Api;

namespace Sharpvisor.Manager.Tests.Api;

/// <summary>
/// An API token is not the host: a definition may name only files under the storage roots, links resolved, checked
/// when it is taken and again when the VM starts (the test daemon's root is the temporary directory).
/// </summary>
public sealed class StorageRootTests : DaemonTest
{
    private static async Task<(string Field, string Message)> RefusedAsync(HttpResponseMessage response)
    {
        var (field, message, _) = await TestDaemon.SingleFieldProblemAsync(response);
        return (field, message);
    }

    private async Task<(string Field, string Message)> CreateRefusedAsync(string json)
    {
        var (field, message, _) = await D.CreateRefusedAsync(json);
        return (field, message);
    }

    [Fact]
    public async Task TheShadowFileIsNotAKernel()
    {
        var (field, _) = await CreateRefusedAsync("""{"name":"shadow","kernel":"/etc/shadow"}""");
        Assert.Equal("kernel", field);
    }

    [Fact]
    public async Task AFileOutsideTheRootsIsRefusedNamingTheRoots()
    {
        var (field, message) = await CreateRefusedAsync("""{"name":"passwd","builtInGuest":"idle","disks":[{"path":"/etc/passwd"}]}""");
        Assert.Equal("disks[0].path", field);
        Assert.Contains("outside the storage roots", message, StringComparison.Ordinal);
        Assert.Contains(Path.GetTempPath().TrimEnd('/'), message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheManagersOwnTokenIsNotADiskEvenUnderARoot()
    {
        // The test daemon's root (the temporary directory) holds its data directory: the token is under a root.
        var token = D.Daemon.Token.Path;
        var (field, message) = await CreateRefusedAsync($$"""{"name":"token","builtInGuest":"idle","disks":[{"path":"{{token}}"}]}""");
        Assert.Equal("disks[0].path", field);
        Assert.Contains("inside the manager's data directory", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ALinkInsideARootToAFileOutsideIsRefused()
    {
        var link = Path.Combine(D.Directory, "innocent.img");
        File.CreateSymbolicLink(link, "/etc/passwd");
        var (field, message) = await CreateRefusedAsync($$"""{"name":"link","builtInGuest":"idle","disks":[{"path":"{{link}}"}]}""");
        Assert.Equal("disks[0].path", field);
        Assert.Contains("resolves to '/etc/passwd'", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnImageSwappedForALinkAfterCreateDoesNotStart()
    {
        var disk = Path.Combine(D.Directory, "disk.img");
        await File.WriteAllBytesAsync(disk, new byte[64 * 1024]);
        using (var created = await D.Http.PostAsJsonAsync("api/v1/vms", new VmSpec { Name = "swapped", BuiltInGuest = "idle", MemoryMiB = 64, Disks = [new DiskSpec(disk)] }, ApiJsonContext.Default.VmSpec))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }

        File.Delete(disk);
        File.CreateSymbolicLink(disk, "/etc/passwd");
        using var start = await D.Http.PostAsync("api/v1/vms/swapped/start", null);
        var (field, message) = await RefusedAsync(start);
        Assert.Equal("disks[0].path", field);
        Assert.Contains("resolves to '/etc/passwd'", message, StringComparison.Ordinal);
        var vm = await D.Http.GetFromJsonAsync("api/v1/vms/swapped", ApiJsonContext.Default.VmResource);
        Assert.NotEqual("running", vm!.State);
    }
}
