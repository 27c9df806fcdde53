// Keyboard shortcuts: single keys, as in Gmail or GitHub. Never while typing (a field, the console's terminal) nor with
// a modifier (the browser's own shortcuts), and only while no dialog is open (the dialog has the keys then).
import { $ } from "./nav.js";

const typing = (element) => element instanceof Element
  && element.closest("input, textarea, select, [contenteditable]:not([contenteditable=false]), .xterm") !== null;

/** `keys` maps a key ("s") to a handler; one that returns false did nothing, so the key keeps its default. */
export function setupShortcuts(keys) {
  const help = $("help-dialog");
  $("help-button").addEventListener("click", () => help.showModal());
  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    if (typing(event.target) || document.querySelector("dialog[open]")) return;
    if (event.key === "?") {
      help.showModal();
      event.preventDefault();
      return;
    }
    const handler = keys[event.key];
    if (handler && handler() !== false) event.preventDefault();
  });
}

/** Presses an enabled button (the same as a click: the same checks, the same answer); false when there is none. */
export function press(button) {
  if (!button || button.disabled || button.closest("[hidden]")) return false;
  button.click();
  return true;
}
