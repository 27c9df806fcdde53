// The page: token sign-in, the VM list with its create form, and one VM's page (actions, console, events).
// Views are sections shown by the address's hash (#/ or #/vm/NAME); live state comes from the event stream.
import { api, ApiError, adoptTokenFromAddress, getToken, setToken, forgetToken } from "./api.js";
import { renderActions } from "./vm-actions.js";
import { subscribe } from "./events.js";
import { VmConsole } from "./console.js";

const $ = (id) => document.getElementById(id);
const views = ["login-view", "list-view", "vm-view"];
let events = null;
let currentVm = null; // the VM shown on its page
// Bumped each time the page changes (route, sign-in form). An answer, poll or event read that began for an earlier
// page compares the number it took at its start and is dropped: a slow answer for VM a must not repaint b's page.
let pageId = 0;
const vmConsole = new VmConsole($("console"), $("console-status"), $("console-idle"));

function show(view) {
  for (const id of views) $(id).hidden = id !== view;
  $("forget-token").hidden = view === "login-view";
}

function showLogin(reason) {
  pageId++;
  events?.close();
  events = null;
  vmConsole.dispose();
  $("host-banner").hidden = true;
  $("login-reason").textContent = reason;
  show("login-view");
  $("login-token").focus();
}

function text(tag, content, className) {
  const element = document.createElement(tag);
  element.textContent = content;
  if (className) element.className = className;
  return element;
}

// "failed" alone could be any failure; the state means the VMM exited before the VM ever ran.
const stateLabels = { failed: "failed to start" };

/**
 * Fills a state badge and the reason beside it. The reason is visible text, not a tooltip: it is what the person
 * has to act on (no KVM, a bad kernel), and a tooltip is out of reach on touch screens and for many screen readers.
 */
function showState(badge, reason, vm, withReason) {
  badge.textContent = stateLabels[vm.state] ?? vm.state;
  badge.className = `state state-${vm.state}`;
  reason.textContent = withReason && vm.exitReason ? `(${vm.exitReason})` : "";
  reason.hidden = reason.textContent === "";
}

/** Runs one lifecycle action; the answer (and the events that follow) update the page, if it is still the same. */
async function act(vm, action, messageElement) {
  if (action === "delete" && !confirm(`Delete the VM ${vm.name}?`)) return;
  const page = pageId;
  messageElement.textContent = "";
  try {
    if (action === "delete") {
      await api("DELETE", `vms/${vm.id}`);
      if (page === pageId) location.hash = "#/"; // from its page, back to the list (on the list: no change)
    } else {
      const updated = await api("POST", `vms/${vm.id}/${action}`);
      if (page === pageId) vmChanged(updated);
    }
  } catch (e) {
    if (page !== pageId) return;
    if (e.status === 401) return showLogin("The token was refused.");
    messageElement.textContent = `${action} ${vm.name}: ${e.message}`;
  }
}

// ---- the list

/** A cell holding one element; `label` is its column's name, shown beside it when the table is narrow (app.css). */
function cell(label, content) {
  const td = document.createElement("td");
  td.dataset.label = label;
  td.append(content);
  return td;
}

function row(vm) {
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
  renderActions(buttons, vm, (action) => act(vm, action, $("list-message")));
  tr.append(cell("Name", link), cell("State", state), cell("vCPUs", String(vm.vcpus)),
    cell("Memory", `${vm.memoryMiB} MiB`), cell("Guest", vm.builtInGuest ? `built-in: ${vm.builtInGuest}` : vm.kernel || ""),
    cell("Actions", buttons));
  return tr;
}

function renderList(vms) {
  $("vm-rows").replaceChildren(...vms.map(row));
  $("vm-empty").hidden = vms.length > 0;
}

/** Replaces (or adds, in name order) one VM's row, keeping keyboard focus on the same button. */
function updateRow(vm) {
  const rows = $("vm-rows");
  const old = rows.querySelector(`tr[data-vm-id="${vm.id}"]`);
  const focused = old?.contains(document.activeElement) ? document.activeElement.dataset.action : null;
  const fresh = row(vm);
  if (old) old.replaceWith(fresh);
  else {
    const after = [...rows.children].find((tr) => tr.querySelector("a").textContent > vm.name);
    rows.insertBefore(fresh, after || null);
  }
  if (focused) fresh.querySelector(`button[data-action="${focused}"]`)?.focus();
  $("vm-empty").hidden = true;
}

