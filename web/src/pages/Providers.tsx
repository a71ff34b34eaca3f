// Providers page: the provider catalog (searchable, connected providers first), the connections
// of each provider (priority, enable, test, edit with a per-connection proxy, delete) with their
// live state from /api/resilience (healthy, cooldown with a countdown, breaker, rate-limited),
// custom nodes (/api/provider-nodes) and custom models (/api/provider-models).
import { useEffect, useMemo, useState, type FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { api, qs } from "../api/client";
import { useApi } from "../api/hooks";
import type { ConnectionView } from "../api/gen/ConnectionView";
import type { ProviderInfo, TestResult } from "../api/types";
import type { ProviderModel } from "../api/gen/ProviderModel";
import type { ProviderNode } from "../api/gen/ProviderNode";
import ConnectForm, { TestBadge } from "../components/ConnectForm";
import { fmtInt, fmtMs, fmtPct, fmtRelative } from "../components/format";
import { Badge, Card, Empty, ErrorBox, Field, Modal, PageHead, Pager, Spinner, Tabs, usePaged } from "../components/ui";
import "./providers.css";

// ------------------------------------------------------------------ answer shapes (ad hoc JSON)

/** A connection as the API shows it (generated from the Rust `ConnectionView`). */
type Connection = ConnectionView;

// the live state (`GET /api/resilience`), generated from the Rust structs (ts-rs)
type BreakerSnapshot = import("../api/gen/BreakerSnapshot").BreakerSnapshot;
type LiveConnection = import("../api/gen/ConnectionHealth").ConnectionHealth;
type ResilienceState = import("../api/gen/ResilienceView").ResilienceView;

const FORMATS = ["openai", "anthropic", "gemini", "responses"] as const;
const AUTH_STYLES = ["bearer", "x-api-key", "x-goog-api-key", "token", "raw", "xi-api-key", "none"] as const;
const MODEL_TYPES = ["chat", "embedding", "image", "audio-transcription", "audio-speech", "moderation", "rerank"] as const;
const PROXY_SCHEMES = ["http:", "https:", "socks5:", "socks5h:"];
const KNOWN_REASONS = [
  "quota_exhausted",
  "rate_limited",
  "overloaded",
  "auth_failed",
  "server_error",
  "timeout",
  "connect_error",
  "error_in_body",
  "empty_stream",
  "model_not_found",
];

const errorOf = (e: unknown) => (e instanceof Error ? e : new Error(String(e)));

function proxyOf(c: Connection): string {
  const p = c.settings?.proxy;
  return typeof p === "string" ? p : "";
}

function fmtCountdown(ms: number): string {
  const s = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

/** The current time, re-read every second while `active`. */
function useNow(active: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    const id = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(id);
  }, [active]);
  return active ? now : Date.now();
}

// ------------------------------------------------------------------ small shared pieces

function Switch({ checked, onChange, label, disabled, testId }: { checked: boolean; onChange: (v: boolean) => void; label: string; disabled?: boolean; testId?: string }) {
  return (
    <label className="check">
      <input type="checkbox" checked={checked} disabled={disabled} onChange={(e) => onChange(e.target.checked)} data-testid={testId} />
      <span>{label}</span>
    </label>
  );
}

function ConfirmDialog({ open, title, message, onConfirm, onClose }: { open: boolean; title: string; message: string; onConfirm: () => Promise<void>; onClose: () => void }) {
  const { t } = useTranslation("common");
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<Error>();
  useEffect(() => {
    if (open) setError(undefined);
  }, [open]);
  const confirm = async () => {
    setPending(true);
    setError(undefined);
    try {
      await onConfirm();
      onClose();
    } catch (e) {
      setError(errorOf(e));
    } finally {
      setPending(false);
    }
  };
  return (
    <Modal
      open={open}
      title={title}
      onClose={onClose}
      footer={
        <>
          <button type="button" onClick={onClose}>
            {t("cancel")}
          </button>
          <button type="button" className="danger" disabled={pending} onClick={() => void confirm()} data-testid="confirm-delete">
            {t("delete")}
          </button>
        </>
      }
    >
      <p>{message}</p>
      <ErrorBox error={error} />
    </Modal>
  );
}

function ConnectModal({ provider, onClose, onSaved }: { provider: string | null; onClose: () => void; onSaved: () => void }) {
  const { t } = useTranslation("providers");
  return (
    <Modal open={provider !== null} title={t("add_connection")} onClose={onClose}>
      <ConnectForm
        initialProvider={provider || undefined}
        onSaved={() => {
          onSaved();
          onClose();
        }}
      />
    </Modal>
  );
}

// ------------------------------------------------------------------ the page

type Tab = "providers" | "nodes" | "models";

export default function Providers() {
  const { t } = useTranslation("providers");
  const [tab, setTab] = useState<Tab>("providers");
  return (
    <>
      <PageHead title={t("title")} subtitle={t("subtitle")} />
      <Tabs<Tab>
        label={t("sections")}
        value={tab}
        onChange={setTab}
        tabs={[
          { id: "providers", label: t("tab_providers") },
          { id: "nodes", label: t("tab_nodes") },
          { id: "models", label: t("tab_models") },
        ]}
      />
      {tab === "providers" && <ProvidersTab />}
      {tab === "nodes" && <NodesTab onConnected={() => setTab("providers")} onAddModels={() => setTab("models")} />}
      {tab === "models" && <ModelsTab />}
    </>
  );
}

