using System.Globalization;
using Sharpvisor.Kvm.Host;

namespace Sharpvisor.Kvm.Tests;

/// <summary>The descriptors a launcher (the manager's jail) opened for the VMM, named by path.</summary>
public sealed class InheritedFilesTests
{
    [Fact]
    public void A_path_the_launcher_opened_is_read_through_its_descriptor_once()
    {
        var directory = Directory.CreateTempSubdirectory("inherited-").FullName;
        try
        {
            var kernel = Path.Combine(directory, "kernel");
            File.WriteAllBytes(kernel, [7, 8, 9]);
            var launcher = File.OpenHandle(kernel);
            var fd = launcher.DangerousGetHandle().ToInt32();
            launcher.SetHandleAsInvalid(); // the descriptor is now InheritedFiles' to hand out and close

            // The file is gone from its path: only the descriptor can still read it, as only the jail's can.
            File.Delete(kernel);
            InheritedFiles.Adopt(string.Create(CultureInfo.InvariantCulture, $"{fd} {kernel}\n"));

            Assert.Equal(new byte[] { 7, 8, 9 }, InheritedFiles.ReadAll(kernel));
            Assert.Null(InheritedFiles.ReadAll(kernel)); // taken once: the next open is an ordinary open
            Assert.Null(InheritedFiles.Take(Path.Combine(directory, "never-opened")));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Theory]
    [InlineData("x /disk.img")]
    [InlineData("5 relative/disk.img")]
    [InlineData("5 ")]
    [InlineData("5")]
    [InlineData("2 /disk.img")] // stderr is not a launcher's file
    [InlineData("-4 /disk.img")]
    [InlineData("99999999999 /disk.img")]
    public void A_malformed_list_is_refused_whole(string line)
    {
        var path = "/inherited-test/" + Guid.NewGuid().ToString("N");
        var error = Assert.Throws<IOException>(() => InheritedFiles.Adopt($"3 {path}\n{line}\n"));
        Assert.Contains(InheritedFiles.Variable, error.Message, StringComparison.Ordinal);
        Assert.Null(InheritedFiles.Take(path)); // not half adopted
    }
}
