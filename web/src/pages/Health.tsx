// Health: the process (uptime, version, memory, data directory, database and request-log size),
// circuit breakers per provider and connection, cooldowns and lockouts with unlock buttons,
// rate-limit slots in use, the response cache (with clear) and latency telemetry. Everything
// refreshes every 10 s; reset-all closes every breaker and clears every cooldown.
import { useCallback, useEffect, useState, type ReactNode } from "react";
import { Link } from "react-router";
import { useTranslation } from "react-i18next";
import { api, qs } from "../api/client";
import { useAction, useApi } from "../api/hooks";
import { Badge, Card, CopyButton, Empty, ErrorBox, Field, Modal, PageHead, Pager, Spinner, Stat, Tabs, usePaged } from "../components/ui";
import { fmtBytes, fmtInt, fmtMs, fmtPct, fmtRelative, fmtTime } from "../components/format";
import "./logs.css";

// ------------------------------------------------------------------ shapes (built with json!() in Rust)

// generated from the Rust structs (ts-rs): the resilience view and its parts
type BreakerSnapshot = import("../api/gen/BreakerSnapshot").BreakerSnapshot;
type CooldownView = import("../api/gen/ActiveCooldown").ActiveCooldown;
type ResilienceAnswer = import("../api/gen/ResilienceView").ResilienceView;

/** crates/server/src/cache.rs `CacheStats` (+ the flags `GET /api/cache` adds). */
type CacheAnswer = import("../api/gen/CacheView").CacheView;

/** `GET /api/health` (generated from the Rust `HealthView`). */
type HealthAnswer = import("../api/gen/HealthView").HealthView;

// `GET /api/telemetry`, generated from the Rust structs (ts-rs)
type Pcts = import("../api/gen/Percentiles").Percentiles;
type TelemetryAnswer = import("../api/gen/TelemetryView").TelemetryView;

const REFRESH_MS = 10_000;
type Window = "1m" | "5m" | "1h";
const WINDOWS: Window[] = ["1m", "5m", "1h"];
type SeriesTab = "providers" | "models" | "connections";

function breakerKind(s: BreakerSnapshot["state"]): "ok" | "warn" | "err" {
  return s === "closed" ? "ok" : s === "half_open" ? "warn" : "err";
}

function useUptime() {
  const { t } = useTranslation("health");
  return (s: number) => {
    const d = Math.floor(s / 86_400);
    const h = Math.floor((s % 86_400) / 3_600);
    const m = Math.floor((s % 3_600) / 60);
    if (d > 0) return t("uptime_d", { d, h });
    if (h > 0) return t("uptime_h", { h, m });
    return t("uptime_m", { m, s: Math.floor(s % 60) });
  };
}

function BreakerBadge({ b }: { b: BreakerSnapshot }) {
  const { t } = useTranslation("health");
  return <Badge kind={breakerKind(b.state)}>{t(`breaker.${b.state}`)}</Badge>;
}

// ------------------------------------------------------------------ page

