// A VM's state as a badge, with the reason beside it when it needs acting on.

// "failed" alone could be any failure; the state means the VMM exited before the VM ever ran.
const stateLabels = { failed: "failed to start" };

/**
 * Fills a state badge and the reason beside it. The reason is visible text, not a tooltip: it is what the person
 * has to act on (no KVM, a bad kernel), and a tooltip is out of reach on touch screens and for many screen readers.
 */
export function showState(badge, reason, vm, withReason) {
  badge.textContent = stateLabels[vm.state] ?? vm.state;
  badge.className = `state state-${vm.state}`;
  reason.textContent = withReason && vm.exitReason ? `(${vm.exitReason})` : "";
  reason.hidden = reason.textContent === "";
}
