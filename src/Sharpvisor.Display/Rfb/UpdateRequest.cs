namespace Sharpvisor.Display.Rfb;

/// <summary>A client's outstanding FramebufferUpdateRequest; several before an answer merge into one.</summary>
/// <param name="Area">The area asked for, in the client's coordinates (not yet clipped).</param>
/// <param name="ReplyDue">A non-incremental request was among them: an update goes out even if nothing changed.</param>
internal readonly record struct UpdateRequest(Rect Area, bool ReplyDue)
{
    public UpdateRequest Merge(UpdateRequest other) => new(Area.Union(other.Area), ReplyDue || other.ReplyDue);
}
