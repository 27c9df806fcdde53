namespace Sharpvisor.Vmm.Arch.X86.Emulation;

/// <summary>
/// Kernel arguments that keep a Linux guest away from instructions an emulating KVM (PVM) lacks: each
/// <c>clearcpuid</c> name is a CPU feature whose instructions it cannot execute (ENVIRONMENT.md lists the
/// measured ones), <c>noxsave</c> keeps the FPU code off xsave/xrstor, and <c>nowatchdog</c> silences the
/// soft-lockup warnings a guest running thousands of times slower than hardware would print.
/// </summary>
public static class PvmKernelArguments
{
    public static readonly string[] ClearedFeatures =
    [
        "cx16", "smap", "smep", "pku", "umip", "popcnt", "avx", "avx2", "avx512f", "bmi1", "bmi2", "movbe",
        "rdrand", "rdseed", "fsgsbase", "aes", "pclmulqdq", "sha_ni", "xsave", "fma", "f16c", "abm", "adx",
        "rdpid", "gfni", "vaes", "vpclmulqdq", "invpcid", "pcid",
    ];

    public static string Arguments => $"noxsave nowatchdog clearcpuid={string.Join(',', ClearedFeatures)}";

    /// <summary>The command line with the arguments appended, unless the user already gave a clearcpuid of their own.</summary>
    public static string AppendTo(string commandLine) =>
        commandLine.Contains("clearcpuid=", StringComparison.Ordinal)
            ? commandLine
            : string.IsNullOrWhiteSpace(commandLine) ? Arguments : $"{commandLine} {Arguments}";
}
