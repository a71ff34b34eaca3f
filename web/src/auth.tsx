// Who is using the dashboard: the login state from /api/auth/status, shared through a context.
import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from "react";
import { api, onUnauthorized, rememberCsrf } from "./api/client";

// generated from the Rust answers (ts-rs)
export type { AuthStatus } from "./api/gen/AuthStatus";
export type { LoginAnswer } from "./api/gen/LoginAnswer";
import type { AuthStatus } from "./api/gen/AuthStatus";
import type { LoginAnswer } from "./api/gen/LoginAnswer";

interface AuthCtx {
  status: AuthStatus | undefined;
  error: Error | undefined;
  refresh: () => Promise<void>;
  loggedIn: (a: LoginAnswer) => Promise<void>;
  logout: () => Promise<void>;
}

const Ctx = createContext<AuthCtx | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const [status, setStatus] = useState<AuthStatus>();
  const [error, setError] = useState<Error>();

  const refresh = useCallback(async () => {
    try {
      setStatus(await api.get<AuthStatus>("/api/auth/status", { quiet401: true }));
      setError(undefined);
    } catch (e) {
      setError(e instanceof Error ? e : new Error(String(e)));
    }
  }, []);

  useEffect(() => {
    void refresh();
    return onUnauthorized(() => void refresh());
  }, [refresh]);

  const loggedIn = useCallback(
    async (a: LoginAnswer) => {
      rememberCsrf(a.csrf_token);
      await refresh();
    },
    [refresh],
  );

  const logout = useCallback(async () => {
    try {
      await api.post("/api/auth/logout", {}, { quiet401: true });
    } finally {
      rememberCsrf(undefined);
      await refresh();
    }
  }, [refresh]);

  return <Ctx.Provider value={{ status, error, refresh, loggedIn, logout }}>{children}</Ctx.Provider>;
}

export function useAuth(): AuthCtx {
  const c = useContext(Ctx);
  if (!c) throw new Error("useAuth outside AuthProvider");
  return c;
}
