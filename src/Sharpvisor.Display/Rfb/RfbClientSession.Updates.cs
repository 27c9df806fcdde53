using Sharpvisor.Display.Rfb.Encoders;

namespace Sharpvisor.Display.Rfb;

/// <summary>The writer task: turns an outstanding request and what changed into FramebufferUpdates.</summary>
internal sealed partial class RfbClientSession
{
    /// <summary>Bytes built up before they go to the socket mid-update: big enough for few system calls, small enough to bound memory.</summary>
    private const int FlushThreshold = 256 * 1024;

    private readonly UpdatePlan _plan = new();
    private readonly List<Rect> _pieces = [];
    private byte[] _pixels = [];
    private ZrleEncoder? _zrle;
    private TightEncoder? _tight;

    private async Task WriteLoopAsync(CancellationToken stop)
    {
        while (true)
        {
            await _wake.WaitAsync(stop).ConfigureAwait(false);
            while (TakePlan(_plan))
            {
                await SendAsync(_plan, stop).ConfigureAwait(false);
                lock (_lock)
                {
                    _inFlight.Clear();
                }
            }
        }
    }

    /// <summary>Decides the next update if a request waits and there is something to answer it with.</summary>
    private bool TakePlan(UpdatePlan plan)
    {
        plan.Clear();
        lock (_lock)
        {
            if (_request is not { } request)
            {
                return false;
            }

            plan.Converter = _converter;
            plan.Encoder = EncoderFor(_encodings.PixelEncoding);

            if (_pendingSize is { } size)
            {
                _pendingSize = null;
                if (_encodings.Resize && size != (_viewWidth, _viewHeight))
                {
                    // Alone in its update (rfbproto: no pixel data beside it), then every pixel is due again.
                    (_viewWidth, _viewHeight) = size;
                    _damage.Clear();
                    _damage.Add(ViewRect);
                    plan.Sizes.Add(new SizeAnnouncement(_encodings.ExtendedDesktopSize, 0, 0, size.Width, size.Height));
                    _sizeAnnouncementDue = false;
                    return Answer(plan);
                }

                // A client that cannot follow keeps its size: it sees the new picture clipped, or padded with black.
                _damage.Add(ViewRect);
            }

            if (!_encodings.ExtendedDesktopSize)
            {
                (_sizeAnnouncementDue, _sizeRequestsRefused) = (false, 0);
            }
            else if (_sizeAnnouncementDue || _sizeRequestsRefused > 0)
            {
                for (; _sizeRequestsRefused > 0; _sizeRequestsRefused--)
                {
                    plan.Sizes.Add(new SizeAnnouncement(true, 1, 1, _viewWidth, _viewHeight));
                }

                if (_sizeAnnouncementDue)
                {
                    plan.Sizes.Add(new SizeAnnouncement(true, 0, 0, _viewWidth, _viewHeight));
                    _sizeAnnouncementDue = false;
                }

                return Answer(plan); // the pixels follow in the next update
            }

            _damage.Take(request.Area.Intersect(ViewRect), plan.Rects);
            if (_copy is { } copy)
            {
                plan.Copy = copy;
                _copy = null;
            }

            AddPseudoRects(plan);
            if (plan.Rects.Count == 0 && plan.Copy is null && !plan.SendCursor && !plan.KeyEventAck && !request.ReplyDue)
            {
                return false; // an incremental request waits for something to change
            }

            _inFlight.AddRange(plan.Rects);
            _request = null;
            return true;
        }
    }

    /// <summary>Completes a plan under the lock: the cursor and key pseudo-rectangles ride along, the request is answered.</summary>
    private bool Answer(UpdatePlan plan)
    {
        AddPseudoRects(plan);
        _request = null;
        return true;
    }

    private void AddPseudoRects(UpdatePlan plan)
    {
        if (_cursorDue && _encodings.Cursor)
        {
            (plan.SendCursor, plan.Cursor, _cursorDue) = (true, _cursor, false);
        }

        if (_keyEventAckDue && _encodings.QemuExtendedKeyEvent)
        {
            (plan.KeyEventAck, _keyEventAckDue) = (true, false);
        }
    }

    private IRectEncoder EncoderFor(int encoding) => encoding switch
    {
        // A zlib stream lives as long as the connection (the client inflates it as one), so the level of the first
        // SetEncodings that asks for the encoding stays; a later change of level is not followed.
        RfbEncodings.Zrle => _zrle ??= new ZrleEncoder(_encodings.CompressLevel),
        RfbEncodings.Tight => _tight ??= new TightEncoder(_encodings.CompressLevel),
        _ => RawEncoder.Instance,
    };

