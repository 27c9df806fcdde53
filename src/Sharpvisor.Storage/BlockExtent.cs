namespace Sharpvisor.Storage;

/// <summary>
/// A run of a disk from some offset, <see cref="Length"/> bytes (at least 1): it surely reads as zeros
/// (<see cref="Zero"/>: a hole, a zero cluster, nothing allocated down the chain) or it may hold data.
/// </summary>
public readonly record struct BlockExtent(bool Zero, long Length);
