using System.Security.Cryptography;

namespace Sharpvisor.Display.Rfb;

/// <summary>
/// VNC authentication (security type 2) for an <see cref="RfbServer"/>: a client passes when its DES response matches
/// the password or one live ticket. A ticket is a one-time password that also expires (the manager hands one to a
/// browser console); it is consumed by the first client that uses it. Like every VNC server, only the first 8 bytes
/// (UTF-8) of a password count, so a ticket is at most 8 characters. Thread-safe.
/// </summary>
public sealed class VncAuthentication
{
    /// <summary>The most tickets alive at once; issuing more drops the oldest.</summary>
    public const int MaxTickets = 64;

    /// <summary>The characters of generated tickets: 64 of them, so an 8-character ticket holds 48 random bits.</summary>
    private const string TicketAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    private readonly Lock _lock = new();
    private readonly TimeProvider _clock;
    private readonly List<(byte[] Key, DateTimeOffset Expires)> _tickets = [];
    private byte[]? _passwordKey;

    /// <summary>
    /// Loads the cipher now: the first DES use opens the platform's crypto library, which a process confined by a
    /// seccomp filter afterwards (the VMM) could no longer do.
    /// </summary>
    public static void Prepare() => _ = VncDes.Encrypt(VncDes.KeyFor("prepare", "password"), new byte[VncDes.ChallengeSize]);

    /// <summary>Starts with <paramref name="password"/> (null: tickets only) and the clock tickets expire by.</summary>
    public VncAuthentication(string? password = null, TimeProvider? clock = null)
    {
        _clock = clock ?? TimeProvider.System;
        SetPassword(password);
    }

    /// <summary>Replaces the password; null leaves only tickets.</summary>
    public void SetPassword(string? password)
    {
        var key = password is null ? null : VncDes.KeyFor(password, "password");
        lock (_lock)
        {
            _passwordKey = key;
        }
    }

    /// <summary>Makes a random 8-character ticket valid once, for <paramref name="lifetime"/>, and returns it.</summary>
    public string IssueTicket(TimeSpan lifetime)
    {
        var ticket = RandomNumberGenerator.GetString(TicketAlphabet, VncDes.KeySize);
        AddTicket(ticket, lifetime);
        return ticket;
    }

    /// <summary>Makes <paramref name="ticket"/> (1 to 8 ASCII characters) valid once, for <paramref name="lifetime"/>.</summary>
    public void AddTicket(string ticket, TimeSpan lifetime)
    {
        ArgumentNullException.ThrowIfNull(ticket);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(lifetime, TimeSpan.Zero);
        if (ticket.Length > VncDes.KeySize || !System.Text.Ascii.IsValid(ticket))
        {
            throw new ArgumentException($"a ticket is 1 to {VncDes.KeySize} ASCII characters (VNC uses no more)", nameof(ticket));
        }

        var key = VncDes.KeyFor(ticket, "ticket");
        lock (_lock)
        {
            RemoveExpired();
            if (_tickets.Count == MaxTickets)
            {
                _tickets.RemoveAt(0);
            }

            _tickets.Add((key, _clock.GetUtcNow() + lifetime));
        }
    }

    /// <summary>How many tickets are still usable.</summary>
    public int LiveTickets
    {
        get
        {
            lock (_lock)
            {
                RemoveExpired();
                return _tickets.Count;
            }
        }
    }

    /// <summary>Whether <paramref name="response"/> is the challenge encrypted with the password or a live ticket (which is then spent).</summary>
    internal bool Verify(ReadOnlySpan<byte> challenge, ReadOnlySpan<byte> response)
    {
        lock (_lock)
        {
            RemoveExpired();
            if (_passwordKey is not null && Matches(_passwordKey, challenge, response))
            {
                return true;
            }

            for (var i = 0; i < _tickets.Count; i++)
            {
                if (Matches(_tickets[i].Key, challenge, response))
                {
                    _tickets.RemoveAt(i);
                    return true;
                }
            }

            return false;
        }
    }

    private static bool Matches(byte[] key, ReadOnlySpan<byte> challenge, ReadOnlySpan<byte> response) =>
        CryptographicOperations.FixedTimeEquals(VncDes.Encrypt(key, challenge), response);

    private void RemoveExpired()
    {
        var now = _clock.GetUtcNow();
        _ = _tickets.RemoveAll(ticket => ticket.Expires <= now);
    }
}
