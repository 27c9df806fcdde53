using System.Security.Cryptography;
using System.Text;

namespace Sharpvisor.Display.Rfb;

/// <summary>The handshake (RFC 6143 7.1 to 7.3): version, security, ClientInit, ServerInit.</summary>
internal sealed partial class RfbClientSession
{
    private const int VersionLength = 12;
    private const byte SecurityInvalid = 0;
    private const byte SecurityNone = 1;
    private const byte SecurityVnc = 2;
    private const int MaxReasonLength = 1024;

    private static ReadOnlySpan<byte> ServerVersion => "RFB 003.008\n"u8;

    /// <summary>Runs the handshake up to ClientInit within the handshake timeout; returns the shared flag.</summary>
    private async Task<bool> HandshakeAsync()
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        deadline.CancelAfter(Options.HandshakeTimeout);
        var token = deadline.Token;
        try
        {
            _output.Write(ServerVersion);
            await FlushAsync(token).ConfigureAwait(false);
            var minor = ParseVersion((await _input.ReadAsync(VersionLength, token).ConfigureAwait(false)).Span);
            if (_refuse)
            {
                await FailAsync(minor, $"too many clients (at most {Options.MaxClients})", token).ConfigureAwait(false);
            }

            await NegotiateSecurityAsync(minor, token).ConfigureAwait(false);
            return await _input.ReadByteAsync(token).ConfigureAwait(false) != 0;
        }
        catch (OperationCanceledException) when (!_stop.IsCancellationRequested)
        {
            throw new RfbProtocolException($"the handshake took longer than {Options.HandshakeTimeout.TotalSeconds:0.#} s");
        }
    }

    /// <summary>The minor version the session speaks: 3.3, 3.7 or 3.8 (RFC 6143 7.1.1: anything else unknown is 3.3).</summary>
    private static int ParseVersion(ReadOnlySpan<byte> version)
    {
        if (!version.StartsWith("RFB "u8) || version[7] != (byte)'.' || version[11] != (byte)'\n' ||
            !int.TryParse(version[4..7], System.Globalization.NumberStyles.None, null, out var major) ||
            !int.TryParse(version[8..11], System.Globalization.NumberStyles.None, null, out var minor))
        {
            throw new RfbProtocolException("the client's protocol version is not \"RFB xxx.yyy\"");
        }

        if (major != 3)
        {
            throw new RfbProtocolException($"unsupported protocol version {major}.{minor} (this server speaks 3.x)");
        }

        return minor >= 8 ? 8 : minor == 7 ? 7 : 3;
    }

    private async Task NegotiateSecurityAsync(int minor, CancellationToken token)
    {
        var authentication = Options.Authentication;
        var offered = authentication is null ? SecurityNone : SecurityVnc;
        if (minor == 3)
        {
            _output.WriteUInt32(offered); // 3.3: the server decides
        }
        else
        {
            _output.WriteByte(1);
            _output.WriteByte(offered);
            await FlushAsync(token).ConfigureAwait(false);
            var chosen = await _input.ReadByteAsync(token).ConfigureAwait(false);
            if (chosen != offered)
            {
                await FailSecurityAsync(minor, $"security type {chosen} was not offered", token).ConfigureAwait(false);
            }
        }

        if (authentication is not null)
        {
            var challenge = RandomNumberGenerator.GetBytes(VncDes.ChallengeSize);
            _output.Write(challenge);
            await FlushAsync(token).ConfigureAwait(false);
            var response = await _input.ReadAsync(VncDes.ChallengeSize, token).ConfigureAwait(false);
            if (!authentication.Verify(challenge, response.Span))
            {
                // Nothing is sent before the delay, so closing early does not free the connection for the next guess.
                await Task.Delay(Options.AuthenticationFailureDelay, token).ConfigureAwait(false);
                await FailSecurityAsync(minor, "authentication failed", token).ConfigureAwait(false);
            }
        }

        if (authentication is not null || minor == 8)
        {
            _output.WriteUInt32(0); // SecurityResult OK; 3.3 and 3.7 send none after None
        }

        await FlushAsync(token).ConfigureAwait(false);
    }

    /// <summary>Refuses before security: 3.3 as security type 0, later versions as an empty list, both with the reason.</summary>
    private async Task FailAsync(int minor, string reason, CancellationToken token)
    {
        if (minor == 3)
        {
            _output.WriteUInt32(SecurityInvalid);
        }
        else
        {
            _output.WriteByte(0);
        }

        WriteString(reason);
        await FlushAsync(token).ConfigureAwait(false);
        throw new RfbProtocolException($"refused: {reason}");
    }

    /// <summary>SecurityResult failed; only 3.8 carries the reason.</summary>
    private async Task FailSecurityAsync(int minor, string reason, CancellationToken token)
    {
        _output.WriteUInt32(1);
        if (minor == 8)
        {
            WriteString(reason);
        }

        await FlushAsync(token).ConfigureAwait(false);
        throw new RfbProtocolException(reason);
    }

    private async Task SendServerInitAsync(int width, int height)
    {
        _output.WriteUInt16(width);
        _output.WriteUInt16(height);
        RfbPixelFormat.Default.Write(_output.Append(RfbPixelFormat.Size));
        WriteString(Options.DesktopName);
        await FlushAsync(_stop.Token).ConfigureAwait(false);
    }

    private void WriteString(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var length = Math.Min(bytes.Length, MaxReasonLength);
        _output.WriteUInt32((uint)length);
        _output.Write(bytes.AsSpan(0, length));
    }
}
