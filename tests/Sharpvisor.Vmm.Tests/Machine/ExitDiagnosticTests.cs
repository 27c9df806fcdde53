using System.Globalization;
using System.Text.RegularExpressions;
using Sharpvisor.Kvm.Interop;
using Sharpvisor.Vmm.Machine;

namespace Sharpvisor.Vmm.Tests.Machine;

public sealed class ExitDiagnosticTests
{
    private static kvm_sregs Sregs(ulong cr0, byte l, byte db) => new()
    {
        cr0 = cr0,
        cs = new kvm_segment { l = l, db = db, selector = 0x10, @base = 0x1234_0000 },
        ss = new kvm_segment { selector = 0x18 },
        cr2 = 0xdead_0000,
        cr3 = 0x9000,
        cr4 = 0x20,
        efer = 0x500,
        gdt = new kvm_dtable { @base = 0x500 },
        idt = new kvm_dtable { @base = 0x600 },
    };

    [Theory]
    [InlineData(0x0UL, 0, 0, "real")]
    [InlineData(0x6000_0010UL, 1, 1, "real")] // CS.L means nothing with PE clear
    [InlineData(0x1UL, 0, 1, "32-bit protected")]
    [InlineData(0x8000_0011UL, 0, 1, "32-bit protected")]
    [InlineData(0x1UL, 0, 0, "16-bit protected")]
    [InlineData(0x8000_0011UL, 1, 0, "64-bit")]
    public void ModeFollowsCr0PeAndTheCodeSegment(ulong cr0, byte l, byte db, string expected)
    {
        Assert.Equal(expected, ExitDiagnostic.Mode(Sregs(cr0, l, db)));
    }

    [Fact]
    public void FormatRegistersShowsEveryRegisterInHex()
    {
        var regs = new kvm_regs
        {
            rax = 0x1, rbx = 0x2, rcx = 0x3, rdx = 0x4, rsi = 0x5, rdi = 0x6, rsp = 0x7, rbp = 0x8,
            r8 = 0x9, r9 = 0xa, r10 = 0xb, r11 = 0xc, r12 = 0xd, r13 = 0xe, r14 = 0xf, r15 = 0xffff_ffff_ffff_fff0,
            rip = 0x100_0000, rflags = 0x202,
        };
        var sregs = Sregs(0x8000_0011, l: 1, db: 0);

        var text = ExitDiagnostic.FormatRegisters(regs, sregs);

        var expected = new Dictionary<string, ulong>
        {
            ["rax"] = 1, ["rbx"] = 2, ["rcx"] = 3, ["rdx"] = 4, ["rsi"] = 5, ["rdi"] = 6, ["rsp"] = 7, ["rbp"] = 8,
            ["r8"] = 9, ["r9"] = 0xa, ["r10"] = 0xb, ["r11"] = 0xc, ["r12"] = 0xd, ["r13"] = 0xe, ["r14"] = 0xf,
            ["r15"] = 0xffff_ffff_ffff_fff0, ["rip"] = 0x100_0000, ["rflags"] = 0x202, ["cs"] = 0x10, ["ss"] = 0x18,
            ["cr0"] = 0x8000_0011, ["cr2"] = 0xdead_0000, ["cr3"] = 0x9000, ["cr4"] = 0x20, ["efer"] = 0x500,
            ["cs.base"] = 0x1234_0000, ["gdt"] = 0x500, ["idt"] = 0x600,
        };
        foreach (var (name, value) in expected)
        {
            var match = Regex.Match(text, $@"(?<![\w.]){Regex.Escape(name)}\s*=([0-9a-f]+)\b");
            Assert.True(match.Success, $"{name} missing from:\n{text}");
            Assert.Equal(16, match.Groups[1].Length);
            Assert.Equal(value, ulong.Parse(match.Groups[1].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture));
        }

        Assert.Contains("mode: 64-bit", text, StringComparison.Ordinal);
        Assert.Equal(8, text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }
}
