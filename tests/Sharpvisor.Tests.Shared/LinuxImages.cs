using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace Sharpvisor.Tests.Shared;

/// <summary>
/// The Linux guest images the slow tests boot, made by the scripts in guests/linux and cached outside the
/// repository (keyed by a hash of their inputs), so only the first run on a machine builds a kernel.
/// </summary>
public static partial class LinuxImages
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

    /// <summary>
    /// The release and version (<c>uname -r</c>, <c>uname -v</c>) of the kernel in <paramref name="vmlinux"/>, from the
    /// banner compiled into it ("Linux version 6.1.158 (user@host) (gcc ...) #1 SMP PREEMPT_DYNAMIC Fri Dec  4 ...").
    /// </summary>
    public static (string Release, string Version) KernelIdentity(string vmlinux)
    {
        var match = Banner().Match(Encoding.Latin1.GetString(File.ReadAllBytes(vmlinux)));
        return !match.Success ? throw new InvalidDataException($"{vmlinux} holds no Linux banner") : (match.Groups[1].Value, match.Groups[2].Value);
    }

    [GeneratedRegex(@"Linux version (\S+) \([^\n]*?\) (#\d+ [^\n\0]*)\n")]
    private static partial Regex Banner();

    /// <summary>Runs a script once per test run and returns the path it prints as its last line.</summary>
    private static Task<string> RunScriptAsync(string script, params string[] args) =>
        Outputs.GetOrAdd(string.Join(' ', [script, .. args]), name => new Lazy<Task<string>>(async () =>
        {
            var info = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
            info.ArgumentList.Add(Path.Combine(RepositoryRoot, "guests", "linux", script));
            foreach (var arg in args)
            {
                info.ArgumentList.Add(arg);
            }

            using var process = Process.Start(info)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(30));
            try
            {
                await process.WaitForExitAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"{name} did not finish in 30 minutes:\n{await stderr}");
            }

            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"{name} failed ({process.ExitCode}):\n{await stdout}\n{await stderr}");
            }

            var last = (await stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Last();
            return File.Exists(last) || Directory.Exists(last) ? last : throw new InvalidOperationException($"{name} printed '{last}', which does not exist");
        })).Value;
}
