// The host dashboard (#/): what this host has and what its VMs take, VM counts by state, and live charts of the host's
// CPU and memory from GET /api/v1/host/history (the last hour the daemon keeps in memory).
import { api } from "./api.js";
import { TimeChart } from "./charts.js";
import { mib, percent } from "./format.js";
import { $, text, isCurrent, refused } from "./nav.js";

// The order people scan for: what runs, what needs acting on, then the rest.
const stateOrder = ["running", "paused", "starting", "stopping", "crashed", "failed", "stopped", "defined"];
const stateLabels = { failed: "failed to start" };

let cpuChart = null;
let memoryChart = null;
let memoryTotal = 0;
// The memory chart counts in GiB on hosts with a few GiB or more, so its ticks fall on round GiB (5, 10, 15), not on
// round MiB (10000 MiB = "9.8 GiB").
let memoryUnit = 1;

function ensureCharts() {
  cpuChart ??= new TimeChart($("host-cpu-chart"), {
    title: "CPU (all cores)", series: [{ label: "CPU", colour: "--chart-1" }], format: percent, max: 100,
  });
  memoryChart ??= new TimeChart($("host-memory-chart"), {
    title: "Memory in use", series: [{ label: "Memory", colour: "--chart-2" }], format: (v) => mib(v * memoryUnit),
    max: () => memoryTotal / memoryUnit,
  });
}

/** Reads the host and its history once; the caller (a poll) repeats it while the dashboard is shown. */
export async function refreshDashboard(page) {
  ensureCharts();
  try {
    const [host, history] = await Promise.all([api("GET", "host"), api("GET", "host/history")]);
    if (!isCurrent(page)) return;
    $("dashboard-message").textContent = "";
    renderHost(host);
    memoryTotal = history.memoryTotalMiB;
    memoryUnit = memoryTotal >= 4096 ? 1024 : 1;
    cpuChart.update(history.timestampsMs, [history.cpuPercent]);
    memoryChart.update(history.timestampsMs, [history.memoryUsedMiB.map((m) => (m == null ? null : m / memoryUnit))]);
  } catch (e) {
    if (!isCurrent(page) || refused(e)) return;
    $("dashboard-message").textContent = `Could not read the host: ${e.message}`;
  }
}

function renderHost(host) {
  $("host-name").textContent = host.hostname;
  $("tile-vms").textContent = String(host.vmCount);
  $("tile-vcpus").textContent = `${host.vcpusCommitted} of ${host.hostCpus}`;
  $("tile-memory").textContent = `${mib(host.memoryCommittedMiB)} of ${mib(host.hostMemoryMiB)}`;
  $("tile-kvm").textContent = host.kvm?.usable ? host.kvm.backend : "not usable";

  const counts = stateOrder
    .filter((state) => (host.vmsByState?.[state] ?? 0) > 0 || state === "running" || state === "stopped")
    .map((state) => {
      const li = document.createElement("li");
      li.dataset.state = state;
      const link = text("a", "", "");
      link.href = "#/vms";
      link.append(text("span", stateLabels[state] ?? state, `state state-${state}`), " ", text("span", String(host.vmsByState?.[state] ?? 0), "count"));
      li.append(link);
      return li;
    });
  $("vm-counts").replaceChildren(...counts);

  const storage = host.storage?.[0];
  const details = [
    ["Version", host.version], ["CPUs", host.hostCpus], ["Memory", mib(host.hostMemoryMiB)],
    ["Memory available", mib(host.hostMemoryAvailableMiB)], ["KVM device", `${host.kvm?.device ?? ""} (${host.kvm?.backend ?? "?"})`],
    ["Storage", storage ? `${mib(storage.freeBytes / 1048576)} free of ${mib(storage.totalBytes / 1048576)} (${storage.path})` : "–"],
  ];
  $("host-details").replaceChildren(...details.flatMap(([k, v]) => [text("dt", k), text("dd", String(v ?? ""))]));
}
