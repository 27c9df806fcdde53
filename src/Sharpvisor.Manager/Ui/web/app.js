// The page: token sign-in, and four views chosen by the address's hash: the host dashboard (#/), the VM list (#/vms),
// one VM's page (#/vm/NAME) and the storage pools (#/storage). States come live from the event stream; numbers from polls while the tab is visible.
import { api, adoptTokenFromAddress, getToken, setToken, forgetToken } from "./api.js";
import { setupCreateDialog, openCreateDialog, closeCreateDialog } from "./create-dialog.js";
import { setupMigrateDialog, openMigrateDialog, closeMigrateDialog } from "./migrate-dialog.js";
import { setupCloneDialog, openCloneDialog, closeCloneDialog } from "./clone-dialog.js";
import { refreshDashboard } from "./dashboard.js";
import { subscribe } from "./events.js";
import { poll } from "./live.js";
import { $, nextPage, pageNow, isCurrent, onUnauthorized, refused } from "./nav.js";
import { setupShortcuts, press } from "./shortcuts.js";
import { loadStorage, setupStorage } from "./storage.js";
import { setupThemeToggle } from "./theme.js";
import { renderList, updateRow, removeRow, refreshListMetrics } from "./vm-list.js";
import { vmConsole, currentVm, clearVm, showMissing, renderVm, addEvent, setupEditForm, refreshVmMetrics } from "./vm-page.js";

const views = ["login-view", "dashboard-view", "list-view", "vm-view", "storage-view"];
// Numbers refresh this often while shown; the daemon samples every 5 s by default, so faster would show nothing new.
const refreshMs = 3000;
let events = null;
let stopPolling = () => Promise.resolve();
let startPolling = () => {}; // the current page's poller again, after a pause

