// Gateway API keys: the list (masked, status, kind, models, limits, usage, budget), creating a
// key (shown once, in place), rotating it (the new key shown once), revoking it, editing its
// limits, and its spending budgets.
import { useMemo, useState, type FormEvent } from "react";
import { Link } from "react-router";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import { useApi } from "../api/hooks";
import type { ApiKey } from "../api/gen/ApiKey";
import type { KeyUsage } from "../api/gen/KeyUsage";
import { Badge, Bar, Card, CopyButton, Empty, ErrorBox, Field, Modal, PageHead, Pager, Spinner, Toggle, usePaged } from "../components/ui";
import { fmtCompact, fmtInt, fmtRelative, fmtTime, fmtUsd } from "../components/format";
import type { Period } from "../api/gen/Period";
import type { BudgetView, KeyRow } from "./Costs";
import "./keys.css";

/** `POST /api/keys` and `POST /api/keys/{id}/rotate`: the record plus the key, shown once. */
type KeyWithSecret = ApiKey & { key: string; note?: string };

type StatusFilter = "all" | "active" | "expired" | "revoked";
const PERIODS: Period[] = ["day", "week", "month"];

function errMsg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Patterns typed one per line (or separated by commas). */
function parsePatterns(s: string): string[] {
  return s
    .split(/[\n,]/)
    .map((x) => x.trim())
    .filter(Boolean);
}

/** A whole number ≥ 1 typed by the user; empty → `null`; anything else → `NaN`. */
function parsePositiveInt(s: string): number | null {
  const x = s.trim();
  if (x === "") return null;
  const n = Number(x);
  return Number.isInteger(n) && n >= 1 ? n : NaN;
}

/** Days until expiry typed by the user (0 < d ≤ 3660); empty → `null`; else `NaN`. */
function parseDays(s: string): number | null {
  const x = s.trim();
  if (x === "") return null;
  const n = Number(x);
  return Number.isFinite(n) && n > 0 && n <= 3660 ? n : NaN;
}

function statusKind(s: KeyRow["status"]): "ok" | "warn" | "err" {
  return s === "active" ? "ok" : s === "expired" ? "warn" : "err";
}

