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
const vmConsole = new VmConsole($("console"), $("console-status"));

function show(view) {
  for (const id of views) $(id).hidden = id !== view;
  $("forget-token").hidden = view === "login-view";
}

function showLogin(reason) {
  events?.close();
  events = null;
  vmConsole.dispose();
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

function stateElement(vm) {
  return text("span", vm.state, `state state-${vm.state}`);
}

/** Runs one lifecycle action; the answer (and the events that follow) update the page. */
async function act(vm, action, messageElement) {
  if (action === "delete" && !confirm(`Delete the VM ${vm.name}?`)) return;
  messageElement.textContent = "";
  try {
    if (action === "delete") {
      await api("DELETE", `vms/${vm.id}`);
      if (currentVm?.id === vm.id) location.hash = "#/";
    } else {
      const updated = await api("POST", `vms/${vm.id}/${action}`);
      vmChanged(updated);
    }
  } catch (e) {
    if (e.status === 401) return showLogin("The token was refused.");
    messageElement.textContent = `${action} ${vm.name}: ${e.message}`;
  }
}

// ---- the list

function row(vm) {
  const tr = document.createElement("tr");
  tr.dataset.vmId = vm.id;
  const link = text("a", vm.name);
  link.href = `#/vm/${encodeURIComponent(vm.name)}`;
  const name = document.createElement("td");
  name.append(link);
  const state = document.createElement("td");
  state.append(stateElement(vm));
  const actions = document.createElement("td");
  const buttons = document.createElement("div");
  buttons.className = "actions";
  renderActions(buttons, vm, (action) => act(vm, action, $("list-message")));
  actions.append(buttons);
  tr.append(name, state, text("td", String(vm.vcpus)), text("td", `${vm.memoryMiB} MiB`),
    text("td", vm.builtInGuest ? `built-in: ${vm.builtInGuest}` : vm.kernel || ""), actions);
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
  try {
    renderList(await api("GET", "vms"));
  } catch (e) {
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

function renderVm(vm) {
  currentVm = vm;
  $("vm-title").textContent = vm.name;
  document.title = `${vm.name} · Sharpvisor`;
  const state = $("vm-state");
  state.textContent = vm.state;
  state.className = `state state-${vm.state}`;
  $("vm-reason").textContent = vm.exitReason ? `(${vm.exitReason})` : "";
  renderActions($("vm-actions"), vm, (action) => act(vm, action, $("vm-message")));
  const details = [["Id", vm.id], ["vCPUs", vm.vcpus], ["Memory", `${vm.memoryMiB} MiB`],
    ["Guest", vm.builtInGuest ? `built-in: ${vm.builtInGuest}` : vm.kernel], ["Command line", vm.cmdline],
    ["Process", vm.pid ?? "none"], ["Version", vm.version]];
  $("vm-details").replaceChildren(...details.flatMap(([k, v]) => [text("dt", k), text("dd", String(v ?? ""))]));
  if (vm.state === "running" || vm.state === "paused") vmConsole.connect(vm.id);
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

async function loadVm(name) {
  vmConsole.dispose();
  $("vm-message").textContent = "";
  $("vm-events").replaceChildren();
  try {
    const vm = await api("GET", `vms/${encodeURIComponent(name)}`);
    renderVm(vm);
    const recent = await api("GET", `vms/${vm.id}/events?limit=50`);
    for (const e of recent) addEvent(e);
  } catch (e) {
    if (e.status === 401) return showLogin("The token was refused.");
    $("vm-title").textContent = name;
    $("vm-message").textContent = e.message;
  }
}

// ---- live updates

function vmChanged(vm) {
  if (!$("list-view").hidden) updateRow(vm);
  if (currentVm?.id === vm.id && !$("vm-view").hidden) renderVm(vm);
}

async function onEvent(e) {
  if (currentVm?.id === e.vmId && !$("vm-view").hidden) addEvent(e);
  if (e.kind === "deleted") {
    $("vm-rows").querySelector(`tr[data-vm-id="${e.vmId}"]`)?.remove();
    return;
  }
  if (e.kind === "supervisor") return;
  try {
    vmChanged(await api("GET", `vms/${e.vmId}`));
  } catch (error) {
    if (error.status === 401) showLogin("The token was refused.");
  }
}

/** After the stream (re)opens: reload what the page shows, since events may have been missed meanwhile. */
async function resync() {
  if (!$("list-view").hidden) return loadList();
  if ($("vm-view").hidden || !currentVm) return;
  try {
    renderVm(await api("GET", `vms/${currentVm.id}`));
    for (const e of await api("GET", `vms/${currentVm.id}/events?limit=50`)) addEvent(e);
  } catch (e) {
    if (e.status === 401) showLogin("The token was refused.");
  }
}

function route() {
  if (!getToken()) return showLogin("This page needs the daemon's access token.");
  events ??= subscribe({
    onEvent,
    onResync: resync,
    onUnauthorized: () => showLogin("The token was refused."),
    onStatus: (status) => { $("connection").textContent = `Events: ${status}`; },
  });
  const match = /^#\/vm\/(.+)$/.exec(location.hash);
  if (match) {
    show("vm-view");
    loadVm(decodeURIComponent(match[1]));
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