async function loadList() {
  const page = pageId;
  try {
    const vms = await api("GET", "vms");
    if (page === pageId) renderList(vms);
  } catch (e) {
    if (page !== pageId) return;
    if (e.status === 401) return showLogin("The token was refused.");
    $("list-message").textContent = `Could not list the VMs: ${e.message}`;
  }
}

// ---- create

function clearErrors(form) {
  for (const p of form.querySelectorAll(".error[data-field]")) p.textContent = "";
  for (const input of form.querySelectorAll("input")) input.removeAttribute("aria-invalid");
  $("create-error").textContent = "";
}

function formSpec(form) {
  const spec = {};
  for (const name of ["name", "builtInGuest", "kernel", "cmdline"]) {
    const value = form.elements[name].value.trim();
    if (value !== "") spec[name] = value;
  }
  for (const name of ["vcpus", "memoryMiB"]) {
    const raw = form.elements[name].value.trim();
    if (raw !== "") spec[name] = Number(raw);
  }
  return spec;
}

/** Shows each field's messages beside it; messages for fields the form lacks go under the form. */
function showErrors(form, errors, fallback) {
  const elsewhere = [];
  let first = null;
  for (const [field, messages] of Object.entries(errors)) {
    const target = form.querySelector(`.error[data-field="${field}"]`);
    if (target) {
      target.textContent = messages.join(" ");
      const input = form.elements[field];
      input.setAttribute("aria-invalid", "true");
      first ??= input;
    } else {
      elsewhere.push(`${field}: ${messages.join(" ")}`);
    }
  }
  $("create-error").textContent = elsewhere.join("; ") || (first ? "" : fallback);
  first?.focus();
}

async function create(event) {
  event.preventDefault();
  const form = event.target;
  clearErrors(form);
  try {
    const vm = await api("POST", "vms", formSpec(form));
    updateRow(vm);
    form.elements.name.value = "";
    $("list-message").textContent = `Created ${vm.name}.`;
  } catch (e) {
    if (e.status === 401) return showLogin("The token was refused.");
    showErrors(form, e instanceof ApiError ? e.errors : {}, e.message);
  }
}

// ---- one VM

/** Empties the VM's page down to its title, so nothing of the VM shown before is left to read or to act on. */
function clearVm(name) {
  currentVm = null;
  vmConsole.dispose();
  $("vm-title").textContent = name;
  document.title = `${name} · Sharpvisor`;
  $("vm-message").textContent = "";
  $("vm-body").hidden = true;
  for (const id of ["vm-state", "vm-reason", "vm-actions", "vm-details", "vm-events"]) $(id).replaceChildren();
}

/** The page of a name that matches no VM (never did, or was deleted while shown): that, and nothing else. */
function showMissing(name) {
  clearVm(name);
  $("vm-message").textContent = `There is no VM named ${name}.`;
}

function renderVm(vm) {
  currentVm = vm;
  $("vm-title").textContent = vm.name;
  document.title = `${vm.name} · Sharpvisor`;
  $("vm-body").hidden = false;
  showState($("vm-state"), $("vm-reason"), vm, true);
  renderActions($("vm-actions"), vm, (action) => act(vm, action, $("vm-message")));
  const details = [["Id", vm.id], ["vCPUs", vm.vcpus], ["Memory", `${vm.memoryMiB} MiB`],
    ["Guest", vm.builtInGuest ? `built-in: ${vm.builtInGuest}` : vm.kernel], ["Command line", vm.cmdline],
    ["Process", vm.pid ?? "none"], ["Version", vm.version]];
  $("vm-details").replaceChildren(...details.flatMap(([k, v]) => [text("dt", k), text("dd", String(v ?? ""))]));
  if (vm.state === "running" || vm.state === "paused") vmConsole.connect(vm.id);
  else vmConsole.idle();
}