export default function Keys() {
  const { t } = useTranslation(["keys", "common"]);
  const keys = useApi<{ keys: KeyRow[] }>("/api/keys", { refreshMs: 30_000 });
  const usage = useApi<{ since_ms: number; keys: KeyUsage[] }>("/api/usage", { refreshMs: 60_000 });
  const budgets = useApi<{ budgets: BudgetView[] }>("/api/usage/budget", { refreshMs: 30_000 });
  const settings = useApi<import("../api/gen/SettingsView").SettingsView>("/api/settings");

  const [creating, setCreating] = useState(false);
  const [filter, setFilter] = useState<StatusFilter>("all");
  const [editing, setEditing] = useState<KeyRow>();
  const [rotating, setRotating] = useState<KeyRow>();
  const [revoking, setRevoking] = useState<KeyRow>();

  const all = keys.data?.keys ?? [];
  const shown = useMemo(() => (filter === "all" ? all : all.filter((k) => k.status === filter)), [all, filter]);
  const paged = usePaged(shown, 25);
  const usageOf = (id: string) => usage.data?.keys.find((u) => u.api_key_id === id);
  const budgetsOf = (id: string) => (budgets.data?.budgets ?? []).filter((b) => b.scope.scope === "key" && b.scope.key_id === id);
  const reloadAll = () => {
    keys.reload();
    budgets.reload();
  };
  const notRequired = settings.data && !settings.data.settings.require_api_key && all.some((k) => k.status === "active" && k.kind === "gateway");

  return (
    <>
      <PageHead
        title={t("title")}
        subtitle={t("subtitle")}
        actions={
          !creating && (
            <button type="button" className="primary" onClick={() => setCreating(true)} data-testid="key-create">
              {t("create")}
            </button>
          )
        }
      />
      {notRequired && (
        <div className="alert warn" role="status" style={{ marginBottom: 16 }} data-testid="keys-not-required">
          {t("not_required")} <Link to="/settings?tab=security">{t("not_required_link")}</Link>
        </div>
      )}
      {creating && (
        <CreateKey
          onClose={() => setCreating(false)}
          onCreated={() => {
            setFilter("all");
            paged.setPage(0);
            keys.reload();
          }}
        />
      )}
      <Card
        title={t("list_title")}
        actions={
          all.length > 0 && (
            <Field label={t("filter")}>
              {(id) => (
                <select
                  id={id}
                  value={filter}
                  onChange={(e) => {
                    setFilter(e.target.value as StatusFilter);
                    paged.setPage(0);
                  }}
                  data-testid="key-status-filter"
                >
                  <option value="all">{t("filter_all", { n: all.length })}</option>
                  {(["active", "expired", "revoked"] as const).map((s) => (
                    <option key={s} value={s}>
                      {t(`filter_${s}`, { n: all.filter((k) => k.status === s).length })}
                    </option>
                  ))}
                </select>
              )}
            </Field>
          )
        }
      >
        {keys.loading && !keys.data ? (
          <Spinner />
        ) : keys.error && !keys.data ? (
          <ErrorBox error={keys.error} onRetry={keys.reload} />
        ) : all.length === 0 ? (
          <Empty
            title={t("empty_title")}
            hint={t("empty_hint")}
            action={
              !creating && (
                <button type="button" className="primary" onClick={() => setCreating(true)}>
                  {t("create")}
                </button>
              )
            }
          />
        ) : shown.length === 0 ? (
          <Empty title={t("empty_filter")} hint={t("empty_filter_hint")} />
        ) : (
          <>
            <div className="table-wrap" tabIndex={0}>
              <table className="keys-table" data-testid="key-table">
                <thead>
                  <tr>
                    <th>{t("name")}</th>
                    <th>{t("status")}</th>
                    <th>{t("models")}</th>
                    <th>{t("limits")}</th>
                    <th>{t("usage_30d")}</th>
                    <th>{t("budget")}</th>
                    <th>
                      <span className="sr-only">{t("common:actions")}</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {paged.rows.map((k) => (
                    <KeyRowView
                      key={k.id}
                      k={k}
                      usage={usageOf(k.id)}
                      budgets={budgetsOf(k.id)}
                      onEdit={() => setEditing(k)}
                      onRotate={() => setRotating(k)}
                      onRevoke={() => setRevoking(k)}
                    />
                  ))}
                </tbody>
              </table>
            </div>
            <Pager {...paged} />
          </>
        )}
        {keys.error && keys.data && <ErrorBox error={keys.error} onRetry={keys.reload} />}
        <ErrorBox error={usage.error} onRetry={usage.reload} />
        <ErrorBox error={budgets.error} onRetry={budgets.reload} />
      </Card>
      {editing && (
        <EditKey
          k={editing}
          budgets={budgetsOf(editing.id)}
          onClose={() => setEditing(undefined)}
          onChanged={reloadAll}
        />
      )}
      {rotating && <RotateKey k={rotating} onClose={() => setRotating(undefined)} onRotated={keys.reload} />}
      {revoking && (
        <RevokeKey
          k={revoking}
          onClose={() => setRevoking(undefined)}
          onRevoked={() => {
            setRevoking(undefined);
            reloadAll();
          }}
        />
      )}
    </>
  );
}

// ------------------------------------------------------------------ one row

