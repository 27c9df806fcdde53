// The lifecycle buttons and which states allow each (the API answers 409 otherwise).
// "failed": the VMM exited before the VM ever ran (no KVM, a kernel it could not load); it may be started again.
const allowed = {
  start: ["defined", "stopped", "crashed", "failed"],
  stop: ["running", "paused"],
  pause: ["running"],
  resume: ["paused"],
  migrate: ["running"],
  delete: ["defined", "stopped", "crashed", "failed"],
};

export const actionNames = Object.keys(allowed);

export const isAllowed = (action, state) => allowed[action].includes(state);

/** Real buttons, one per action, enabled per state; `onAction(name)` runs when one is pressed. */
export function renderActions(container, vm, onAction) {
  container.replaceChildren(...actionNames.map((action) => {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = action[0].toUpperCase() + action.slice(1);
    button.dataset.action = action;
    button.disabled = !isAllowed(action, vm.state);
    button.setAttribute("aria-label", `${button.textContent} ${vm.name}`);
    button.addEventListener("click", () => onAction(action, button));
    return button;
  }));
}
