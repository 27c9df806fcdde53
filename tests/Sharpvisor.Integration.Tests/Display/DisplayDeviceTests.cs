using Sharpvisor.Cli;
using Sharpvisor.Display;
using Sharpvisor.Vmm.Devices.Virtio.Input;
using Sharpvisor.Vmm.Machine;

namespace Sharpvisor.Integration.Tests;

/// <summary>
/// virtio-gpu on /dev/kvm, in this process: the test guest's <c>display</c> scenario draws a pattern through the
/// device (resource, scattered backing, transfer, scanout, flush) and the head's framebuffer must hold it exactly.
/// </summary>
public sealed class DisplayDeviceTests
{
    private static readonly TimeSpan Limit = TestTime.Ceiling(TimeSpan.FromSeconds(60));

    [KvmFact]
    public void APatternTheGuestFlushesReachesTheFramebufferExactly()
    {
        var head = new Framebuffer(640, 480);
        var config = new VmConfig { Kernel = BuiltInGuest.Load(), CommandLine = "display", DisplayHeads = [head] };
        using var vm = new SnapshotTests.RunningMachine(config);
        vm.Serial.WaitFor(@"display: ready\n", Limit);
        Assert.Contains("display: 1 heads, head 0 640x480\n", vm.Serial.Text, StringComparison.Ordinal);
        Assert.Contains("display: hostile commands refused 0x1201 0x1205\n", vm.Serial.Text, StringComparison.Ordinal);
        AssertPattern(head, 640, 480);
    }

    [KvmFact]
    public void TheGuestShowsAnotherSizeOnOneOfSeveralHeads()
    {
        Framebuffer[] heads = [new(800, 600), new(1024, 768), new(320, 200)];
        var config = new VmConfig { Kernel = BuiltInGuest.Load(), CommandLine = "display width=300 height=100 rewidth=257 reheight=130", DisplayHeads = heads };
        using var vm = new SnapshotTests.RunningMachine(config);
        vm.Serial.WaitFor(@"display: ready\n", Limit);
        Assert.Contains("display: 3 heads, head 0 800x600\n", vm.Serial.Text, StringComparison.Ordinal);
        Assert.Contains("display: shown 300x100\ndisplay: shown 257x130\n", vm.Serial.Text, StringComparison.Ordinal);
        AssertPattern(heads[0], 257, 130);
        Assert.Equal((1024, 768), heads[1].Size); // the guest never touched the other heads
    }

    [KvmFact]
    public void AnAnimatingGuestRedrawsEveryHeadWholeFrameAfterFrame()
    {
        Framebuffer[] heads = [new(64, 32), new(64, 32)];
        var frames = heads.Select(head => new WholeFlushCounter(head)).ToArray();
        var config = new VmConfig { Kernel = BuiltInGuest.Load(), CommandLine = "display heads=2 animate=1", DisplayHeads = heads };
        using var vm = new SnapshotTests.RunningMachine(config);
        vm.Serial.WaitFor(@"display: frames 256\n", TestTime.Ceiling(TimeSpan.FromMinutes(3)));
        Assert.Contains("display: animating 2 heads\n", vm.Serial.Text, StringComparison.Ordinal);
        Assert.True(frames.All(counter => counter.Count >= 256), $"whole-head flushes: {frames[0].Count}, {frames[1].Count}");
        Assert.Equal(MachineState.Paused, vm.Machine.Pause()); // a still picture to check
        var rows = heads.Select(head => Enumerable.Range(0, 17).Single(offset => HasPattern(head, 64, 32, offset))).ToArray();
        Assert.InRange(rows[0], 0, 15); // head k shows rows k + frame % 16 on: a whole frame, never a torn one
        Assert.InRange(rows[1], 1, 16);
    }

