using Sharpvisor.Display.Rfb;
using Sharpvisor.Display.Tests.Support;

namespace Sharpvisor.Display.Tests;

/// <summary>ClientInit's shared flag.</summary>
public sealed class SharingTests
{
    [Fact]
    public async Task A_non_shared_client_disconnects_the_others()
    {
        await using var server = TestServer.Start(40, 30);
        await using var first = await server.ConnectReadyAsync(RfbEncodings.Raw);
        await using var second = await server.ConnectReadyAsync(RfbEncodings.Raw);

        await using var exclusive = await server.ConnectAsync();
        await exclusive.HandshakeAsync(shared: false);

        await first.WaitForCloseAsync();
        await second.WaitForCloseAsync();
        _ = await server.Log.WaitForAsync("asked for exclusive access");
        await exclusive.RequestUpdateAsync(incremental: false);
        _ = await exclusive.ReadUpdateAsync();
        Assert.Null(exclusive.Mismatch(server.Framebuffer));
    }

    [Fact]
    public async Task Shared_clients_all_stay()
    {
        await using var server = TestServer.Start(40, 30);
        await using var first = await server.ConnectReadyAsync(RfbEncodings.Raw);
        await using var second = await server.ConnectReadyAsync(RfbEncodings.Raw);
        await using var third = await server.ConnectReadyAsync(RfbEncodings.Raw);

        server.WriteRandom(new Rect(0, 0, 40, 30), seed: 1);
        foreach (var client in new[] { first, second, third })
        {
            await client.RequestUpdateAsync(incremental: true);
            _ = await client.ReadUpdateAsync();
            Assert.Null(client.Mismatch(server.Framebuffer));
        }

        Assert.Equal(3, server.Server.ClientCount);
    }
}
