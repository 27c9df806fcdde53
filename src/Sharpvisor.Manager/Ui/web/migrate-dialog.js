// The migrate dialog: where to move a running VM (another manager's URL and token), the longest pause, a bandwidth
// limit and auto-converge. The API answers once the VM runs there; meanwhile the VM's events show each round's
// progress and the dialog's Cancel becomes "Stop migration" (the VM then runs on here).
import { api, ApiError } from "./api.js";
import { $, refused } from "./nav.js";
import { clearErrors, showApiErrors } from "./vm-form.js";

const dialog = $("migrate-dialog");
const form = $("migrate-form");
const cancel = $("migrate-cancel");
let vm = null; // the VM the dialog was opened for
let migrating = null; // the VM whose migration is under way (the API has not answered yet)

/** Cancel closes the dialog; while a migration is under way it stops the migration instead. */
async function cancelClicked() {
  if (!migrating) {
    dialog.close();
    return;
  }
  const target = migrating;
  cancel.disabled = true;
  try {
    await api("POST", `vms/${target.id}/migrate/cancel`);
    $("migrate-status").textContent = `Stopping the migration: ${target.name} runs on here.`;
  } catch (e) {
    if (!refused(e)) showApiErrors(form, {}, e.message);
  } finally {
    cancel.disabled = false;
  }
}

/** `onMigrated(vm, result)` runs with the API's answer once the VM runs at the destination. */
export function setupMigrateDialog(onMigrated) {
  cancel.addEventListener("click", cancelClicked);
  form.elements.to.addEventListener("input", () => { $("migrate-error-to").textContent = ""; });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    if (!form.elements.to.checkValidity()) {
      $("migrate-error-to").textContent = "must be the other manager's URL, like https://host2:7780";
      form.elements.to.focus();
      return;
    }
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true; // one migration per press
    $("migrate-status").textContent = `Migrating ${vm.name}: its events below show how far it is.`;
    const target = vm;
    migrating = target;
    cancel.textContent = "Stop migration";
    try {
      const result = await api("POST", `vms/${target.id}/migrate`, {
        to: form.elements.to.value,
        token: form.elements.token.value || null,
        fingerprint: form.elements.fingerprint.value || null,
        downtimeMs: Number(form.elements.downtimeMs.value) || null,
        maxBandwidth: Math.round(Number(form.elements.maxBandwidth.value) * 1e6) || 0,
        autoConverge: form.elements.autoConverge.checked,
      });
      dialog.close();
      onMigrated(target, result);
    } catch (e) {
      if (refused(e)) return;
      showApiErrors(form, e instanceof ApiError ? e.errors : {}, e.message);
    } finally {
      migrating = null;
      cancel.textContent = "Cancel";
      submit.disabled = false;
      $("migrate-status").textContent = "";
    }
  });
}

/** Opens it for `target` (a running VM), focus on the destination. */
export function openMigrateDialog(target) {
  if (dialog.open) return;
  vm = target;
  form.reset();
  clearErrors(form);
  $("migrate-vm").textContent = target.name;
  dialog.showModal();
  form.elements.to.focus();
}

export const closeMigrateDialog = () => dialog.close();
