// The one typed API client: same-origin fetch, bearer token from memory, CSRF header on state
// changes, one silent refresh on 401 (the httpOnly cookie), errors as ApiError carrying the
// message of our error body.
import { useSession } from "./session";
import type { ErrorBody, TokenPair } from "./types";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId?: string,
    readonly details?: ErrorBody["error"]["details"],
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export interface RequestOptions {
  method?: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  body?: unknown;
  signal?: AbortSignal;
  /** retry once after refreshing the access token on 401 (default true) */
  refresh?: boolean;
  /** send `body` (a string) as it is with this Content-Type instead of as JSON */
  contentType?: string;
}

const NO_REFRESH = new Set(["/api/users/login", "/api/users/refresh", "/api/users/register"]);

export function readCookie(name: string): string | null {
  if (typeof document === "undefined") return null;
  for (const part of document.cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return null;
}

async function send(path: string, options: RequestOptions): Promise<Response> {
  const method = options.method ?? "GET";
  const headers: Record<string, string> = { Accept: "application/json" };
  if (options.body !== undefined) headers["Content-Type"] = options.contentType ?? "application/json";
  const token = useSession.getState().token;
  if (token) headers.Authorization = `Bearer ${token}`;
  if (method !== "GET") {
    const csrf = readCookie("csrf_token");
    if (csrf) headers["X-CSRF-Token"] = csrf;
  }
  try {
    return await fetch(path, {
      method,
      headers,
      body:
        options.body === undefined
          ? undefined
          : options.contentType
            ? String(options.body)
            : JSON.stringify(options.body),
      credentials: "same-origin",
      signal: options.signal,
    });
  } catch (error) {
    if (error instanceof DOMException && error.name === "AbortError") throw error;
    throw new ApiError(0, "network", "Cannot reach the server. Check your connection.");
  }
}

export async function toApiError(response: Response): Promise<ApiError> {
  let body: Partial<ErrorBody> | null = null;
  try {
    body = (await response.json()) as Partial<ErrorBody>;
  } catch {
    body = null;
  }
  const error = body?.error;
  const message =
    error?.message ??
    (response.status >= 500
      ? "The server had a problem. Try again in a moment."
      : `Request failed (${response.status})`);
  return new ApiError(
    response.status,
    error?.code ?? `http_${response.status}`,
    message,
    error?.request_id ?? response.headers.get("X-Request-ID") ?? undefined,
    error?.details,
  );
}

let refreshing: Promise<boolean> | null = null;

/** Trade the refresh cookie for a new access token; concurrent callers share one request. */
export function refreshSession(): Promise<boolean> {
  refreshing ??= (async () => {
    try {
      const response = await send("/api/users/refresh", { method: "POST" });
      if (!response.ok) {
        // Only a refused refresh ends the session; a 429 or a server error may pass.
        if (response.status === 401 || response.status === 403) useSession.getState().clear();
        return false;
      }
      const pair = (await response.json()) as TokenPair;
      useSession.getState().setToken(pair.access_token);
      return true;
    } catch {
      return false;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

/** The successful response itself (for bodies that are not JSON, like a CSV download). */
export async function apiResponse(path: string, options: RequestOptions = {}): Promise<Response> {
  let response = await send(path, options);
  if (
    response.status === 401 &&
    options.refresh !== false &&
    !NO_REFRESH.has(path) &&
    useSession.getState().token !== null
  ) {
    if (await refreshSession()) response = await send(path, options);
  }
  if (!response.ok) throw await toApiError(response);
  return response;
}

export async function api<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const response = await apiResponse(path, options);
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

/** The message to show for any error thrown by a query or mutation. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) return error.message;
  return "Something went wrong.";
}
