// The VM forms (create dialog, edit form): checks as you type, in the API's own words and limits, so most mistakes
// show before a request; the API stays the judge, and its 400's field messages land beside the same fields.

// The API's limits (VmLimits, VmDefinitionValidator): a change there must be made here too.
const limits = { vcpus: [1, 255], memoryMiB: [16, 65536] };
const namePattern = /^[a-z][a-z0-9-]{0,62}$/;
const scenarioPattern = /^[a-z0-9-]{1,32}$/;

function integerProblem(raw, [min, max]) {
  if (raw === "") return "is required";
  const value = Number(raw);
  return Number.isInteger(value) && value >= min && value <= max ? "" : `must be between ${min} and ${max}`;
}

/** The message for one field of `form`, "" when it is fine. `final`: also what is only wrong once typing is over (empty). */
export function fieldProblem(form, name, final) {
  const input = form.elements[name];
  if (!input || input.closest("[hidden]")) return "";
  const raw = input.value.trim();
  if (raw === "" && !final) return "";
  switch (name) {
    case "name":
      if (raw === "") return "is required";
      if (raw.length > 63) return "must be at most 63 characters";
      return namePattern.test(raw) ? "" : "must be lowercase letters, digits and '-', starting with a letter";
    case "vcpus":
    case "memoryMiB":
      return integerProblem(raw, limits[name]);
    case "builtInGuest":
      if (raw === "") return guestKind(form) === "builtIn" ? "is required" : "";
      return scenarioPattern.test(raw) ? "" : "must be a scenario name: 1-32 lowercase letters, digits and '-' (e.g. hello)";
    case "kernel":
      if (raw === "") return guestKind(form) === "kernel" ? "is required" : "";
      if (!raw.startsWith("/")) return "must be an absolute path";
      return form.elements.builtInGuest?.value.trim() && !form.elements.guestKind ? "give either a kernel or a built-in guest, not both" : "";
    default:
      return "";
  }
}

/** The create dialog chooses with radio buttons; the edit form has both fields and takes whichever is filled. */
function guestKind(form) {
  if (form.elements.guestKind) return form.elements.guestKind.value;
  return form.elements.kernel.value.trim() !== "" ? "kernel" : "builtIn";
}

function setError(form, name, message) {
  const target = form.querySelector(`.error[data-field="${name}"]`);
  const input = form.elements[name];
  if (target) target.textContent = message;
  if (input?.setAttribute) {
    if (message) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }
}

/** Checks each field as it is typed into, and when it is left (then an empty required field says so too). */
export function checkAsYouType(form) {
  for (const input of form.querySelectorAll("input[name]:not([type=radio])")) {
    input.addEventListener("input", () => setError(form, input.name, fieldProblem(form, input.name, false)));
    input.addEventListener("blur", () => setError(form, input.name, fieldProblem(form, input.name, input.value.trim() !== "")));
  }
}

/** Checks every field as at submit; focuses the first one wrong and returns false if any is. */
export function checkAll(form) {
  clearErrors(form);
  let first = null;
  for (const input of form.querySelectorAll("input[name]:not([type=radio])")) {
    const message = fieldProblem(form, input.name, true);
    setError(form, input.name, message);
    if (message) first ??= input;
  }
  first?.focus();
  return first === null;
}

export function clearErrors(form) {
  for (const p of form.querySelectorAll(".error")) p.textContent = "";
  for (const input of form.querySelectorAll("input")) input.removeAttribute("aria-invalid");
}

/** The API's 400 (`errors: {"field": [...]}`): each field's messages beside it; others (and `fallback`) under the form. */
export function showApiErrors(form, errors, fallback) {
  const elsewhere = [];
  let first = null;
  for (const [field, messages] of Object.entries(errors)) {
    const input = form.elements[field];
    if (form.querySelector(`.error[data-field="${field}"]`) && input && !input.closest("[hidden]")) {
      setError(form, field, messages.join(" "));
      first ??= input;
    } else {
      elsewhere.push(`${field}: ${messages.join(" ")}`);
    }
  }
  form.querySelector(".form-error").textContent = elsewhere.join("; ") || (first ? "" : fallback);
  first?.focus();
}

/** The VmSpec of the create dialog: the chosen guest only, numbers as numbers. */
export function createSpec(form) {
  const spec = { name: form.elements.name.value.trim(), vcpus: Number(form.elements.vcpus.value), memoryMiB: Number(form.elements.memoryMiB.value) };
  if (guestKind(form) === "kernel") {
    spec.kernel = form.elements.kernel.value.trim();
    spec.cmdline = form.elements.cmdline.value.trim();
  } else {
    spec.builtInGuest = form.elements.builtInGuest.value.trim();
  }
  return spec;
}

/** The VmSpec of the edit form: giving kernel drops the built-in guest and the other way round (PUT's rule). */
export function editSpec(form, version) {
  const spec = { vcpus: Number(form.elements.vcpus.value), memoryMiB: Number(form.elements.memoryMiB.value), cmdline: form.elements.cmdline.value, version };
  if (guestKind(form) === "kernel") spec.kernel = form.elements.kernel.value.trim();
  else spec.builtInGuest = form.elements.builtInGuest.value.trim();
  return spec;
}
