namespace Sharpvisor.Control;

/// <summary>A control command that cannot be carried out now; its message becomes the response's one-line error.</summary>
public sealed class ControlException : Exception
{
    public ControlException()
    {
    }

    public ControlException(string message)
        : base(message)
    {
    }

    public ControlException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
