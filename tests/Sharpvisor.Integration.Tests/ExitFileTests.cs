using Sharpvisor.Control;

namespace Sharpvisor.Integration.Tests;

/// <summary>`sharpvisor run --exit-file PATH`: the VMM's own account of why it exited, one JSON line.</summary>
public sealed class ExitFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sv-exit-").FullName;

    private string ExitFile => Path.Combine(_dir, "vm.exit");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [KvmTheory]
    [InlineData("hello", "guest-exit", 1)]
    [InlineData("acpi-poweroff", "poweroff", 0)]
    [InlineData("reboot", "reset", 0)]
    [InlineData("triple-fault", "crash", 1)]
    public async Task RecordsHowTheVmEnded(string scenario, string kind, int status)
    {
        File.WriteAllText(ExitFile, """{"kind":"crash","status":9,"message":"stale"}""");
        var result = await SharpvisorProcess.RunAsync(["run", "--cmdline", scenario, "--exit-file", ExitFile]);
        Assert.True(result.ExitCode == status, result.ToString());
        var text = File.ReadAllText(ExitFile);
        Assert.EndsWith("}\n", text, StringComparison.Ordinal);
        var record = ExitRecord.TryRead(ExitFile);
        Assert.NotNull(record);
        Assert.Equal(kind, record.Kind);
        Assert.Equal(status, record.Status);
        Assert.NotEqual("stale", record.Message);
        Assert.False(File.Exists(ExitFile + ".tmp"));
    }

    [KvmFact]
    public async Task AStopFromTheHostIsASignal()
    {
        var result = await SharpvisorProcess.RunUntilAsync(["run", "--cmdline", "idle", "--exit-file", ExitFile], stdout => stdout.Contains("idle: ready", StringComparison.Ordinal));
        Assert.Equal(0, result.ExitCode);
        Assert.Equal("signal", ExitRecord.TryRead(ExitFile)?.Kind);
    }

    [Fact]
    public async Task AVmThatCannotStartIsRecordedAsAStartFailure()
    {
        // No KVM at this path, on any machine: the VMM fails before the guest runs, and says so in the file.
        var result = await SharpvisorProcess.RunAsync(["run", "--kvm", Path.Combine(_dir, "no-kvm"), "--exit-file", ExitFile]);
        Assert.True(result.ExitCode == 1, result.ToString());
        var record = ExitRecord.TryRead(ExitFile);
        Assert.Equal((ExitRecord.StartFailure, 1), (record?.Kind, record?.Status));
        Assert.Contains("no-kvm does not exist", record!.Message, StringComparison.Ordinal);

        // A kernel that is no kernel: a usage error, recorded with its status.
        var kernel = Path.Combine(_dir, "not-a-kernel");
        File.WriteAllText(kernel, "text");
        var bad = await SharpvisorProcess.RunAsync(["run", "--kernel", kernel, "--exit-file", ExitFile]);
        Assert.True(bad.ExitCode == 2, bad.ToString());
        Assert.Equal((ExitRecord.StartFailure, 2), (ExitRecord.TryRead(ExitFile)?.Kind, ExitRecord.TryRead(ExitFile)?.Status));
    }

    [Fact]
    public async Task AnUnwritablePlaceIsAUsageError()
    {
        var result = await SharpvisorProcess.RunAsync(["run", "--exit-file", Path.Combine(_dir, "no", "such", "dir", "vm.exit")]);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--exit-file", result.Stderr, StringComparison.Ordinal);
    }
}
