namespace Sharpvisor.Storage.Qcow2;

/// <summary>What <see cref="Qcow2Image.Check"/> found, counted as qemu-img check counts it.</summary>
/// <param name="Leaks">Clusters whose refcount is above their references: space lost, nothing at risk.</param>
/// <param name="Corruptions">
/// Metadata that is wrong: a refcount below its references (a cluster that could be handed out twice), a pointer
/// outside the file or not aligned, a "copied" flag that disagrees with the refcount.
/// </param>
/// <param name="Problems">One line per problem found, the first <see cref="Qcow2Image.MaxCheckMessages"/> of them.</param>
/// <param name="AllocatedClusters">Guest clusters with data (compressed ones included).</param>
/// <param name="CompressedClusters">Guest clusters stored compressed.</param>
/// <param name="GuestClusters">How many clusters the virtual disk spans.</param>
/// <param name="ImageEndOffset">The end of the last cluster anything references.</param>
public sealed record Qcow2CheckResult(
    long Leaks,
    long Corruptions,
    IReadOnlyList<string> Problems,
    long AllocatedClusters,
    long CompressedClusters,
    long GuestClusters,
    long ImageEndOffset)
{
    /// <summary>No leaks and no corruption.</summary>
    public bool IsClean => Leaks == 0 && Corruptions == 0;
}
