using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using Sharpvisor.Kvm.Interop;

namespace Sharpvisor.Kvm.Tests;

/// <summary>
/// Every native struct, ioctl number, capability and exit reason declared in C# is compared with what gcc
/// computes from the system's &lt;linux/kvm.h&gt;. A field added to a C# struct is checked automatically.
/// </summary>
public sealed class StructLayoutTests
{
    // C# flattens nested C structs: a field starting with a prefix maps to that C member path.
    private static readonly Dictionary<string, (string Prefix, string CPath)[]> NestedPrefixes = new()
    {
        ["kvm_vcpu_events"] =
        [
            ("exception_", "exception."), ("interrupt_", "interrupt."), ("nmi_", "nmi."),
            ("smi_", "smi."), ("triple_fault_", "triple_fault."),
        ],
        ["kvm_irq_routing_entry"] = [("msi_", "u.msi."), ("u_pad_tail", "u.pad[4]")],
    };

    // Fields whose name merely starts like a nested prefix but are top-level in C.
    private static readonly HashSet<string> TopLevelFields = ["exception_has_payload", "exception_payload"];

    // C# types for members of the anonymous union inside struct kvm_run.
    private static readonly Dictionary<Type, string> RunUnionMembers = new()
    {
        [typeof(kvm_run_io)] = "io",
        [typeof(kvm_run_mmio)] = "mmio",
        [typeof(kvm_run_fail_entry)] = "fail_entry",
        [typeof(kvm_run_internal)] = "internal",
        [typeof(kvm_run_system_event)] = "system_event",
        [typeof(kvm_run_eoi)] = "eoi",
    };

    [Fact]
    public void StructSizesAndFieldOffsetsMatchTheKernelHeader()
    {
        var expected = new Dictionary<string, long>();
        var probes = new StringBuilder();
        foreach (var type in NativeStructs())
        {
            var (cType, memberPrefix) = CName(type);
            if (type != typeof(kvm_run))
            {
                Add($"sizeof:{type.Name}", $"sizeof({SizeExpression(cType, memberPrefix)})", Marshal.SizeOf(type));
            }

            foreach (var field in type.GetFields(BindingFlags.Public | BindingFlags.Instance))
            {
                var member = memberPrefix + CMember(type, field.Name);
                var offsetExpression = memberPrefix.Length == 0
                    ? $"offsetof({cType}, {member})"
                    : $"offsetof({cType}, {member}) - offsetof({cType}, {memberPrefix.TrimEnd('.')})";
                Add($"offsetof:{type.Name}.{field.Name}", offsetExpression, Marshal.OffsetOf(type, field.Name).ToInt64());
            }
        }

        Add("offsetof:kvm_run.union", "offsetof(struct kvm_run, hw)", kvm_run.UnionOffset);

        var actual = NativeProbe.Run("layout", Program(probes));
        Assert.NotEmpty(actual);
        foreach (var (key, value) in expected)
        {
            Assert.True(actual.TryGetValue(key, out var native), $"probe did not print {key}");
            Assert.True(native == value, $"{key}: C# says {value}, <linux/kvm.h> says {native}");
        }

        void Add(string key, string cExpression, long csharpValue)
        {
            expected[key] = csharpValue;
            probes.Append(System.Globalization.CultureInfo.InvariantCulture, $"    printf(\"%s %ld\\n\", \"{key}\", (long)({cExpression}));\n");
        }
    }

    [Fact]
    public void IoctlNumbersMatchTheKernelHeader()
    {
        var fields = typeof(KvmIoctls).GetFields(BindingFlags.Public | BindingFlags.Static);
        Assert.True(fields.Length > 25);
        var probes = new StringBuilder();
        foreach (var field in fields)
        {
            probes.Append(System.Globalization.CultureInfo.InvariantCulture, $"    printf(\"%s %ld\\n\", \"{field.Name}\", (long){field.Name});\n");
        }

        var actual = NativeProbe.Run("ioctls", Program(probes));
        foreach (var field in fields)
        {
            Assert.Equal(actual[field.Name], (long)(nuint)field.GetValue(null)!);
        }
    }

    [Fact]
    public void CapabilityAndExitReasonNumbersMatchTheKernelHeader()
    {
        var probes = new StringBuilder();
        var expected = new Dictionary<string, long>();
        foreach (var cap in Enum.GetValues<KvmCapability>())
        {
            var name = "KVM_CAP_" + ToUpperSnake(cap.ToString());
            expected[name] = (long)cap;
            probes.Append(System.Globalization.CultureInfo.InvariantCulture, $"    printf(\"%s %ld\\n\", \"{name}\", (long){name});\n");
        }

        foreach (var reason in Enum.GetValues<VcpuExitReason>())
        {
            var name = "KVM_EXIT_" + ToUpperSnake(reason.ToString());
            expected[name] = (long)reason;
            probes.Append(System.Globalization.CultureInfo.InvariantCulture, $"    printf(\"%s %ld\\n\", \"{name}\", (long){name});\n");
        }

        var actual = NativeProbe.Run("constants", Program(probes));
        foreach (var (name, value) in expected)
        {
            Assert.True(actual[name] == value, $"{name}: C# says {value}, header says {actual[name]}");
        }
    }

    private static IEnumerable<Type> NativeStructs() =>
        typeof(kvm_regs).Assembly.GetTypes()
            .Where(t => t.IsValueType && t.Namespace == typeof(kvm_regs).Namespace && t.Name.StartsWith("kvm_", StringComparison.Ordinal));

    private static (string CType, string MemberPrefix) CName(Type type) =>
        RunUnionMembers.TryGetValue(type, out var member) ? ("struct kvm_run", member + ".") : ("struct " + type.Name, "");

    private static string SizeExpression(string cType, string memberPrefix) =>
        memberPrefix.Length == 0 ? cType : $"(({cType} *)0)->{memberPrefix.TrimEnd('.')}";

    private static string CMember(Type type, string field)
    {
        if (!NestedPrefixes.TryGetValue(type.Name, out var prefixes) || TopLevelFields.Contains(field))
        {
            return field.TrimStart('@');
        }

        foreach (var (prefix, cPath) in prefixes)
        {
            if (field.StartsWith(prefix, StringComparison.Ordinal))
            {
                return cPath.EndsWith('.') ? cPath + field[prefix.Length..] : cPath;
            }
        }

        return field;
    }

    private static string ToUpperSnake(string pascal)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < pascal.Length; i++)
        {
            var c = pascal[i];
            if (i > 0 && char.IsUpper(c) && (char.IsLower(pascal[i - 1]) || (i + 1 < pascal.Length && char.IsLower(pascal[i + 1]))))
            {
                sb.Append('_');
            }

            sb.Append(char.ToUpperInvariant(c));
        }

        return sb.ToString();
    }

    private static string Program(StringBuilder body) =>
        "#include <stdio.h>\n#include <stddef.h>\n#include <linux/kvm.h>\n\nint main(void)\n{\n" + body + "    return 0;\n}\n";
}
