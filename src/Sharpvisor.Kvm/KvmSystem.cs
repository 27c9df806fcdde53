using System.Runtime.InteropServices;
using Sharpvisor.Kvm.Host;
using Sharpvisor.Kvm.Interop;

namespace Sharpvisor.Kvm;

/// <summary>The /dev/kvm handle: API checks, capability queries and VM creation.</summary>
public sealed unsafe class KvmSystem : IDisposable
{
    public const int ExpectedApiVersion = 12;
    public const string DefaultPath = "/dev/kvm";

    private readonly FileDescriptorHandle _fd;

    private KvmSystem(FileDescriptorHandle fd, string path)
    {
        _fd = fd;
        Path = path;
    }

    public string Path { get; }

    /// <summary>Opens /dev/kvm and checks the API version, with messages that tell a user what to do.</summary>
    public static KvmSystem Open(string path = DefaultPath)
    {
        // A confined VMM's /dev/kvm comes opened by its launcher: its own uid may not open the device.
        var raw = InheritedFiles.TakeDescriptor(path) ?? Libc.open(path, Libc.O_RDWR | Libc.O_CLOEXEC);
        if (raw < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw errno switch
            {
                Errno.ENOENT or Errno.ENODEV => new KvmUnavailableException($"{path} does not exist: load the kvm module or run on a host with KVM", errno),
                Errno.EACCES or Errno.EPERM => new KvmPermissionException($"no permission to open {path}: run as root or join the group that owns it (usually 'kvm')", errno),
                _ => Errno.Create($"open {path}", errno),
            };
        }

        var system = new KvmSystem(new FileDescriptorHandle(raw), path);
        var version = system.ApiVersion;
        if (version != ExpectedApiVersion)
        {
            system.Dispose();
            throw new KvmUnavailableException($"{path} speaks KVM API version {version}, Sharpvisor needs {ExpectedApiVersion}", 0);
        }

        return system;
    }

    public int ApiVersion => Ioctl.Call(_fd, KvmIoctls.KVM_GET_API_VERSION, 0, "KVM_GET_API_VERSION");

    /// <summary>KVM_CHECK_EXTENSION: 0 when absent, otherwise a capability-specific positive value.</summary>
    public int CheckExtension(KvmCapability capability) =>
        Ioctl.Call(_fd, KvmIoctls.KVM_CHECK_EXTENSION, (nint)capability, "KVM_CHECK_EXTENSION");

    public int VcpuMmapSize => Ioctl.Call(_fd, KvmIoctls.KVM_GET_VCPU_MMAP_SIZE, 0, "KVM_GET_VCPU_MMAP_SIZE");

    /// <summary>The most vCPUs one VM may have (KVM_CAP_MAX_VCPUS, falling back to NR_VCPUS, then 4 as the API doc says).</summary>
    public int MaxVcpus
    {
        get
        {
            var max = CheckExtension(KvmCapability.MaxVcpus);
            if (max > 0)
            {
                return max;
            }

            var recommended = CheckExtension(KvmCapability.NrVcpus);
            return recommended > 0 ? recommended : 4;
        }
    }

    /// <summary>KVM_GET_SUPPORTED_CPUID, growing the buffer until the kernel's list fits.</summary>
    public kvm_cpuid_entry2[] GetSupportedCpuid()
    {
        for (var capacity = 128; capacity <= 4096; capacity *= 2)
        {
            var buffer = new byte[sizeof(kvm_cpuid2) + (capacity * sizeof(kvm_cpuid_entry2))];
            // SAFETY: the buffer is pinned for the call and sized for `capacity` entries, which nent announces.
            fixed (byte* p = buffer)
            {
                ((kvm_cpuid2*)p)->nent = (uint)capacity;
                if (Ioctl.TryCall(_fd, KvmIoctls.KVM_GET_SUPPORTED_CPUID, (nint)p, out var errno) < 0)
                {
                    if (errno == Errno.E2BIG)
                    {
                        continue;
                    }

                    throw Errno.Create("KVM_GET_SUPPORTED_CPUID", errno);
                }

                var count = (int)Math.Min(((kvm_cpuid2*)p)->nent, (uint)capacity);
                return new ReadOnlySpan<kvm_cpuid_entry2>(p + sizeof(kvm_cpuid2), count).ToArray();
            }
        }

        throw new KvmException("KVM_GET_SUPPORTED_CPUID returned more than 4096 entries", Errno.E2BIG);
    }

    /// <summary>KVM_GET_MSR_INDEX_LIST: the MSRs a vCPU's state is made of, as KVM lists them.</summary>
    public uint[] GetMsrIndexList() => GetMsrList(KvmIoctls.KVM_GET_MSR_INDEX_LIST, "KVM_GET_MSR_INDEX_LIST");

    /// <summary>KVM_GET_MSR_FEATURE_INDEX_LIST: the feature MSRs (empty when KVM_CAP_GET_MSR_FEATURES is missing).</summary>
    public uint[] GetMsrFeatureIndexList() =>
        CheckExtension(KvmCapability.GetMsrFeatures) > 0
            ? GetMsrList(KvmIoctls.KVM_GET_MSR_FEATURE_INDEX_LIST, "KVM_GET_MSR_FEATURE_INDEX_LIST")
            : [];

    private uint[] GetMsrList(nuint request, string name)
    {
        // KVM answers E2BIG with the count it needs; the list is a few hundred at most.
        for (var capacity = 256; capacity <= 16384; capacity *= 4)
        {
            var buffer = new byte[sizeof(kvm_msr_list) + (capacity * sizeof(uint))];
            // SAFETY: the buffer is pinned for the call and sized for `capacity` indices, which nmsrs announces.
            fixed (byte* p = buffer)
            {
                ((kvm_msr_list*)p)->nmsrs = (uint)capacity;
                if (Ioctl.TryCall(_fd, request, (nint)p, out var errno) < 0)
                {
                    if (errno == Errno.E2BIG)
                    {
                        continue;
                    }

                    throw Errno.Create(name, errno);
                }

                var count = (int)Math.Min(((kvm_msr_list*)p)->nmsrs, (uint)capacity);
                return new ReadOnlySpan<uint>(p + sizeof(kvm_msr_list), count).ToArray();
            }
        }

        throw new KvmException($"{name} returned more than 16384 MSRs", Errno.E2BIG);
    }

    public KvmVm CreateVm()
    {
        // Machine type 0: the default x86 VM. The ioctl returns the new fd.
        var fd = Ioctl.Call(_fd, KvmIoctls.KVM_CREATE_VM, 0, "KVM_CREATE_VM");
        return new KvmVm(new FileDescriptorHandle(fd), VcpuMmapSize);
    }

    public void Dispose() => _fd.Dispose();
}