function KeyRowView({
  k,
  usage,
  budgets,
  onEdit,
  onRotate,
  onRevoke,
}: {
  k: KeyRow;
  usage: KeyUsage | undefined;
  budgets: BudgetView[];
  onEdit: () => void;
  onRotate: () => void;
  onRevoke: () => void;
}) {
  const { t } = useTranslation(["keys", "common"]);
  const lastUsed = Math.max(k.last_used_at ?? 0, usage?.last_used_ms ?? 0) || null;
  const models = k.models ?? [];
  const revoked = k.status === "revoked";
  return (
    <tr data-testid="key-row" data-key-id={k.id} data-key-name={k.name} data-status={k.status} className={revoked ? "revoked" : undefined}>
      <td>
        <div className="key-name">{k.name}</div>
        <code className="small muted" data-testid="key-masked">
          {k.masked}
        </code>
      </td>
      <td>
        <div className="row" style={{ gap: 4 }}>
          <Badge kind={statusKind(k.status)}>{t(`status_${k.status}`)}</Badge>
          <Badge kind={k.kind === "admin" ? "accent" : undefined}>{t(`kind_${k.kind}`, { defaultValue: k.kind })}</Badge>
        </div>
        {revoked && k.revoked_at && (
          <div className="small muted" title={fmtTime(k.revoked_at)}>
            {fmtRelative(k.revoked_at)}
          </div>
        )}
      </td>
      <td>
        {k.models === null ? (
          <span className="muted">{t("all_models")}</span>
        ) : (
          <div className="model-chips">
            {models.slice(0, 3).map((m) => (
              <code key={m}>{m}</code>
            ))}
            {models.length > 3 && (
              <span className="small muted" title={models.slice(3).join(", ")}>
                {t("more", { n: models.length - 3 })}
              </span>
            )}
          </div>
        )}
      </td>
      <td className="small">
        <div>{k.rpm === null ? t("rpm_unlimited") : t("rpm_value", { rpm: fmtInt(k.rpm) })}</div>
        <div className={k.status === "expired" ? "" : "muted"} title={k.expires_at ? fmtTime(k.expires_at) : undefined}>
          {k.expires_at === null
            ? t("never_expires")
            : k.expires_at <= Date.now()
              ? t("expired_ago", { when: fmtRelative(k.expires_at) })
              : t("expires_in", { when: fmtRelative(k.expires_at) })}
        </div>
      </td>
      <td className="small" data-testid="key-usage">
        {usage && usage.requests > 0 ? (
          <>
            <div>
              {t("usage_requests", { n: fmtInt(usage.requests) })} · <strong>{fmtUsd(usage.cost_usd)}</strong>
            </div>
            <div className="muted">{t("usage_tokens", { input: fmtCompact(usage.input_tokens), output: fmtCompact(usage.output_tokens) })}</div>
          </>
        ) : (
          <div className="muted">{t("no_usage")}</div>
        )}
        <div className="muted">{t("usage_total", { n: fmtInt(k.request_count) })}</div>
        <div className="muted" title={lastUsed ? fmtTime(lastUsed) : undefined}>
          {lastUsed ? t("last_used", { when: fmtRelative(lastUsed) }) : t("never_used")}
        </div>
      </td>
      <td className="small">
        {budgets.length === 0 ? (
          <span className="muted">{t("no_budget")}</span>
        ) : (
          <div className="stack" style={{ gap: 6 }}>
            {budgets.map((b) => (
              <BudgetLine key={b.id} b={b} />
            ))}
          </div>
        )}
      </td>
      <td className="right">
        {!revoked && (
          <div className="row key-actions">
            <button type="button" className="small" onClick={onEdit} aria-label={t("edit_named", { name: k.name })} data-testid="key-edit">
              {t("common:edit")}
            </button>
            <button type="button" className="small" onClick={onRotate} aria-label={t("rotate_named", { name: k.name })} data-testid="key-rotate">
              {t("rotate")}
            </button>
            <button type="button" className="small danger" onClick={onRevoke} aria-label={t("revoke_named", { name: k.name })} data-testid="key-revoke">
              {t("revoke")}
            </button>
          </div>
        )}
      </td>
    </tr>
  );
}

function BudgetLine({ b }: { b: BudgetView }) {
  const { t } = useTranslation("keys");
  const per = t(`per_${b.period}`);
  return (
    <div className="key-budget" data-testid="key-budget">
      <Bar value={b.spent_usd} max={b.limit_usd} label={t("budget_bar", { spent: fmtUsd(b.spent_usd), limit: fmtUsd(b.limit_usd), period: per })} />
      <div>
        <span className="num">{t("spent_of", { spent: fmtUsd(b.spent_usd), limit: fmtUsd(b.limit_usd) })}</span> <span className="muted">{per}</span>
        {b.exceeded && (
          <>
            {" "}
            <Badge kind="err">{t("over_budget")}</Badge>
          </>
        )}
      </div>
    </div>
  );
}

// ------------------------------------------------------------------ the key, shown once

