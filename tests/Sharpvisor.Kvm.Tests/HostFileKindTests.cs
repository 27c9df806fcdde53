using Sharpvisor.Kvm.Host;

namespace Sharpvisor.Kvm.Tests;

/// <summary>stat(2) through <see cref="HostFile.KindOf"/>: the mode bits are read at the right offset of struct stat.</summary>
public sealed class HostFileKindTests
{
    [Fact]
    public void Tells_files_directories_and_device_nodes_apart()
    {
        var directory = Directory.CreateTempSubdirectory("kind-").FullName;
        try
        {
            var file = Path.Combine(directory, "disk.img");
            File.WriteAllBytes(file, [1, 2, 3]);
            var link = Path.Combine(directory, "link.img");
            File.CreateSymbolicLink(link, file);

            Assert.Equal(HostFileKind.Regular, HostFile.KindOf(file));
            Assert.Equal(HostFileKind.Regular, HostFile.KindOf(link));
            Assert.Equal(HostFileKind.Directory, HostFile.KindOf(directory));
            Assert.Equal(HostFileKind.CharacterDevice, HostFile.KindOf("/dev/null"));
            Assert.Equal(HostFileKind.Missing, HostFile.KindOf(Path.Combine(directory, "missing")));
            Assert.Equal(HostFileKind.Missing, HostFile.KindOf(Path.Combine(file, "under-a-file")));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