    [KvmFact]
    public void KeysAndThePointerReachTheGuestAsLinuxInputEvents()
    {
        var input = new DisplayInput();
        var head = new Framebuffer(640, 480);
        var config = new VmConfig { Kernel = BuiltInGuest.Load(), CommandLine = "display input=6", DisplayHeads = [head], DisplayInput = input };
        using var vm = new SnapshotTests.RunningMachine(config);
        vm.Serial.WaitFor(@"input: ready\n", Limit);
        Assert.Contains("input: virtio-keyboard 'Sharpvisor Keyboard'\ninput: virtio-tablet 'Sharpvisor Tablet'\ninput: tablet x 0..32767\n", vm.Serial.Text, StringComparison.Ordinal);
        input.Key('a', 0, down: true);
        input.Key('A', 0, down: false);                  // the same key, whatever Shift did to its keysym
        input.Pointer(320, 240, 640, 480, buttons: 1);
        input.Key(0, 0xE048, down: true);                // the scancode of Up wins over a keysym
        vm.Serial.WaitFor(@"input: 6 events\n", Limit);
        // Each device's events in order; the guest polls the two devices in turn, so they interleave as they will.
        var text = vm.Serial.Text;
        var events = text[(text.IndexOf("input: ready\n", StringComparison.Ordinal) + 13)..text.IndexOf("input: 6 events", StringComparison.Ordinal)]
            .Split('\n', StringSplitOptions.RemoveEmptyEntries);
        string[] keyboard = ["input: key 30 1", "input: key 30 0", "input: key 103 1"];
        Assert.Equal(keyboard, events.Where(keyboard.Contains));
        Assert.Equal(["input: abs 0 16409", "input: abs 1 16417", "input: key 272 1"], events.Where(e => !keyboard.Contains(e)));
    }

    [KvmFact]
    public void ARestoredGuestShowsWhatItShowedWhenSaved()
    {
        var directory = Directory.CreateTempSubdirectory("sharpvisor-display-");
        try
        {
            var path = Path.Combine(directory.FullName, "vm.snap");
            var config = new VmConfig { Kernel = BuiltInGuest.Load(), CommandLine = "display width=200 height=150", DisplayHeads = [new Framebuffer(640, 480)] };
            using (var source = new SnapshotTests.RunningMachine(config))
            {
                source.Serial.WaitFor(@"display: ready\n", Limit);
                Assert.Equal(MachineState.Paused, source.Machine.Pause());
                source.Machine.SaveSnapshot(path);
                source.StopAndJoin();
            }

            // A new process would have new, black framebuffers: the restored device puts the guest's picture back.
            var head = new Framebuffer(640, 480);
            using var restored = new SnapshotTests.RunningMachine(config with { DisplayHeads = [head] }, restoreFrom: path);
            AssertPattern(head, 200, 150);
            Assert.Equal(MachineState.Paused, restored.Machine.Pause()); // and it runs: pausing answers
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    /// <summary>Counts the flushes that cover the whole head.</summary>
    private sealed class WholeFlushCounter : IFramebufferObserver
    {
        private readonly Rect _whole;
        private int _count;

        public WholeFlushCounter(Framebuffer head)
        {
            _whole = new Rect(0, 0, head.Width, head.Height);
            head.Subscribe(this);
        }

        public int Count => Volatile.Read(ref _count);

        public void Damaged(Rect area)
        {
            if (area == _whole)
            {
                Interlocked.Increment(ref _count);
            }
        }

        public void Resized(int width, int height)
        {
        }
    }

    /// <summary>Whether the head shows the guest's pattern from row <paramref name="rowOffset"/> on.</summary>
    private static bool HasPattern(Framebuffer head, int width, int height, int rowOffset)
    {
        var pixels = new byte[width * height * 4];
        head.CopyTo(new Rect(0, 0, width, height), pixels, width * 4);
        for (var at = 0; at < pixels.Length; at += 4)
        {
            var (x, y) = ((at / 4) % width, (at / 4 / width) + rowOffset);
            if (pixels[at] != (byte)x || pixels[at + 1] != (byte)y || pixels[at + 2] != (byte)(x + y))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Pixel (x, y) is bytes B = x, G = y, R = x + y (low 8 bits each), as the guest draws it.</summary>
    internal static void AssertPattern(Framebuffer head, int width, int height)
    {
        Assert.Equal((width, height), head.Size);
        var pixels = new byte[width * height * 4];
        head.CopyTo(new Rect(0, 0, width, height), pixels, width * 4);
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                var at = ((y * width) + x) * 4;
                Assert.True(
                    pixels[at] == (byte)x && pixels[at + 1] == (byte)y && pixels[at + 2] == (byte)(x + y),
                    $"pixel ({x}, {y}) is B {pixels[at]} G {pixels[at + 1]} R {pixels[at + 2]}");
            }
        }
    }
}
