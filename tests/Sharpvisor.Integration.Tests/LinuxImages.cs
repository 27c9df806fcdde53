using System.Collections.Concurrent;

namespace Sharpvisor.Integration.Tests;

/// <summary>
/// The Linux guest images the slow tests boot, made by the scripts in guests/linux and cached outside the
/// repository (keyed by a hash of their inputs), so only the first run on a machine builds a kernel.
/// </summary>
internal static class LinuxImages
{
    private static readonly ConcurrentDictionary<string, Lazy<Task<string>>> Outputs = new(StringComparer.Ordinal);

    public static string RepositoryRoot => TestBinaries.RepositoryRoot;

    /// <summary>Our kernel's output directory (vmlinux, bzImage, ...).</summary>
    public static Task<string> KernelDirectoryAsync() => RunScriptAsync("build-kernel.sh");

    /// <summary>Our kernel without ACPI and without MSI (build-kernel.sh --variant minimal): vmlinux, bzImage.</summary>
    public static Task<string> MinimalKernelDirectoryAsync() => RunScriptAsync("build-kernel.sh", "--variant", "minimal");

    /// <summary>Our kernel with virtio-gpu, fbcon and virtio-input (build-kernel.sh --variant display): vmlinux, bzImage.</summary>
    public static Task<string> DisplayKernelDirectoryAsync() => RunScriptAsync("build-kernel.sh", "--variant", "display");

    /// <summary>
    /// The uncompressed initramfs the script writes beside its gzip one: on an emulating host the kernel
    /// spends minutes gunzipping 1 MiB, time the tests need not wait for.
    /// </summary>
    public static async Task<string> InitramfsAsync()
    {
        var gzip = await RunScriptAsync("build-initramfs.sh");
        var plain = Path.ChangeExtension(gzip, null);
        return File.Exists(plain) ? plain : gzip;
    }

    /// <summary>
    /// The cached ext4 root file system image (busybox and an /sbin/init script). A guest writes to its root disk:
    /// boot a copy (<see cref="RootfsCopyAsync"/>), never this file.
    /// </summary>
    public static Task<string> RootfsAsync() => RunScriptAsync("build-rootfs.sh");

    /// <summary>A private copy of the root file system image in <paramref name="directory"/>.</summary>
    public static async Task<string> RootfsCopyAsync(string directory)
    {
        var copy = Path.Combine(directory, "rootfs.ext4");
        File.Copy(await RootfsAsync(), copy, overwrite: true);
        return copy;
    }

    /// <summary>Debian's packaged kernel's output directory.</summary>
    public static Task<string> DebianKernelDirectoryAsync() => RunScriptAsync("fetch-debian-kernel.sh");

    /// <summary>Runs a script once per test run and returns the path it prints as its last line.</summary>
    private static Task<string> RunScriptAsync(string script, params string[] args) =>
        Outputs.GetOrAdd(string.Join(' ', [script, .. args]), name => new Lazy<Task<string>>(async () =>
        {
            var path = Path.Combine(RepositoryRoot, "guests", "linux", script);
            var result = await ProcessRunner.RunAsync("bash", [path, .. args], timeout: TimeSpan.FromMinutes(30));
            Assert.True(result.ExitCode == 0, $"{name} failed:\n{result}");
            var last = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Last();
            Assert.True(File.Exists(last) || Directory.Exists(last), $"{name} printed '{last}', which does not exist");
            return last;
        })).Value;
}
