using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Sharpvisor.Cli;
using Sharpvisor.Vmm.Machine;
using Sharpvisor.Vmm.Memory;
using Sharpvisor.Vmm.State;

namespace Sharpvisor.Integration.Tests;

/// <summary>
/// Machine snapshots on /dev/kvm, in this process, with the test guest's `generation` scenario: it sweeps a RAM window
/// writing the sweep number into every page and checks each page still holds the previous sweep's number, so a page
/// lost or restored stale makes the guest itself fail, and a vCPU restored wrong crashes it.
/// </summary>
public sealed partial class SnapshotTests : IDisposable
{
    private static readonly TimeSpan Limit = TestTime.Ceiling(TimeSpan.FromSeconds(60));

    private readonly string _directory = Directory.CreateTempSubdirectory("sharpvisor-snapshot-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [KvmTheory]
    [InlineData(1, 512)]
    [InlineData(4, 512)]
    [InlineData(1, 4096)]
    [InlineData(4, 4096)]
    public void AGuestRestoredFromASnapshotGoesOnFromEveryPageAsItWasSaved(int cpus, int memoryMiB)
    {
        var path = Path.Combine(_directory, "vm.snap");
        var config = new VmConfig { Kernel = BuiltInGuest.Load(), CommandLine = $"generation mib=16 every=8 cpus={cpus}", Cpus = cpus, MemoryBytes = (ulong)memoryMiB << 20 };
        ulong window;
        ulong[] saved;
        ulong sweepAtSave;
        using (var source = new RunningMachine(config))
        {
            source.Serial.WaitFor(@"generation: 16\n", Limit);
            window = source.Serial.Window();
            Assert.Equal(MachineState.Paused, source.Machine.Pause());
            saved = Counters(source.Machine.Memory, window);
            sweepAtSave = source.Machine.Memory.Read<ulong>(new GuestAddress(window + 8));
            AssertSweepBoundaries(saved, cpus, sweepAtSave);

            var ramWritten = source.Machine.SaveSnapshot(path);
            // Sparse: the guest touched the 16 MiB window and its own image, not the rest of RAM.
            Assert.InRange(ramWritten, 16L << 20, 64L << 20);
            Assert.True(new FileInfo(path).Length >= (long)config.MemoryBytes, "the file must cover all of RAM, holes included");
            Assert.Equal(StopKind.HostRequest, source.StopAndJoin().Kind);
        }

        using var restored = new RunningMachine(config, restoreFrom: path, start: false);
        Assert.Equal(saved, Counters(restored.Machine.Memory, window));
        restored.Start();
        restored.Serial.WaitFor($@"generation: {(sweepAtSave / 8 + 3) * 8}\n", Limit);
        Assert.Equal(MachineState.Paused, restored.Machine.Pause());
        var after = Counters(restored.Machine.Memory, window);
        for (var page = 0; page < saved.Length; page++)
        {
            Assert.True(after[page] > saved[page], $"page {page} holds {after[page]}, not past its saved {saved[page]}");
        }

        Assert.DoesNotContain("FAIL", restored.Serial.Text, StringComparison.Ordinal);
        Assert.Equal(StopKind.HostRequest, restored.StopAndJoin().Kind);
    }

    [KvmFact]
    public void AnInterruptDrivenGuestWaitingForInputIsWokenByItAfterARestore()
    {
        // serial-echo sleeps in hlt until the UART's receive interrupt comes through the I/O APIC: the UART's interrupt
        // enable, the I/O APIC's route and the local APIC must all come back for a key to wake it.
        var path = Path.Combine(_directory, "echo.snap");
        var config = new VmConfig { Kernel = BuiltInGuest.Load(), CommandLine = "serial-echo" };
        using (var source = new RunningMachine(config))
        {
            source.Serial.WaitFor(@"serial-echo: ready\n", Limit);
            source.Machine.QueueConsoleInput("abc"u8);
            source.Serial.WaitFor(@"ready\nabc$", Limit);
            Assert.Equal(MachineState.Paused, source.Machine.Pause());
            source.Machine.SaveSnapshot(path);
            source.StopAndJoin();
        }

        using var restored = new RunningMachine(config, restoreFrom: path);
        restored.Machine.QueueConsoleInput("xyz\u0004"u8);
        restored.Serial.WaitFor(@"^xyz\nserial-echo: 6 bytes\nPASS serial-echo\n", Limit);
        Assert.Equal(StopKind.GuestExit, restored.Join().Kind);
    }

    [KvmFact]
    public void AGuestSweepingAVirtioDiskGoesOnAfterARestoreWithNoRequestLost()
    {
        // The guest reads every sector back before it rewrites it: a write the snapshot lost (taken but not done, or
        // done but its completion dropped) or a queue restored out of step makes it fail or hang.
        var path = Path.Combine(_directory, "disk.snap");
        var disk = Path.Combine(_directory, "disk.img");
        using (var image = File.Create(disk))
        {
            image.SetLength(1 << 20);
        }

        var config = new VmConfig
        {
            Kernel = BuiltInGuest.Load(),
            CommandLine = "virtio-blk-generation sectors=64 every=2",
            Disks = [new DiskConfig(disk)],
        };
        long sweep;
        using (var source = new RunningMachine(config))
        {
            source.Serial.WaitFor(@"virtio-blk-generation: 4\n", Limit);
            Assert.Equal(MachineState.Paused, source.Machine.Pause());
            source.Machine.SaveSnapshot(path);
            sweep = LastSweep(source.Serial.Text);
            source.StopAndJoin(); // the disk now holds what the snapshot's guest wrote, no more
        }

        using var restored = new RunningMachine(config, restoreFrom: path);
        restored.Serial.WaitFor($@"virtio-blk-generation: {sweep + 4}\n", Limit);
        Assert.DoesNotContain("FAIL", restored.Serial.Text, StringComparison.Ordinal);
        Assert.DoesNotContain("64 sectors", restored.Serial.Text, StringComparison.Ordinal); // no boot: it went on
        restored.StopAndJoin();
    }

    private static long LastSweep(string output) =>
        long.Parse(Regex.Matches(output, @"virtio-blk-generation: (\d+)\n")[^1].Groups[1].Value, CultureInfo.InvariantCulture);

    [KvmFact]
    public void GuestTimeAfterARestoreHasMovedOnByTheWallTimeSinceTheSave()
    {
        var path = Path.Combine(_directory, "clock.snap");
        var config = new VmConfig { Kernel = BuiltInGuest.Load(), CommandLine = "kvmclock every=50" };
        double before;
        using (var source = new RunningMachine(config))
        {
            before = GuestClockLead(source.Serial, 8);
            source.Machine.Pause();
            source.Machine.SaveSnapshot(path);
            source.StopAndJoin();
        }

        Thread.Sleep(500); // the guest's clock must move on by this too
        using var restored = new RunningMachine(config, restoreFrom: path);
        var after = GuestClockLead(restored.Serial, 8);
        Assert.True(Math.Abs(after - before) < 50e6, $"the guest's clock leads the host's by {before / 1e6:F1} ms before and {after / 1e6:F1} ms after the restore");
    }

    /// <summary>
    /// How far the guest's kvmclock is ahead of this process's monotonic clock (ns): the median over
    /// <paramref name="lines"/> lines of the kvmclock scenario's output, each timestamped on arrival.
    /// </summary>
    internal static double GuestClockLead(SerialCapture serial, int lines)
    {
        serial.WaitFor($@"(kvmclock: \d+\n[^\n]*){{{lines + 1}}}", Limit);
        var leads = serial.TimedLines()
            .Where(l => l.Line.StartsWith("kvmclock: ", StringComparison.Ordinal) && l.Line != "kvmclock: on")
            .Select(l => (double)long.Parse(l.Line["kvmclock: ".Length..], CultureInfo.InvariantCulture) - l.HostNs)
            .Order()
            .ToArray();
        return leads[leads.Length / 2];
    }

    [KvmFact]
    public void ASnapshotOfARunningVmIsRefusedAndTheVmGoesOn()
    {
        var config = new VmConfig { Kernel = BuiltInGuest.Load(), CommandLine = "generation mib=1 every=64" };
        using var vm = new RunningMachine(config);
        vm.Serial.WaitFor(@"generation: 64\n", Limit);
        var e = Assert.Throws<InvalidOperationException>(() => vm.Machine.SaveSnapshot(Path.Combine(_directory, "x.snap")));
        Assert.Contains("pause it first", e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_directory, "x.snap")));
        vm.Serial.WaitFor(@"generation: 128\n", Limit);
        vm.StopAndJoin();
    }

    [KvmFact]
    public void ARestoreIntoAVmOfAnotherSizeIsRefused()
    {
        var path = Path.Combine(_directory, "vm.snap");
        var config = new VmConfig { Kernel = BuiltInGuest.Load(), CommandLine = "generation mib=1 every=64", MemoryBytes = 64UL << 20 };
        using (var vm = new RunningMachine(config))
        {
            vm.Serial.WaitFor(@"generation: 64\n", Limit);
            vm.Machine.Pause();
            vm.Machine.SaveSnapshot(path);
            vm.StopAndJoin();
        }

        var e = Assert.Throws<StateException>(() => Machine.Restore(config with { MemoryBytes = 128UL << 20 }, path));
        Assert.Equal("the snapshot is of a VM with 1 vCPUs and 64 MiB, not 1 and 128 MiB", e.Message);
        e = Assert.Throws<StateException>(() => Machine.Restore(config with { Cpus = 2 }, path));
        Assert.StartsWith("the snapshot is of a VM with 1 vCPUs", e.Message, StringComparison.Ordinal);
    }

    /// <summary>Each page's generation counter (its first 8 bytes) in the 16 MiB window.</summary>
    internal static ulong[] Counters(GuestMemory memory, ulong window)
    {
        var pages = new ulong[(16 << 20) / 4096];
        for (var i = 0; i < pages.Length; i++)
        {
            pages[i] = memory.Read<ulong>(new GuestAddress(window + ((ulong)i * 4096)));
        }

        return pages;
    }

    /// <summary>
    /// Paused sweeps, one per vCPU over its own slice of the window: in each slice the pages before the vCPU's
    /// position hold its sweep's number and the rest the one before. The BSP's slice (the first) is in
    /// <paramref name="bspSweep"/>, which the guest keeps in the window's second word.
    /// </summary>
    internal static void AssertSweepBoundaries(ulong[] pages, int cpus, ulong bspSweep)
    {
        var sliceLength = pages.Length / cpus;
        for (var cpu = 0; cpu < cpus; cpu++)
        {
            var slice = pages.AsSpan(cpu * sliceLength, sliceLength).ToArray();
            var sweep = cpu == 0 ? bspSweep : slice.Max();
            var boundary = Array.FindIndex(slice, p => p != sweep);
            boundary = boundary < 0 ? slice.Length : boundary;
            for (var i = boundary; i < slice.Length; i++)
            {
                Assert.True(slice[i] == sweep - 1, $"vCPU {cpu}'s page {i} holds {slice[i]} in sweep {sweep} (boundary at {boundary})");
            }
        }
    }

    internal sealed class RunningMachine : IDisposable
    {
        private Thread? _thread;
        private StopReason? _reason;

        public RunningMachine(VmConfig config, string? restoreFrom = null, bool start = true)
        {
            config = config with { SerialOutput = Serial };
            Machine = restoreFrom is null ? Machine.Create(config) : Machine.Restore(config, restoreFrom);
            if (start)
            {
                Start();
            }
        }

        /// <summary>Runs a machine built elsewhere (a migration's destination), its serial output unseen until now.</summary>
        public RunningMachine(Machine machine, SerialCapture serial)
        {
            Serial = serial;
            Machine = machine;
            Start();
        }

        public SerialCapture Serial { get; } = new();

        public Machine Machine { get; }

        public void Start()
        {
            _thread = new Thread(() => _reason = Machine.Run()) { IsBackground = true };
            _thread.Start();
        }

        public StopReason StopAndJoin()
        {
            Machine.RequestStop(StopReason.Host("test"));
            return Join();
        }

        /// <summary>Waits for Run to return by itself.</summary>
        public StopReason Join()
        {
            Assert.True(_thread!.Join(Limit), "Run did not return");
            return _reason!;
        }

        public void Dispose()
        {
            if (_thread is { IsAlive: true })
            {
                Machine.RequestStop(StopReason.Host("test cleanup"));
                _thread.Join(Limit);
            }

            Machine.Dispose();
        }
    }

    /// <summary>The guest's COM1 output, with a wait for a pattern that fails on a guest FAIL line or the deadline.</summary>
    internal sealed partial class SerialCapture : Stream
    {
        private readonly StringBuilder _text = new();
        private readonly StringBuilder _line = new();
        private readonly List<(string Line, long HostNs)> _lines = [];

        public string Text
        {
            get
            {
                lock (_text)
                {
                    return _text.ToString();
                }
            }
        }

        /// <summary>Waits for <paramref name="pattern"/> in the output after its first <paramref name="after"/> characters.</summary>
        public void WaitFor(string pattern, TimeSpan limit, int after = 0)
        {
            var deadline = DateTime.UtcNow + limit;
            lock (_text)
            {
                while (!Regex.IsMatch(_text.ToString()[after..], pattern))
                {
                    var text = _text.ToString();
                    Assert.False(text.Contains("FAIL", StringComparison.Ordinal), $"the guest failed:\n{text}");
                    var left = deadline - DateTime.UtcNow;
                    Assert.True(left > TimeSpan.Zero, $"no /{pattern}/ from the guest in {limit}; it wrote:\n{text}");
                    Monitor.Wait(_text, left);
                }
            }
        }

        public ulong Window() => ulong.Parse(WindowLine().Match(Text).Groups[1].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);

        /// <summary>Each complete line with the host's clock (Stopwatch, in ns) when its newline arrived.</summary>
        public List<(string Line, long HostNs)> TimedLines()
        {
            lock (_text)
            {
                return [.. _lines];
            }
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            var now = (long)(Stopwatch.GetTimestamp() * (1e9 / Stopwatch.Frequency));
            lock (_text)
            {
                var text = Encoding.ASCII.GetString(buffer, offset, count);
                _text.Append(text);
                foreach (var c in text)
                {
                    if (c == '\n')
                    {
                        _lines.Add((_line.ToString(), now));
                        _line.Clear();
                    }
                    else
                    {
                        _line.Append(c);
                    }
                }

                Monitor.PulseAll(_text);
            }
        }

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        [GeneratedRegex(@"generation: window 0x([0-9a-f]+) ")]
        private static partial Regex WindowLine();
    }
}
