// Logs: the request log (filters, cursor paging, one request's attempts and bodies), the proxy
// log (every upstream call's route and addresses), the audit log, the live console and the live
// request monitor. The live tabs hold their server-sent-event stream only while they are shown.
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { Link, useSearchParams } from "react-router";
import { useTranslation } from "react-i18next";
import { api, ApiError, qs } from "../api/client";
import { useApi } from "../api/hooks";
import type { ConsoleLine } from "../api/gen/ConsoleLine";
import type { RequestEvent } from "../api/gen/RequestEvent";
import type { RequestLog } from "../api/gen/RequestLog";
import type { ProviderInfo } from "../api/types";
import { Badge, Card, CopyButton, Empty, ErrorBox, Field, Modal, PageHead, Spinner, Tabs, Toggle } from "../components/ui";
import { fmtInt, fmtMs, fmtTime, fmtUsd } from "../components/format";
import { statusKind } from "./Overview";
import "./logs.css";

// ------------------------------------------------------------------ shapes

/** One call of `GET /api/logs/proxy` (built with json!() in api.rs). */
// generated from the Rust answers (ts-rs)
type LogsAnswer = import("../api/gen/LogsPage").LogsPage;
type ProxyAnswer = import("../api/gen/ProxyPage").ProxyPage;
type AuditAnswer = import("../api/gen/AuditPage").AuditPage;

const PAGE = 50;
const CONSOLE_CAP = 1000;
const LIVE_CAP = 200;

type TabId = "requests" | "proxy" | "audit" | "console" | "live";
const TABS: TabId[] = ["requests", "proxy", "audit", "console", "live"];

// ------------------------------------------------------------------ filters

type StatusId = "all" | "ok" | "4xx" | "429" | "5xx" | "errors";
const STATUS: Record<StatusId, [number | undefined, number | undefined]> = {
  all: [undefined, undefined],
  ok: [100, 399],
  "4xx": [400, 499],
  "429": [429, 429],
  "5xx": [500, 599],
  errors: [400, undefined],
};
type SinceId = "any" | "15m" | "1h" | "24h" | "7d" | "30d";
const SINCE: Record<SinceId, number | null> = {
  any: null,
  "15m": 900_000,
  "1h": 3_600_000,
  "24h": 86_400_000,
  "7d": 7 * 86_400_000,
  "30d": 30 * 86_400_000,
};

interface Filters {
  search: string;
  model: string;
  provider: string;
  status: StatusId;
  since: SinceId;
  /** set from links (Analytics): shown as removable chips */
  combo: string;
  api_key_id: string;
  connection_id: string;
}
const NO_FILTERS: Filters = { search: "", model: "", provider: "", status: "all", since: "any", combo: "", api_key_id: "", connection_id: "" };
const CHIP_KEYS = ["combo", "api_key_id", "connection_id"] as const;

function filtersFrom(p: URLSearchParams): Filters {
  const status = p.get("status") as StatusId | null;
  const since = p.get("since") as SinceId | null;
  return {
    search: p.get("search") ?? "",
    model: p.get("model") ?? "",
    provider: p.get("provider") ?? "",
    status: status && status in STATUS ? status : "all",
    since: since && since in SINCE ? since : "any",
    combo: p.get("combo") ?? "",
    api_key_id: p.get("api_key_id") ?? "",
    connection_id: p.get("connection_id") ?? "",
  };
}

function filterQuery(f: Filters, anchor: number) {
  const [status_min, status_max] = STATUS[f.status];
  const span = SINCE[f.since];
  return {
    search: f.search.trim(),
    model: f.model.trim(),
    provider: f.provider.trim(),
    combo: f.combo,
    api_key_id: f.api_key_id,
    connection_id: f.connection_id,
    status_min,
    status_max,
    since_ms: span ? anchor - span : undefined,
  };
}

const isFiltered = (f: Filters) => (Object.keys(NO_FILTERS) as (keyof Filters)[]).some((k) => f[k] !== NO_FILTERS[k]);

function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const id = setTimeout(() => setV(value), ms);
    return () => clearTimeout(id);
  }, [value, ms]);
  return v;
}

// ------------------------------------------------------------------ cursor paging

/** A list read newest first in pages: the first page on every path change, older ones on demand. */
function useCursorFeed<A, T>(path: string | null, extract: (a: A) => { items: T[]; next: number | null }) {
  const [items, setItems] = useState<T[]>([]);
  const [answer, setAnswer] = useState<A>();
  const [next, setNext] = useState<number | null>(null);
  const [loading, setLoading] = useState(path !== null);
  const [more, setMore] = useState(false);
  const [error, setError] = useState<Error>();
  const [tick, setTick] = useState(0);
  const gen = useRef(0);

  useEffect(() => {
    if (path === null) return;
    const ctl = new AbortController();
    const mine = ++gen.current;
    setLoading(true);
    setError(undefined);
    api
      .get<A>(path, { signal: ctl.signal })
      .then((a) => {
        const r = extract(a);
        setItems(r.items);
        setNext(r.next);
        setAnswer(a);
      })
      .catch((e: unknown) => {
        if (!ctl.signal.aborted) setError(e instanceof Error ? e : new Error(String(e)));
      })
      .finally(() => {
        if (mine === gen.current) setLoading(false);
      });
    return () => ctl.abort();
  }, [path, tick, extract]);

  const loadMore = useCallback(async () => {
    if (path === null || next === null) return;
    const mine = gen.current;
    setMore(true);
    setError(undefined);
    try {
      const a = await api.get<A>(`${path}${path.includes("?") ? "&" : "?"}before_id=${next}`);
      if (mine !== gen.current) return;
      const r = extract(a);
      setItems((prev) => prev.concat(r.items));
      setNext(r.next);
    } catch (e) {
      if (mine === gen.current) setError(e instanceof Error ? e : new Error(String(e)));
    } finally {
      setMore(false);
    }
  }, [path, next, extract]);

  const reload = useCallback(() => setTick((n) => n + 1), []);
  return { items, answer, hasMore: next !== null, loading, loadingMore: more, error, loadMore, reload };
}

