// The dashboard's only way to the gateway: same-origin fetches of the documented /api and /v1
// endpoints, the CSRF header on state changes, errors turned into ApiError with the server's
// message.

export class ApiError extends Error {
  status: number;
  code?: string;
  constructor(status: number, message: string, code?: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Listeners told when the server answers 401 (the session ended): the app shows the login. */
const unauthorized = new Set<() => void>();
export function onUnauthorized(f: () => void): () => void {
  unauthorized.add(f);
  return () => unauthorized.delete(f);
}

function csrfToken(): string | undefined {
  const m = document.cookie.match(/(?:^|;\s*)omniroute_csrf=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : undefined;
}

let memoryCsrf: string | undefined;
export function rememberCsrf(token: string | undefined) {
  memoryCsrf = token;
}

async function errorOf(res: Response): Promise<ApiError> {
  let message = `${res.status} ${res.statusText}`;
  let code: string | undefined;
  try {
    const body = (await res.json()) as {
      error?: { message?: string; code?: string; type?: string } | string;
      message?: string;
    };
    if (typeof body.error === "string") message = body.error;
    else if (body.error?.message) {
      message = body.error.message;
      code = body.error.code ?? body.error.type;
    } else if (body.message) message = body.message;
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(res.status, message, code);
}

export interface RequestOptions {
  signal?: AbortSignal;
  headers?: Record<string, string>;
  /** do not treat a 401 as "session ended" (the login form itself) */
  quiet401?: boolean;
}

export async function request<T>(
  method: string,
  path: string,
  body?: unknown,
  opts: RequestOptions = {},
): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json", ...opts.headers };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (method !== "GET" && method !== "HEAD") {
    const token = csrfToken() ?? memoryCsrf;
    if (token) headers["x-csrf-token"] = token;
  }
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    signal: opts.signal,
  });
  if (res.status === 401 && !opts.quiet401) unauthorized.forEach((f) => f());
  if (!res.ok) throw await errorOf(res);
  if (res.status === 204) return undefined as T;
  const type = res.headers.get("content-type") ?? "";
  if (type.includes("json")) return (await res.json()) as T;
  return (await res.text()) as unknown as T;
}

export const api = {
  get: <T>(path: string, opts?: RequestOptions) => request<T>("GET", path, undefined, opts),
  post: <T>(path: string, body?: unknown, opts?: RequestOptions) => request<T>("POST", path, body ?? {}, opts),
  put: <T>(path: string, body?: unknown, opts?: RequestOptions) => request<T>("PUT", path, body ?? {}, opts),
  patch: <T>(path: string, body?: unknown, opts?: RequestOptions) => request<T>("PATCH", path, body ?? {}, opts),
  del: <T>(path: string, opts?: RequestOptions) => request<T>("DELETE", path, undefined, opts),
};

/** Query string from the defined, non-empty values. */
export function qs(params: Record<string, string | number | boolean | undefined | null>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === "") continue;
    p.set(k, String(v));
  }
  const s = p.toString();
  return s ? `?${s}` : "";
}

/** Server-sent events from a GET endpoint; returns a function that closes the stream. */
export function subscribe<T>(path: string, onEvent: (event: string, data: T) => void, onError?: () => void): () => void {
  const es = new EventSource(path, { withCredentials: true });
  const handler = (e: MessageEvent) => {
    try {
      onEvent(e.type, JSON.parse(e.data as string) as T);
    } catch {
      // a line that is not JSON: ignore it
    }
  };
  es.onmessage = handler;
  for (const name of ["start", "finish", "request", "line", "log"]) es.addEventListener(name, handler as EventListener);
  if (onError) es.onerror = onError;
  return () => es.close();
}