function SecretReveal({ value, testId, note }: { value: string; testId: string; note: string }) {
  const { t } = useTranslation(["keys", "common"]);
  return (
    <div className="stack key-reveal">
      <div className="alert warn" role="alert">
        {note}
      </div>
      <div className="row key-secret">
        <code data-testid={testId}>{value}</code>
        <CopyButton text={value} label={t("copy_key")} />
      </div>
    </div>
  );
}

// ------------------------------------------------------------------ create

function CreateKey({ onClose, onCreated }: { onClose: () => void; onCreated: () => void }) {
  const { t } = useTranslation(["keys", "common"]);
  const [name, setName] = useState("");
  const [kind, setKind] = useState<"gateway" | "admin">("gateway");
  const [allowAll, setAllowAll] = useState(true);
  const [patterns, setPatterns] = useState("");
  const [days, setDays] = useState("");
  const [rpm, setRpm] = useState("");
  const [error, setError] = useState<string>();
  const [pending, setPending] = useState(false);
  const [created, setCreated] = useState<KeyWithSecret>();

  const daysN = parseDays(days);
  const rpmN = parsePositiveInt(rpm);
  const list = parsePatterns(patterns);
  const invalid = Number.isNaN(daysN) || Number.isNaN(rpmN) || (!allowAll && list.length === 0);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (invalid) return;
    setPending(true);
    setError(undefined);
    try {
      const body: Record<string, unknown> = { name: name.trim() || "default", kind };
      if (!allowAll) body.models = list;
      if (daysN !== null) body.expires_in_days = daysN;
      if (rpmN !== null) body.rpm = rpmN;
      const k = await api.post<KeyWithSecret>("/api/keys", body);
      setCreated(k);
      onCreated();
    } catch (err) {
      setError(errMsg(err));
    } finally {
      setPending(false);
    }
  };

  if (created) {
    return (
      <Card title={t("created_title", { name: created.name })} className="key-create-card">
        <SecretReveal value={created.key} testId="key-created-value" note={t("shown_once")} />
        <div className="row end" style={{ marginTop: 12 }}>
          <button type="button" className="primary" onClick={onClose} data-testid="key-created-done">
            {t("stored_it")}
          </button>
        </div>
      </Card>
    );
  }

  return (
    <Card title={t("create_title")} className="key-create-card">
      <form className="stack" onSubmit={(e) => void submit(e)} data-testid="key-create-form">
        <div className="form-grid">
          <Field label={t("name")} hint={t("name_hint")}>
            {(id) => (
              <input id={id} value={name} autoComplete="off" placeholder="claude-code-laptop" onChange={(e) => setName(e.target.value)} maxLength={100} autoFocus data-testid="key-name-input" />
            )}
          </Field>
          <Field label={t("kind")} hint={t(`kind_${kind}_hint`)}>
            {(id) => (
              <select id={id} value={kind} onChange={(e) => setKind(e.target.value as "gateway" | "admin")} data-testid="key-kind-select">
                <option value="gateway">{t("kind_gateway")}</option>
                <option value="admin">{t("kind_admin")}</option>
              </select>
            )}
          </Field>
          <Field label={t("expiry_days")} hint={t("expiry_days_hint")}>
            {(id) => (
              <input
                id={id}
                type="number"
                inputMode="numeric"
                min={1}
                max={3660}
                step="any"
                value={days}
                placeholder={t("never")}
                onChange={(e) => setDays(e.target.value)}
                aria-invalid={Number.isNaN(daysN)}
                data-testid="key-expiry-input"
              />
            )}
          </Field>
          <Field label={t("rpm")} hint={t("rpm_hint")}>
            {(id) => (
              <input
                id={id}
                type="number"
                inputMode="numeric"
                min={1}
                step={1}
                value={rpm}
                placeholder={t("unlimited")}
                onChange={(e) => setRpm(e.target.value)}
                aria-invalid={Number.isNaN(rpmN)}
                data-testid="key-rpm-input"
              />
            )}
          </Field>
        </div>
        <ModelsInput allowAll={allowAll} setAllowAll={setAllowAll} patterns={patterns} setPatterns={setPatterns} testPrefix="key" />
        {Number.isNaN(daysN) && <div className="alert warn">{t("bad_days")}</div>}
        {Number.isNaN(rpmN) && <div className="alert warn">{t("bad_rpm")}</div>}
        <ErrorBox error={error} />
        <div className="row end">
          <button type="button" onClick={onClose} data-testid="key-create-cancel">
            {t("common:cancel")}
          </button>
          <button type="submit" className="primary" disabled={pending || invalid} data-testid="key-create-submit">
            {pending ? t("creating") : t("create")}
          </button>
        </div>
      </form>
    </Card>
  );
}