const extractLogs = (a: LogsAnswer) => ({ items: a.logs, next: a.logs.length >= PAGE ? (a.logs[a.logs.length - 1]?.id ?? null) : null });
const extractProxy = (a: ProxyAnswer) => ({ items: a.calls, next: a.next_before_id ?? null });
const extractAudit = (a: AuditAnswer) => ({ items: a.entries, next: a.entries.length >= PAGE ? (a.entries[a.entries.length - 1]?.id ?? null) : null });

// ------------------------------------------------------------------ server-sent events

type SseStatus = "connecting" | "open" | "closed";

/** An EventSource on `path` for as long as the component is mounted (closed on unmount and on a
 *  path change). `onData` gets each default event's data; `onLagged` the events the server
 *  dropped for this slow listener. */
function useEventSource(path: string | null, onData: (data: string) => void, onLagged: (missed: number) => void) {
  const [status, setStatus] = useState<SseStatus>("connecting");
  const [attempt, setAttempt] = useState(0);
  const dataRef = useRef(onData);
  const lagRef = useRef(onLagged);
  useLayoutEffect(() => {
    dataRef.current = onData;
    lagRef.current = onLagged;
  });

  useEffect(() => {
    if (path === null) return;
    setStatus("connecting");
    const es = new EventSource(path, { withCredentials: true });
    es.onopen = () => setStatus("open");
    // an event proves the stream open even when a proxy held the headers back until then
    es.onmessage = (e: MessageEvent<string>) => {
      setStatus("open");
      dataRef.current(e.data);
    };
    es.addEventListener("lagged", (e) => {
      try {
        lagRef.current((JSON.parse((e as MessageEvent<string>).data) as { missed: number }).missed);
      } catch {
        // not the documented shape: ignore
      }
    });
    es.onerror = () => setStatus(es.readyState === EventSource.CLOSED ? "closed" : "connecting");
    return () => es.close();
  }, [path, attempt]);

  const reconnect = useCallback(() => setAttempt((n) => n + 1), []);
  return { status, reconnect };
}

function LiveStatus({ status, onReconnect, testId }: { status: SseStatus; onReconnect: () => void; testId: string }) {
  const { t } = useTranslation("logs");
  return (
    <span className="row small" data-testid={testId} data-status={status}>
      <span className={`live-dot ${status}`} aria-hidden="true" />
      <span>{t(`live_status.${status}`)}</span>
      {status === "closed" && (
        <button type="button" className="small" onClick={onReconnect}>
          {t("reconnect")}
        </button>
      )}
    </span>
  );
}

// ------------------------------------------------------------------ small pieces

function cacheKind(c: string | null): "ok" | "accent" | undefined {
  if (c === "HIT" || c === "SEMANTIC-HIT") return "ok";
  if (c === "IDEMPOTENT") return "accent";
  return undefined;
}

function outcomeKind(o: string): "ok" | "warn" | "err" {
  if (o === "ok" || o === "success") return "ok";
  if (o === "rate_limited" || o === "overloaded" || o === "quota_exhausted") return "warn";
  return "err";
}

function Kv({ items }: { items: [string, ReactNode][] }) {
  return (
    <dl className="kv">
      {items.map(([k, v]) => (
        <div key={k} style={{ display: "contents" }}>
          <dt>{k}</dt>
          <dd>{v ?? "—"}</dd>
        </div>
      ))}
    </dl>
  );
}

const dash = (v: string | number | null | undefined): ReactNode => (v === null || v === undefined || v === "" ? <span className="muted">—</span> : v);

function pretty(text: string): string {
  const s = text.trim();
  if (s.startsWith("{") || s.startsWith("[")) {
    try {
      return JSON.stringify(JSON.parse(s), null, 2);
    } catch {
      // truncated or not JSON: as is
    }
  }
  return text;
}

function Body({ title, text, testId }: { title: string; text: string | null | undefined; testId: string }) {
  const { t } = useTranslation("logs");
  const shown = useMemo(() => (text ? pretty(text) : ""), [text]);
  return (
    <section>
      <div className="body-head">
        <h3 style={{ margin: 0 }}>{title}</h3>
        {text && <CopyButton text={shown} />}
      </div>
      {text ? (
        <pre className="mono" data-testid={testId} tabIndex={0}>
          {shown}
        </pre>
      ) : (
        <p className="muted small">{t("body_empty")}</p>
      )}
    </section>
  );
}

// ------------------------------------------------------------------ request detail

