// The REST API client: the token (from the address's #token=, else localStorage), JSON requests, ProblemDetails errors.
const storageKey = "sharpvisor.token";

/** An API answer that is not 2xx; `errors` holds the per-field validation messages of a 400. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.errors = problem?.errors || {};
  }
}

/** Takes #token=... out of the address (so it is neither bookmarked nor shown) and keeps it. */
export function adoptTokenFromAddress() {
  const match = /^#token=([^&]*)/.exec(location.hash);
  if (!match) return;
  setToken(decodeURIComponent(match[1]));
  history.replaceState(null, "", location.pathname + location.search + "#/");
}

export const getToken = () => localStorage.getItem(storageKey) || "";
export const setToken = (token) => localStorage.setItem(storageKey, token.trim());
export const forgetToken = () => localStorage.removeItem(storageKey);

export async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${getToken()}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(`/api/v1/${path}`, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return null;
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = { detail: text }; }
  if (!response.ok) throw new ApiError(response.status, json);
  return json;
}

/** The URL of a WebSocket or EventSource endpoint, which take the token in the query (browsers send no header there). */
export function streamUrl(path, scheme) {
  const base = scheme ? `${scheme}//${location.host}` : "";
  const separator = path.includes("?") ? "&" : "?";
  return `${base}/api/v1/${path}${separator}access_token=${encodeURIComponent(getToken())}`;
}
