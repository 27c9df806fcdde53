using Iced.Intel;

namespace Sharpvisor.Vmm.Arch.X86.Emulation;

/// <summary>Maps a CPUID feature to the name Linux's <c>clearcpuid=</c> takes, for features a guest can do without.</summary>
internal static class CpuFeatureNames
{
    private static readonly Dictionary<CpuidFeature, string> Names = new()
    {
        [CpuidFeature.CMPXCHG16B] = "cx16",
        [CpuidFeature.POPCNT] = "popcnt",
        [CpuidFeature.XSAVE] = "xsave",
        [CpuidFeature.XSAVES] = "xsaves",
        [CpuidFeature.XSAVEOPT] = "xsaveopt",
        [CpuidFeature.XSAVEC] = "xsavec",
        [CpuidFeature.SMAP] = "smap",
        [CpuidFeature.AVX] = "avx",
        [CpuidFeature.AVX2] = "avx2",
        [CpuidFeature.AVX512F] = "avx512f",
        [CpuidFeature.BMI1] = "bmi1",
        [CpuidFeature.BMI2] = "bmi2",
        [CpuidFeature.MOVBE] = "movbe",
        [CpuidFeature.RDRAND] = "rdrand",
        [CpuidFeature.RDSEED] = "rdseed",
        [CpuidFeature.FSGSBASE] = "fsgsbase",
        [CpuidFeature.AES] = "aes",
        [CpuidFeature.PCLMULQDQ] = "pclmulqdq",
        [CpuidFeature.SHA] = "sha_ni",
        [CpuidFeature.FMA] = "fma",
        [CpuidFeature.F16C] = "f16c",
        [CpuidFeature.LZCNT] = "abm",
        [CpuidFeature.ADX] = "adx",
        [CpuidFeature.RDPID] = "rdpid",
        [CpuidFeature.GFNI] = "gfni",
        [CpuidFeature.VAES] = "vaes",
        [CpuidFeature.VPCLMULQDQ] = "vpclmulqdq",
        [CpuidFeature.INVPCID] = "invpcid",
        [CpuidFeature.PKU] = "pku",
    };

    public static string? ClearCpuidName(CpuidFeature feature) => Names.GetValueOrDefault(feature);
}
