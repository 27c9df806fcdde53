using Sharpvisor.Display.Rfb;
using Sharpvisor.Display.Tests.Support;
using static Sharpvisor.Display.Tests.Support.RecordingInput;

namespace Sharpvisor.Display.Tests;

/// <summary>Keys and the pointer reach the <see cref="IDisplayInput"/> with the client's exact values.</summary>
public sealed class InputTests
{
    [Fact]
    public async Task A_key_event_reaches_the_input_with_no_scancode()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectReadyAsync(RfbEncodings.Raw);

        await client.KeyAsync(down: true, 0xFF0D);
        await client.KeyAsync(down: false, 0x10000E9);

        Assert.Equal(new KeyEvent(0xFF0D, 0, true), await server.Input.NextAsync());
        Assert.Equal(new KeyEvent(0x10000E9, 0, false), await server.Input.NextAsync());
    }

    [Fact]
    public async Task A_pointer_event_reaches_the_input_with_the_screen_size()
    {
        await using var server = TestServer.Start(640, 480);
        await using var client = await server.ConnectReadyAsync(RfbEncodings.Raw);

        await client.PointerAsync(0b1_0101, 639, 7);

        Assert.Equal(new PointerEvent(639, 7, 640, 480, 0b1_0101), await server.Input.NextAsync());
    }

    [Theory]
    [InlineData(0x1Eu, 0x1Eu)] // A
    [InlineData(0xCDu, 0xE04Du)] // right arrow: 0xE0 0x4D sent as 0x80 | 0x4D
    [InlineData(0x9Du, 0xE01Du)] // right control
    [InlineData(0x1234u, 0u)] // not an XT scancode
    public async Task An_extended_key_event_reaches_the_input_with_its_scancode(uint keycode, uint scancode)
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectReadyAsync(RfbEncodings.Raw, RfbEncodings.QemuExtendedKeyEvent);

        await client.ExtendedKeyAsync(down: true, 0x61, keycode);
        await client.ExtendedKeyAsync(down: false, 0x61, keycode);

        Assert.Equal(new KeyEvent(0x61, scancode, true), await server.Input.NextAsync());
        Assert.Equal(new KeyEvent(0x61, scancode, false), await server.Input.NextAsync());
    }

    [Fact]
    public async Task A_client_asking_for_extended_key_events_is_told_they_are_welcome()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectAsync();
        await client.HandshakeAsync();
        await client.SetEncodingsAsync(RfbEncodings.Raw, RfbEncodings.QemuExtendedKeyEvent);

        await client.RequestUpdateAsync(incremental: false);
        var rects = await client.ReadUpdateAsync();

        Assert.Contains(rects, r => r.Encoding == RfbEncodings.QemuExtendedKeyEvent);
        Assert.True(client.KeyEventAcknowledged);
    }

    [Fact]
    public async Task Cut_text_within_the_limit_is_read_and_dropped()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectReadyAsync(RfbEncodings.Raw);

        await client.CutTextAsync(5, "hello"u8.ToArray());
        await client.KeyAsync(down: true, 0x20);

        Assert.Equal(new KeyEvent(0x20, 0, true), await server.Input.NextAsync());
    }
}
