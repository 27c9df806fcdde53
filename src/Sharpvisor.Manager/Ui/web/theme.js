// The theme toggle. By default the system's (prefers-color-scheme, in app.css); pressing the toggle stores the other
// theme in localStorage and sets html[data-theme], which app.css lets win over the media query.
const storageKey = "sharpvisor.theme";
const dark = matchMedia("(prefers-color-scheme: dark)");

export const currentTheme = () => document.documentElement.dataset.theme || (dark.matches ? "dark" : "light");

/** Charts read their colours from CSS variables when they draw: they listen for this to redraw. */
export const themeEvent = "sharpvisor-theme";

export function setupThemeToggle(button) {
  const label = () => {
    const next = currentTheme() === "dark" ? "light" : "dark";
    button.textContent = next === "dark" ? "Dark theme" : "Light theme";
    button.title = `Switch to the ${next} theme`;
  };
  const changed = () => { label(); window.dispatchEvent(new Event(themeEvent)); };
  button.addEventListener("click", () => {
    const next = currentTheme() === "dark" ? "light" : "dark";
    document.documentElement.dataset.theme = next;
    try { localStorage.setItem(storageKey, next); } catch { /* not kept: this page only */ }
    changed();
  });
  dark.addEventListener("change", changed); // the system's theme changed (only visible when nothing is stored)
  label();
}