function eventItem(e) {
  const li = text("li", `${new Date(e.time).toLocaleTimeString()} ${e.kind}: ${e.message}`);
  li.dataset.eventId = e.id;
  return li;
}

function addEvent(e) {
  const list = $("vm-events");
  if (list.querySelector(`li[data-event-id="${e.id}"]`)) return;
  list.prepend(eventItem(e));
  while (list.children.length > 50) list.lastChild.remove();
}

/** Reads a VM (by name or id) and its recent events into its page; `name` is what to call it if that fails. */
async function loadVm(nameOrId, name) {
  const page = pageId;
  try {
    const vm = await api("GET", `vms/${encodeURIComponent(nameOrId)}`);
    if (page !== pageId) return;
    renderVm(vm);
    const recent = await api("GET", `vms/${vm.id}/events?limit=50`);
    if (page !== pageId) return;
    for (const e of recent) addEvent(e);
  } catch (e) {
    if (page !== pageId) return;
    if (e.status === 401) return showLogin("The token was refused.");
    if (e.status === 404) return showMissing(name);
    $("vm-message").textContent = `Could not read the VM ${name}: ${e.message}`;
  }
}

// ---- the host

/** The banner over every page while the host cannot run VMs; a daemon whose answer has no `kvm` gets none. */
async function loadHost() {
  try {
    const kvm = (await api("GET", "host"))?.kvm;
    if (!$("login-view").hidden) return; // signed out meanwhile
    const unusable = kvm?.usable === false;
    $("host-banner").textContent = unusable ? `VMs cannot start on this host: ${kvm.reason || `${kvm.device} is not usable`}` : "";
    $("host-banner").hidden = !unusable;
  } catch (e) {
    if (e.status === 401) showLogin("The token was refused.");
  }
}

// ---- live updates

function vmChanged(vm) {
  if (!$("list-view").hidden) updateRow(vm);
  if (currentVm?.id === vm.id && !$("vm-view").hidden) renderVm(vm);
}

async function onEvent(e) {
  const shown = currentVm?.id === e.vmId && !$("vm-view").hidden;
  if (shown) addEvent(e);
  if (e.kind === "deleted") {
    $("vm-rows").querySelector(`tr[data-vm-id="${e.vmId}"]`)?.remove();
    if (shown) showMissing(currentVm.name); // deleted elsewhere: its buttons must not stay
    return;
  }
  if (e.kind === "supervisor") return;
  const page = pageId;
  try {
    const vm = await api("GET", `vms/${e.vmId}`);
    if (page === pageId) vmChanged(vm);
  } catch (error) {
    if (error.status === 401 && page === pageId) showLogin("The token was refused.");
  }
}

/** After the stream (re)opens: reload what the page shows (and the host), since events may have been missed. */
function resync() {
  loadHost();
  if (!$("list-view").hidden) return loadList();
  if ($("vm-view").hidden) return;
  // A VM shown: re-read in place (no clearVm), so its console stays connected. None (no such VM, or the daemon was
  // down): the whole route again, as the name may exist by now.
  return currentVm ? loadVm(currentVm.id, currentVm.name) : route();
}

function route() {
  if (!getToken()) return showLogin("This page needs the daemon's access token.");
  events ??= subscribe({
    onEvent,
    onResync: resync,
    onUnauthorized: () => showLogin("The token was refused."),
    onStatus: (status) => { $("connection").textContent = `Events: ${status}`; },
  });
  pageId++;
  const match = /^#\/vm\/(.+)$/.exec(location.hash);
  if (match) {
    const name = decodeURIComponent(match[1]);
    clearVm(name);
    show("vm-view");
    loadVm(name, name);
  } else {
    currentVm = null;
    vmConsole.dispose();
    document.title = "Sharpvisor";
    show("list-view");
    loadList();
  }
}

$("login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  setToken($("login-token").value);
  $("login-token").value = "";
  route();
});
$("forget-token").addEventListener("click", () => { forgetToken(); showLogin("Token forgotten."); });
$("create-form").addEventListener("submit", create);
// The printed address may also be pasted into a tab that already shows the page: only the hash changes then.
window.addEventListener("hashchange", () => { adoptTokenFromAddress(); route(); });

adoptTokenFromAddress();
route();