function show(view) {
  for (const id of views) $(id).hidden = id !== view;
  $("forget-token").hidden = view === "login-view";
  $("nav").hidden = view === "login-view";
  const section = { "dashboard-view": "dashboard", "list-view": "vms", "vm-view": "vms", "storage-view": "storage" }[view];
  for (const link of $("nav").querySelectorAll("a")) {
    if (link.dataset.nav === section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function showLogin(reason) {
  nextPage();
  stopPolling();
  events?.close();
  events = null;
  vmConsole.dispose();
  closeCreateDialog();
  closeMigrateDialog();
  closeCloneDialog();
  $("host-banner").hidden = true;
  $("login-reason").textContent = reason;
  show("login-view");
  $("login-token").focus();
}
onUnauthorized(() => showLogin("The token was refused."));

const isShown = (view) => !$(view).hidden;

/** Runs one lifecycle action; the answer (and the events that follow) update the page, if it is still the same. */
async function act(vm, action) {
  if (action === "delete" && !confirm(`Delete the VM ${vm.name}?`)) return;
  if (action === "migrate") {
    openMigrateDialog(vm);
    return;
  }
  if (action === "clone") {
    openCloneDialog(vm);
    return;
  }
  if (action === "template" && !confirm(`Make ${vm.name} a template? It will never run again; new VMs are made from it.`)) return;
  const page = pageNow();
  const message = isShown("vm-view") ? $("vm-message") : $("list-message");
  message.textContent = "";
  try {
    if (action === "delete") {
      // No history request for this VM may still be out when it goes: it would be answered 404.
      await stopPolling();
      try {
        await api("DELETE", `vms/${vm.id}`);
      } catch (e) {
        if (isCurrent(page)) startPolling(); // still there: its numbers go on
        throw e;
      }
      if (!isCurrent(page)) return;
      if (isShown("vm-view")) {
        location.hash = "#/vms"; // from its page, back to the list (whose page polls on its own)
      } else {
        await loadList(); // the list without it first, so the sparklines ask for no history of it
        startPolling();
      }
    } else if (action === "template") {
      const updated = await api("PUT", `vms/${vm.id}`, { template: true });
      if (isCurrent(page)) vmChanged(updated);
    } else {
      const updated = await api("POST", `vms/${vm.id}/${action}`);
      if (isCurrent(page)) vmChanged(updated);
    }
  } catch (e) {
    if (!isCurrent(page) || refused(e)) return;
    message.textContent = `${action} ${vm.name}: ${e.message}`;
  }
}

async function loadList() {
  const page = pageNow();
  try {
    const vms = await api("GET", "vms");
    if (!isCurrent(page)) return;
    renderList(vms, act, page);
    refreshListMetrics(page); // the sparklines now, not at the next round
  } catch (e) {
    if (!isCurrent(page) || refused(e)) return;
    $("list-message").textContent = `Could not list the VMs: ${e.message}`;
  }
}

/** Reads a VM (by name or id) and its recent events into its page; `name` is what to call it if that fails. */
async function loadVm(nameOrId, name) {
  const page = pageNow();
  try {
    const vm = await api("GET", `vms/${encodeURIComponent(nameOrId)}`);
    if (!isCurrent(page)) return;
    renderVm(vm, act);
    refreshVmMetrics(page);
    const recent = await api("GET", `vms/${vm.id}/events?limit=50`);
    if (!isCurrent(page)) return;
    for (const e of recent) addEvent(e);
  } catch (e) {
    if (!isCurrent(page) || refused(e)) return;
    if (e.status === 404) return showMissing(name);
    $("vm-message").textContent = `Could not read the VM ${name}: ${e.message}`;
  }
}

/** The banner over every page while the host cannot run VMs (GET /api/v1/host's kvm), with the host's own reason. */
async function loadHost() {
  try {
    const kvm = (await api("GET", "host"))?.kvm;
    if (isShown("login-view")) return; // signed out meanwhile
    const unusable = kvm?.usable === false;
    $("host-banner").textContent = unusable ? `VMs cannot start on this host: ${kvm.reason || `${kvm.device} is not usable`}` : "";
    $("host-banner").hidden = !unusable;
  } catch (e) {
    refused(e);
  }
}

// ---- live updates

function vmChanged(vm) {
  if (isShown("list-view")) updateRow(vm, act);
  if (currentVm()?.id === vm.id && isShown("vm-view")) renderVm(vm, act);
}

async function onEvent(e) {
  const shown = currentVm()?.id === e.vmId && isShown("vm-view");
  if (shown) addEvent(e);
  if (e.kind === "deleted") {
    removeRow(e.vmId);
    if (shown) showMissing(currentVm().name); // deleted elsewhere: its buttons must not stay
    return;
  }
  if (e.kind === "supervisor") return;
  const page = pageNow();
  try {
    const vm = await api("GET", `vms/${e.vmId}`);
    if (isCurrent(page)) vmChanged(vm);
  } catch (error) {
    if (isCurrent(page)) refused(error);
  }
}

/** After the stream (re)opens: reload what the page shows (and the host), since events may have been missed. */
function resync() {
  loadHost();
  if (isShown("list-view")) return loadList();
  if (!isShown("vm-view")) return;
  // A VM shown: re-read in place (no clearVm), so its console stays connected. None (no such VM, or the daemon was
  // down): the whole route again, as the name may exist by now.
  const vm = currentVm();
  return vm ? loadVm(vm.id, vm.name) : route();
}

function route() {
  if (!getToken()) return showLogin("This page needs the daemon's access token.");
  events ??= subscribe({
    onEvent,
    onResync: resync,
    onUnauthorized: () => showLogin("The token was refused."),
    onStatus: (status) => { $("connection").textContent = `Events: ${status}`; },
  });
  const page = nextPage();
  stopPolling();
  const match = /^#\/vm\/(.+)$/.exec(location.hash);
  if (match) {
    const name = decodeURIComponent(match[1]);
    clearVm(name);
    show("vm-view");
    loadVm(name, name);
    startPolling = () => { stopPolling = poll(() => refreshVmMetrics(page), refreshMs); };
    startPolling();
    return;
  }
  vmConsole.dispose();
  clearVm("");
  if (location.hash === "#/storage") {
    document.title = "Storage · Sharpvisor";
    show("storage-view");
    $("storage-message").textContent = "";
    loadStorage(page);
    // No numbers to poll: the page is read when shown and after each change made from it.
    stopPolling = () => Promise.resolve();
    startPolling = () => {};
    return;
  }
  if (location.hash === "#/vms") {
    document.title = "Virtual machines · Sharpvisor";
    show("list-view");
    loadList();
    startPolling = () => { stopPolling = poll(() => refreshListMetrics(page), refreshMs); };
    startPolling();
  } else {
    document.title = "Sharpvisor";
    show("dashboard-view");
    startPolling = () => { stopPolling = poll(() => refreshDashboard(page), refreshMs); };
    startPolling();
  }
}

$("login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  setToken($("login-token").value);
  $("login-token").value = "";
  route();
});
$("forget-token").addEventListener("click", () => { forgetToken(); showLogin("Token forgotten."); });
$("create-open").addEventListener("click", openCreateDialog);
setupCreateDialog((vm) => {
  if (isShown("list-view")) updateRow(vm, act);
  $("list-message").textContent = `Created ${vm.name}.`;
});
setupMigrateDialog((vm, result) => {
  // It is the other manager's now: back to the list, which no longer has it, with where it went.
  if (isShown("vm-view")) location.hash = "#/vms";
  $("list-message").textContent =
    `${vm.name} now runs at ${result.destination} (${result.rounds} rounds, paused ${result.downtimeMs} ms).`;
});
setupCloneDialog((vm) => {
  // To the new VM's page, ready to start.
  location.hash = `#/vm/${encodeURIComponent(vm.name)}`;
});
setupEditForm((vm) => vmChanged(vm));
setupStorage(pageNow);
setupThemeToggle($("theme-toggle"));
setupShortcuts({
  s: () => isShown("vm-view") && press($("vm-actions").querySelector('button[data-action="start"]')),
  t: () => isShown("vm-view") && press($("vm-actions").querySelector('button[data-action="stop"]')),
  c: () => isShown("list-view") && (openCreateDialog(), true),
});
// The printed address may also be pasted into a tab that already shows the page: only the hash changes then.
window.addEventListener("hashchange", () => { adoptTokenFromAddress(); route(); });

adoptTokenFromAddress();
route();
