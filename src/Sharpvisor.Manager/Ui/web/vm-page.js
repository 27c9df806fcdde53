// One VM's page (#/vm/NAME): state, actions, live charts (GET /api/v1/vms/{id}/history), the console, the definition
// with an edit form while the VM does not run, and its recent events.
import { api, ApiError } from "./api.js";
import { TimeChart } from "./charts.js";
import { VmConsole } from "./console.js";
import { VmDisplay } from "./display.js";
import { duration, mib, number, percent, rate, uptimeSeconds } from "./format.js";
import { $, text, isCurrent, refused } from "./nav.js";
import { renderActions, pageActionNames } from "./vm-actions.js";
import { checkAll, checkAsYouType, clearErrors, editSpec, showApiErrors } from "./vm-form.js";
import { showState } from "./vm-state.js";

export const vmConsole = new VmConsole($("console"), $("console-status"), $("console-idle"));
export const vmDisplay = new VmDisplay($("vm-display"), $("display"), $("display-status"), $("display-head"), $("display-cad"), $("display-full"));
const editable = ["defined", "stopped", "crashed", "failed"]; // PUT's states (else 409)
const editForm = $("edit-form");
let current = null; // the VM shown, as last read
let editedVersion = null; // the version the edit form was filled from
let editDirty = false; // typed into since: a change made elsewhere must not overwrite that (the save's 409 says so)
let charts = null;

export const currentVm = () => current;

function ensureCharts() {
  charts ??= {
    cpu: new TimeChart($("vm-cpu-chart"), { title: "CPU (% of one host CPU)", series: [{ label: "CPU", colour: "--chart-1" }], format: percent, max: 100 }),
    memory: new TimeChart($("vm-memory-chart"), {
      title: "Memory (VMM resident)", series: [{ label: "RSS", colour: "--chart-2" }], format: mib, max: () => current?.memoryMiB ?? 0,
    }),
    disk: new TimeChart($("vm-disk-chart"), {
      title: "Disk requests per second", series: [{ label: "Requests", colour: "--chart-3" }], format: (v) => rate(v, "req"), axis: number,
    }),
    net: new TimeChart($("vm-net-chart"), {
      title: "Network frames per second", format: (v) => rate(v, "fr"), axis: number,
      series: [{ label: "Received", colour: "--chart-4" }, { label: "Sent", colour: "--chart-3" }],
    }),
  };
  return charts;
}

/** Empties the page down to its title, so nothing of the VM shown before is left to read or to act on. */
export function clearVm(name) {
  current = null;
  editedVersion = null;
  vmConsole.dispose();
  vmDisplay.dispose();
  $("vm-title").textContent = name;
  $("vm-template").hidden = true;
  document.title = `${name} · Sharpvisor`;
  $("vm-message").textContent = "";
  $("vm-body").hidden = true;
  for (const id of ["vm-state", "vm-reason", "vm-uptime", "vm-actions", "vm-details", "vm-events"]) $(id).replaceChildren();
  editForm.reset();
  clearErrors(editForm);
  editForm.querySelector(".form-status").textContent = "";
  editDirty = false;
  const c = ensureCharts();
  c.cpu.update([], [[]]);
  c.memory.update([], [[]]);
  c.disk.update([], [[]]);
  c.net.update([], [[], []]);
  $("vm-disk-chart").hidden = true;
  $("vm-net-chart").hidden = true;
}

/** The page of a name that matches no VM (never did, or was deleted while shown): that, and nothing else. */
export function showMissing(name) {
  clearVm(name);
  $("vm-message").textContent = `There is no VM named ${name}.`;
}

export function renderVm(vm, act) {
  current = vm;
  $("vm-title").textContent = vm.name;
  document.title = `${vm.name} · Sharpvisor`;
  $("vm-body").hidden = false;
  showState($("vm-state"), $("vm-reason"), vm, true);
  showUptime();
  renderActions($("vm-actions"), vm, (action) => act(vm, action), pageActionNames);
  $("vm-template").hidden = !vm.template;
  // The page's single-key shortcuts (shortcuts.js), announced on the buttons they press.
  $("vm-actions").querySelector('[data-action="start"]').setAttribute("aria-keyshortcuts", "s");
  $("vm-actions").querySelector('[data-action="stop"]').setAttribute("aria-keyshortcuts", "t");
  const details = [["Id", vm.id], ["vCPUs", vm.vcpus], ["Memory", `${vm.memoryMiB} MiB`],
    ["Guest", vm.builtInGuest ? `built-in: ${vm.builtInGuest}` : vm.kernel], ["Command line", vm.cmdline],
    ...vm.disks.map((d, i) => [`Disk ${i}`, `${d.path} (${d.format ?? "raw"}${d.readOnly ? ", read-only" : ""})`]),
    ["Process", vm.pid ?? "none"], ["Version", vm.version]];
  $("vm-details").replaceChildren(...details.flatMap(([k, v]) => [text("dt", k), text("dd", String(v ?? ""))]));
  showEditForm(vm);
  if (vm.state === "running" || vm.state === "paused") vmConsole.connect(vm.id);
  else vmConsole.idle();
  vmDisplay.show(vm);
}

