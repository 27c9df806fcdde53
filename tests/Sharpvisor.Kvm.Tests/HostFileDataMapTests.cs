using Sharpvisor.Kvm.Host;

namespace Sharpvisor.Kvm.Tests;

/// <summary>lseek SEEK_DATA/SEEK_HOLE through <see cref="HostFile.NextData"/>: a sparse file's data found, its holes skipped.</summary>
public sealed class HostFileDataMapTests
{
    [Fact]
    public void A_sparse_files_data_is_found_between_its_holes()
    {
        var path = Path.Combine(Path.GetTempPath(), $"datamap-{Guid.NewGuid():N}.raw");
        try
        {
            using (var file = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite))
            {
                RandomAccess.SetLength(file, 64L << 20);
                RandomAccess.Write(file, new byte[] { 1 }, 16L << 20);
                RandomAccess.FlushToDisk(file);

                var first = HostFile.NextData(file, 0);
                Assert.NotNull(first);
                var (start, end) = first.Value;
                if (start == 0 && end == 64L << 20)
                {
                    return; // a file system without holes says all is data: nothing more to see here
                }

                Assert.True(start <= 16L << 20 && start > 0 && end > 16L << 20 && end < 64L << 20, $"data at [{start}, {end})");
                Assert.Null(HostFile.NextData(file, 32L << 20)); // only a hole to the end
                Assert.Equal((16L << 20, end), HostFile.NextData(file, 16L << 20));
            }
        }
        finally
        {
            File.Delete(path);
        }
    }
}
