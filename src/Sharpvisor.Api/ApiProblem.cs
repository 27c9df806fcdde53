namespace Sharpvisor.Api;

/// <summary>
/// An error answer as a client reads it: the fields of RFC 9457 problem details the manager sends
/// (<c>application/problem+json</c>), with the per-field messages of a validation problem in <see cref="Errors"/>.
/// </summary>
public sealed record ApiProblem
{
    public string? Type { get; init; }

    public string? Title { get; init; }

    public int? Status { get; init; }

    public string? Detail { get; init; }

    public IDictionary<string, string[]>? Errors { get; init; }
}
