using Prometheus;
using Sharpvisor.Manager.Store;

namespace Sharpvisor.Manager.Api;

/// <summary>
/// /metrics in the Prometheus text format 0.0.4, written by prometheus-net. Each scrape fills a registry of its own
/// from a <see cref="MetricsScrape"/> and throws it away: series exist only for what is there now (a deleted VM's are
/// gone, a restarted VMM's counters start again from its own numbers), and concurrent scrapes share nothing.
/// </summary>
/// <remarks>
/// One long-lived registry with a before-collect callback would have to remove the label sets of deleted VMs itself,
/// could not lower a counter when a VMM restarts (<c>IncTo</c> ignores a smaller value), and its callbacks run
/// concurrently for concurrent scrapes. The per-scrape registry costs time, not correctness. Measured against a
/// hand-written writer of the same, byte-identical text (2-core machine, JIT, Release): 136 µs against 17 µs for
/// one VM, 3.4 ms against 1.4 ms for 100 running VMs (2,818 samples; 3.8 MB against 2.8 MB allocated), and +1.3 MB
/// (23.0 against 21.7 MB) in the NativeAOT sharpvisor-serve; the sharpvisor binary (VMM, CLI) is unchanged. That
/// is small beside a scrape's control-socket round trips, so the library's escaping and format stay in charge.
/// </remarks>
internal static class PrometheusExposition
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    private static readonly string[] Vm = ["vm", "id"];

    public static async Task WriteAsync(MetricsScrape scrape, Stream to, CancellationToken cancellationToken)
    {
        var registry = Metrics.NewCustomRegistry();
        var metrics = Metrics.WithCustomRegistry(registry);
        var host = scrape.Host;

        metrics.CreateGauge("sharpvisor_build_info", "1, labelled with the manager's version.", "version").WithLabels(host.Version).Set(1);
        metrics.CreateGauge("sharpvisor_host_cpus", "CPUs of the host.").Set(host.Cpus);
        metrics.CreateGauge("sharpvisor_host_memory_bytes", "MemTotal of the host (whole MiB).").Set(host.MemoryBytes);
        metrics.CreateGauge("sharpvisor_host_memory_available_bytes", "MemAvailable of the host (whole MiB): what new VMs can take without swapping.").Set(host.MemoryAvailableBytes);
        metrics.CreateGauge("sharpvisor_host_kvm_usable", "1 when the KVM device opens and speaks API 12: VMs can start on this host.").Set(host.Kvm.Usable ? 1 : 0);
        metrics.CreateGauge("sharpvisor_host_kvm_info", "1, labelled with the KVM device and its backend (vt-x, amd-v, pvm, unknown; none when not usable).", "device", "backend")
            .WithLabels(host.Kvm.Device, host.Kvm.Backend).Set(1);
        metrics.CreateGauge("sharpvisor_host_storage_free_bytes", "Free space on the file system of the manager's data directory.", "path")
            .WithLabels(host.Storage.Path).Set(host.Storage.FreeBytes);
        metrics.CreateGauge("sharpvisor_host_storage_size_bytes", "Size of the file system of the manager's data directory.", "path")
            .WithLabels(host.Storage.Path).Set(host.Storage.TotalBytes);

        var byState = metrics.CreateGauge("sharpvisor_vms", "VMs defined, by state.", "state");
        foreach (var state in Enum.GetValues<VmState>())
        {
            byState.WithLabels(state.ToName()).Set(scrape.Vms.Count(v => v.Entry.State.State == state));
        }

        var active = scrape.Vms.Where(v => VmMapping.IsActive(v.Entry.State.State)).Select(v => v.Entry.Definition).ToList();
        metrics.CreateGauge("sharpvisor_memory_committed_bytes", "Guest RAM of the VMs that run (starting, running, paused, stopping).").Set(active.Sum(d => (long)d.MemoryMiB << 20));
        metrics.CreateGauge("sharpvisor_vcpus_committed", "vCPUs of the VMs that run (starting, running, paused, stopping).").Set(active.Sum(d => d.Vcpus));

        var up = metrics.CreateGauge("sharpvisor_vm_up", "1 when the VM runs or is paused.", Vm);
        var vmState = metrics.CreateGauge("sharpvisor_vm_state", "1 for the VM's state.", [.. Vm, "state"]);
        var memory = metrics.CreateGauge("sharpvisor_vm_memory_bytes", "Guest RAM the VM is defined with.", Vm);
        var vcpus = metrics.CreateGauge("sharpvisor_vm_vcpus", "vCPUs the VM is defined with.", Vm);
        var uptime = metrics.CreateGauge("sharpvisor_vm_uptime_seconds", "Seconds since the VM's vCPUs started.", Vm);
        var rss = metrics.CreateGauge("sharpvisor_vm_rss_bytes", "Resident memory of the VM's VMM process, guest RAM the guest touched included.", Vm);
        var exits = metrics.CreateCounter("sharpvisor_vm_vcpu_exits_total", "Exits of a vCPU to the VMM (not those KVM handles itself).", [.. Vm, "vcpu"]);
        var exitsByReason = metrics.CreateCounter("sharpvisor_vm_vcpu_exits_by_reason_total", "Exits of a vCPU to the VMM by KVM exit reason (io, mmio, hlt ...).", [.. Vm, "vcpu", "reason"]);
        var assists = metrics.CreateCounter("sharpvisor_vm_emulation_assists_total", "Instructions the VMM completed for an emulating KVM (PVM), by mnemonic.", [.. Vm, "instruction"]);
        var devices = metrics.CreateGauge("sharpvisor_vm_device_info", "1 for each virtio-pci function of the VM: its PCI slot and type (block, net, console, rng).", [.. Vm, "slot", "type"]);
        var blockCompleted = metrics.CreateCounter("sharpvisor_vm_block_requests_completed_total", "Requests a virtio-blk device completed.", [.. Vm, "slot"]);
        var netRx = metrics.CreateCounter("sharpvisor_vm_net_rx_frames_total", "Frames a virtio-net device gave the guest.", [.. Vm, "slot"]);
        var netTx = metrics.CreateCounter("sharpvisor_vm_net_tx_frames_total", "Frames a virtio-net device sent from the guest.", [.. Vm, "slot"]);
        var netTxDropped = metrics.CreateCounter("sharpvisor_vm_net_tx_dropped_frames_total", "Frames from the guest a virtio-net device dropped.", [.. Vm, "slot"]);
        var otherCounters = metrics.CreateCounter("sharpvisor_vm_device_events_total", "A device counter this manager has no metric of its own for (a VMM newer than the manager), by the VMM's name for it.", [.. Vm, "slot", "type", "counter"]);

        foreach (var (entry, live) in scrape.Vms)
        {
            string[] vm = [entry.Definition.Name, entry.Definition.Id.ToString("D")];
            up.WithLabels(vm).Set(entry.State.State is VmState.Running or VmState.Paused ? 1 : 0);
            vmState.WithLabels([.. vm, entry.State.State.ToName()]).Set(1);
            memory.WithLabels(vm).Set((long)entry.Definition.MemoryMiB << 20);
            vcpus.WithLabels(vm).Set(entry.Definition.Vcpus);
            if (live is null)
            {
                continue;
            }

            uptime.WithLabels(vm).Set(live.Status.UptimeMs / 1000.0);
            rss.WithLabels(vm).Set(live.Metrics.RssBytes);
            foreach (var vcpu in live.Metrics.Vcpus.OrderBy(v => v.Id))
            {
                var id = Number(vcpu.Id);
                exits.WithLabels([.. vm, id]).IncTo(vcpu.TotalExits);
                foreach (var (reason, count) in vcpu.Exits.OrderBy(e => e.Key, StringComparer.Ordinal))
                {
                    exitsByReason.WithLabels([.. vm, id, reason]).IncTo(count);
                }
            }

            foreach (var (instruction, count) in live.Metrics.EmulationAssist.OrderBy(e => e.Key, StringComparer.Ordinal))
            {
                assists.WithLabels([.. vm, instruction]).IncTo(count);
            }

            foreach (var device in live.Metrics.Devices.OrderBy(d => d.Slot))
            {
                var slot = Number(device.Slot);
                devices.WithLabels([.. vm, slot, device.Type]).Set(1);
                foreach (var (name, count) in device.Counters.OrderBy(c => c.Key, StringComparer.Ordinal))
                {
                    var counter = (device.Type, name) switch
                    {
                        ("block", "completed") => blockCompleted.WithLabels([.. vm, slot]),
                        ("net", "rx_frames") => netRx.WithLabels([.. vm, slot]),
                        ("net", "tx_frames") => netTx.WithLabels([.. vm, slot]),
                        ("net", "tx_dropped") => netTxDropped.WithLabels([.. vm, slot]),
                        _ => otherCounters.WithLabels([.. vm, slot, device.Type, name]),
                    };
                    counter.IncTo(count);
                }
            }
        }

        await registry.CollectAndExportAsTextAsync(to, ExpositionFormat.PrometheusText, cancellationToken).ConfigureAwait(false);
    }

    private static string Number(int value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
