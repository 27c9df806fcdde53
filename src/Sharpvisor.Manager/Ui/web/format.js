// Numbers as people read them: sizes in binary units (the API speaks MiB), durations in the two largest units.

export function mib(value) {
  if (value == null) return "–";
  return value >= 1024 ? `${trim(value / 1024)} GiB` : `${Math.round(value)} MiB`;
}

export const bytes = (value) => (value == null ? "–" : mib(value / 1048576));

export const percent = (value) => (value == null ? "–" : `${trim(value)} %`);

export const number = (value) => (value == null ? "–" : value >= 1000 ? `${trim(value / 1000)}k` : trim(value));

export function rate(value, unit) {
  if (value == null) return "–";
  return value >= 1000 ? `${trim(value / 1000)} k${unit}/s` : `${trim(value)} ${unit}/s`;
}

/** "45 s", "12 min", "3 h 12 min", "2 d 4 h". */
export function duration(seconds) {
  if (seconds == null || !Number.isFinite(seconds) || seconds < 0) return "–";
  const s = Math.floor(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** How long a running or paused VM has been up, from its startedAt; null for a VM that does not run. */
export function uptimeSeconds(vm, now = Date.now()) {
  if (!(vm.state === "running" || vm.state === "paused") || !vm.startedAt) return null;
  return Math.max(0, (now - Date.parse(vm.startedAt)) / 1000);
}

// One decimal below 10, none above: "3.4", "42".
function trim(value) {
  return value < 10 ? value.toFixed(1).replace(/\.0$/, "") : String(Math.round(value));
}
