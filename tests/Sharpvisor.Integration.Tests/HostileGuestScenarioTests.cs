namespace Sharpvisor.Integration.Tests;

/// <summary>
/// The test guest as a hostile driver against the real `sharpvisor run` (guests/testguest/hostile.c): each request
/// here hung the VMM, filled the host's disk or log, or killed the device before. Now each ends promptly, the
/// device goes on working, and the host's log stays short.
/// </summary>
public sealed class HostileGuestScenarioTests : IDisposable
{
    private const int GuestPassed = 1;
    private readonly string _dir = Directory.CreateTempSubdirectory("sharpvisor-hostile-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static void AssertPassed(ProcessResult result, string scenario)
    {
        Assert.True(result.ExitCode == GuestPassed, result.ToString());
        Assert.Contains($"PASS {scenario}", result.Stdout, StringComparison.Ordinal);
    }

    [KvmFact]
    public async Task AConsoleChainOfNearly4GiBIsDroppedAndTheConsoleGoesOn()
    {
        var result = await SharpvisorProcess.RunAsync(["run", "--memory", "256M", "--console", "virtio", "--cmdline", "hostile-console"]);
        AssertPassed(result, "hostile-console");
        Assert.Contains("hvc0 still works\n", result.Stdout, StringComparison.Ordinal);
    }

    [KvmFact]
    public async Task AWriteOfOverAGibibyteIsRefusedWithoutGrowingTheImage()
    {
        // A large sparse image, so the request is inside the disk: only the size cap stands between it and 1 GiB of writes.
        var image = Path.Combine(_dir, "big.img");
        await using (var file = File.Create(image))
        {
            file.SetLength(4L << 30);
        }

        var result = await SharpvisorProcess.RunAsync(["run", "--memory", "256M", "--disk", image, "--cmdline", "hostile-blk-huge"]);
        AssertPassed(result, "hostile-blk-huge");
        Assert.Contains("hostile-blk-huge: refused with IOERR", result.Stdout, StringComparison.Ordinal);
        Assert.Equal(4L << 30, new FileInfo(image).Length);
        using var du = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("du", ["--block-size=1", image]) { RedirectStandardOutput = true })!;
        var usage = await du.StandardOutput.ReadToEndAsync();
        await du.WaitForExitAsync();
        Assert.True(long.Parse(usage.Split('\t')[0], System.Globalization.CultureInfo.InvariantCulture) < 1 << 20, $"the image has blocks allocated: {usage}");
    }

    [KvmFact]
    public async Task AResetLoopWithABadQueueLogsAFewLinesNotOneACycle()
    {
        var result = await SharpvisorProcess.RunAsync(["run", "--rng", "--cmdline", "hostile-reset-loop cycles=2000"]);
        AssertPassed(result, "hostile-reset-loop");
        var deviceLines = result.Stderr.Split('\n').Count(l => l.Contains("virtio-", StringComparison.Ordinal));
        Assert.InRange(deviceLines, 1, 100);
    }
}

/// <summary>A VMM wedged by its guest (a device thread stuck writing output nobody reads, a vCPU resetting that device) still ends on SIGTERM.</summary>
public sealed class StuckVmmStopTests
{
    /// <summary>True once one of the process's threads sleeps in a pipe write (its stdout is full).</summary>
    private static bool BlockedOnPipe(int pid)
    {
        try
        {
            return Directory.GetDirectories($"/proc/{pid}/task").Any(task =>
            {
                try
                {
                    return File.ReadAllText(Path.Combine(task, "wchan")).Contains("pipe", StringComparison.Ordinal);
                }
                catch (IOException)
                {
                    return false;
                }
            });
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    [KvmFact]
    public async Task SigtermEndsAVmmWhoseDeviceThreadAndVcpuAreStuck()
    {
        var exitFile = Path.Combine(Path.GetTempPath(), $"sharpvisor-stall-{Guid.NewGuid():N}.json");
        using var process = ProcessRunner.Start(SharpvisorProcess.ExecutablePath, ["run", "--console", "virtio", "--exit-file", exitFile, "--cmdline", "hostile-console-stall"]);
        try
        {
            process.StandardInput.Close();
            var stderr = process.StandardError.ReadToEndAsync();
            var ceiling = TestTime.Ceiling(TimeSpan.FromMinutes(1));
            using (var seen = new CancellationTokenSource(ceiling))
            {
                // Read until the guest starts flooding, then never again: the pipe fills and the writers block.
                string? line;
                while ((line = await process.StandardOutput.ReadLineAsync(seen.Token)) is not null && !line.Contains("hostile-console-stall: flooding", StringComparison.Ordinal))
                {
                }

                Assert.NotNull(line);
            }

            var until = DateTime.UtcNow + ceiling;
            while (!BlockedOnPipe(process.Id) && DateTime.UtcNow < until && !process.HasExited)
            {
                await Task.Delay(50);
            }

            Assert.True(BlockedOnPipe(process.Id), "no thread of the VMM ever blocked on its full stdout");
            ProcessRunner.Terminate(process);
            using var exited = new CancellationTokenSource(ceiling);
            try
            {
                await process.WaitForExitAsync(exited.Token);
            }
            catch (OperationCanceledException)
            {
                Assert.Fail($"the VMM ignored SIGTERM for {ceiling}:\n{ProcessDiagnostics.Threads(process.Id)}\nstderr:\n{(stderr.IsCompleted ? stderr.Result : "")}");
            }

            Assert.Equal(0, process.ExitCode);
            Assert.Contains("stopped by the host", await File.ReadAllTextAsync(exitFile), StringComparison.Ordinal);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            File.Delete(exitFile);
        }
    }
}
