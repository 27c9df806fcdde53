// The clone dialog: a new VM from a template, asked only its name. The API makes each of the template's writable
// disks a qcow2 overlay for it (NAME-diskN.qcow2 beside the template's), so the new VM's writes land there alone.
import { api, ApiError } from "./api.js";
import { $, refused } from "./nav.js";
import { clearErrors, showApiErrors } from "./vm-form.js";

const dialog = $("clone-dialog");
const form = $("clone-form");
let template = null; // the template the dialog was opened for

/** `onCloned(vm)` runs with the API's answer once the new VM exists. */
export function setupCloneDialog(onCloned) {
  $("clone-cancel").addEventListener("click", () => dialog.close());
  form.elements.name.addEventListener("input", () => { $("clone-error-name").textContent = ""; });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const name = form.elements.name.value.trim();
    if (!/^[a-z][a-z0-9-]{0,62}$/.test(name)) {
      $("clone-error-name").textContent = "lowercase letters, digits and '-', starting with a letter (at most 63)";
      form.elements.name.focus();
      return;
    }
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true; // one clone per press
    try {
      const vm = await api("POST", `vms/${template.id}/clone`, { name });
      dialog.close();
      onCloned(vm);
    } catch (e) {
      if (refused(e)) return;
      showApiErrors(form, e instanceof ApiError ? e.errors : {}, e.message);
    } finally {
      submit.disabled = false;
    }
  });
}

/** Opens it for `target` (a template), focus on the name. */
export function openCloneDialog(target) {
  if (dialog.open) return;
  template = target;
  form.reset();
  clearErrors(form);
  $("clone-template").textContent = target.name;
  dialog.showModal();
  form.elements.name.focus();
}

export const closeCloneDialog = () => dialog.close();
