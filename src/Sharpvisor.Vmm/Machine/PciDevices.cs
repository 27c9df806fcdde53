using System.Diagnostics;
using Sharpvisor.Storage;
using Sharpvisor.Vmm.Bus;
using Sharpvisor.Vmm.Devices.Interrupts;
using Sharpvisor.Vmm.Devices.Pci;
using Sharpvisor.Vmm.Devices.Virtio;
using Sharpvisor.Vmm.Devices.Virtio.Block;
using Sharpvisor.Vmm.Devices.Virtio.Console;
using Sharpvisor.Vmm.Devices.Virtio.Gpu;
using Sharpvisor.Vmm.Devices.Virtio.Input;
using Sharpvisor.Vmm.Devices.Virtio.Net;
using Sharpvisor.Vmm.Devices.Virtio.Rng;
using Sharpvisor.Vmm.Devices.Virtio.Transport;
using Sharpvisor.Vmm.Memory;
using Sharpvisor.Vmm.State;

namespace Sharpvisor.Vmm.Machine;

/// <summary>
/// The PCI side of a machine: the root bus and one virtio-pci function per configured device, in the order disks,
/// NICs, console, rng, then with a display the gpu, keyboard and tablet (slots 1 up). Backends are opened here, once; a file or TAP that cannot be opened fails the
/// build with a one-line message naming the option.
/// </summary>
internal sealed class PciDevices : IDisposable
{
    private readonly List<VirtioPciDevice> _functions = [];
    private readonly List<(string Option, RawFileBackend Image)> _disks = [];

    // Disks whose format keeps tables in memory (qcow2): committed when the devices quiesce, so that a snapshot's or
    // a restore's next open of the image reads what the guest wrote.
    private readonly List<IBlockBackend> _formattedDisks = [];
    private readonly List<VirtioNet> _nics = [];
    private DisplayInput? _displayInput;

    private PciDevices(PciRootBus bus) => Bus = bus;

    public PciRootBus Bus { get; }

    public IReadOnlyList<VirtioPciDevice> Functions => _functions;

    public VirtioConsole? Console { get; private set; }

    /// <summary>One saved-state section per function (tag <c>VP</c> + slot), in slot order.</summary>
    public IReadOnlyList<IDeviceState> States => [.. _functions.OrderBy(f => f.Slot)];

    /// <summary>
    /// Quiesces every function (<see cref="IQuiescentDevice.Quiesce"/>) within <paramref name="deadline"/> in all, for a
    /// snapshot or migration with the vCPUs paused. When one misses it, those already quiesced go on again and its
    /// <see cref="StateException"/> (naming the slot) is thrown: the VM is left as it was. On a machine about to be
    /// restored it makes the restored devices wait for <see cref="Unquiesce"/> (a migration's destination until GO).
    /// </summary>
    public void Quiesce(TimeSpan deadline)
    {
        var start = Stopwatch.GetTimestamp();
        var quiesced = new List<VirtioPciDevice>();
        try
        {
            foreach (var function in _functions.OrderBy(f => f.Slot))
            {
                var left = deadline - Stopwatch.GetElapsedTime(start);
                function.Quiesce(left > TimeSpan.Zero ? left : TimeSpan.Zero);
                quiesced.Add(function);
            }

            foreach (var disk in _formattedDisks)
            {
                disk.Flush();
            }
        }
        catch
        {
            foreach (var function in quiesced)
            {
                function.Unquiesce();
            }

            throw;
        }
    }

    /// <summary>Every function goes on, serving what the guest posted while quiesced.</summary>
    public void Unquiesce()
    {
        foreach (var function in _functions)
        {
            function.Unquiesce();
        }
    }

    /// <summary>
    /// Drops every writable disk's exclusive lock, its writes made durable first: the last step before a migration
    /// lets its destination run. <see cref="TakeDiskLocks"/> takes them back (or, at the destination, for the first time).
    /// </summary>
    public void ReleaseDiskLocks()
    {
        foreach (var (_, image) in _disks)
        {
            image.ReleaseWriteLock();
        }
    }

    /// <summary>
    /// Takes every writable disk's exclusive lock; when another process holds one, gives back those taken here and
    /// throws an IOException naming the disk: its guest would be written by two VMs.
    /// </summary>
    public void TakeDiskLocks()
    {
        var taken = new List<RawFileBackend>();
        foreach (var (option, image) in _disks)
        {
            if (!image.TryTakeWriteLock())
            {
                taken.ForEach(t => t.ReleaseWriteLock());
                throw new IOException($"{option} is locked by another process (a VM runs on it)");
            }

            taken.Add(image);
        }
    }

    /// <summary>Each NIC tells the network that its MAC is behind this host's TAP now (<see cref="VirtioNet.Announce"/>).</summary>
    public void AnnounceNics()
    {
        foreach (var nic in _nics)
        {
            try
            {
                nic.Announce();
            }
            catch (Kvm.KvmException)
            {
                // Best effort, as QEMU's: a TAP that fails here fails the guest's own frames too, and says so then.
            }
        }
    }

