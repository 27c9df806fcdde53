namespace Sharpvisor.Fuzz.Targets;

/// <summary>
/// One fuzz target: decodes any byte string into a scenario and runs it against the VMM code. An exception it
/// lets escape is a finding unless <see cref="IsExpected"/> says it is the documented answer to hostile input.
/// </summary>
internal interface IFuzzTarget
{
    string Name { get; }

    /// <summary>One line for <c>--list</c>.</summary>
    string Description { get; }

    void Execute(ReadOnlySpan<byte> input);

    /// <summary>The exceptions the code under test documents for a hostile guest or client (the run ends there).</summary>
    bool IsExpected(Exception exception);

    /// <summary>The seed corpus: small, valid scenarios that reach the interesting code at once.</summary>
    IEnumerable<(string Name, byte[] Input)> Seeds();
}

/// <summary>Every target, by name.</summary>
internal static class FuzzTargets
{
    public static IReadOnlyList<Func<IFuzzTarget>> All { get; } =
    [
        () => new QueueTarget(),
        () => new BlockTarget(),
        () => new NetTarget(),
        () => new ConsoleTarget(),
        () => new PciTarget(),
        () => new ControlTarget(),
        () => new SelfTestTarget(hang: false),
        () => new SelfTestTarget(hang: true),
    ];

    /// <summary>The real targets, in the order bench/fuzz.sh runs them (the self-test ones are left out: they exist to fail).</summary>
    public static IReadOnlyList<string> Names { get; } = ["queue", "block", "net", "console", "pci", "control"];

    private static IReadOnlyList<string> AllNames { get; } = [.. Names, "selftest-crash", "selftest-hang"];

    public static Func<IFuzzTarget>? Factory(string name)
    {
        var index = AllNames.ToList().IndexOf(name);
        return index < 0 ? null : All[index];
    }

    public static IFuzzTarget? Create(string name) => Factory(name)?.Invoke();
}
