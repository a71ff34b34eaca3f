// Data hooks: fetch once (and optionally every N ms), with loading and error state, and a reload.
import { useCallback, useEffect, useRef, useState } from "react";
import { api, ApiError } from "./client";

export interface Loaded<T> {
  data: T | undefined;
  error: ApiError | Error | undefined;
  loading: boolean;
  reload: () => void;
}

export function useApi<T>(path: string | null, opts: { refreshMs?: number } = {}): Loaded<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<Error>();
  const [loading, setLoading] = useState(path !== null);
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  const first = useRef(true);

  useEffect(() => {
    if (path === null) return;
    const ctl = new AbortController();
    if (first.current) setLoading(true);
    api
      .get<T>(path, { signal: ctl.signal })
      .then((d) => {
        setData(d);
        setError(undefined);
      })
      .catch((e: unknown) => {
        if (ctl.signal.aborted) return;
        setError(e instanceof Error ? e : new Error(String(e)));
      })
      .finally(() => {
        if (!ctl.signal.aborted) {
          setLoading(false);
          first.current = false;
        }
      });
    return () => ctl.abort();
  }, [path, tick]);

  useEffect(() => {
    if (!opts.refreshMs || path === null) return;
    const id = setInterval(() => {
      if (document.visibilityState === "visible") setTick((n) => n + 1);
    }, opts.refreshMs);
    return () => clearInterval(id);
  }, [opts.refreshMs, path]);

  return { data, error, loading, reload };
}

/** Run an action, keeping its pending state and error for the form that started it. */
export function useAction<A extends unknown[], R>(fn: (...args: A) => Promise<R>) {
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<Error>();
  const run = useCallback(
    async (...args: A): Promise<R | undefined> => {
      setPending(true);
      setError(undefined);
      try {
        return await fn(...args);
      } catch (e) {
        setError(e instanceof Error ? e : new Error(String(e)));
        return undefined;
      } finally {
        setPending(false);
      }
    },
    [fn],
  );
  return { run, pending, error, setError };
}
