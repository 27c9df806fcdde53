// The create dialog: a modal <dialog> (focus stays in it, Esc closes it) with sensible defaults (1 vCPU, 128 MiB, the
// built-in guest "idle", which never ends), checks as you type, and the API's 400 messages beside their fields.
import { api, ApiError } from "./api.js";
import { $, refused } from "./nav.js";
import { checkAll, checkAsYouType, clearErrors, createSpec, showApiErrors } from "./vm-form.js";

const dialog = $("create-dialog");
const form = $("create-form");

/** `onCreated(vm)` runs with the API's answer once the VM exists. */
export function setupCreateDialog(onCreated) {
  checkAsYouType(form);
  // Only the chosen guest's fields show (and are checked and sent).
  form.addEventListener("change", (event) => {
    if (event.target.name !== "guestKind") return;
    for (const field of form.querySelectorAll("[data-guest]")) field.hidden = field.dataset.guest !== event.target.value;
    clearErrors(form);
  });
  $("create-cancel").addEventListener("click", () => dialog.close());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!checkAll(form)) return;
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true; // one create per press, even on a slow daemon
    try {
      const vm = await api("POST", "vms", createSpec(form));
      dialog.close();
      onCreated(vm);
    } catch (e) {
      if (refused(e)) return;
      showApiErrors(form, e instanceof ApiError ? e.errors : {}, e.message);
    } finally {
      submit.disabled = false;
    }
  });
}

/** Opens it with the defaults again (a name is asked for every time), focus on the name. */
export function openCreateDialog() {
  if (dialog.open) return;
  form.reset();
  for (const field of form.querySelectorAll("[data-guest]")) field.hidden = field.dataset.guest !== "builtIn";
  clearErrors(form);
  dialog.showModal();
  form.elements.name.focus();
}

export const closeCreateDialog = () => dialog.close();
