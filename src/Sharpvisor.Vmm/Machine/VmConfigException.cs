namespace Sharpvisor.Vmm.Machine;

/// <summary>A configuration the host cannot run (too many vCPUs, too much memory...): a usage error, one line.</summary>
public sealed class VmConfigException(string message) : Exception(message);
