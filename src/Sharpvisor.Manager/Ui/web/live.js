// Live numbers: calls refresh() now and then every `ms` while the tab is visible. A hidden tab costs the daemon nothing;
// it refreshes at once when shown again. The returned function stops it (when the page changes) and returns a promise
// that settles once a refresh under way has finished, so the caller can be sure no request of it is still out.
export function poll(refresh, ms) {
  let timer = null;
  let running = null; // the refresh under way, as a promise that never rejects
  let stopped = false;
  const tick = async () => {
    timer = null;
    if (stopped || running || document.hidden) return;
    // A failure is not thrown on: the next round tries again, and refresh() reports what the person needs to see.
    running = Promise.resolve().then(refresh).catch(() => {});
    await running;
    running = null;
    if (!stopped && !document.hidden) timer = setTimeout(tick, ms);
  };
  const onVisibility = () => { if (!document.hidden && !timer) tick(); };
  document.addEventListener("visibilitychange", onVisibility);
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
    document.removeEventListener("visibilitychange", onVisibility);
    return running ?? Promise.resolve();
  };
}
