// The VM list (#/vms): one row per VM with its state badge, vCPUs, memory, uptime and a sparkline of its CPU use over
// the last ten minutes, and its action buttons. Rows are rebuilt on every change (events), so each VM's sparkline is
// kept aside and moved into its new row rather than redrawn from nothing.
import { api } from "./api.js";
import { Sparkline } from "./charts.js";
import { duration, percent, uptimeSeconds } from "./format.js";
import { $, text, isCurrent, refused } from "./nav.js";
import { renderActions } from "./vm-actions.js";
import { showState } from "./vm-state.js";

const shown = new Map(); // id -> the VM as last read
const sparks = new Map(); // id -> Sparkline
const sparkSeconds = 600;

/** A cell holding one element; `label` is its column's name, shown beside it when the table is narrow (app.css). */
function cell(label, content) {
  const td = document.createElement("td");
  td.dataset.label = label;
  td.append(content);
  return td;
}

const uptimeText = (vm) => { const s = uptimeSeconds(vm); return s == null ? "–" : duration(s); };

function row(vm, act) {
  const tr = document.createElement("tr");
  tr.dataset.vmId = vm.id;
  const link = text("a", vm.name);
  link.href = `#/vm/${encodeURIComponent(vm.name)}`;
  // The list says why only for the states that need acting on; the VM's page gives any exit reason.
  const state = document.createElement("span");
  const badge = document.createElement("span");
  const reason = text("span", "", "reason");
  showState(badge, reason, vm, vm.state === "failed" || vm.state === "crashed");
  state.append(badge, " ", reason);
  const buttons = document.createElement("div");
  buttons.className = "actions";
  renderActions(buttons, vm, (action) => act(vm, action));
  let spark = sparks.get(vm.id);
  if (!spark) {
    spark = new Sparkline(`CPU of ${vm.name}`);
    sparks.set(vm.id, spark);
  }
  const name = document.createElement("span");
  name.append(link);
  if (vm.template) name.append(" ", text("span", "template", "tag"));
  tr.append(cell("Name", name), cell("State", state), cell("vCPUs", String(vm.vcpus)), cell("Memory", `${vm.memoryMiB} MiB`),
    cell("Uptime", text("span", uptimeText(vm), "uptime")), cell("CPU", spark.element),
    cell("Guest", vm.builtInGuest ? `built-in: ${vm.builtInGuest}` : vm.kernel || ""), cell("Actions", buttons));
  return tr;
}

/** The page visit whose list `shown` holds: until this visit's list has come, `shown` is a past visit's. */
let listedPage = null;

export function renderList(vms, act, page) {
  listedPage = page;
  for (const id of [...sparks.keys()]) if (!vms.some((vm) => vm.id === id)) dropSpark(id);
  shown.clear();
  for (const vm of vms) shown.set(vm.id, vm);
  $("vm-rows").replaceChildren(...vms.map((vm) => row(vm, act)));
  $("vm-empty").hidden = vms.length > 0;
}

/** Replaces (or adds, in name order) one VM's row, keeping keyboard focus on the same button. */
export function updateRow(vm, act) {
  shown.set(vm.id, vm);
  const rows = $("vm-rows");
  const old = rows.querySelector(`tr[data-vm-id="${vm.id}"]`);
  const focused = old?.contains(document.activeElement) ? document.activeElement.dataset.action : null;
  const fresh = row(vm, act);
  if (old) old.replaceWith(fresh);
  else {
    const after = [...rows.children].find((tr) => tr.querySelector("a").textContent > vm.name);
    rows.insertBefore(fresh, after || null);
  }
  if (focused) fresh.querySelector(`button[data-action="${focused}"]`)?.focus();
  $("vm-empty").hidden = true;
}

export function removeRow(id) {
  shown.delete(id);
  dropSpark(id);
  $("vm-rows").querySelector(`tr[data-vm-id="${id}"]`)?.remove();
  $("vm-empty").hidden = shown.size > 0;
}

function dropSpark(id) {
  sparks.get(id)?.destroy();
  sparks.delete(id);
}

/** One live round: the uptimes, and the sparklines of the VMs that run (a stopped VM's line stays as it was). */
export async function refreshListMetrics(page) {
  // Not from the VMs a past visit listed: one may be gone since (deleted on its own page), and its history a 404.
  if (listedPage !== page) return;
  for (const [id, vm] of shown) {
    const cellText = $("vm-rows").querySelector(`tr[data-vm-id="${id}"] .uptime`);
    if (cellText) cellText.textContent = uptimeText(vm);
  }
  const running = [...shown.values()].filter((vm) => vm.state === "running" || vm.state === "paused");
  await Promise.all(running.map(async (vm) => {
    try {
      const history = await api("GET", `vms/${vm.id}/history?seconds=${sparkSeconds}`);
      if (isCurrent(page)) sparks.get(vm.id)?.update(history.timestampsMs, history.cpuPercent, percent);
    } catch (e) {
      if (isCurrent(page)) refused(e); // a VM deleted meanwhile (404) is the event stream's to remove
    }
  }));
}
