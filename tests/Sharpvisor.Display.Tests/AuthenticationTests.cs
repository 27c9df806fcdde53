using System.Diagnostics;
using Sharpvisor.Display.Rfb;
using Sharpvisor.Display.Tests.Client;
using Sharpvisor.Display.Tests.Support;

namespace Sharpvisor.Display.Tests;

/// <summary>VNC authentication: the password, one-time tickets, their expiry, and the failure reason.</summary>
public sealed class AuthenticationTests
{
    [Theory]
    [InlineData(8)]
    [InlineData(7)]
    [InlineData(3)]
    public async Task The_right_password_passes(int minor)
    {
        await using var server = TestServer.Start(options: log => new RfbServerOptions { Log = log, Authentication = new VncAuthentication("s3cret!") });
        await using var client = await server.ConnectAsync();
        await client.HandshakeAsync(password: "s3cret!", minor: minor);
        Assert.Equal(100, client.Width);
    }

    [Fact]
    public async Task Only_the_first_eight_characters_count_as_in_every_vnc_server()
    {
        await using var server = TestServer.Start(options: log => new RfbServerOptions { Log = log, Authentication = new VncAuthentication("abcdefgh-ignored") });
        await using var client = await server.ConnectAsync();
        await client.HandshakeAsync(password: "abcdefghXYZ");
    }

    [Theory]
    [InlineData(8)]
    [InlineData(3)]
    public async Task A_wrong_password_fails_with_the_reason_where_the_version_has_one(int minor)
    {
        await using var server = TestServer.Start(options: log => new RfbServerOptions { Log = log, Authentication = new VncAuthentication("s3cret!") });
        await using var client = await server.ConnectAsync();

        var refused = await Assert.ThrowsAsync<RfbRefusedException>(() => client.HandshakeAsync(password: "guess", minor: minor));

        Assert.Equal(minor == 8 ? "authentication failed" : "", refused.Message);
        await client.WaitForCloseAsync();
        _ = await server.Log.WaitForAsync("authentication failed");
    }

    [Fact]
    public async Task A_failed_guess_is_answered_only_after_the_delay_and_the_right_password_at_once()
    {
        var delay = TimeSpan.FromMilliseconds(600);
        await using var server = TestServer.Start(options: log => new RfbServerOptions
        {
            Log = log,
            Authentication = new VncAuthentication("s3cret!"),
            AuthenticationFailureDelay = delay,
        });
        await using var guesser = await server.ConnectAsync();
        var stopwatch = Stopwatch.StartNew();

        _ = await Assert.ThrowsAsync<RfbRefusedException>(() => guesser.HandshakeAsync(password: "guess"));

        Assert.True(stopwatch.Elapsed >= delay, $"answered after {stopwatch.Elapsed}");
        await using var owner = await server.ConnectAsync();
        stopwatch.Restart();
        await owner.HandshakeAsync(password: "s3cret!");
        Assert.True(stopwatch.Elapsed < delay, $"the right password took {stopwatch.Elapsed}");
    }

    [Fact]
    public async Task A_guesser_that_hangs_up_before_the_answer_still_holds_its_place_for_the_delay()
    {
        await using var server = TestServer.Start(options: log => new RfbServerOptions
        {
            Log = log,
            Authentication = new VncAuthentication("s3cret!"),
            AuthenticationFailureDelay = TimeSpan.FromSeconds(5),
            MaxClients = 1,
        });
        var guesser = await server.ConnectAsync();
        var guessing = guesser.HandshakeAsync(password: "guess");
        await Task.Delay(300); // the guess arrives; its answer is held back
        await guesser.DisposeAsync();
        _ = await Assert.ThrowsAnyAsync<Exception>(() => guessing);

        // Else a guesser hangs up at once and guesses again: thousands of guesses a second through one place.
        await using var next = await server.ConnectAsync();
        var refused = await Assert.ThrowsAsync<RfbRefusedException>(() => next.HandshakeAsync(password: "s3cret!"));
        Assert.Contains("too many clients", refused.Message, StringComparison.Ordinal);

        // The guesser's session ends once its answer finds the connection gone; then the place is free.
        var stopwatch = Stopwatch.StartNew();
        while (server.Server.ClientCount > 0)
        {
            Assert.True(stopwatch.Elapsed < RfbTestClient.Ceiling, "the guesser's session never ended");
            await Task.Delay(50);
        }

        await using var owner = await server.ConnectAsync();
        await owner.HandshakeAsync(password: "s3cret!");
    }

    [Fact]
    public async Task A_ticket_works_once()
    {
        var authentication = new VncAuthentication();
        var ticket = authentication.IssueTicket(TimeSpan.FromMinutes(1));
        await using var server = TestServer.Start(options: log => new RfbServerOptions { Log = log, Authentication = authentication });

        await using (var first = await server.ConnectAsync())
        {
            await first.HandshakeAsync(password: ticket);
        }

        await using var second = await server.ConnectAsync();
        var refused = await Assert.ThrowsAsync<RfbRefusedException>(() => second.HandshakeAsync(password: ticket));
        Assert.Equal("authentication failed", refused.Message);
        Assert.Equal(0, authentication.LiveTickets);
    }

    [Fact]
    public async Task An_expired_ticket_fails_and_the_password_still_works()
    {
        var clock = new ManualClock();
        var authentication = new VncAuthentication("pass", clock);
        authentication.AddTicket("tick3t", TimeSpan.FromSeconds(30));
        clock.Advance(TimeSpan.FromSeconds(31));
        await using var server = TestServer.Start(options: log => new RfbServerOptions { Log = log, Authentication = authentication });

        await using var late = await server.ConnectAsync();
        _ = await Assert.ThrowsAsync<RfbRefusedException>(() => late.HandshakeAsync(password: "tick3t"));

        await using var owner = await server.ConnectAsync();
        await owner.HandshakeAsync(password: "pass");
    }

    [Fact]
    public void A_ticket_alive_until_its_expiry_counts_and_then_not()
    {
        var clock = new ManualClock();
        var authentication = new VncAuthentication(clock: clock);
        authentication.AddTicket("t1", TimeSpan.FromSeconds(10));
        clock.Advance(TimeSpan.FromSeconds(9));
        Assert.Equal(1, authentication.LiveTickets);
        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(0, authentication.LiveTickets);
    }

    [Theory]
    [InlineData("")]
    [InlineData("a\0b")]
    public void A_password_vnc_cannot_carry_is_refused_up_front(string password) =>
        Assert.Throws<ArgumentException>(() => new VncAuthentication(password));

    [Fact]
    public void A_ticket_longer_than_vnc_keeps_is_refused() =>
        Assert.Throws<ArgumentException>(() => new VncAuthentication().AddTicket("123456789", TimeSpan.FromSeconds(1)));

    [Fact]
    public void The_response_matches_the_server_side_des_for_the_same_password()
    {
        var challenge = Enumerable.Range(0, 16).Select(i => (byte)(i * 17)).ToArray();
        var key = VncDes.KeyFor("password", "password");
        Assert.Equal(RfbTestClient.VncResponse("password", challenge), VncDes.Encrypt(key, challenge));
        Assert.Equal(0x80, VncDes.ReverseBits(0x01));
        Assert.Equal(0x86, VncDes.ReverseBits(0x61)); // 'a' = 01100001 mirrored is 10000110
    }
}
