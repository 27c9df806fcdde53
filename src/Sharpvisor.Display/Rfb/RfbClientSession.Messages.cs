using System.Buffers.Binary;

namespace Sharpvisor.Display.Rfb;

/// <summary>The reader task: client-to-server messages (RFC 6143 7.5, rfbproto's QEMU and SetDesktopSize extensions).</summary>
internal sealed partial class RfbClientSession
{
    /// <summary>The longest ClientCutText read (and dropped); real clipboards are far smaller.</summary>
    public const int MaxCutText = 1 << 20;

    /// <summary>SetDesktopSize answers waiting at once; a client asking faster than it reads is dropped.</summary>
    private const int MaxPendingSizeRequests = 64;

    private async Task ReadLoopAsync(CancellationToken stop)
    {
        using var message = CancellationTokenSource.CreateLinkedTokenSource(stop);
        while (true)
        {
            _inMessage = false;
            var type = await _input.ReadByteAsync(message.Token).ConfigureAwait(false);
            _inMessage = true;
            message.CancelAfter(Options.MessageTimeout); // once started, a message must finish
            try
            {
                await ReadMessageAsync(type, message.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!stop.IsCancellationRequested)
            {
                throw new RfbProtocolException($"message type {type} took longer than {Options.MessageTimeout.TotalSeconds:0.#} s to arrive");
            }

            message.CancelAfter(Timeout.InfiniteTimeSpan); // an idle client may stay idle
        }
    }

    private async ValueTask ReadMessageAsync(byte type, CancellationToken token)
    {
        switch (type)
        {
            case RfbMessageTypes.SetPixelFormat:
                SetPixelFormat((await _input.ReadAsync(3 + RfbPixelFormat.Size, token).ConfigureAwait(false)).Span[3..]);
                break;
            case RfbMessageTypes.SetEncodings:
                await SetEncodingsAsync(token).ConfigureAwait(false);
                break;
            case RfbMessageTypes.FramebufferUpdateRequest:
                RequestUpdate((await _input.ReadAsync(9, token).ConfigureAwait(false)).Span);
                break;
            case RfbMessageTypes.KeyEvent:
                var key = (await _input.ReadAsync(7, token).ConfigureAwait(false)).Span;
                _server.Input.Key(BinaryPrimitives.ReadUInt32BigEndian(key[3..]), 0, key[0] != 0);
                break;
            case RfbMessageTypes.PointerEvent:
                var pointer = (await _input.ReadAsync(5, token).ConfigureAwait(false)).Span;
                Pointer(pointer[0], BinaryPrimitives.ReadUInt16BigEndian(pointer[1..]), BinaryPrimitives.ReadUInt16BigEndian(pointer[3..]));
                break;
            case RfbMessageTypes.ClientCutText:
                var length = BinaryPrimitives.ReadUInt32BigEndian((await _input.ReadAsync(7, token).ConfigureAwait(false)).Span[3..]);
                if (length > MaxCutText)
                {
                    throw new RfbProtocolException($"ClientCutText of {length} bytes is over the {MaxCutText} limit");
                }

                await _input.SkipAsync(length, token).ConfigureAwait(false); // the guest has no clipboard channel
                break;
            case RfbMessageTypes.SetDesktopSize:
                await SetDesktopSizeAsync(token).ConfigureAwait(false);
                break;
            case RfbMessageTypes.Qemu:
                var subtype = await _input.ReadByteAsync(token).ConfigureAwait(false);
                if (subtype != RfbMessageTypes.QemuExtendedKeyEvent)
                {
                    throw new RfbProtocolException($"unknown QEMU client message subtype {subtype}");
                }

                var extended = (await _input.ReadAsync(10, token).ConfigureAwait(false)).Span;
                _server.Input.Key(
                    BinaryPrimitives.ReadUInt32BigEndian(extended[2..]),
                    ToScancode(BinaryPrimitives.ReadUInt32BigEndian(extended[6..])),
                    BinaryPrimitives.ReadUInt16BigEndian(extended) != 0);
                break;
            default:
                throw new RfbProtocolException($"unknown message type {type}");
        }
    }

    /// <summary>
    /// QEMU's keycode (rfbproto "QEMU Extended Key Event Message": an XT scancode, 0xE0-prefixed ones as 0x80 | code)
    /// as <see cref="IDisplayInput.Key"/> wants it (0xE0xx); anything else is unknown, 0.
    /// </summary>
    internal static uint ToScancode(uint keycode) => keycode switch
    {
        < 0x80 => keycode,
        < 0x100 => 0xE000 | (keycode & 0x7F),
        _ => 0,
    };

    private void SetPixelFormat(ReadOnlySpan<byte> source)
    {
        var format = RfbPixelFormat.Read(source);
        if (format.Problem() is { } problem)
        {
            throw new RfbProtocolException($"SetPixelFormat: {problem}");
        }

        var converter = new RfbPixelConverter(format);
        lock (_lock)
        {
            _converter = converter;
        }
    }

    private async ValueTask SetEncodingsAsync(CancellationToken token)
    {
        var count = BinaryPrimitives.ReadUInt16BigEndian((await _input.ReadAsync(3, token).ConfigureAwait(false)).Span[1..]);
        if (count > ClientEncodings.MaxCount)
        {
            throw new RfbProtocolException($"SetEncodings lists {count} encodings, over the {ClientEncodings.MaxCount} limit");
        }

        var list = new int[count];
        var bytes = (await _input.ReadAsync(count * 4, token).ConfigureAwait(false)).Span;
        for (var i = 0; i < count; i++)
        {
            list[i] = BinaryPrimitives.ReadInt32BigEndian(bytes[(i * 4)..]);
        }

        var encodings = new ClientEncodings(list);
        lock (_lock)
        {
            var before = _encodings;
            _encodings = encodings;
            _cursorDue |= encodings.Cursor && !before.Cursor;
            _keyEventAckDue |= encodings.QemuExtendedKeyEvent && !before.QemuExtendedKeyEvent;
            if (!encodings.CopyRect && _copy is { } copy)
            {
                _damage.Add(copy.Destination);
                _copy = null;
            }
        }

        Signal();
    }

    private void RequestUpdate(ReadOnlySpan<byte> body)
    {
        var incremental = body[0] != 0;
        var area = new Rect(
            BinaryPrimitives.ReadUInt16BigEndian(body[1..]),
            BinaryPrimitives.ReadUInt16BigEndian(body[3..]),
            BinaryPrimitives.ReadUInt16BigEndian(body[5..]),
            BinaryPrimitives.ReadUInt16BigEndian(body[7..]));
        var request = new UpdateRequest(area, ReplyDue: !incremental);
        lock (_lock)
        {
            if (!incremental)
            {
                // The whole area is due again: the client may have lost it (or changed its pixel format).
                _damage.Add(area.Intersect(ViewRect));
                _sizeAnnouncementDue |= _encodings.ExtendedDesktopSize;
            }

            _request = _request is { } pending ? pending.Merge(request) : request;
        }

        Signal();
    }

    private void Pointer(byte buttons, int x, int y)
    {
        int width, height;
        lock (_lock)
        {
            (width, height) = (_viewWidth, _viewHeight);
        }

        _server.Input.Pointer(x, y, width, height, buttons);
    }

    /// <summary>SetDesktopSize: the guest decides its size, so each request is answered "prohibited" (status 1).</summary>
    private async ValueTask SetDesktopSizeAsync(CancellationToken token)
    {
        var screens = (await _input.ReadAsync(7, token).ConfigureAwait(false)).Span[5];
        await _input.SkipAsync(screens * 16L, token).ConfigureAwait(false);
        lock (_lock)
        {
            if (!_encodings.ExtendedDesktopSize)
            {
                return; // only a client that was sent ExtendedDesktopSize may ask; the others get no answer
            }

            if (++_sizeRequestsRefused > MaxPendingSizeRequests)
            {
                throw new RfbProtocolException($"more than {MaxPendingSizeRequests} SetDesktopSize requests wait for an answer");
            }
        }

        Signal();
    }
}