function ModelsInput({
  allowAll,
  setAllowAll,
  patterns,
  setPatterns,
  testPrefix,
}: {
  allowAll: boolean;
  setAllowAll: (v: boolean) => void;
  patterns: string;
  setPatterns: (v: string) => void;
  testPrefix: string;
}) {
  const { t } = useTranslation("keys");
  return (
    <div className="stack" style={{ gap: 6 }}>
      <span data-testid={`${testPrefix}-allow-all`}>
        <Toggle checked={allowAll} onChange={setAllowAll} label={t("allow_all")} />
      </span>
      {!allowAll && (
        <Field label={t("model_patterns")} hint={t("model_patterns_hint")}>
          {(id) => (
            <textarea
              id={id}
              rows={4}
              style={{ minHeight: 90 }}
              spellCheck={false}
              value={patterns}
              placeholder={"openai/*\ncc/claude-*\nmy-combo"}
              onChange={(e) => setPatterns(e.target.value)}
              aria-invalid={parsePatterns(patterns).length === 0}
              data-testid={`${testPrefix}-models-input`}
            />
          )}
        </Field>
      )}
    </div>
  );
}

// ------------------------------------------------------------------ edit (limits and budgets)

type ExpiryChoice = "keep" | "never" | "days";

function EditKey({ k, budgets, onClose, onChanged }: { k: KeyRow; budgets: BudgetView[]; onClose: () => void; onChanged: () => void }) {
  const { t } = useTranslation(["keys", "common"]);
  const [name, setName] = useState(k.name);
  const [allowAll, setAllowAll] = useState(k.models === null);
  const [patterns, setPatterns] = useState((k.models ?? []).join("\n"));
  const [rpm, setRpm] = useState(k.rpm === null ? "" : String(k.rpm));
  const [expiry, setExpiry] = useState<ExpiryChoice>("keep");
  const [days, setDays] = useState("30");
  const [error, setError] = useState<string>();
  const [pending, setPending] = useState(false);
  const [saved, setSaved] = useState(false);

  const rpmN = parsePositiveInt(rpm);
  const daysN = parseDays(days);
  const list = parsePatterns(patterns);
  const invalid = Number.isNaN(rpmN) || (expiry === "days" && (daysN === null || Number.isNaN(daysN))) || (!allowAll && list.length === 0) || !name.trim();

  const save = async (e: FormEvent) => {
    e.preventDefault();
    if (invalid) return;
    setPending(true);
    setError(undefined);
    setSaved(false);
    try {
      const body: Record<string, unknown> = { name: name.trim(), rpm: rpmN };
      if (allowAll) body.allow_all = true;
      else body.models = list;
      if (expiry === "never") body.expires_at = null;
      if (expiry === "days") body.expires_in_days = daysN;
      await api.patch<ApiKey>(`/api/keys/${encodeURIComponent(k.id)}`, body);
      setSaved(true);
      onChanged();
    } catch (err) {
      setError(errMsg(err));
    } finally {
      setPending(false);
    }
  };

  return (
    <Modal open title={t("edit_title", { name: k.name })} onClose={onClose}>
      <form className="stack" onSubmit={(e) => void save(e)} data-testid="key-edit-form">
        <div className="form-grid">
          <Field label={t("name")}>
            {(id) => <input id={id} value={name} maxLength={100} required onChange={(e) => setName(e.target.value)} data-testid="key-edit-name" />}
          </Field>
          <Field label={t("rpm")} hint={t("rpm_hint")}>
            {(id) => (
              <input
                id={id}
                type="number"
                inputMode="numeric"
                min={1}
                step={1}
                value={rpm}
                placeholder={t("unlimited")}
                onChange={(e) => setRpm(e.target.value)}
                aria-invalid={Number.isNaN(rpmN)}
                data-testid="key-edit-rpm"
              />
            )}
          </Field>
          <Field label={t("expiry")} hint={k.expires_at ? t("expires_on", { when: fmtTime(k.expires_at) }) : t("never_expires")}>
            {(id) => (
              <select id={id} value={expiry} onChange={(e) => setExpiry(e.target.value as ExpiryChoice)} data-testid="key-edit-expiry">
                <option value="keep">{t("expiry_keep")}</option>
                <option value="never">{t("expiry_never")}</option>
                <option value="days">{t("expiry_days_from_now")}</option>
              </select>
            )}
          </Field>
          {expiry === "days" && (
            <Field label={t("expiry_days")}>
              {(id) => (
                <input
                  id={id}
                  type="number"
                  inputMode="numeric"
                  min={1}
                  max={3660}
                  step="any"
                  value={days}
                  required
                  onChange={(e) => setDays(e.target.value)}
                  aria-invalid={daysN === null || Number.isNaN(daysN)}
                  data-testid="key-edit-days"
                />
              )}
            </Field>
          )}
        </div>
        <ModelsInput allowAll={allowAll} setAllowAll={setAllowAll} patterns={patterns} setPatterns={setPatterns} testPrefix="key-edit" />
        {Number.isNaN(rpmN) && <div className="alert warn">{t("bad_rpm")}</div>}
        {expiry === "days" && Number.isNaN(daysN) && <div className="alert warn">{t("bad_days")}</div>}
        <ErrorBox error={error} />
        {saved && (
          <div className="alert ok" role="status" data-testid="key-edit-saved">
            {t("common:saved")}
          </div>
        )}
        <div className="row end">
          <button type="button" onClick={onClose}>
            {t("common:close")}
          </button>
          <button type="submit" className="primary" disabled={pending || invalid} data-testid="key-edit-save">
            {pending ? t("common:saving") : t("save_limits")}
          </button>
        </div>
      </form>
      <hr className="sep" />
      <KeyBudgets k={k} budgets={budgets} onChanged={onChanged} />
    </Modal>
  );
}