function showUptime() {
  const seconds = current && uptimeSeconds(current);
  $("vm-uptime").textContent = seconds == null ? "" : `up ${duration(seconds)}`;
}

// ---- the edit form: filled from the VM when its version changes, unless typed into (events re-render the page often)

function showEditForm(vm) {
  const canEdit = editable.includes(vm.state);
  editForm.hidden = !canEdit;
  $("edit-locked").hidden = canEdit;
  if (!canEdit || editedVersion === vm.version || editDirty) return;
  editedVersion = vm.version;
  clearErrors(editForm);
  editForm.elements.vcpus.value = vm.vcpus;
  editForm.elements.memoryMiB.value = vm.memoryMiB;
  editForm.elements.builtInGuest.value = vm.builtInGuest ?? "";
  editForm.elements.kernel.value = vm.kernel ?? "";
  editForm.elements.cmdline.value = vm.cmdline ?? "";
}

/** `onSaved(vm)` runs with the API's answer to the PUT. */
export function setupEditForm(onSaved) {
  checkAsYouType(editForm);
  editForm.addEventListener("input", () => { editDirty = true; });
  editForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const vm = current;
    editForm.querySelector(".form-status").textContent = "";
    if (!vm || !checkAll(editForm)) return;
    try {
      // The version makes a change made elsewhere since the form was filled a 409, not a silent overwrite.
      const saved = await api("PUT", `vms/${vm.id}`, editSpec(editForm, editedVersion));
      if (current?.id !== saved.id) return;
      editedVersion = null; // refill from what was stored
      editDirty = false;
      onSaved(saved);
      $("vm-message").textContent = "";
      editForm.querySelector(".form-status").textContent = `Saved: version ${saved.version}.`;
    } catch (e) {
      if (refused(e) || current?.id !== vm.id) return;
      if (e.status === 409) {
        // Changed elsewhere since the form was filled (or started): show what is stored now rather than overwrite it
        // unseen, and say why.
        editedVersion = null;
        editDirty = false;
        try {
          const fresh = await api("GET", `vms/${vm.id}`);
          if (current?.id === fresh.id) onSaved(fresh);
        } catch {
          // The message below still says what happened; the event stream brings the VM.
        }
        editForm.querySelector(".form-error").textContent = `${e.message}. The form now shows the stored definition.`;
        return;
      }
      showApiErrors(editForm, e instanceof ApiError ? e.errors : {}, e.message);
    }
  });
}

// ---- events and metrics

export function addEvent(e) {
  const list = $("vm-events");
  if (list.querySelector(`li[data-event-id="${e.id}"]`)) return;
  const li = text("li", `${new Date(e.time).toLocaleTimeString()} ${e.kind}: ${e.message}`);
  li.dataset.eventId = e.id;
  list.prepend(li);
  while (list.children.length > 50) list.lastChild.remove();
}

/** One live round of the charts (and the uptime beside the state). */
export async function refreshVmMetrics(page) {
  const vm = current;
  if (!vm) return;
  showUptime();
  try {
    const h = await api("GET", `vms/${vm.id}/history`);
    if (!isCurrent(page) || current?.id !== vm.id) return;
    const c = ensureCharts();
    $("vm-charts-note").textContent = `Sampled every ${h.intervalSeconds} s while the VM runs; the daemon keeps the last hour in memory.`;
    c.cpu.update(h.timestampsMs, [h.cpuPercent]);
    c.memory.update(h.timestampsMs, [h.rssBytes.map((b) => (b == null ? null : b / 1048576))]);
    // Disk and network only when the VMM has such devices (the API leaves the series out otherwise).
    $("vm-disk-chart").hidden = !h.diskOpsPerSecond;
    if (h.diskOpsPerSecond) c.disk.update(h.timestampsMs, [h.diskOpsPerSecond]);
    $("vm-net-chart").hidden = !h.netRxFramesPerSecond;
    if (h.netRxFramesPerSecond) c.net.update(h.timestampsMs, [h.netRxFramesPerSecond, h.netTxFramesPerSecond]);
  } catch (e) {
    if (isCurrent(page)) refused(e);
  }
}
