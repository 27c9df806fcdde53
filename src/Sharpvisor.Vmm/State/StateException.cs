namespace Sharpvisor.Vmm.State;

/// <summary>A saved state that cannot be read or applied: its message is one line for the user.</summary>
public sealed class StateException(string message) : Exception(message);