function LogDetail({ id }: { id: string }) {
  const { t } = useTranslation(["logs", "common"]);
  const q = useApi<RequestLog>(`/api/logs/${encodeURIComponent(id)}`);
  if (q.loading) return <Spinner />;
  if (q.error || !q.data) {
    const missing = q.error instanceof ApiError && q.error.status === 404;
    return (
      <div className="stack" data-testid="log-detail-error">
        <ErrorBox error={q.error ?? t("detail_missing")} onRetry={q.reload} />
        {missing && <p className="muted small">{t("detail_not_yet")}</p>}
      </div>
    );
  }
  const l = q.data;
  const bodiesLogged = l.request_body !== null && l.request_body !== undefined ? true : l.response_body !== null && l.response_body !== undefined;
  return (
    <div className="log-detail stack" data-testid="log-detail">
      <div className="row">
        <Badge kind={statusKind(l.status)}>{l.status}</Badge>
        <code>
          {l.method} {l.path}
        </code>
        {l.stream && <Badge kind="accent">{t("stream")}</Badge>}
        {l.cache_hit && <Badge kind={cacheKind(l.cache_hit)}>{t("cache_value", { value: l.cache_hit })}</Badge>}
      </div>
      {l.error && (
        <div className="alert err" data-testid="log-detail-error-text">
          {l.error}
        </div>
      )}
      <div className="grid cols-2" style={{ gap: 12 }}>
        <Kv
          items={[
            [
              t("request_id"),
              <span className="row" key="rid">
                <code>{l.request_id}</code>
                <CopyButton text={l.request_id} />
              </span>,
            ],
            [t("time"), fmtTime(l.ts)],
            [t("client_format"), dash(l.client_format)],
            [t("model"), l.model ? <code>{l.model}</code> : dash(null)],
            [t("upstream_model"), l.upstream_model ? <code>{l.upstream_model}</code> : dash(null)],
            [t("provider"), dash(l.provider)],
            [t("connection"), l.connection_id ? <code>{l.connection_id}</code> : dash(null)],
            [t("combo"), dash(l.combo)],
            [t("api_key"), l.api_key_id ? <code>{l.api_key_id}</code> : dash(null)],
          ]}
        />
        <Kv
          items={[
            [t("latency"), fmtMs(l.latency_ms)],
            [t("ttft"), fmtMs(l.ttfb_ms)],
            [t("tokens_input"), l.input_tokens === null ? dash(null) : `${fmtInt(l.input_tokens)}${l.cached_tokens ? ` (${t("cached_n", { n: fmtInt(l.cached_tokens) })})` : ""}`],
            [t("tokens_output"), l.output_tokens === null ? dash(null) : `${fmtInt(l.output_tokens)}${l.reasoning_tokens ? ` (${t("reasoning_n", { n: fmtInt(l.reasoning_tokens) })})` : ""}`],
            [t("cost"), l.cost_usd === null ? <span className="muted">{t("unpriced")}</span> : fmtUsd(l.cost_usd)],
            [t("cache"), dash(l.cache_hit)],
            [t("attempts"), fmtInt(l.attempts)],
            [t("client_ip"), l.client_ip ? <code>{l.client_ip}</code> : dash(null)],
            [t("user_agent"), l.user_agent ? <span className="small">{l.user_agent}</span> : dash(null)],
          ]}
        />
      </div>

      <section>
        <h3>{t("attempts_title")}</h3>
        {l.attempts_detail.length === 0 ? (
          <p className="muted small">{t("no_attempts")}</p>
        ) : (
          <div className="table-wrap" tabIndex={0}>
            <table data-testid="log-attempts">
              <thead>
                <tr>
                  <th>#</th>
                  <th>{t("provider")}</th>
                  <th>{t("connection")}</th>
                  <th>{t("model")}</th>
                  <th>{t("outcome")}</th>
                  <th className="num">{t("common:status")}</th>
                  <th className="num">{t("latency")}</th>
                  <th>{t("route")}</th>
                  <th>{t("remote")}</th>
                </tr>
              </thead>
              <tbody>
                {l.attempts_detail.map((a, i) => (
                  <tr key={i} data-testid="log-attempt">
                    <td className="num">{i + 1}</td>
                    <td>{a.provider}</td>
                    <td className="mono">{dash(a.connection)}</td>
                    <td className="mono">{a.model}</td>
                    <td>
                      <Badge kind={outcomeKind(a.outcome)}>{a.outcome}</Badge>
                    </td>
                    <td className="num">{a.status ?? <span className="muted">{t("no_response")}</span>}</td>
                    <td className="num">{fmtMs(a.latency_ms)}</td>
                    <td className="mono small">{dash(a.route)}</td>
                    <td className="mono small">
                      {dash(a.remote)}
                      {a.egress && <div className="muted">{t("egress_from", { addr: a.egress })}</div>}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>

      {bodiesLogged ? (
        <>
          <Body title={t("request_body")} text={l.request_body} testId="log-request-body" />
          {l.upstream_request_body && <Body title={t("upstream_request_body")} text={l.upstream_request_body} testId="log-upstream-request-body" />}
          {l.upstream_response_body && <Body title={t("upstream_response_body")} text={l.upstream_response_body} testId="log-upstream-response-body" />}
          <Body title={t("response_body")} text={l.response_body} testId="log-response-body" />
        </>
      ) : (
        <div className="alert small" data-testid="log-bodies-off">
          {t("bodies_off")} <Link to="/settings">{t("bodies_off_link")}</Link>
        </div>
      )}
    </div>
  );
}

// ------------------------------------------------------------------ filter bar

function FilterBar({ filters, setFilters, onRefresh, busy, showStatus }: { filters: Filters; setFilters: (f: Filters) => void; onRefresh: () => void; busy: boolean; showStatus: boolean }) {
  const { t } = useTranslation(["logs", "common"]);
  const providers = useApi<{ providers: ProviderInfo[] }>("/api/providers");
  const list = (providers.data?.providers ?? []).filter((p) => p.connections > 0);
  const upd = (patch: Partial<Filters>) => setFilters({ ...filters, ...patch });
  return (
    <>
      <form className="toolbar" role="search" aria-label={t("filters")} onSubmit={(e) => e.preventDefault()}>
        <Field label={t("common:search")}>
          {(id) => (
            <input id={id} type="search" value={filters.search} placeholder={t("search_placeholder")} onChange={(e) => upd({ search: e.target.value })} data-testid="logs-filter-search" />
          )}
        </Field>
        <Field label={t("model")}>
          {(id) => <input id={id} value={filters.model} placeholder={t("model_placeholder")} onChange={(e) => upd({ model: e.target.value })} data-testid="logs-filter-model" />}
        </Field>
        <Field label={t("provider")}>
          {(id) => (
            <>
              <input id={id} list={`${id}-list`} value={filters.provider} placeholder={t("provider_placeholder")} onChange={(e) => upd({ provider: e.target.value })} data-testid="logs-filter-provider" />
              <datalist id={`${id}-list`}>
                {list.map((p) => (
                  <option key={p.id} value={p.id}>
                    {p.name}
                  </option>
                ))}
              </datalist>
            </>
          )}
        </Field>
        {showStatus && (
          <Field label={t("status_class")}>
            {(id) => (
              <select id={id} value={filters.status} onChange={(e) => upd({ status: e.target.value as StatusId })} data-testid="logs-filter-status">
                {(Object.keys(STATUS) as StatusId[]).map((s) => (
                  <option key={s} value={s}>
                    {t(`status_classes.${s}`)}
                  </option>
                ))}
              </select>
            )}
          </Field>
        )}
        <Field label={t("time_range")}>
          {(id) => (
            <select id={id} value={filters.since} onChange={(e) => upd({ since: e.target.value as SinceId })} data-testid="logs-filter-range">
              {(Object.keys(SINCE) as SinceId[]).map((s) => (
                <option key={s} value={s}>
                  {t(`since.${s}`)}
                </option>
              ))}
            </select>
          )}
        </Field>
        <div className="row">
          <button type="button" onClick={onRefresh} disabled={busy} data-testid="logs-refresh">
            {t("common:refresh")}
          </button>
          {isFiltered(filters) && (
            <button type="button" className="ghost" onClick={() => setFilters(NO_FILTERS)} data-testid="logs-clear-filters">
              {t("clear_filters")}
            </button>
          )}
        </div>
      </form>
      {CHIP_KEYS.some((k) => filters[k]) && (
        <div className="row" style={{ marginBottom: 10 }}>
          {CHIP_KEYS.filter((k) => filters[k]).map((k) => (
            <span className="chip" key={k}>
              {t(`chip.${k}`, { value: filters[k] })}
              <button type="button" onClick={() => upd({ [k]: "" })} aria-label={t("remove_filter", { name: t(`chip.${k}`, { value: filters[k] }) })}>
                ✕
              </button>
            </span>
          ))}
        </div>
      )}
    </>
  );
}

function LoadOlder({ hasMore, loading, onMore, count, testId }: { hasMore: boolean; loading: boolean; onMore: () => void; count: number; testId: string }) {
  const { t } = useTranslation("logs");
  return (
    <div className="row" style={{ justifyContent: "space-between", marginTop: 10 }}>
      <span className="small muted">{t("shown", { n: fmtInt(count) })}</span>
      {hasMore ? (
        <button type="button" onClick={onMore} disabled={loading} data-testid={testId}>
          {loading ? t("loading_older") : t("load_older")}
        </button>
      ) : (
        <span className="small muted">{t("end_of_log")}</span>
      )}
    </div>
  );
}

// ------------------------------------------------------------------ request log

function RequestsTab({ filters, setFilters, onOpen }: { filters: Filters; setFilters: (f: Filters) => void; onOpen: (id: string) => void }) {
  const { t } = useTranslation(["logs", "common"]);
  const [anchor, setAnchor] = useState(() => Date.now());
  const applied = useDebounced(filters, 350);
  const path = `/api/logs${qs({ ...filterQuery(applied, anchor), limit: PAGE })}`;
  const feed = useCursorFeed(path, extractLogs);
  const refresh = () => {
    setAnchor(Date.now());
    feed.reload();
  };
  const dropped = feed.answer?.dropped ?? 0;
  return (
    <Card>
      <FilterBar filters={filters} setFilters={setFilters} onRefresh={refresh} busy={feed.loading} showStatus />
      {dropped > 0 && (
        <div className="alert warn small" style={{ marginBottom: 10 }} data-testid="logs-dropped">
          {t("dropped", { n: fmtInt(dropped) })}
        </div>
      )}
      <ErrorBox error={feed.error} onRetry={feed.reload} />
      {feed.loading && feed.items.length === 0 ? (
        <Spinner />
      ) : feed.items.length === 0 && !feed.error ? (
        isFiltered(applied) ? (
          <Empty
            title={t("empty_filtered")}
            hint={t("empty_filtered_hint")}
            action={
              <button type="button" onClick={() => setFilters(NO_FILTERS)}>
                {t("clear_filters")}
              </button>
            }
          />
        ) : (
          <Empty
            title={t("empty_title")}
            hint={t("empty_hint")}
            action={
              <Link className="btn" to="/endpoint">
                {t("empty_action")}
              </Link>
            }
          />
        )
      ) : (
        <>
          <div className="table-wrap" aria-busy={feed.loading}>
            <table data-testid="logs-table">
              <thead>
                <tr>
                  <th>{t("time")}</th>
                  <th>{t("model")}</th>
                  <th>{t("provider")}</th>
                  <th>{t("common:status")}</th>
                  <th className="num">{t("latency")}</th>
                  <th className="num hide-sm">{t("ttft")}</th>
                  <th className="num">{t("tokens")}</th>
                  <th className="num hide-sm">{t("cost")}</th>
                  <th className="hide-sm">{t("cache")}</th>
                  <th className="num hide-sm">{t("attempts_short")}</th>
                </tr>
              </thead>
              <tbody>
                {feed.items.map((l) => (
                  <tr key={l.id} className="clickable" onClick={() => onOpen(l.request_id)} data-testid="log-row" data-request-id={l.request_id}>
                    <td className="small" style={{ whiteSpace: "nowrap" }}>
                      <button
                        type="button"
                        className="ghost small"
                        style={{ padding: 0, minHeight: 0 }}
                        onClick={(e) => {
                          e.stopPropagation();
                          onOpen(l.request_id);
                        }}
                        aria-label={`${fmtTime(l.ts)} · ${t("open_request", { id: l.request_id })}`}
                      >
                        {fmtTime(l.ts)}
                      </button>
                    </td>
                    <td className="mono truncate" title={l.upstream_model && l.upstream_model !== l.model ? `${l.model ?? ""} → ${l.upstream_model}` : (l.model ?? "")}>
                      {l.model ?? <span className="muted">—</span>}
                      {l.combo && (
                        <span className="badge accent" style={{ marginInlineStart: 6 }}>
                          {t("combo")}
                        </span>
                      )}
                    </td>
                    <td>{dash(l.provider)}</td>
                    <td style={{ whiteSpace: "nowrap" }}>
                      <Badge kind={statusKind(l.status)}>{l.status}</Badge>
                      {l.stream && <span className="small muted"> · {t("stream")}</span>}
                    </td>
                    <td className="num">{fmtMs(l.latency_ms)}</td>
                    <td className="num hide-sm">{fmtMs(l.ttfb_ms)}</td>
                    <td className="num">
                      {l.input_tokens === null && l.output_tokens === null ? (
                        <span className="muted">—</span>
                      ) : (
                        `${fmtInt(l.input_tokens ?? 0)} → ${fmtInt(l.output_tokens ?? 0)}`
                      )}
                    </td>
                    <td className="num hide-sm">{l.cost_usd === null ? <span className="muted">—</span> : fmtUsd(l.cost_usd)}</td>
                    <td className="hide-sm">{l.cache_hit ? <Badge kind={cacheKind(l.cache_hit)}>{l.cache_hit}</Badge> : <span className="muted">—</span>}</td>
                    <td className="num hide-sm">{l.attempts > 1 ? <Badge kind="warn">{l.attempts}</Badge> : fmtInt(l.attempts)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <LoadOlder hasMore={feed.hasMore} loading={feed.loadingMore} onMore={() => void feed.loadMore()} count={feed.items.length} testId="logs-load-older" />
        </>
      )}
    </Card>
  );
}

// ------------------------------------------------------------------ proxy log

function ProxyTab({ filters, setFilters, onOpen }: { filters: Filters; setFilters: (f: Filters) => void; onOpen: (id: string) => void }) {
  const { t } = useTranslation(["logs", "common"]);
  const [anchor, setAnchor] = useState(() => Date.now());
  const applied = useDebounced(filters, 350);
  const path = `/api/logs/proxy${qs({ ...filterQuery(applied, anchor), limit: PAGE })}`;
  const feed = useCursorFeed(path, extractProxy);
  const refresh = () => {
    setAnchor(Date.now());
    feed.reload();
  };
  return (
    <Card>
      <p className="muted small">{t("proxy_hint")}</p>
      <FilterBar filters={filters} setFilters={setFilters} onRefresh={refresh} busy={feed.loading} showStatus />
      <ErrorBox error={feed.error} onRetry={feed.reload} />
      {feed.loading && feed.items.length === 0 ? (
        <Spinner />
      ) : feed.items.length === 0 && !feed.error ? (
        <Empty title={t("proxy_empty")} hint={isFiltered(applied) ? t("empty_filtered_hint") : t("proxy_empty_hint")} />
      ) : (
        <>
          <div className="table-wrap" tabIndex={0}>
            <table data-testid="proxy-table">
              <thead>
                <tr>
                  <th>{t("time")}</th>
                  <th>{t("request")}</th>
                  <th>{t("provider")}</th>
                  <th>{t("model")}</th>
                  <th>{t("route")}</th>
                  <th>{t("remote")}</th>
                  <th>{t("egress")}</th>
                  <th>{t("outcome")}</th>
                  <th className="num">{t("common:status")}</th>
                  <th className="num">{t("latency")}</th>
                </tr>
              </thead>
              <tbody>
                {feed.items.map((c) => (
                  <tr key={`${c.request_id}-${c.attempt}`} data-testid="proxy-row">
                    <td className="small" style={{ whiteSpace: "nowrap" }}>
                      {fmtTime(c.ts)}
                    </td>
                    <td>
                      <button type="button" className="ghost small mono" style={{ padding: 0, minHeight: 0 }} onClick={() => onOpen(c.request_id)} aria-label={`${c.request_id.slice(0, 12)} · ${t("open_request", { id: c.request_id })}`}>
                        {c.request_id.slice(0, 12)}
                      </button>
                      {c.attempt > 1 && <span className="small muted"> #{c.attempt}</span>}
                    </td>
                    <td>
                      {c.provider}
                      {c.connection && <div className="small muted mono">{c.connection}</div>}
                    </td>
                    <td className="mono truncate">{c.model}</td>
                    <td className="mono small">{c.route ? c.route : <span className="muted">{t("direct")}</span>}</td>
                    <td className="mono small">{dash(c.remote)}</td>
                    <td className="mono small">{dash(c.egress)}</td>
                    <td>
                      <Badge kind={outcomeKind(c.outcome)}>{c.outcome}</Badge>
                    </td>
                    <td className="num">{c.status ?? <span className="muted">—</span>}</td>
                    <td className="num">{fmtMs(c.latency_ms)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <LoadOlder hasMore={feed.hasMore} loading={feed.loadingMore} onMore={() => void feed.loadMore()} count={feed.items.length} testId="proxy-load-older" />
        </>
      )}
    </Card>
  );
}

// ------------------------------------------------------------------ audit log

function AuditTab() {
  const { t } = useTranslation(["logs", "common"]);
  const feed = useCursorFeed(`/api/audit${qs({ limit: PAGE })}`, extractAudit);
  return (
    <Card
      actions={
        <button type="button" onClick={feed.reload} disabled={feed.loading} data-testid="audit-refresh">
          {t("common:refresh")}
        </button>
      }
      title={t("audit_title")}
    >
      <p className="muted small">{t("audit_hint")}</p>
      <ErrorBox error={feed.error} onRetry={feed.reload} />
      {feed.loading && feed.items.length === 0 ? (
        <Spinner />
      ) : feed.items.length === 0 && !feed.error ? (
        <Empty title={t("audit_empty")} hint={t("audit_empty_hint")} />
      ) : (
        <>
          <div className="table-wrap" tabIndex={0}>
            <table data-testid="audit-table">
              <thead>
                <tr>
                  <th>{t("time")}</th>
                  <th>{t("actor")}</th>
                  <th>{t("ip")}</th>
                  <th>{t("action")}</th>
                  <th>{t("target")}</th>
                  <th>{t("common:status")}</th>
                  <th>{t("detail")}</th>
                </tr>
              </thead>
              <tbody>
                {feed.items.map((e) => (
                  <tr key={e.id} data-testid="audit-row">
                    <td className="small" style={{ whiteSpace: "nowrap" }}>
                      {fmtTime(e.ts)}
                    </td>
                    <td className="mono small">{e.actor}</td>
                    <td className="mono small">{dash(e.ip)}</td>
                    <td>
                      <Badge kind={e.action === "DELETE" ? "warn" : "accent"}>{e.action}</Badge>
                    </td>
                    <td className="mono small" style={{ overflowWrap: "anywhere" }}>
                      {e.target}
                    </td>
                    <td>
                      <Badge kind={statusKind(e.status)}>{e.status}</Badge>
                    </td>
                    <td className="small">{dash(e.detail)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <LoadOlder hasMore={feed.hasMore} loading={feed.loadingMore} onMore={() => void feed.loadMore()} count={feed.items.length} testId="audit-load-older" />
        </>
      )}
    </Card>
  );
}

// ------------------------------------------------------------------ live console

type Shown = { id: number } & ({ kind: "line"; line: ConsoleLine } | { kind: "notice"; missed: number; ts: number });
const LEVELS = ["trace", "debug", "info", "warn", "error"] as const;

function ConsoleTab() {
  const { t, i18n } = useTranslation(["logs", "common"]);
  const [level, setLevel] = useState<(typeof LEVELS)[number]>("info");
  const [text, setText] = useState("");
  const [paused, setPaused] = useState(false);
  const [lines, setLines] = useState<Shown[]>([]);
  const [held, setHeld] = useState(0);
  const pending = useRef<Shown[]>([]);
  const pausedRef = useRef(paused);
  useLayoutEffect(() => {
    pausedRef.current = paused;
  }, [paused]);
  const seq = useRef(0);
  const box = useRef<HTMLDivElement>(null);
  const stick = useRef(true);

  const path = `/api/live/console${qs({ level: level === "trace" ? undefined : level })}`;
  const push = (s: Shown) => {
    pending.current.push(s);
    if (pending.current.length > CONSOLE_CAP) pending.current.splice(0, pending.current.length - CONSOLE_CAP);
  };
  const sse = useEventSource(
    path,
    (data) => {
      try {
        push({ id: ++seq.current, kind: "line", line: JSON.parse(data) as ConsoleLine });
      } catch {
        // not JSON: ignore
      }
    },
    (missed) => push({ id: ++seq.current, kind: "notice", missed, ts: Date.now() }),
  );

  // show what arrived in batches (a busy server can send thousands of lines a second)
  useEffect(() => {
    const id = setInterval(() => {
      if (pausedRef.current) {
        setHeld(pending.current.length);
        return;
      }
      if (pending.current.length === 0) return;
      const add = pending.current;
      pending.current = [];
      setHeld(0);
      setLines((prev) => {
        const next = prev.concat(add);
        return next.length > CONSOLE_CAP ? next.slice(next.length - CONSOLE_CAP) : next;
      });
    }, 250);
    return () => clearInterval(id);
  }, []);

  useLayoutEffect(() => {
    const el = box.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, [lines, text]);

  const timeFmt = useMemo(
    () => new Intl.DateTimeFormat(i18n.language || "en", { hour: "2-digit", minute: "2-digit", second: "2-digit", fractionalSecondDigits: 3, hour12: false }),
    [i18n.language],
  );
  const needle = text.trim().toLowerCase();
  const shown = needle ? lines.filter((s) => s.kind === "notice" || s.line.message.toLowerCase().includes(needle) || s.line.target.toLowerCase().includes(needle)) : lines;

  return (
    <Card>
      <div className="toolbar">
        <Field label={t("min_level")}>
          {(id) => (
            <select id={id} value={level} onChange={(e) => setLevel(e.target.value as (typeof LEVELS)[number])} data-testid="console-level">
              {LEVELS.map((l) => (
                <option key={l} value={l}>
                  {t(`levels.${l}`)}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label={t("filter_text")}>
          {(id) => <input id={id} type="search" value={text} onChange={(e) => setText(e.target.value)} placeholder={t("filter_text_placeholder")} data-testid="console-filter" />}
        </Field>
        <div className="row">
          <button type="button" onClick={() => setPaused(!paused)} aria-pressed={paused} data-testid="console-pause">
            {paused ? t("resume") : t("pause")}
          </button>
          <button
            type="button"
            onClick={() => {
              setLines([]);
              pending.current = [];
              setHeld(0);
            }}
            data-testid="console-clear"
          >
            {t("clear")}
          </button>
        </div>
        <div className="row" style={{ marginInlineStart: "auto" }}>
          <LiveStatus status={sse.status} onReconnect={sse.reconnect} testId="console-status" />
        </div>
      </div>
      {paused && held > 0 && (
        <div className="alert warn small" style={{ marginBottom: 8 }}>
          {t("held", { n: fmtInt(held) })}
        </div>
      )}
      <div
        className="console"
        ref={box}
        role="log"
        aria-live="off"
        aria-label={t("console_label")}
        tabIndex={0}
        data-testid="console-lines"
        onScroll={(e) => {
          const el = e.currentTarget;
          stick.current = el.scrollTop + el.clientHeight >= el.scrollHeight - 24;
        }}
      >
        {shown.length === 0 ? (
          <div className="empty small">{sse.status === "open" ? (lines.length ? t("console_no_match") : t("console_waiting")) : t("console_connecting")}</div>
        ) : (
          shown.map((s) =>
            s.kind === "notice" ? (
              <div key={s.id} className="console-line notice">
                <span className="ts">{timeFmt.format(new Date(s.ts))}</span>
                <span className="msg">{t("lagged", { n: fmtInt(s.missed) })}</span>
              </div>
            ) : (
              <div key={s.id} className={`console-line lvl-${s.line.level.toUpperCase()}`} data-testid="console-line">
                <span className="ts">{timeFmt.format(new Date(s.line.ts))}</span>
                <span className="lvl">{s.line.level.toUpperCase()}</span>
                <span className="tgt" title={s.line.target}>
                  {s.line.target}
                </span>
                <span className="msg">{s.line.message}</span>
              </div>
            ),
          )
        )}
      </div>
      <p className="small muted" style={{ marginTop: 6 }}>
        {t("console_footer", { n: fmtInt(lines.length), cap: fmtInt(CONSOLE_CAP) })}
      </p>
    </Card>
  );
}

// ------------------------------------------------------------------ live requests

interface LiveEntry {
  id: string;
  start?: RequestEvent;
  finish?: RequestEvent;
  /** when this page first saw it (orders the list) */
  first: number;
}

function mergeEvents(prev: LiveEntry[], evs: RequestEvent[]): LiveEntry[] {
  const next = prev.slice();
  const index = new Map(next.map((e, i) => [e.id, i]));
  for (const ev of evs) {
    const i = index.get(ev.request_id);
    const patch = ev.phase === "finish" ? { finish: ev } : { start: ev };
    if (i !== undefined) next[i] = { ...next[i], ...patch };
    else {
      index.set(ev.request_id, next.length);
      next.push({ id: ev.request_id, first: ev.ts, ...patch });
    }
  }
  return next.length > LIVE_CAP ? next.slice(next.length - LIVE_CAP) : next;
}

function LiveTab({ onOpen }: { onOpen: (id: string) => void }) {
  const { t } = useTranslation(["logs", "common"]);
  const [provider, setProvider] = useState("");
  const [model, setModel] = useState("");
  const [errorsOnly, setErrorsOnly] = useState(false);
  const [paused, setPaused] = useState(false);
  const [entries, setEntries] = useState<LiveEntry[]>([]);
  const [missed, setMissed] = useState(0);
  const [now, setNow] = useState(() => Date.now());
  const pending = useRef<RequestEvent[]>([]);
  const pausedRef = useRef(paused);
  useLayoutEffect(() => {
    pausedRef.current = paused;
  }, [paused]);
  const [held, setHeld] = useState(0);

  const path = useDebounced(`/api/live/requests${qs({ provider: provider.trim(), model: model.trim(), errors: errorsOnly ? "true" : undefined })}`, 350);
  const sse = useEventSource(
    path,
    (data) => {
      try {
        pending.current.push(JSON.parse(data) as RequestEvent);
        if (pending.current.length > 5 * LIVE_CAP) pending.current.splice(0, pending.current.length - 5 * LIVE_CAP);
      } catch {
        // not JSON: ignore
      }
    },
    (n) => setMissed((m) => m + n),
  );

  useEffect(() => {
    const id = setInterval(() => {
      if (pausedRef.current) {
        setHeld(pending.current.length);
        return;
      }
      if (pending.current.length === 0) return;
      const evs = pending.current;
      pending.current = [];
      setHeld(0);
      setEntries((prev) => mergeEvents(prev, evs));
    }, 250);
    return () => clearInterval(id);
  }, []);

  const inFlight = entries.filter((e) => !e.finish).length;
  useEffect(() => {
    if (inFlight === 0) return;
    const id = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(id);
  }, [inFlight]);

  const finished = entries.filter((e) => e.finish);
  const errors = finished.filter((e) => (e.finish?.status ?? 0) >= 400).length;
  const rows = entries.slice().reverse();

  return (
    <Card>
      <div className="toolbar">
        <Field label={t("provider")}>
          {(id) => <input id={id} value={provider} onChange={(e) => setProvider(e.target.value)} placeholder={t("provider_placeholder")} data-testid="live-filter-provider" />}
        </Field>
        <Field label={t("model")}>
          {(id) => <input id={id} value={model} onChange={(e) => setModel(e.target.value)} placeholder={t("model_placeholder")} data-testid="live-filter-model" />}
        </Field>
        <div className="field" style={{ justifyContent: "flex-end", minHeight: 32, whiteSpace: "nowrap" }}>
          <Toggle checked={errorsOnly} onChange={setErrorsOnly} label={t("errors_only")} />
        </div>
        <div className="row">
          <button type="button" onClick={() => setPaused(!paused)} aria-pressed={paused} data-testid="live-pause">
            {paused ? t("resume") : t("pause")}
          </button>
          <button
            type="button"
            onClick={() => {
              setEntries([]);
              pending.current = [];
              setMissed(0);
              setHeld(0);
            }}
            data-testid="live-clear"
          >
            {t("clear")}
          </button>
        </div>
        <div className="row" style={{ marginInlineStart: "auto" }}>
          <LiveStatus status={sse.status} onReconnect={sse.reconnect} testId="live-status" />
        </div>
      </div>
      <div className="row small muted" style={{ marginBottom: 8 }} data-testid="live-summary">
        <span>{t("live_in_flight", { n: fmtInt(inFlight) })}</span>
        <span>·</span>
        <span>{t("live_finished", { n: fmtInt(finished.length) })}</span>
        <span>·</span>
        <span>{t("live_errors", { n: fmtInt(errors) })}</span>
        {missed > 0 && (
          <>
            <span>·</span>
            <span className="badge warn">{t("lagged", { n: fmtInt(missed) })}</span>
          </>
        )}
      </div>
      {paused && held > 0 && (
        <div className="alert warn small" style={{ marginBottom: 8 }}>
          {t("held_requests", { n: fmtInt(held) })}
        </div>
      )}
      <div className="table-wrap" tabIndex={0}>
        <table data-testid="live-requests-list">
          <thead>
            <tr>
              <th>{t("time")}</th>
              <th>{t("common:status")}</th>
              <th>{t("model")}</th>
              <th>{t("provider")}</th>
              <th>{t("client_format")}</th>
              <th className="num">{t("latency")}</th>
              <th className="num">{t("ttft")}</th>
              <th className="num">{t("tokens")}</th>
              <th className="num">{t("cost")}</th>
              <th className="num">{t("attempts_short")}</th>
            </tr>
          </thead>
          <tbody>
            {rows.length === 0 ? (
              <tr>
                <td colSpan={10}>
                  <Empty title={sse.status === "open" ? t("live_waiting") : t("console_connecting")} hint={t("live_waiting_hint")} />
                </td>
              </tr>
            ) : (
              rows.map((e) => {
                const ev = e.finish ?? e.start!;
                const fin = e.finish;
                const started = e.start?.ts ?? (fin && fin.latency_ms !== null ? fin.ts - fin.latency_ms : e.first);
                return (
                  <tr
                    key={e.id}
                    className={fin ? "clickable flash" : "in-flight"}
                    onClick={fin ? () => onOpen(e.id) : undefined}
                    data-testid="live-request-row"
                    data-phase={fin ? "finish" : "start"}
                    data-request-id={e.id}
                  >
                    <td className="small" style={{ whiteSpace: "nowrap" }}>
                      {fin ? (
                        <button
                          type="button"
                          className="ghost small"
                          style={{ padding: 0, minHeight: 0 }}
                          onClick={(x) => {
                            x.stopPropagation();
                            onOpen(e.id);
                          }}
                          aria-label={`${fmtTime(started)} · ${t("open_request", { id: e.id })}`}
                        >
                          {fmtTime(started)}
                        </button>
                      ) : (
                        fmtTime(started)
                      )}
                    </td>
                    <td>
                      {fin ? (
                        fin.status !== null ? (
                          <Badge kind={statusKind(fin.status)}>{fin.status}</Badge>
                        ) : (
                          <Badge>{t("finished")}</Badge>
                        )
                      ) : (
                        <Badge kind="accent">
                          <span className="spinner" aria-hidden="true" style={{ width: 10, height: 10 }} />
                          {t("in_flight")}
                        </Badge>
                      )}
                    </td>
                    <td style={{ maxWidth: 320 }}>
                      <div className="mono truncate" style={{ maxWidth: 320 }}>
                        {dash(ev.model)}
                      </div>
                      {fin?.error && (
                        <div className="small" style={{ color: "var(--err)", overflowWrap: "anywhere" }} title={fin.error}>
                          {fin.error.length > 120 ? `${fin.error.slice(0, 120)}…` : fin.error}
                        </div>
                      )}
                    </td>
                    <td>
                      {dash(ev.provider)}
                      {ev.connection_id && <div className="small muted mono">{ev.connection_id}</div>}
                    </td>
                    <td className="small">
                      {dash(ev.client_format)}
                      {ev.stream && <span className="muted"> · {t("stream")}</span>}
                    </td>
                    <td className="num">{fin ? fmtMs(fin.latency_ms) : <span className="muted">{fmtMs(Math.max(0, now - started))}</span>}</td>
                    <td className="num">{fmtMs(fin?.ttft_ms)}</td>
                    <td className="num">{fin && (fin.input_tokens !== null || fin.output_tokens !== null) ? `${fmtInt(fin.input_tokens ?? 0)} → ${fmtInt(fin.output_tokens ?? 0)}` : <span className="muted">—</span>}</td>
                    <td className="num">{fin && fin.cost_usd !== null ? fmtUsd(fin.cost_usd) : <span className="muted">—</span>}</td>
                    <td className="num">{fin?.attempts ?? <span className="muted">—</span>}</td>
                  </tr>
                );
              })
            )}
          </tbody>
        </table>
      </div>
      <p className="small muted" style={{ marginTop: 6 }}>
        {t("live_footer", { cap: fmtInt(LIVE_CAP) })}
      </p>
    </Card>
  );
}

// ------------------------------------------------------------------ page

export default function Logs() {
  const { t } = useTranslation(["logs", "common"]);
  const [params, setParams] = useSearchParams();
  const tab: TabId = TABS.includes(params.get("tab") as TabId) ? (params.get("tab") as TabId) : "requests";
  const openId = params.get("id");
  // filters start from the URL (links from Analytics), then live here, shared by both log tabs
  const [filters, setFilters] = useState<Filters>(() => filtersFrom(params));
  // ...and are written back to it (replace, debounced), so a reload or a shared link keeps them
  const synced = useDebounced(filters, 350);
  const setRef = useRef(setParams);
  useLayoutEffect(() => {
    setRef.current = setParams;
  });
  useEffect(() => {
    const cur = window.location.search.replace(/^\?/, "");
    const next = new URLSearchParams(cur);
    for (const k of Object.keys(NO_FILTERS) as (keyof Filters)[]) {
      if (synced[k] === NO_FILTERS[k]) next.delete(k);
      else next.set(k, synced[k]);
    }
    if (next.toString() !== new URLSearchParams(cur).toString()) setRef.current(next, { replace: true });
  }, [synced]);

  // changes start from the address bar, not from the last render: quick successive changes
  // (a filter written back while a request is opened) must all stick
  const current = () => new URLSearchParams(window.location.search);
  const setTab = (id: TabId) => {
    const next = current();
    if (id === "requests") next.delete("tab");
    else next.set("tab", id);
    setParams(next);
  };
  const open = useCallback(
    (id: string) => {
      const next = current();
      next.set("id", id);
      setParams(next, { replace: true });
    },
    [setParams],
  );
  const close = () => {
    const next = current();
    if (!next.has("id")) return;
    next.delete("id");
    setParams(next, { replace: true });
  };

  return (
    <>
      <PageHead title={t("title")} subtitle={t("subtitle")} />
      <Tabs<TabId> label={t("tabs_label")} value={tab} onChange={setTab} tabs={TABS.map((id) => ({ id, label: t(`tabs.${id}`) }))} />
      <div role="tabpanel" aria-label={t(`tabs.${tab}`)} data-testid={`logs-tab-${tab}`}>
        {tab === "requests" && <RequestsTab filters={filters} setFilters={setFilters} onOpen={open} />}
        {tab === "proxy" && <ProxyTab filters={filters} setFilters={setFilters} onOpen={open} />}
        {tab === "audit" && <AuditTab />}
        {tab === "console" && <ConsoleTab />}
        {tab === "live" && <LiveTab onOpen={open} />}
      </div>
      <Modal open={openId !== null} title={t("detail_title")} onClose={close}>
        {openId !== null && <LogDetail key={openId} id={openId} />}
      </Modal>
    </>
  );
}