export default function Health() {
  const { t } = useTranslation(["health", "common"]);
  const health = useApi<HealthAnswer>("/api/health", { refreshMs: REFRESH_MS });
  const res = useApi<ResilienceAnswer>("/api/resilience", { refreshMs: REFRESH_MS });
  const cache = useApi<CacheAnswer>("/api/cache", { refreshMs: REFRESH_MS });
  const [windowId, setWindowId] = useState<Window>("5m");
  const tele = useApi<TelemetryAnswer>(`/api/telemetry${qs({ window: windowId })}`, { refreshMs: REFRESH_MS });
  const uptime = useUptime();

  // "updated at": the last time fresh data arrived
  const [updated, setUpdated] = useState<number>();
  useEffect(() => {
    if (health.data || res.data) setUpdated(Date.now());
  }, [health.data, res.data]);

  // the cooldown countdowns move every second between two refreshes
  const [now, setNow] = useState(() => Date.now());
  const cooling = (res.data?.cooldowns.length ?? 0) > 0;
  useEffect(() => {
    if (!cooling) return;
    const id = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(id);
  }, [cooling]);

  const reloadAll = () => {
    health.reload();
    res.reload();
    cache.reload();
    tele.reload();
  };

  const [confirmReset, setConfirmReset] = useState(false);
  const [confirmClear, setConfirmClear] = useState(false);
  const [notice, setNotice] = useState<string>();

  const resetAll = useAction(useCallback(() => api.post<{ reset: boolean }>("/api/resilience/reset"), []));
  const resetOne = useAction(useCallback((id: string) => api.post<{ reset: boolean }>("/api/resilience/reset", { id }), []));
  const unlock = useAction(
    useCallback((id: string, model: string | null) => api.del<{ unlocked: string }>(`/api/resilience/cooldowns/${encodeURIComponent(id)}${qs({ model })}`), []),
  );
  const clearCache = useAction(useCallback(() => api.del<{ cleared: boolean }>("/api/cache"), []));
  const actionError = resetAll.error ?? resetOne.error ?? unlock.error ?? clearCache.error;

  const doResetAll = async () => {
    const r = await resetAll.run();
    setConfirmReset(false);
    if (r) setNotice(t("reset_done"));
    health.reload();
    res.reload();
  };
  const doResetOne = async (id: string, name: string) => {
    const r = await resetOne.run(id);
    if (r) setNotice(t("reset_one_done", { name }));
    health.reload();
    res.reload();
  };
  const doUnlock = async (c: CooldownView) => {
    const r = await unlock.run(c.connection_id, c.scope === "model" ? c.model : null);
    if (r) setNotice(t("unlocked", { name: c.connection_name || c.connection_id }));
    res.reload();
  };
  const doClearCache = async () => {
    const r = await clearCache.run();
    setConfirmClear(false);
    if (r) setNotice(t("cache_cleared"));
    cache.reload();
  };

  const h = health.data;
  const r = res.data;
  const connName = (id: string) => {
    const c = r?.connections.find((c) => c.id === id);
    return c ? `${c.provider} · ${c.name || c.id}` : id;
  };

  return (
    <>
      <PageHead
        title={t("title")}
        subtitle={t("subtitle")}
        actions={
          <>
            <span className="small muted" data-testid="health-updated-at" aria-live="polite">
              {updated ? t("updated_at", { time: new Date(updated).toLocaleTimeString(), every: REFRESH_MS / 1000 }) : t("common:loading")}
            </span>
            <button type="button" onClick={reloadAll} data-testid="health-refresh">
              {t("common:refresh")}
            </button>
            <button type="button" className="danger" onClick={() => setConfirmReset(true)} data-testid="health-reset-all">
              {t("reset_all")}
            </button>
          </>
        }
      />

      {notice && (
        <div className="alert ok row" role="status" style={{ marginBottom: 12, justifyContent: "space-between" }} data-testid="health-notice">
          <span>{notice}</span>
          <button type="button" className="ghost small" onClick={() => setNotice(undefined)} aria-label={t("common:close")}>
            ✕
          </button>
        </div>
      )}
      {actionError && (
        <div style={{ marginBottom: 12 }}>
          <ErrorBox error={actionError} />
        </div>
      )}
      <ErrorBox error={health.error} onRetry={health.reload} />

      {health.loading && !h ? (
        <Spinner />
      ) : (
        h && (
          <div className="grid stats flush" style={{ margin: "12px 0 16px" }}>
            <Stat
              label={t("status")}
              value={<Badge kind={h.status === "ok" ? "ok" : "warn"}>{t(`status_${h.status}`)}</Badge>}
              sub={h.breakers.open_connections > 0 ? t("open_breakers", { n: fmtInt(h.breakers.open_connections) }) : t("all_closed")}
              testId="health-status"
            />
            <Stat label={t("uptime")} value={uptime(h.uptime_s)} sub={t("version_v", { v: h.version })} testId="health-uptime" />
            <Stat label={t("memory")} value={fmtBytes(h.memory.rss_bytes)} testId="health-memory" />
            <Stat label={t("database")} value={fmtBytes(h.database.bytes)} testId="health-database" />
            <Stat
              label={t("connections")}
              value={fmtInt(h.connections)}
              sub={t("providers_connected", { n: fmtInt(h.connected_providers), total: fmtInt(h.providers) })}
              testId="health-connections"
            />
            <Stat label={t("cooldowns")} value={fmtInt(r?.cooldowns.length)} testId="health-cooldown-count" />
          </div>
        )
      )}

      {h && <SystemCard h={h} uptime={uptime(h.uptime_s)} />}

      <Card title={t("breakers_title")} className="health-breakers">
        <div data-testid="health-breakers">
          <ErrorBox error={res.error} onRetry={res.reload} />
          {res.loading && !r ? (
            <Spinner />
          ) : r ? (
            <Breakers r={r} onReset={doResetOne} busy={resetOne.pending} />
          ) : null}
        </div>
      </Card>

      <div className="grid cols-2 flush" style={{ marginTop: 16 }}>
        <Card title={t("cooldowns_title")}>
          <div data-testid="health-cooldowns">
            <p className="muted small">{t("cooldowns_hint")}</p>
            {res.loading && !r ? (
              <Spinner />
            ) : !r || r.cooldowns.length === 0 ? (
              <Empty title={t("no_cooldowns")} hint={t("no_cooldowns_hint")} />
            ) : (
              <div className="table-wrap" tabIndex={0}>
                <table>
                  <thead>
                    <tr>
                      <th>{t("connection")}</th>
                      <th>{t("scope")}</th>
                      <th>{t("reason")}</th>
                      <th className="num">{t("remaining")}</th>
                      <th>
                        <span className="sr-only">{t("common:actions")}</span>
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {r.cooldowns.map((c) => (
                      <tr key={`${c.connection_id}-${c.model ?? ""}`} data-testid="health-cooldown-row">
                        <td>
                          {c.connection_name || <span className="mono">{c.connection_id}</span>}
                          <div className="small muted">{c.provider}</div>
                        </td>
                        <td>
                          {c.scope === "connection" ? (
                            <Badge kind="err">{t("lockout")}</Badge>
                          ) : (
                            <>
                              <Badge kind="warn">{t("model_cooldown")}</Badge>
                              <div className="mono small">{c.model}</div>
                            </>
                          )}
                        </td>
                        <td className="small">
                          {c.reason}
                          {c.level > 0 && <div className="muted">{t("level_n", { n: c.level })}</div>}
                        </td>
                        <td className="num" title={fmtTime(c.until)}>
                          {fmtMs(Math.max(0, c.until - now))}
                        </td>
                        <td>
                          <button
                            type="button"
                            className="small"
                            disabled={unlock.pending}
                            onClick={() => void doUnlock(c)}
                            data-testid="health-unlock"
                            aria-label={`${t("unlock")} · ${t("unlock_label", { name: c.connection_name || c.connection_id })}`}
                          >
                            {t("unlock")}
                          </button>
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </div>
          <LoginLockouts />
        </Card>

        <Card title={t("queues_title")}>
          <div data-testid="health-queues">
            <p className="muted small">{t("queues_hint")}</p>
            {!r ? (
              res.loading ? <Spinner /> : null
            ) : r.connections.filter((c) => c.in_use > 0 || c.waiting > 0).length === 0 ? (
              <Empty title={t("no_queues")} hint={t("no_queues_hint")} />
            ) : (
              <div className="table-wrap" tabIndex={0}>
                <table>
                  <thead>
                    <tr>
                      <th>{t("connection")}</th>
                      <th className="num">{t("in_flight")}</th>
                      <th className="num">{t("waiting")}</th>
                      <th>{t("limits")}</th>
                      <th>{t("available")}</th>
                    </tr>
                  </thead>
                  <tbody>
                    {r.connections
                      .filter((c) => c.in_use > 0 || c.waiting > 0)
                      .sort((a, b) => b.waiting - a.waiting || b.in_use - a.in_use)
                      .map((c) => (
                        <tr key={c.id} data-testid="health-queue-row">
                          <td>
                            {c.name || <span className="mono">{c.id}</span>}
                            <div className="small muted">{c.provider}</div>
                          </td>
                          <td className="num">{fmtInt(c.in_use)}</td>
                          <td className="num" data-testid="health-queue-waiting">
                            {c.waiting > 0 ? <Badge kind="warn">{fmtInt(c.waiting)}</Badge> : "0"}
                          </td>
                          <td className="small">
                            {[
                              c.limits?.rpm ? t("limit_rpm", { n: c.limits.rpm }) : null,
                              c.limits?.max_concurrent ? t("limit_concurrent", { n: c.limits.max_concurrent }) : null,
                              c.limits?.min_gap_ms ? t("limit_gap", { ms: c.limits.min_gap_ms }) : null,
                            ]
                              .filter(Boolean)
                              .join(" · ") || "—"}
                          </td>
                          <td>{c.available ? <Badge kind="ok">{t("common:yes")}</Badge> : <Badge kind="warn">{t("common:no")}</Badge>}</td>
                        </tr>
                      ))}
                  </tbody>
                </table>
              </div>
            )}
          </div>
        </Card>
      </div>

      <div style={{ marginTop: 16 }}>
        <CacheCard cache={cache} onClear={() => setConfirmClear(true)} busy={clearCache.pending} />
      </div>

      <div style={{ marginTop: 16 }}>
        <TelemetryCard tele={tele} windowId={windowId} setWindowId={setWindowId} connName={connName} />
      </div>

      <Modal
        open={confirmReset}
        title={t("reset_all_title")}
        onClose={() => setConfirmReset(false)}
        footer={
          <>
            <button type="button" onClick={() => setConfirmReset(false)}>
              {t("common:cancel")}
            </button>
            <button type="button" className="danger" disabled={resetAll.pending} onClick={() => void doResetAll()} data-testid="health-reset-confirm">
              {resetAll.pending ? t("resetting") : t("reset_all")}
            </button>
          </>
        }
      >
        <p>{t("reset_all_confirm")}</p>
      </Modal>
      <Modal
        open={confirmClear}
        title={t("cache_clear_title")}
        onClose={() => setConfirmClear(false)}
        footer={
          <>
            <button type="button" onClick={() => setConfirmClear(false)}>
              {t("common:cancel")}
            </button>
            <button type="button" className="danger" disabled={clearCache.pending} onClick={() => void doClearCache()} data-testid="health-cache-clear-confirm">
              {t("cache_clear")}
            </button>
          </>
        }
      >
        <p>{t("cache_clear_confirm")}</p>
      </Modal>
    </>
  );
}

// ------------------------------------------------------------------ system

/** Addresses locked out of the dashboard login after repeated wrong passwords. */
function LoginLockouts() {
  const { t } = useTranslation(["health", "common"]);
  const list = useApi<import("../api/gen/LockoutsView").LockoutsView>("/api/auth/lockouts", { refreshMs: 10_000 });
  const [error, setError] = useState<string>();
  const lift = async (ip: string) => {
    setError(undefined);
    try {
      await api.del(`/api/auth/lockouts/${encodeURIComponent(ip)}`);
      list.reload();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  return (
    <div className="stack" style={{ marginTop: 12 }} data-testid="health-login-lockouts">
      <h3>{t("login_lockouts")}</h3>
      {(list.data?.lockouts.length ?? 0) === 0 ? (
        <p className="small muted">{t("no_login_lockouts")}</p>
      ) : (
        <ul className="stack" style={{ padding: 0, listStyle: "none", gap: 6 }}>
          {list.data?.lockouts.map((l) => (
            <li key={l.ip} className="row">
              <code>{l.ip}</code>
              <span className="small muted">{fmtMs(l.seconds_left * 1000)}</span>
              <button type="button" className="small" onClick={() => void lift(l.ip)} data-testid="health-login-unlock">
                {t("unlock")}
              </button>
            </li>
          ))}
        </ul>
      )}
      {error && (
        <div className="alert err" role="alert">
          {error}
        </div>
      )}
    </div>
  );
}

function SystemCard({ h, uptime }: { h: HealthAnswer; uptime: string }) {
  const { t } = useTranslation(["health", "common"]);
  const ret = h.request_log.retention;
  const limits = [
    ret.max_rows ? t("limit_rows", { n: fmtInt(ret.max_rows) }) : null,
    ret.max_age_ms ? t("limit_days", { n: fmtInt(Math.round(ret.max_age_ms / 86_400_000)) }) : null,
    ret.max_bytes ? t("limit_size", { size: fmtBytes(ret.max_bytes) }) : null,
  ].filter(Boolean);
  const items: [string, ReactNode][] = [
    [t("version"), <code key="v">{h.version}</code>],
    [t("uptime"), uptime],
    [
      t("data_dir"),
      <span className="row" key="d">
        <code style={{ overflowWrap: "anywhere" }}>{h.data_dir}</code>
        <CopyButton text={h.data_dir} />
      </span>,
    ],
    [t("memory"), fmtBytes(h.memory.rss_bytes)],
    [t("database"), fmtBytes(h.database.bytes)],
    [t("log_rows"), fmtInt(h.request_log.rows)],
    [t("log_bytes"), fmtBytes(h.request_log.bytes_estimate)],
    [
      t("log_dropped"),
      h.request_log.dropped > 0 ? (
        <span key="dr">
          <Badge kind="warn">{fmtInt(h.request_log.dropped)}</Badge> <span className="small muted">{t("log_dropped_hint")}</span>
        </span>
      ) : (
        fmtInt(0)
      ),
    ],
    [t("log_retention"), limits.length ? limits.join(" · ") : t("unlimited")],
    [
      t("trace_export"),
      h.trace_export ? (
        <span key="te">
          <code>{h.trace_export.endpoint}</code>
          <div className="small muted">{t("trace_stats", { exported: fmtInt(h.trace_export.exported), failed: fmtInt(h.trace_export.failed), dropped: fmtInt(h.trace_export.dropped) })}</div>
        </span>
      ) : (
        <span className="muted">{t("off")}</span>
      ),
    ],
    [
      t("live_listeners"),
      [h.live_listeners.requests ? t("listener_requests") : null, h.live_listeners.console ? t("listener_console") : null].filter(Boolean).join(", ") || t("common:none"),
    ],
  ];
  return (
    <Card title={t("system_title")} actions={<Link to="/settings">{t("log_settings")}</Link>}>
      <div data-testid="health-system">
        <dl className="kv">
          {items.map(([k, v]) => (
            <div key={k} style={{ display: "contents" }}>
              <dt>{k}</dt>
              <dd>{v}</dd>
            </div>
          ))}
        </dl>
      </div>
    </Card>
  );
}

// ------------------------------------------------------------------ breakers

function Breakers({ r, onReset, busy }: { r: ResilienceAnswer; onReset: (id: string, name: string) => Promise<void>; busy: boolean }) {
  const { t } = useTranslation(["health", "common"]);
  const [onlyTrouble, setOnlyTrouble] = useState(false);
  // the catalog has dozens of providers: list those with a connection, or a breaker not closed
  const used = new Set(r.connections.map((c) => c.provider));
  const providers = r.providers.filter((p) => (onlyTrouble ? p.breaker.state !== "closed" : p.breaker.state !== "closed" || used.has(p.provider)));
  const conns = r.connections
    .filter((c) => !onlyTrouble || c.breaker.state !== "closed" || !c.available || c.cooldowns.length > 0)
    .sort((a, b) => Number(a.breaker.state === "closed") - Number(b.breaker.state === "closed") || a.provider.localeCompare(b.provider) || a.name.localeCompare(b.name));
  const paged = usePaged(conns, 20);
  const provPaged = usePaged(
    providers.sort((a, b) => Number(a.breaker.state === "closed") - Number(b.breaker.state === "closed") || a.provider.localeCompare(b.provider)),
    20,
  );
  if (r.connections.length === 0 && r.providers.length === 0) {
    return (
      <Empty
        title={t("no_breakers")}
        hint={t("no_breakers_hint")}
        action={
          <Link className="btn" to="/providers">
            {t("go_providers")}
          </Link>
        }
      />
    );
  }
  const until = (b: BreakerSnapshot) => (b.state !== "closed" && b.until ? fmtRelative(b.until) : "—");
  return (
    <div className="stack">
      <label className="check small">
        <input type="checkbox" checked={onlyTrouble} onChange={(e) => setOnlyTrouble(e.target.checked)} data-testid="health-only-trouble" />
        <span>{t("only_trouble")}</span>
      </label>
      {providers.length > 0 && (
        <section>
          <h3>{t("provider_breakers")}</h3>
          <div className="table-wrap" tabIndex={0}>
            <table data-testid="health-provider-breakers">
              <thead>
                <tr>
                  <th>{t("provider")}</th>
                  <th>{t("state")}</th>
                  <th className="num">{t("failures")}</th>
                  <th>{t("opened")}</th>
                  <th>{t("probe_at")}</th>
                  <th>
                    <span className="sr-only">{t("common:actions")}</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {provPaged.rows.map((p) => (
                  <tr key={p.provider} data-testid="health-provider-row">
                    <td>{p.provider}</td>
                    <td>
                      <BreakerBadge b={p.breaker} />
                    </td>
                    <td className="num">{fmtInt(p.breaker.failures)}</td>
                    <td className="small">{p.breaker.opened_at ? fmtTime(p.breaker.opened_at) : "—"}</td>
                    <td className="small">{until(p.breaker)}</td>
                    <td>
                      {p.breaker.state !== "closed" && (
                        <button type="button" className="small" disabled={busy} onClick={() => void onReset(p.provider, p.provider)} data-testid="health-reset-one">
                          {t("reset")}
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager page={provPaged.page} pages={provPaged.pages} setPage={provPaged.setPage} />
        </section>
      )}
      {r.connections.length > 0 && (
        <section>
          <h3>{t("connection_breakers")}</h3>
          {conns.length === 0 ? (
            <p className="muted small">{t("all_healthy")}</p>
          ) : (
            <div className="table-wrap" tabIndex={0}>
              <table data-testid="health-connection-breakers">
                <thead>
                  <tr>
                    <th>{t("connection")}</th>
                    <th>{t("state")}</th>
                    <th className="num">{t("success_rate")}</th>
                    <th className="num">{t("avg_latency")}</th>
                    <th className="num">{t("ok_fail")}</th>
                    <th className="num">{t("in_flight")}</th>
                    <th>{t("last_used")}</th>
                    <th>
                      <span className="sr-only">{t("common:actions")}</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {paged.rows.map((c) => (
                    <tr key={c.id} data-testid="health-connection-row">
                      <td>
                        {c.name || <span className="mono">{c.id}</span>}
                        <div className="small muted">{c.provider}</div>
                      </td>
                      <td>
                        <div className="row">
                          <BreakerBadge b={c.breaker} />
                          {!c.available && <Badge kind="warn">{t("unavailable")}</Badge>}
                        </div>
                        {c.breaker.state === "closed" && c.breaker.failures > 0 && <div className="small muted">{t("recent_failures", { n: fmtInt(c.breaker.failures) })}</div>}
                        {c.breaker.state !== "closed" && c.breaker.until && <div className="small muted">{t("probe_in", { when: until(c.breaker) })}</div>}
                      </td>
                      <td className="num">{c.stats.successes + c.stats.failures > 0 ? fmtPct(c.stats.success_rate) : "—"}</td>
                      <td className="num">{c.stats.successes + c.stats.failures > 0 ? fmtMs(c.stats.latency_ms) : "—"}</td>
                      <td className="num">
                        {fmtInt(c.stats.successes)} / {fmtInt(c.stats.failures)}
                      </td>
                      <td className="num">{fmtInt(c.in_use)}</td>
                      <td className="small">{c.stats.last_used ? fmtRelative(c.stats.last_used) : "—"}</td>
                      <td>
                        {(c.breaker.state !== "closed" || c.cooldowns.length > 0 || c.breaker.failures > 0) && (
                          <button
                            type="button"
                            className="small"
                            disabled={busy}
                            onClick={() => void onReset(c.id, c.name || c.id)}
                            data-testid="health-reset-one"
                            aria-label={t("reset_label", { name: c.name || c.id })}
                          >
                            {t("reset")}
                          </button>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          <Pager page={paged.page} pages={paged.pages} setPage={paged.setPage} />
        </section>
      )}
    </div>
  );
}

// ------------------------------------------------------------------ cache

function CacheCard({ cache, onClear, busy }: { cache: ReturnType<typeof useApi<CacheAnswer>>; onClear: () => void; busy: boolean }) {
  const { t } = useTranslation(["health", "common"]);
  const c = cache.data;
  const lookups = c ? c.hits + c.misses : 0;
  return (
    <Card
      title={t("cache_title")}
      actions={
        <button type="button" className="danger small" onClick={onClear} disabled={busy || !c || c.entries + c.semantic_entries === 0} data-testid="health-cache-clear">
          {t("cache_clear")}
        </button>
      }
    >
      <div data-testid="health-cache">
        <ErrorBox error={cache.error} onRetry={cache.reload} />
        {cache.loading && !c ? (
          <Spinner />
        ) : (
          c && (
            <>
              <div className="row" style={{ marginBottom: 10 }}>
                <Badge kind={c.enabled ? "ok" : undefined}>{c.enabled ? t("cache_on") : t("cache_off")}</Badge>
                <Badge kind={c.semantic_enabled ? "ok" : undefined}>{c.semantic_enabled ? t("semantic_on") : t("semantic_off")}</Badge>
                {!c.enabled && (
                  <Link to="/settings" className="small">
                    {t("cache_enable")}
                  </Link>
                )}
              </div>
              <div className="grid stats flush">
                <Stat label={t("cache_entries")} value={fmtInt(c.entries)} sub={fmtBytes(c.bytes)} testId="health-cache-entries" />
                <Stat label={t("cache_hit_rate")} value={lookups ? fmtPct((c.hits + c.semantic_hits) / lookups) : "—"} sub={t("cache_lookups", { n: fmtInt(lookups) })} />
                <Stat label={t("cache_hits")} value={fmtInt(c.hits)} sub={t("cache_misses", { n: fmtInt(c.misses) })} />
                <Stat label={t("semantic_hits")} value={fmtInt(c.semantic_hits)} sub={t("semantic_entries", { n: fmtInt(c.semantic_entries) })} />
                <Stat label={t("cache_evictions")} value={fmtInt(c.evictions)} sub={t("cache_expired", { n: fmtInt(c.expired) })} />
              </div>
            </>
          )
        )}
      </div>
    </Card>
  );
}

// ------------------------------------------------------------------ telemetry

function Pct3({ p }: { p: Pcts | null }) {
  if (!p) return <span className="muted">—</span>;
  return (
    <span style={{ whiteSpace: "nowrap" }}>
      {fmtMs(p.p50)} <span className="muted">/</span> {fmtMs(p.p95)} <span className="muted">/</span> {fmtMs(p.p99)}
    </span>
  );
}

function TelemetryCard({
  tele,
  windowId,
  setWindowId,
  connName,
}: {
  tele: ReturnType<typeof useApi<TelemetryAnswer>>;
  windowId: Window;
  setWindowId: (w: Window) => void;
  connName: (id: string) => string;
}) {
  const { t } = useTranslation(["health", "common"]);
  const [tab, setTab] = useState<SeriesTab>("providers");
  const d = tele.data;
  const label = (key: string) => {
    if (key === "_other") return t("other_series");
    if (tab === "connections") return connName(key);
    return key;
  };
  const rows = d ? Object.entries(d[tab]).sort((a, b) => b[1].count - a[1].count) : [];
  const paged = usePaged(rows, 20);
  const g = d?.global;
  return (
    <Card
      title={t("telemetry_title")}
      actions={
        <Field label={t("window")}>
          {(id) => (
            <select id={id} value={windowId} onChange={(e) => setWindowId(e.target.value as Window)} data-testid="health-telemetry-window">
              {WINDOWS.map((w) => (
                <option key={w} value={w}>
                  {t(`windows.${w}`)}
                </option>
              ))}
            </select>
          )}
        </Field>
      }
    >
      <div data-testid="health-telemetry">
        <ErrorBox error={tele.error} onRetry={tele.reload} />
        {tele.loading && !d ? (
          <Spinner />
        ) : (
          g && (
            <>
              <div className="grid stats flush" style={{ marginBottom: 12 }}>
                <Stat label={t("requests")} value={fmtInt(g.count)} sub={t("rps", { n: g.rps.toFixed(g.rps < 10 ? 2 : 1) })} testId="health-telemetry-requests" />
                <Stat label={t("success_rate")} value={g.success_rate === null ? "—" : fmtPct(g.success_rate)} sub={t("errors_n", { n: fmtInt(g.errors) })} />
                <Stat label={t("latency_p50")} value={fmtMs(g.latency_ms?.p50)} sub={t("p95_p99", { p95: fmtMs(g.latency_ms?.p95), p99: fmtMs(g.latency_ms?.p99) })} />
                <Stat label={t("ttft_p50")} value={fmtMs(g.ttft_ms?.p50)} sub={t("p95_p99", { p95: fmtMs(g.ttft_ms?.p95), p99: fmtMs(g.ttft_ms?.p99) })} />
              </div>
              <Tabs<SeriesTab>
                label={t("telemetry_split")}
                value={tab}
                onChange={setTab}
                tabs={(["providers", "models", "connections"] as SeriesTab[]).map((id) => ({ id, label: t(`split.${id}`) }))}
              />
              {rows.length === 0 ? (
                <Empty title={t("telemetry_empty")} hint={t("telemetry_empty_hint")} />
              ) : (
                <div className="table-wrap" tabIndex={0}>
                  <table data-testid="health-telemetry-table">
                    <thead>
                      <tr>
                        <th>{t(`split_one.${tab}`)}</th>
                        <th className="num">{t("requests")}</th>
                        <th className="num">{t("success_rate")}</th>
                        <th className="num">{t("throughput")}</th>
                        <th className="num">{t("latency_pcts")}</th>
                        <th className="num">{t("ttft_pcts")}</th>
                      </tr>
                    </thead>
                    <tbody>
                      {paged.rows.map(([key, s]) => (
                        <tr key={key} data-testid="health-telemetry-row">
                          <td className={key === "_other" ? "muted" : "mono"}>{label(key)}</td>
                          <td className="num">{fmtInt(s.count)}</td>
                          <td className="num">
                            {s.success_rate === null ? "—" : <Badge kind={s.success_rate >= 0.99 ? "ok" : s.success_rate >= 0.9 ? "warn" : "err"}>{fmtPct(s.success_rate)}</Badge>}
                          </td>
                          <td className="num">{t("rps", { n: s.rps.toFixed(s.rps < 10 ? 2 : 1) })}</td>
                          <td className="num">
                            <Pct3 p={s.latency_ms} />
                          </td>
                          <td className="num">
                            <Pct3 p={s.ttft_ms} />
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              )}
              <Pager page={paged.page} pages={paged.pages} setPage={paged.setPage} />
              <p className="small muted" style={{ marginTop: 8 }}>
                {t("telemetry_footer", { span: fmtInt(Math.round(d.span_seconds)), series: fmtInt(d.series), max: fmtInt(d.max_series) })}
              </p>
            </>
          )
        )}
      </div>
    </Card>
  );
}