// ------------------------------------------------------------------ providers and connections

function ProvidersTab() {
  const { t } = useTranslation(["providers", "common"]);
  const providers = useApi<{ providers: ProviderInfo[] }>("/api/providers");
  const conns = useApi<{ connections: Connection[] }>("/api/connections");
  const live = useApi<ResilienceState>("/api/resilience", { refreshMs: 10_000 });
  const [search, setSearch] = useState("");
  const [connectFor, setConnectFor] = useState<string | null>(null);

  // server clock minus local clock, so countdowns use the server's `until` values
  const skew = useMemo(() => (live.data ? live.data.now - Date.now() : 0), [live.data]);
  const liveById = useMemo(() => new Map((live.data?.connections ?? []).map((c) => [c.id, c])), [live.data]);
  const providerBreakers = useMemo(() => new Map((live.data?.providers ?? []).map((p) => [p.provider, p.breaker])), [live.data]);

  const q = search.trim().toLowerCase();
  const { connected, catalog } = useMemo(() => {
    const all = providers.data?.providers ?? [];
    const byProvider = new Map<string, Connection[]>();
    for (const c of conns.data?.connections ?? []) {
      const list = byProvider.get(c.provider) ?? [];
      list.push(c);
      byProvider.set(c.provider, list);
    }
    const match = (p: ProviderInfo, list: Connection[]) =>
      !q || `${p.id} ${p.alias} ${p.name} ${p.format} ${list.map((c) => c.name).join(" ")}`.toLowerCase().includes(q);
    const connected: { provider: ProviderInfo; connections: Connection[] }[] = [];
    for (const [id, list] of byProvider) {
      const provider: ProviderInfo = all.find((p) => p.id === id) ?? {
        id, alias: id, name: id, format: "?", base_url: "", auth: "", custom: false, enabled: true, connections: list.length, models: 0, website: null,
      };
      list.sort((a, b) => a.priority - b.priority || a.name.localeCompare(b.name));
      if (match(provider, list)) connected.push({ provider, connections: list });
    }
    connected.sort((a, b) => a.provider.name.localeCompare(b.provider.name));
    const catalog = all.filter((p) => !byProvider.has(p.id) && match(p, []));
    return { connected, catalog };
  }, [providers.data, conns.data, q]);

  const connectedPage = usePaged(connected, 10);
  const catalogPage = usePaged(catalog, 20);
  const reloadAll = () => {
    conns.reload();
    providers.reload();
    live.reload();
  };
  const noConnections = conns.data !== undefined && conns.data.connections.length === 0;

  if (providers.loading || conns.loading) return <Spinner />;
  return (
    <div className="stack">
      <div className="toolbar">
        <Field label={t("search_providers")}>
          {(id) => (
            <input id={id} type="search" value={search} onChange={(e) => setSearch(e.target.value)} placeholder={t("search_placeholder")} data-testid="providers-search" />
          )}
        </Field>
        <button type="button" className="primary" onClick={() => setConnectFor("")} data-testid="add-connection">
          {t("add_connection")}
        </button>
      </div>
      <ErrorBox error={providers.error} onRetry={providers.reload} />
      <ErrorBox error={conns.error} onRetry={conns.reload} />
      {live.error && <div className="alert warn small">{t("live_unavailable", { error: live.error.message })}</div>}

      {noConnections ? (
        <Card>
          <Empty
            title={t("no_connections")}
            hint={t("no_connections_hint")}
            action={
              <button type="button" className="primary" onClick={() => setConnectFor("")}>
                {t("add_connection")}
              </button>
            }
          />
        </Card>
      ) : (
        <section aria-label={t("connected")} className="stack" data-testid="connected-providers">
          <h2 style={{ margin: 0 }}>{t("connected")}</h2>
          {connected.length === 0 && q && <p className="muted">{t("no_connected_match", { query: search.trim() })}</p>}
          {connectedPage.rows.map(({ provider, connections }) => (
            <ProviderCard
              key={provider.id}
              provider={provider}
              connections={connections}
              liveById={liveById}
              breaker={providerBreakers.get(provider.id)}
              skew={skew}
              onChanged={reloadAll}
              onLiveChanged={live.reload}
              onAdd={() => setConnectFor(provider.id)}
            />
          ))}
          <Pager page={connectedPage.page} pages={connectedPage.pages} setPage={connectedPage.setPage} />
        </section>
      )}

      <Card title={t("catalog")}>
        {catalog.length === 0 ? (
          <Empty title={q ? t("no_match", { query: search.trim() }) : t("catalog_all_connected")} hint={q ? t("no_match_hint") : undefined} />
        ) : (
          <>
            <div className="table-wrap" tabIndex={0}>
              <table data-testid="provider-catalog">
                <thead>
                  <tr>
                    <th>{t("provider")}</th>
                    <th className="hide-narrow">{t("format")}</th>
                    <th className="num hide-narrow">{t("models")}</th>
                    <th>
                      <span className="sr-only">{t("actions", { ns: "common" })}</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {catalogPage.rows.map((p) => {
                    const connectable = p.auth !== "none" || p.custom;
                    return (
                      <tr key={p.id}>
                        <td>
                          <div className="row">
                            <strong>{p.name}</strong>
                            <span className="mono muted">{p.alias}</span>
                            {p.custom && <Badge kind="accent">{t("custom")}</Badge>}
                            {!p.enabled && <Badge kind="warn">{t("disabled", { ns: "common" })}</Badge>}
                          </div>
                          {p.website && (
                            <a className="small" href={p.website} target="_blank" rel="noreferrer">
                              {t("get_key")}
                            </a>
                          )}
                        </td>
                        <td className="mono hide-narrow">{p.format}</td>
                        <td className="num hide-narrow">{fmtInt(p.models)}</td>
                        <td className="right">
                          {connectable ? (
                            <button type="button" className="small" onClick={() => setConnectFor(p.id)} aria-label={t("connect_label", { name: p.name })} data-testid={`connect-${p.id}`}>
                              {t("connect")}
                            </button>
                          ) : (
                            <Badge>{t("no_key_needed")}</Badge>
                          )}
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
            <Pager page={catalogPage.page} pages={catalogPage.pages} setPage={catalogPage.setPage} />
          </>
        )}
      </Card>

      <ConnectModal provider={connectFor} onClose={() => setConnectFor(null)} onSaved={reloadAll} />
    </div>
  );
}

function ProviderCard({
  provider, connections, liveById, breaker, skew, onChanged, onLiveChanged, onAdd,
}: {
  provider: ProviderInfo;
  connections: Connection[];
  liveById: Map<string, LiveConnection>;
  breaker: BreakerSnapshot | undefined;
  skew: number;
  onChanged: () => void;
  onLiveChanged: () => void;
  onAdd: () => void;
}) {
  const { t } = useTranslation(["providers", "common"]);
  return (
    <section className="card stack" aria-label={provider.name} data-testid={`provider-${provider.id}`}>
      <div className="spread">
        <div className="stack" style={{ gap: 2 }}>
          <div className="provider-title">
            <h2>{provider.name}</h2>
            <span className="mono muted">{provider.alias}</span>
            {provider.custom && <Badge kind="accent">{t("custom")}</Badge>}
            {!provider.enabled && <Badge kind="warn">{t("disabled", { ns: "common" })}</Badge>}
            {breaker && breaker.state !== "closed" && (
              <Badge kind={breaker.state === "open" ? "err" : "warn"}>{breaker.state === "open" ? t("provider_breaker_open") : t("state_half_open")}</Badge>
            )}
          </div>
          <span className="small muted wrap-anywhere">
            {t("provider_line", { format: provider.format, url: provider.base_url })} · {t("connection_count", { n: connections.length })}
          </span>
        </div>
        <button type="button" className="small" onClick={onAdd} aria-label={`${t("add_another")} · ${t("add_connection_for", { name: provider.name })}`} data-testid={`add-connection-${provider.id}`}>
          {t("add_another")}
        </button>
      </div>
      <ul className="plain-list">
        {connections.map((c) => (
          <ConnectionRow key={c.id} conn={c} live={liveById.get(c.id)} skew={skew} onChanged={onChanged} onLiveChanged={onLiveChanged} />
        ))}
      </ul>
    </section>
  );
}

function ConnectionRow({ conn, live, skew, onChanged, onLiveChanged }: { conn: Connection; live: LiveConnection | undefined; skew: number; onChanged: () => void; onLiveChanged: () => void }) {
  const { t } = useTranslation(["providers", "common"]);
  const [priority, setPriority] = useState(String(conn.priority));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error>();
  const [test, setTest] = useState<TestResult>();
  const [testing, setTesting] = useState(false);
  const [editing, setEditing] = useState(false);
  const [deleting, setDeleting] = useState(false);
  useEffect(() => setPriority(String(conn.priority)), [conn.priority]);

  const patch = async (body: Record<string, unknown>) => {
    setBusy(true);
    setError(undefined);
    try {
      await api.patch(`/api/connections/${encodeURIComponent(conn.id)}`, body);
      onChanged();
    } catch (e) {
      setError(errorOf(e));
    } finally {
      setBusy(false);
    }
  };
  const savePriority = () => {
    const n = Number(priority);
    if (priority.trim() === "" || !Number.isInteger(n)) {
      setPriority(String(conn.priority));
      return;
    }
    if (n !== conn.priority) void patch({ priority: n });
  };
  const runTest = async () => {
    setTesting(true);
    setTest(undefined);
    setError(undefined);
    try {
      setTest(await api.post<TestResult>(`/api/connections/${encodeURIComponent(conn.id)}/test`));
    } catch (e) {
      setError(errorOf(e));
    } finally {
      setTesting(false);
    }
  };
  const proxy = proxyOf(conn);

  return (
    <li className={`conn ${conn.enabled ? "" : "off"}`} data-testid="connection-row" data-connection-id={conn.id}>
      <div className="spread">
        <div className="stack" style={{ gap: 2, minWidth: 0 }}>
          <div className="row">
            <strong className="wrap-anywhere">{conn.name}</strong>
            {conn.source !== "api" && <Badge>{t("source_" + conn.source, { defaultValue: conn.source })}</Badge>}
          </div>
          <span className="small muted mono wrap-anywhere">
            {conn.has_api_key ? conn.api_key : t("no_key")}
            {conn.base_url ? ` · ${conn.base_url}` : ""}
          </span>
          {proxy && <span className="small muted wrap-anywhere">{t("proxy_set", { proxy })}</span>}
        </div>
        <LiveState conn={conn} live={live} skew={skew} onChanged={onLiveChanged} />
      </div>
      <div className="row">
        <label className="inline-field">
          <span>{t("priority")}</span>
          <input
            type="number"
            step={1}
            className="inline-num"
            value={priority}
            disabled={busy}
            onChange={(e) => setPriority(e.target.value)}
            onBlur={savePriority}
            onKeyDown={(e) => {
              if (e.key === "Enter") e.currentTarget.blur();
            }}
            title={t("priority_hint")}
            data-testid="connection-priority"
          />
        </label>
        <Switch checked={conn.enabled} disabled={busy} onChange={(v) => void patch({ enabled: v })} label={t("enabled", { ns: "common" })} testId="connection-enabled" />
        <span style={{ flex: 1 }} />
        <button type="button" className="small" disabled={testing} onClick={() => void runTest()} aria-label={t("test_label", { name: conn.name })} data-testid="connection-test-saved">
          {testing ? t("testing") : t("test")}
        </button>
        <button type="button" className="small" onClick={() => setEditing(true)} aria-label={t("edit_label", { name: conn.name })} data-testid="connection-edit">
          {t("edit", { ns: "common" })}
        </button>
        <button type="button" className="small danger" onClick={() => setDeleting(true)} aria-label={t("delete_label", { name: conn.name })} data-testid="connection-delete">
          {t("delete", { ns: "common" })}
        </button>
      </div>
      <TestBadge result={test} />
      <ErrorBox error={error} />
      <ConnectionEditModal open={editing} conn={conn} onClose={() => setEditing(false)} onSaved={onChanged} />
      <ConfirmDialog
        open={deleting}
        title={t("delete_connection")}
        message={t("confirm_delete", { ns: "common", name: conn.name })}
        onClose={() => setDeleting(false)}
        onConfirm={async () => {
          await api.del(`/api/connections/${encodeURIComponent(conn.id)}`);
          onChanged();
        }}
      />
    </li>
  );
}

function LiveState({ conn, live, skew, onChanged }: { conn: Connection; live: LiveConnection | undefined; skew: number; onChanged: () => void }) {
  const { t } = useTranslation("providers");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error>();
  const timed = !!live && (live.cooldowns.length > 0 || live.breaker.state === "open");
  const now = useNow(timed) + skew;

  const act = async (f: () => Promise<unknown>) => {
    setBusy(true);
    setError(undefined);
    try {
      await f();
      onChanged();
    } catch (e) {
      setError(errorOf(e));
    } finally {
      setBusy(false);
    }
  };

  const badges: { kind: "ok" | "warn" | "err" | "accent" | undefined; text: string }[] = [];
  if (!conn.enabled) badges.push({ kind: undefined, text: t("disabled", { ns: "common" }) });
  else if (!live) badges.push({ kind: undefined, text: t("state_unknown") });
  if (live) {
    const b = live.breaker;
    if (b.state === "open") {
      const left = b.until ? b.until - now : 0;
      badges.push({ kind: "err", text: left > 0 ? t("state_breaker_open", { time: fmtCountdown(left) }) : t("state_breaker_due") });
    } else if (b.state === "half_open") {
      badges.push({ kind: "warn", text: t("state_half_open") });
    }
    for (const c of live.cooldowns) {
      const left = c.until - now;
      if (left <= 0) continue;
      const reason = KNOWN_REASONS.includes(c.reason) ? t(`reason_${c.reason}`) : c.reason;
      const time = fmtCountdown(left);
      if (c.scope === "model" && c.model) badges.push({ kind: "warn", text: t("state_model_cooldown", { model: c.model, time, reason }) });
      else if (c.reason === "rate_limited") badges.push({ kind: "warn", text: t("state_rate_limited", { time }) });
      else badges.push({ kind: "warn", text: t("state_cooldown", { time, reason }) });
    }
    if (conn.enabled && badges.length === 0) badges.push({ kind: "ok", text: t("state_healthy") });
    if (live.in_use > 0) badges.push({ kind: "accent", text: t("state_in_flight", { n: live.in_use }) });
  }
  const total = live ? live.stats.successes + live.stats.failures : 0;

  return (
    <div className="stack" style={{ gap: 4, alignItems: "flex-end" }} data-testid="connection-live">
      <div className="row end" aria-live="off">
        {badges.map((b, i) => (
          <Badge key={i} kind={b.kind}>
            <span className="countdown">{b.text}</span>
          </Badge>
        ))}
        {live && live.cooldowns.some((c) => c.until > now) && (
          <button type="button" className="small" disabled={busy} onClick={() => void act(() => api.del(`/api/resilience/cooldowns/${encodeURIComponent(conn.id)}`))} aria-label={t("unlock_label", { name: conn.name })} data-testid="connection-unlock">
            {t("unlock")}
          </button>
        )}
        {live && live.breaker.state !== "closed" && (
          <button type="button" className="small" disabled={busy} onClick={() => void act(() => api.post("/api/resilience/reset", { id: conn.id }))} aria-label={t("reset_label", { name: conn.name })} data-testid="connection-reset">
            {t("reset_breaker")}
          </button>
        )}
      </div>
      {live && total > 0 && (
        <span className="small muted">
          {t("stats_line", { rate: fmtPct(live.stats.success_rate, 0), latency: fmtMs(live.stats.latency_ms), requests: fmtInt(total) })}
          {live.stats.last_used > 0 && ` · ${t("last_used", { when: fmtRelative(live.stats.last_used) })}`}
        </span>
      )}
      <ErrorBox error={error} />
    </div>
  );
}

function validProxy(v: string): boolean {
  try {
    const u = new URL(v);
    return PROXY_SCHEMES.includes(u.protocol) && !!u.hostname;
  } catch {
    return false;
  }
}

function ConnectionEditModal({ open, conn, onClose, onSaved }: { open: boolean; conn: Connection; onClose: () => void; onSaved: () => void }) {
  const { t } = useTranslation(["providers", "common"]);
  const [name, setName] = useState(conn.name);
  const [priority, setPriority] = useState(String(conn.priority));
  const [baseUrl, setBaseUrl] = useState(conn.base_url ?? "");
  const [key, setKey] = useState("");
  const [proxy, setProxy] = useState(proxyOf(conn));
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<Error>();

  useEffect(() => {
    if (!open) return;
    setName(conn.name);
    setPriority(String(conn.priority));
    setBaseUrl(conn.base_url ?? "");
    setKey("");
    setProxy(proxyOf(conn));
    setError(undefined);
    // reset the form when it opens, not when the list reloads behind it
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [open, conn.id]);

  const proxyBad = proxy.trim() !== "" && !validProxy(proxy.trim());

  const save = async (e: FormEvent) => {
    e.preventDefault();
    if (proxyBad) return;
    const body: Record<string, unknown> = {};
    if (name.trim() && name.trim() !== conn.name) body.name = name.trim();
    const n = Number(priority);
    if (priority.trim() !== "" && Number.isInteger(n) && n !== conn.priority) body.priority = n;
    if (baseUrl.trim() !== (conn.base_url ?? "")) body.base_url = baseUrl.trim();
    if (key) body.api_key = key;
    if (proxy.trim() !== proxyOf(conn)) {
      const settings: Record<string, unknown> = { ...(conn.settings ?? {}) };
      if (proxy.trim()) settings.proxy = proxy.trim();
      else delete settings.proxy;
      body.settings = settings;
    }
    if (Object.keys(body).length === 0) {
      onClose();
      return;
    }
    setSaving(true);
    setError(undefined);
    try {
      await api.patch(`/api/connections/${encodeURIComponent(conn.id)}`, body);
      onSaved();
      onClose();
    } catch (err) {
      setError(errorOf(err));
    } finally {
      setSaving(false);
    }
  };

  return (
    <Modal open={open} title={t("edit_connection", { name: conn.name })} onClose={onClose}>
      <form className="stack" onSubmit={(e) => void save(e)}>
        <div className="form-grid">
          <Field label={t("connection_name")}>
            {(id) => <input id={id} required value={name} onChange={(e) => setName(e.target.value)} data-testid="connection-edit-name" />}
          </Field>
          <Field label={t("priority")} hint={t("priority_hint")}>
            {(id) => <input id={id} type="number" step={1} value={priority} onChange={(e) => setPriority(e.target.value)} data-testid="connection-edit-priority" />}
          </Field>
        </div>
        <Field label={t("new_api_key")} hint={conn.has_api_key ? t("new_api_key_hint", { masked: conn.api_key ?? "" }) : t("no_key")}>
          {(id) => <input id={id} type="password" autoComplete="off" value={key} onChange={(e) => setKey(e.target.value)} data-testid="connection-edit-key" />}
        </Field>
        <Field label={t("base_url")} hint={t("base_url_hint")}>
          {(id) => <input id={id} type="url" value={baseUrl} onChange={(e) => setBaseUrl(e.target.value)} data-testid="connection-edit-base-url" />}
        </Field>
        <Field label={t("proxy")} hint={t("proxy_hint")}>
          {(id) => (
            <input
              id={id}
              type="url"
              value={proxy}
              placeholder="socks5://127.0.0.1:1080"
              aria-invalid={proxyBad}
              onChange={(e) => setProxy(e.target.value)}
              data-testid="connection-proxy"
            />
          )}
        </Field>
        {proxyBad && (
          <div className="alert err" role="alert">
            {t("proxy_invalid")}
          </div>
        )}
        <ErrorBox error={error} />
        <div className="row end">
          <button type="button" onClick={onClose}>
            {t("cancel", { ns: "common" })}
          </button>
          <button type="submit" className="primary" disabled={saving || proxyBad} data-testid="connection-edit-save">
            {saving ? t("saving", { ns: "common" }) : t("save", { ns: "common" })}
          </button>
        </div>
      </form>
    </Modal>
  );
}

// ------------------------------------------------------------------ custom nodes

function headersText(h: unknown): string {
  if (!h || typeof h !== "object" || Array.isArray(h)) return "";
  return Object.entries(h as Record<string, unknown>)
    .map(([k, v]) => `${k}: ${String(v)}`)
    .join("\n");
}

/** `Name: value` lines → object, or the number of the first bad line. */
function parseHeaders(text: string): Record<string, string> | number {
  const out: Record<string, string> = {};
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line) continue;
    const at = line.indexOf(":");
    if (at <= 0) return i + 1;
    const name = line.slice(0, at).trim();
    if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(name)) return i + 1;
    out[name] = line.slice(at + 1).trim();
  }
  return out;
}

function NodesTab({ onConnected, onAddModels }: { onConnected: () => void; onAddModels: () => void }) {
  const { t } = useTranslation(["providers", "common"]);
  const nodes = useApi<{ nodes: ProviderNode[] }>("/api/provider-nodes");
  const [editing, setEditing] = useState<ProviderNode | "new" | null>(null);
  const [deleting, setDeleting] = useState<ProviderNode | null>(null);
  const [added, setAdded] = useState<string>();
  const [connectFor, setConnectFor] = useState<string | null>(null);
  const paged = usePaged(nodes.data?.nodes, 20);

  return (
    <div className="stack">
      <Card
        title={t("tab_nodes")}
        actions={
          <button type="button" className="primary" onClick={() => setEditing("new")} data-testid="add-node">
            {t("add_node")}
          </button>
        }
      >
        <p className="muted">{t("nodes_intro")}</p>
        {added && (
          <div className="alert ok stack" role="status" style={{ gap: 8 }} data-testid="node-added">
            <span>{t("node_added", { id: added })}</span>
            <div className="row">
              <button type="button" className="small primary" onClick={() => setConnectFor(added)}>
                {t("add_connection")}
              </button>
              <button type="button" className="small" onClick={onAddModels}>
                {t("add_models")}
              </button>
            </div>
          </div>
        )}
        {nodes.loading ? (
          <Spinner />
        ) : nodes.error ? (
          <ErrorBox error={nodes.error} onRetry={nodes.reload} />
        ) : (nodes.data?.nodes.length ?? 0) === 0 ? (
          <Empty
            title={t("no_nodes")}
            hint={t("no_nodes_hint")}
            action={
              <button type="button" onClick={() => setEditing("new")}>
                {t("add_node")}
              </button>
            }
          />
        ) : (
          <>
            <div className="table-wrap" tabIndex={0}>
              <table data-testid="node-list">
                <thead>
                  <tr>
                    <th>{t("node")}</th>
                    <th>{t("format")}</th>
                    <th className="hide-narrow">{t("base_url_short")}</th>
                    <th className="hide-narrow">{t("auth")}</th>
                    <th>
                      <span className="sr-only">{t("actions", { ns: "common" })}</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {paged.rows.map((n) => (
                    <tr key={n.id} data-testid="node-row">
                      <td>
                        <strong>{n.name}</strong>
                        <div className="small muted mono">
                          {n.id}
                          {n.prefix !== n.id ? ` · ${t("prefix")}: ${n.prefix}` : ""}
                        </div>
                        {n.source !== "api" && <Badge>{t("source_" + n.source, { defaultValue: n.source })}</Badge>}
                      </td>
                      <td>
                        <Badge kind="accent">{n.format}</Badge>
                      </td>
                      <td className="mono small wrap-anywhere hide-narrow">{n.base_url}</td>
                      <td className="mono small hide-narrow">{n.auth}</td>
                      <td>
                        <div className="row end">
                          <button type="button" className="small" onClick={() => setConnectFor(n.id)} aria-label={t("connect_label", { name: n.name })}>
                            {t("connect")}
                          </button>
                          <button type="button" className="small" onClick={() => setEditing(n)} aria-label={t("edit_label", { name: n.name })} data-testid="node-edit">
                            {t("edit", { ns: "common" })}
                          </button>
                          <button type="button" className="small danger" onClick={() => setDeleting(n)} aria-label={t("delete_label", { name: n.name })} data-testid="node-delete">
                            {t("delete", { ns: "common" })}
                          </button>
                        </div>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <Pager page={paged.page} pages={paged.pages} setPage={paged.setPage} />
          </>
        )}
      </Card>
      <NodeModal
        node={editing}
        onClose={() => setEditing(null)}
        onSaved={(id, created) => {
          nodes.reload();
          if (created) setAdded(id);
        }}
      />
      <ConfirmDialog
        open={deleting !== null}
        title={t("delete_node")}
        message={`${t("confirm_delete", { ns: "common", name: deleting?.name ?? "" })} ${t("delete_node_hint")}`}
        onClose={() => setDeleting(null)}
        onConfirm={async () => {
          if (!deleting) return;
          await api.del(`/api/provider-nodes/${encodeURIComponent(deleting.id)}`);
          if (added === deleting.id) setAdded(undefined);
          nodes.reload();
        }}
      />
      <ConnectModal provider={connectFor} onClose={() => setConnectFor(null)} onSaved={onConnected} />
    </div>
  );
}

function NodeModal({ node, onClose, onSaved }: { node: ProviderNode | "new" | null; onClose: () => void; onSaved: (id: string, created: boolean) => void }) {
  const { t } = useTranslation(["providers", "common"]);
  const isNew = node === "new";
  const [id, setId] = useState("");
  const [prefix, setPrefix] = useState("");
  const [name, setName] = useState("");
  const [format, setFormat] = useState<string>("openai");
  const [baseUrl, setBaseUrl] = useState("");
  const [auth, setAuth] = useState("");
  const [headers, setHeaders] = useState("");
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<Error>();

  useEffect(() => {
    if (node === null) return;
    const n = node === "new" ? undefined : node;
    setId(n?.id ?? "");
    setPrefix(n && n.prefix !== n.id ? n.prefix : "");
    setName(n && n.name !== n.id ? n.name : "");
    setFormat(n?.format ?? "openai");
    setBaseUrl(n?.base_url ?? "");
    setAuth(n?.auth ?? "");
    setHeaders(headersText(n?.headers));
    setError(undefined);
  }, [node]);

  const save = async (e: FormEvent) => {
    e.preventDefault();
    const parsed = parseHeaders(headers);
    if (typeof parsed === "number") {
      setError(new Error(t("headers_invalid", { line: parsed })));
      return;
    }
    const body: Record<string, unknown> = {
      format,
      base_url: baseUrl.trim(),
      headers: parsed,
    };
    if (prefix.trim()) body.prefix = prefix.trim();
    if (name.trim()) body.name = name.trim();
    if (auth) body.auth = auth;
    setSaving(true);
    setError(undefined);
    try {
      if (isNew) {
        const created = await api.post<ProviderNode>("/api/provider-nodes", { id: id.trim(), ...body });
        onSaved(created.id, true);
      } else if (node) {
        await api.put<ProviderNode>(`/api/provider-nodes/${encodeURIComponent(node.id)}`, body);
        onSaved(node.id, false);
      }
      onClose();
    } catch (err) {
      setError(errorOf(err));
    } finally {
      setSaving(false);
    }
  };

  const identPattern = "[A-Za-z0-9._\\-]{1,64}";
  return (
    <Modal open={node !== null} title={isNew ? t("add_node") : t("edit_node", { name: node ? node.name : "" })} onClose={onClose}>
      <form className="stack" onSubmit={(e) => void save(e)}>
        <div className="form-grid">
          <Field label={t("node_id")} hint={t("node_id_hint")}>
            {(fid) => (
              <input id={fid} required disabled={!isNew} pattern={identPattern} maxLength={64} value={id} onChange={(e) => setId(e.target.value)} placeholder="my-llm" data-testid="node-id" />
            )}
          </Field>
          <Field label={t("node_prefix")} hint={t("node_prefix_hint")}>
            {(fid) => <input id={fid} pattern={identPattern} maxLength={64} value={prefix} onChange={(e) => setPrefix(e.target.value)} placeholder={id || "my-llm"} data-testid="node-prefix" />}
          </Field>
        </div>
        <Field label={t("node_name")}>
          {(fid) => <input id={fid} value={name} onChange={(e) => setName(e.target.value)} placeholder={id} data-testid="node-name" />}
        </Field>
        <div className="form-grid">
          <Field label={t("format")} hint={t(`format_hint_${format}`, { defaultValue: "" })}>
            {(fid) => (
              <select id={fid} value={format} onChange={(e) => setFormat(e.target.value)} data-testid="node-format">
                {FORMATS.map((f) => (
                  <option key={f} value={f}>
                    {t(`format_${f}`)}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field label={t("auth")}>
            {(fid) => (
              <select id={fid} value={auth} onChange={(e) => setAuth(e.target.value)} data-testid="node-auth">
                <option value="">{t("auth_default")}</option>
                {AUTH_STYLES.map((a) => (
                  <option key={a} value={a}>
                    {t(`auth_${a.replace(/-/g, "_")}`)}
                  </option>
                ))}
              </select>
            )}
          </Field>
        </div>
        <Field label={t("base_url_short")} hint={t("node_base_url_hint")}>
          {(fid) => <input id={fid} type="url" required value={baseUrl} onChange={(e) => setBaseUrl(e.target.value)} placeholder="https://llm.example.com/v1" data-testid="node-base-url" />}
        </Field>
        <Field label={t("headers")} hint={t("headers_hint")}>
          {(fid) => <textarea id={fid} rows={3} style={{ minHeight: 70 }} value={headers} onChange={(e) => setHeaders(e.target.value)} placeholder="X-Org: my-team" data-testid="node-headers" />}
        </Field>
        <ErrorBox error={error} />
        <div className="row end">
          <button type="button" onClick={onClose}>
            {t("cancel", { ns: "common" })}
          </button>
          <button type="submit" className="primary" disabled={saving} data-testid="node-save">
            {saving ? t("saving", { ns: "common" }) : t("save", { ns: "common" })}
          </button>
        </div>
      </form>
    </Modal>
  );
}

// ------------------------------------------------------------------ custom models

function ModelsTab() {
  const { t } = useTranslation(["providers", "common"]);
  const models = useApi<{ models: ProviderModel[] }>("/api/provider-models");
  const providers = useApi<{ providers: ProviderInfo[] }>("/api/providers");
  const [filter, setFilter] = useState("");
  const [provider, setProvider] = useState("");
  const [model, setModel] = useState("");
  const [type, setType] = useState<string>("chat");
  const [adding, setAdding] = useState(false);
  const [error, setError] = useState<Error>();
  const [deleting, setDeleting] = useState<ProviderModel | null>(null);

  const providerList = useMemo(() => {
    const all = [...(providers.data?.providers ?? [])];
    // custom nodes and connected providers first: they are the usual targets
    return all.sort((a, b) => Number(b.custom) - Number(a.custom) || Number(b.connections > 0) - Number(a.connections > 0) || a.name.localeCompare(b.name));
  }, [providers.data]);
  const nameOf = (id: string) => providers.data?.providers.find((p) => p.id === id)?.name ?? id;
  const list = useMemo(() => (models.data?.models ?? []).filter((m) => !filter || m.provider === filter), [models.data, filter]);
  const paged = usePaged(list, 25);

  const add = async (e: FormEvent) => {
    e.preventDefault();
    setAdding(true);
    setError(undefined);
    try {
      await api.post("/api/provider-models", { provider, model: model.trim(), type });
      setModel("");
      models.reload();
    } catch (err) {
      setError(errorOf(err));
    } finally {
      setAdding(false);
    }
  };

  const providerOptions = providerList.map((p) => (
    <option key={p.id} value={p.id}>
      {p.name} ({p.alias})
    </option>
  ));

  return (
    <div className="stack">
      <Card title={t("add_model")}>
        <p className="muted">{t("models_intro")}</p>
        <ErrorBox error={providers.error} onRetry={providers.reload} />
        <form className="stack" onSubmit={(e) => void add(e)}>
          <div className="form-grid">
            <Field label={t("provider")}>
              {(id) => (
                <select id={id} required value={provider} onChange={(e) => setProvider(e.target.value)} data-testid="model-provider">
                  <option value="">{t("choose_provider")}</option>
                  {providerOptions}
                </select>
              )}
            </Field>
            <Field label={t("model_id")}>
              {(id) => <input id={id} required value={model} onChange={(e) => setModel(e.target.value)} placeholder="llama-3.3-70b" data-testid="model-id" />}
            </Field>
            <Field label={t("model_type")}>
              {(id) => (
                <select id={id} value={type} onChange={(e) => setType(e.target.value)} data-testid="model-type">
                  {MODEL_TYPES.map((m) => (
                    <option key={m} value={m}>
                      {t(`type_${m.replace(/-/g, "_")}`)}
                    </option>
                  ))}
                </select>
              )}
            </Field>
          </div>
          <ErrorBox error={error} />
          <div className="row end">
            <button type="submit" className="primary" disabled={adding || !provider || !model.trim()} data-testid="model-add">
              {adding ? t("saving", { ns: "common" }) : t("add_model")}
            </button>
          </div>
        </form>
      </Card>
      <Card
        title={t("tab_models")}
        actions={
          <label className="inline-field">
            <span>{t("filter_provider")}</span>
            <select value={filter} onChange={(e) => setFilter(e.target.value)} data-testid="models-filter">
              <option value="">{t("all", { ns: "common" })}</option>
              {providerOptions}
            </select>
          </label>
        }
      >
        {models.loading ? (
          <Spinner />
        ) : models.error ? (
          <ErrorBox error={models.error} onRetry={models.reload} />
        ) : list.length === 0 ? (
          <Empty title={filter ? t("no_models_for", { name: nameOf(filter) }) : t("no_models")} hint={t("no_models_hint")} />
        ) : (
          <>
            <div className="table-wrap" tabIndex={0}>
              <table data-testid="model-list">
                <thead>
                  <tr>
                    <th>{t("model_id")}</th>
                    <th>{t("provider")}</th>
                    <th className="hide-narrow">{t("model_type")}</th>
                    <th>
                      <span className="sr-only">{t("actions", { ns: "common" })}</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {paged.rows.map((m) => (
                    <tr key={`${m.provider}/${m.model}`} data-testid="model-row">
                      <td className="mono wrap-anywhere">{m.model}</td>
                      <td>{nameOf(m.provider)}</td>
                      <td className="hide-narrow">
                        <Badge>{t(`type_${m.type.replace(/-/g, "_")}`, { defaultValue: m.type })}</Badge>
                        {m.source !== "api" && <> <Badge>{t("source_" + m.source, { defaultValue: m.source })}</Badge></>}
                      </td>
                      <td className="right">
                        <button type="button" className="small danger" onClick={() => setDeleting(m)} aria-label={t("delete_label", { name: m.model })} data-testid="model-delete">
                          {t("delete", { ns: "common" })}
                        </button>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <Pager page={paged.page} pages={paged.pages} setPage={paged.setPage} />
          </>
        )}
      </Card>
      <ConfirmDialog
        open={deleting !== null}
        title={t("delete_model")}
        message={t("confirm_delete", { ns: "common", name: deleting ? `${deleting.provider}/${deleting.model}` : "" })}
        onClose={() => setDeleting(null)}
        onConfirm={async () => {
          if (!deleting) return;
          await api.del(`/api/provider-models${qs({ provider: deleting.provider, model: deleting.model })}`);
          models.reload();
        }}
      />
    </div>
  );
}