    /// <summary>
    /// Opens each backend and builds one function per device. With <paramref name="lockDisks"/> false the writable
    /// disks are opened without their lock (a migration's destination takes it at the hand-over).
    /// </summary>
    public static PciDevices Create(
        VmConfig config, IoBus portIo, IoBus mmio, GuestMemory memory, IMsiSink msi, Func<int, IInterruptLine> gsiLine, IDoorbellRegistry doorbells,
        Action<string> log, bool lockDisks = true)
    {
        var devices = new PciDevices(new PciRootBus(portIo, mmio, gsiLine));
        try
        {
            for (var i = 0; i < config.Disks.Count; i++)
            {
                var disk = config.Disks[i];
                var option = $"--disk {disk.Path}";
                IBlockBackend backend;
                if (disk.Format == DiskFormat.Qcow2)
                {
                    backend = Open(option, () => FormattedImageBackend.OpenQcow2(disk.Path, disk.ReadOnly, lockDisks));
                    devices._formattedDisks.Add(backend);
                }
                else
                {
                    var raw = Open(option, () => RawFileBackend.Open(disk.Path, disk.ReadOnly, lockDisks));
                    devices._disks.Add((option, raw));
                    backend = raw;
                }

                devices.Add(new VirtioBlock(backend, disk.Id ?? Path.GetFileName(disk.Path)), memory, msi, doorbells, log,
                    // A raw disk's text is what snapshots have always saved: an older snapshot restores without a "change".
                    $"{(disk.Format == DiskFormat.Raw ? "" : ImageFormat.Name(disk.Format) + " ")}file {Path.GetFullPath(disk.Path)} {(disk.ReadOnly ? "read-only" : "read-write")}");
            }

            foreach (var nic in config.Nics)
            {
                var backend = Open($"--net tap={nic.TapName}", () => TapBackend.Open(nic.TapName));
                var device = new VirtioNet(backend, nic.Mac ?? Sharpvisor.Control.NicAddresses.DefaultMac(nic.TapName));
                devices.Add(device, memory, msi, doorbells, log, $"tap {nic.TapName}");
                devices._nics.Add(device);
            }

            if (config.VirtioConsole)
            {
                devices.Console = new VirtioConsole(config.SerialOutput);
                devices.Add(devices.Console, memory, msi, doorbells, log);
            }

            if (config.VirtioRng)
            {
                devices.Add(new VirtioRng(), memory, msi, doorbells, log);
            }

            if (config.DisplayHeads.Count > 0)
            {
                devices.Add(new VirtioGpu(config.DisplayHeads), memory, msi, doorbells, log);
                var keyboard = VirtioInput.CreateKeyboard();
                devices.Add(keyboard, memory, msi, doorbells, log);
                var tablet = VirtioInput.CreateTablet();
                devices.Add(tablet, memory, msi, doorbells, log);
                devices._displayInput = config.DisplayInput;
                config.DisplayInput?.Attach(keyboard, tablet);
            }

            return devices;
        }
        catch
        {
            devices.Dispose();
            throw;
        }
    }


    /// <summary>
    /// After a restore, one line per function whose saved backend differs from the one it has now (a disk found at
    /// another path, a NIC on another TAP): allowed, since the state holds what the guest knows (the disk's size, the
    /// MAC), and worth saying.
    /// </summary>
    public IEnumerable<string> BackendChanges() =>
        _functions.Where(f => f.SavedBackend is { Length: > 0 } saved && saved != f.Backend)
            .Select(f => $"{f.StateTag.Trim()}: saved with {f.SavedBackend}, restored with {(f.Backend.Length > 0 ? f.Backend : "nothing named")}");

    /// <summary>Stops every device thread; call before guest memory goes away.</summary>
    public void Dispose()
    {
        _displayInput?.Attach(null, null); // before the devices go: a client's key must not reach a disposed one
        foreach (var function in _functions)
        {
            function.Dispose();
        }

        _functions.Clear();
    }

    private void Add(IVirtioDevice device, GuestMemory memory, IMsiSink msi, IDoorbellRegistry doorbells, Action<string> log, string backend = "")
    {
        VirtioPciDevice function;
        try
        {
            function = new VirtioPciDevice(device, memory, msi, doorbells, message => log($"virtio-{message}")) { Backend = backend };
        }
        catch
        {
            device.Dispose();
            throw;
        }

        _functions.Add(function);
        Bus.AddDevice(function);
    }

    private static T Open<T>(string option, Func<T> open)
    {
        try
        {
            return open();
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new VmConfigException($"{option}: no such file");
        }
        catch (UnauthorizedAccessException)
        {
            throw new VmConfigException($"{option}: permission denied");
        }
        catch (IOException e)
        {
            throw new VmConfigException($"{option}: {e.Message}");
        }
        catch (Kvm.KvmException e)
        {
            throw new VmConfigException($"{option}: {e.Message}");
        }
        catch (ArgumentException e)
        {
            throw new VmConfigException($"{option}: {e.Message}");
        }
    }
}
