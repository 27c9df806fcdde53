// Live numbers: calls refresh() now and then every `ms` while the tab is visible. A hidden tab costs the daemon nothing;
// it refreshes at once when shown again. The returned function stops it (when the page changes).
export function poll(refresh, ms) {
  let timer = null;
  let running = false;
  let stopped = false;
  const tick = async () => {
    timer = null;
    if (stopped || running || document.hidden) return;
    running = true;
    try {
      await refresh();
    } catch {
      // The next round tries again; refresh() reports what the person needs to see itself.
    } finally {
      running = false;
      if (!stopped && !document.hidden) timer = setTimeout(tick, ms);
    }
  };
  const onVisibility = () => { if (!document.hidden && !timer) tick(); };
  document.addEventListener("visibilitychange", onVisibility);
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
    document.removeEventListener("visibilitychange", onVisibility);
  };
}