function KeyBudgets({ k, budgets, onChanged }: { k: KeyRow; budgets: BudgetView[]; onChanged: () => void }) {
  const { t } = useTranslation(["keys", "common"]);
  const [limit, setLimit] = useState("");
  const [period, setPeriod] = useState<Period>("month");
  const [error, setError] = useState<string>();
  const [pending, setPending] = useState(false);
  const [removing, setRemoving] = useState<string>();

  const amount = (() => {
    const x = limit.trim();
    if (x === "") return null;
    const n = Number(x);
    return Number.isFinite(n) && n >= 0 ? n : NaN;
  })();
  const existing = budgets.find((b) => b.period === period);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (amount === null || Number.isNaN(amount)) return;
    setPending(true);
    setError(undefined);
    try {
      await api.post<BudgetView>("/api/usage/budget", { key_id: k.id, limit_usd: amount, period });
      setLimit("");
      onChanged();
    } catch (err) {
      setError(errMsg(err));
    } finally {
      setPending(false);
    }
  };

  const remove = async (id: string) => {
    setRemoving(id);
    setError(undefined);
    try {
      await api.del(`/api/usage/budget/${encodeURIComponent(id)}`);
      onChanged();
    } catch (err) {
      setError(errMsg(err));
    } finally {
      setRemoving(undefined);
    }
  };

  return (
    <section className="stack" aria-labelledby={`budget-${k.id}`}>
      <h3 id={`budget-${k.id}`} style={{ margin: 0 }}>
        {t("budget_title")}
      </h3>
      <p className="muted small" style={{ margin: 0 }}>
        {t("budget_hint")}
      </p>
      {budgets.length > 0 && (
        <ul className="key-budget-list">
          {budgets.map((b) => (
            <li key={b.id} data-testid="key-budget-item">
              <BudgetLine b={b} />
              <div className="row" style={{ justifyContent: "space-between" }}>
                <span className="small muted" title={fmtTime(b.resets_at_ms)}>
                  {t("resets", { when: fmtRelative(b.resets_at_ms) })}
                </span>
                <button
                  type="button"
                  className="small danger"
                  disabled={removing === b.id}
                  onClick={() => void remove(b.id)}
                  aria-label={t("remove_budget_named", { period: t(`per_${b.period}`) })}
                  data-testid="key-budget-remove"
                >
                  {t("remove_budget")}
                </button>
              </div>
            </li>
          ))}
        </ul>
      )}
      {k.status !== "active" ? (
        <p className="small muted">{t("budget_inactive")}</p>
      ) : (
        <form className="row budget-add" onSubmit={(e) => void submit(e)} data-testid="key-budget-form">
          <Field label={t("budget_limit")}>
            {(id) => (
              <input
                id={id}
                type="number"
                inputMode="decimal"
                min={0}
                step="any"
                value={limit}
                required
                onChange={(e) => setLimit(e.target.value)}
                aria-invalid={Number.isNaN(amount)}
                data-testid="key-budget-limit"
              />
            )}
          </Field>
          <Field label={t("budget_period")}>
            {(id) => (
              <select id={id} value={period} onChange={(e) => setPeriod(e.target.value as Period)} data-testid="key-budget-period">
                {PERIODS.map((p) => (
                  <option key={p} value={p}>
                    {t(`period_${p}`)}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <button type="submit" className="primary" disabled={pending || amount === null || Number.isNaN(amount)} data-testid="key-budget-save">
            {existing ? t("budget_replace") : t("budget_set")}
          </button>
        </form>
      )}
      <ErrorBox error={error} />
    </section>
  );
}

// ------------------------------------------------------------------ rotate and revoke

function RotateKey({ k, onClose, onRotated }: { k: KeyRow; onClose: () => void; onRotated: () => void }) {
  const { t } = useTranslation(["keys", "common"]);
  const [error, setError] = useState<string>();
  const [pending, setPending] = useState(false);
  const [rotated, setRotated] = useState<KeyWithSecret>();

  const rotate = async () => {
    setPending(true);
    setError(undefined);
    try {
      setRotated(await api.post<KeyWithSecret>(`/api/keys/${encodeURIComponent(k.id)}/rotate`));
      onRotated();
    } catch (err) {
      setError(errMsg(err));
    } finally {
      setPending(false);
    }
  };

  return (
    <Modal
      open
      title={t("rotate_title", { name: k.name })}
      onClose={onClose}
      footer={
        rotated ? (
          <button type="button" className="primary" onClick={onClose} data-testid="key-rotated-done">
            {t("stored_it")}
          </button>
        ) : (
          <>
            <button type="button" onClick={onClose}>
              {t("common:cancel")}
            </button>
            <button type="button" className="danger" disabled={pending} onClick={() => void rotate()} data-testid="key-rotate-confirm">
              {pending ? t("rotating") : t("rotate")}
            </button>
          </>
        )
      }
    >
      {rotated ? <SecretReveal value={rotated.key} testId="key-rotated-value" note={t("rotated_once")} /> : <p>{t("rotate_confirm")}</p>}
      <ErrorBox error={error} />
    </Modal>
  );
}

function RevokeKey({ k, onClose, onRevoked }: { k: KeyRow; onClose: () => void; onRevoked: () => void }) {
  const { t } = useTranslation(["keys", "common"]);
  const [error, setError] = useState<string>();
  const [pending, setPending] = useState(false);

  const revoke = async () => {
    setPending(true);
    setError(undefined);
    try {
      await api.del(`/api/keys/${encodeURIComponent(k.id)}`);
      onRevoked();
    } catch (err) {
      setError(errMsg(err));
    } finally {
      setPending(false);
    }
  };

  return (
    <Modal
      open
      title={t("revoke_title", { name: k.name })}
      onClose={onClose}
      footer={
        <>
          <button type="button" onClick={onClose}>
            {t("common:cancel")}
          </button>
          <button type="button" className="danger" disabled={pending} onClick={() => void revoke()} data-testid="key-revoke-confirm">
            {pending ? t("revoking") : t("revoke")}
          </button>
        </>
      }
    >
      <p>{t("revoke_confirm", { name: k.name })}</p>
      <ErrorBox error={error} />
    </Modal>
  );
}