    private async Task SendAsync(UpdatePlan plan, CancellationToken stop)
    {
        _pieces.Clear();
        foreach (var rect in plan.Rects)
        {
            plan.Encoder.Split(rect, _pieces);
        }

        // At most 16 damage rectangles, each in at most 1024 pieces (Tight on an 8192-pixel square): far below 65535.
        var count = _pieces.Count + plan.Sizes.Count + (plan.Copy is null ? 0 : 1) + (plan.SendCursor ? 1 : 0) + (plan.KeyEventAck ? 1 : 0);
        _output.WriteByte(RfbMessageTypes.FramebufferUpdate);
        _output.WriteByte(0);
        _output.WriteUInt16(count);

        if (plan.Copy is { } copy)
        {
            var destination = copy.Destination;
            _output.WriteRectHeader(destination.X, destination.Y, destination.Width, destination.Height, RfbEncodings.CopyRect);
            _output.WriteUInt16(copy.Source.X);
            _output.WriteUInt16(copy.Source.Y);
        }

        foreach (var piece in _pieces)
        {
            var pixels = CopyPixels(piece);
            _output.WriteRectHeader(piece.X, piece.Y, piece.Width, piece.Height, plan.Encoder.Encoding);
            plan.Encoder.Encode(_output, pixels, piece.Width, piece.Height, plan.Converter);
            if (_output.Length >= FlushThreshold)
            {
                await FlushAsync(stop).ConfigureAwait(false);
            }
        }

        if (plan.SendCursor)
        {
            CursorWriter.Write(_output, plan.Cursor, plan.Converter);
        }

        if (plan.KeyEventAck)
        {
            _output.WriteRectHeader(0, 0, 0, 0, RfbEncodings.QemuExtendedKeyEvent);
        }

        foreach (var size in plan.Sizes)
        {
            WriteSize(size);
        }

        await FlushAsync(stop).ConfigureAwait(false);
    }

    /// <summary>
    /// A consistent copy of one piece, taken under the framebuffer's lock and encoded after it: the part outside the
    /// framebuffer (it shrank and this client did not follow) is black.
    /// </summary>
    private ReadOnlySpan<byte> CopyPixels(Rect piece)
    {
        var stride = piece.Width * Framebuffer.BytesPerPixel;
        var size = stride * piece.Height;
        if (_pixels.Length < size)
        {
            _pixels = new byte[size];
        }

        var destination = _pixels.AsSpan(0, size);
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var (width, height) = Framebuffer.Size;
            var inside = piece.Intersect(new Rect(0, 0, width, height));
            if (inside != piece)
            {
                destination.Clear();
            }

            // Clipping to the framebuffer only cuts right and bottom, so the inside starts at the piece's corner.
            if (inside.IsEmpty || Framebuffer.CopyTo(inside, destination, stride) == inside)
            {
                return destination;
            }
        }

        destination.Clear(); // resized under us again and again: black now, the resize brings everything anew
        return destination;
    }

    private void WriteSize(SizeAnnouncement size)
    {
        if (!size.Extended)
        {
            _output.WriteRectHeader(0, 0, size.Width, size.Height, RfbEncodings.DesktopSize);
            return;
        }

        _output.WriteRectHeader(size.Reason, size.Status, size.Width, size.Height, RfbEncodings.ExtendedDesktopSize);
        _output.WriteByte(1); // one screen, the whole framebuffer
        _output.Append(3).Clear();
        _output.WriteUInt32(0); // its id
        _output.WriteUInt16(0);
        _output.WriteUInt16(0);
        _output.WriteUInt16(size.Width);
        _output.WriteUInt16(size.Height);
        _output.WriteUInt32(0); // flags
    }

    /// <summary>Sends what is built up; a client that does not read it within the write timeout is dropped.</summary>
    private async Task FlushAsync(CancellationToken stop)
    {
        if (_output.Length == 0)
        {
            return;
        }

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(stop);
        deadline.CancelAfter(Options.WriteTimeout);
        try
        {
            await _stream.WriteAsync(_output.Written, deadline.Token).ConfigureAwait(false);
            await _stream.FlushAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!stop.IsCancellationRequested)
        {
            throw new RfbProtocolException($"the client did not read an update within {Options.WriteTimeout.TotalSeconds:0.#} s");
        }

        _output.Clear();
    }
}
