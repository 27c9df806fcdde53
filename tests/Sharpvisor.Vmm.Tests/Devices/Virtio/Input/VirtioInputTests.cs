using System.Buffers.Binary;
using System.Text;
using Sharpvisor.Vmm.Devices.Virtio.Input;
using Sharpvisor.Vmm.Devices.Virtio.Transport;
using Sharpvisor.Vmm.Tests.Devices.Virtio.Transport;
using Buffer = Sharpvisor.Vmm.Tests.Devices.Virtio.Queue.Buffer;

namespace Sharpvisor.Vmm.Tests.Devices.Virtio.Input;

/// <summary>virtio-input through the PCI transport: what the config space says, and display input arriving as events.</summary>
public sealed class VirtioInputTests : IDisposable
{
    private readonly VirtioInput _keyboard = VirtioInput.CreateKeyboard();
    private readonly VirtioInput _tablet = VirtioInput.CreateTablet();
    private readonly VirtioPciDriver _keyboardDriver;
    private readonly VirtioPciDriver _tabletDriver;
    private readonly DisplayInput _input = new();

    public VirtioInputTests()
    {
        _keyboardDriver = new VirtioPciDriver(_keyboard);
        _tabletDriver = new VirtioPciDriver(_tablet);
        _input.Attach(_keyboard, _tablet);
    }

    public void Dispose()
    {
        _input.Attach(null, null);
        _keyboardDriver.Dispose();
        _tabletDriver.Dispose();
    }

    private static byte[] Config(VirtioPciDriver driver, byte select, byte subsel)
    {
        var at = driver.Cap(VirtioPciLayout.CapDevice).Offset;
        driver.BarWrite(at, select, 1);
        driver.BarWrite(at + 1, subsel, 1);
        var size = (int)driver.DeviceConfig(2, 1);
        return [.. Enumerable.Range(0, size).Select(i => (byte)driver.DeviceConfig(8 + i, 1))];
    }

    [Fact]
    public void TheConfigSpaceDescribesAKeyboardAndAnAbsoluteTablet()
    {
        Assert.Equal("Sharpvisor Keyboard", Encoding.ASCII.GetString(Config(_keyboardDriver, 0x01, 0)));
        Assert.Equal("Sharpvisor Tablet", Encoding.ASCII.GetString(Config(_tabletDriver, 0x01, 0)));
        var keys = Config(_keyboardDriver, 0x11, 0x01); // EV_BITS for EV_KEY
        Assert.True((keys[30 / 8] & (1 << (30 % 8))) != 0, "KEY_A is missing");
        Assert.Equal(0, keys[0] & 1); // code 0 (KEY_RESERVED) is no key
        var buttons = Config(_tabletDriver, 0x11, 0x01);
        Assert.Equal(0x07, buttons[0x110 / 8]); // BTN_LEFT, BTN_RIGHT, BTN_MIDDLE
        var axis = Config(_tabletDriver, 0x12, 0x00); // ABS_INFO for ABS_X
        Assert.Equal((0, 32767), (BinaryPrimitives.ReadInt32LittleEndian(axis), BinaryPrimitives.ReadInt32LittleEndian(axis.AsSpan(4))));
        Assert.Empty(Config(_tabletDriver, 0x12, 0x05)); // an axis it does not have
        Assert.Empty(Config(_keyboardDriver, 0x11, 0x03)); // the keyboard has no absolute axes
        Assert.Empty(Config(_keyboardDriver, 0x7F, 0));   // an unknown selector
        Assert.Equal(8, Config(_keyboardDriver, 0x03, 0).Length);
    }

    [Fact]
    public void KeysArriveInOrderEachFollowedByASyncReport()
    {
        _keyboardDriver.Start();
        var buffers = Post(_keyboardDriver, 6);
        _input.Key('x', 0, down: true);
        _input.Key(0, 0xE01D, down: true); // right Ctrl by its scancode
        _input.Key(0xffbe, 0, down: false); // F1 by its keysym
        Assert.Equal(6, _keyboardDriver.WaitForUsed(0, 6).Count);
        Assert.Equal(
            [(1, 45, 1u), (0, 0, 0u), (1, 97, 1u), (0, 0, 0u), (1, 59, 0u), (0, 0, 0u)],
            buffers.Select(b => Event(_keyboardDriver, b)));
    }

    [Fact]
    public void AKeyPressedAgainWhileHeldIsARepeatAndTheGuestRepeatsNothingItself()
    {
        Assert.Empty(Config(_keyboardDriver, 0x11, 0x14)); // no EV_REP bits: no autorepeat timed by the guest
        _keyboardDriver.Start();
        var buffers = Post(_keyboardDriver, 10);
        _input.Key('a', 0, down: true);
        _input.Key('a', 0, down: true); // the client's autorepeat
        _input.Key('a', 0, down: false);
        _input.Key('a', 0, down: true);
        _input.Attach(_keyboard, _tablet); // a rebuilt machine: nothing held
        _input.Key('a', 0, down: true);
        Assert.Equal(10, _keyboardDriver.WaitForUsed(0, 10).Count);
        Assert.Equal(
            [(1, 30, 1u), (1, 30, 2u), (1, 30, 0u), (1, 30, 1u), (1, 30, 1u)],
            buffers.Select(b => Event(_keyboardDriver, b)).Where(e => e.Type != 0));
    }

    [Fact]
    public void ThePointerIsScaledToTheTabletsAxesAndClampedToTheScreen()
    {
        _tabletDriver.Start();
        var buffers = Post(_tabletDriver, 8);
        _input.Pointer(-5, 99_999, 640, 480, buttons: 0);
        _input.Pointer(639, 0, 640, 480, buttons: 0b1_0100); // right button down, a wheel notch down
        Assert.Equal(8, _tabletDriver.WaitForUsed(0, 8).Count);
        Assert.Equal(
            [(3, 0, 0u), (3, 1, 32767u), (0, 0, 0u), (3, 0, 32767u), (3, 1, 0u), (1, 0x111, 1u), (2, 8, uint.MaxValue), (0, 0, 0u)],
            buffers.Select(b => Event(_tabletDriver, b)));
    }

    [Fact]
    public void AGuestThatPostsNoBuffersCannotMakeTheHostHoldInputForEver()
    {
        _keyboardDriver.Start();
        for (var i = 0; i < 2 * VirtioInput.MaxPendingEvents; i++)
        {
            _input.Key('a', 0, down: i % 2 == 0);
        }

        // Each report is the key and a SYN: half as many reports fit as events, the rest are dropped whole.
        Assert.Equal((2 * VirtioInput.MaxPendingEvents) - (VirtioInput.MaxPendingEvents / 2), _keyboard.Counters["dropped_events"]);
        var buffers = Post(_keyboardDriver, 2);
        _keyboardDriver.WaitForUsed(0, 2);
        Assert.Equal((1, 30, 1u), Event(_keyboardDriver, buffers[0])); // the first ones were kept, not the last
    }

    private static List<ulong> Post(VirtioPciDriver driver, int count)
    {
        var buffers = Enumerable.Range(0, count).Select(_ => driver.Allocate(8, 0xEE)).ToList();
        foreach (var buffer in buffers)
        {
            driver.Queues[0]!.Add(new Buffer(buffer, 8, Write: true));
        }

        driver.Kick(0);
        return buffers;
    }

    private static (int Type, int Code, uint Value) Event(VirtioPciDriver driver, ulong buffer)
    {
        var bytes = driver.ReadGuest(buffer, 8);
        return (BinaryPrimitives.ReadUInt16LittleEndian(bytes), BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(2)), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(4)));
    }
}
