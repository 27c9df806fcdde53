namespace Sharpvisor.Storage.Qcow2;

/// <summary>A qcow2 image that breaks the format: a bad header, a pointer outside the file, an inconsistent table.</summary>
public sealed class Qcow2FormatException : IOException
{
    /// <summary>An exception with a one-line <paramref name="message"/> naming the problem.</summary>
    public Qcow2FormatException(string message)
        : base(message)
    {
    }

    /// <summary>An exception naming the problem and the error underneath.</summary>
    public Qcow2FormatException(string message, Exception inner)
        : base(message, inner)
    {
    }

    /// <summary>Needed by the analyzers' exception pattern; prefer a message.</summary>
    public Qcow2FormatException()
    {
    }
}
