// Applies a stored theme before the first paint: a classic script in <head>, since modules run only after parsing and
// a stored dark theme would flash light first. With no stored choice nothing is set and app.css follows the system's
// prefers-color-scheme.
try {
  const theme = localStorage.getItem("sharpvisor.theme");
  if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme;
} catch {
  // Storage disabled (a privacy mode): the system's theme.
}
