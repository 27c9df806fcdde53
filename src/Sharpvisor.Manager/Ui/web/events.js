// The server-sent event stream (/api/v1/events): one EventSource for the page, every event kind to one callback.
import { api, streamUrl } from "./api.js";

const kinds = ["defined", "updated", "deleted", "state", "supervisor"];

/**
 * Calls onEvent(event) for each event and onResync() each time the stream (re)opens, since events may have been
 * missed while it was down. A refused token (the stream fails, then a request answers 401) calls onUnauthorized.
 */
export function subscribe({ onEvent, onResync, onUnauthorized, onStatus }) {
  const source = new EventSource(streamUrl("events"));
  for (const kind of kinds) {
    source.addEventListener(kind, (message) => onEvent(JSON.parse(message.data)));
  }
  source.addEventListener("open", () => { onStatus("live"); onResync(); });
  source.addEventListener("error", async () => {
    onStatus("reconnecting…");
    try {
      await api("GET", "host");
    } catch (e) {
      if (e.status === 401) { source.close(); onUnauthorized(); }
    }
  });
  return source;
}
