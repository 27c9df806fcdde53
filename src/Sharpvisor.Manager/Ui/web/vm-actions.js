// The lifecycle buttons and which states allow each (the API answers 409 otherwise).
// "failed": the VMM exited before the VM ever ran (no KVM, a kernel it could not load); it may be started again.
const stopped = ["defined", "stopped", "crashed", "failed"];
const allowed = {
  start: stopped,
  stop: ["running", "paused"],
  pause: ["running"],
  resume: ["paused"],
  migrate: ["running"],
  delete: stopped,
  template: stopped,
  clone: stopped,
};

/** The buttons of a list row. */
export const actionNames = ["start", "stop", "pause", "resume", "migrate", "delete"];

/** The VM page's: those, and a stopped VM made a template, a template cloned. */
export const pageActionNames = [...actionNames, "template", "clone"];

const labels = { template: "Make template", clone: "New VM from template" };

// A template never runs (its clones read its disks); only a template is cloned, and only a VM that is none becomes one.
export const isAllowed = (action, vm) =>
  allowed[action].includes(vm.state)
  && !(vm.template && (action === "start" || action === "template"))
  && !(!vm.template && action === "clone");

/** Real buttons, one per action in `names`, enabled per state; `onAction(name)` runs when one is pressed. */
export function renderActions(container, vm, onAction, names = actionNames) {
  container.replaceChildren(...names.map((action) => {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = labels[action] ?? action[0].toUpperCase() + action.slice(1);
    button.dataset.action = action;
    button.disabled = !isAllowed(action, vm);
    // A template's page shows no "Make template" and a VM's no "New VM from template": one of the two at most.
    button.hidden = (action === "template" && vm.template) || (action === "clone" && !vm.template);
    button.setAttribute("aria-label", `${button.textContent} ${vm.name}`);
    button.addEventListener("click", () => onAction(action, button));
    return button;
  }));
}
