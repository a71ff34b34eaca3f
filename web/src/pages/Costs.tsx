// Costs: what was spent (today, 7 and 30 days), spend against every budget with add and remove,
// and the pricing table (USD per million tokens) with search, paging, per-row editing, resetting
// an owner price to the published default, and a price for a custom model.
import { useMemo, useState, type FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import { useApi, type Loaded } from "../api/hooks";
import type { AnalyticsRow } from "../api/gen/AnalyticsRow";
import type { Combo } from "../api/gen/Combo";
import type { ModelPrice } from "../api/gen/ModelPrice";
import type { Period } from "../api/gen/Period";
import type { Scope } from "../api/gen/Scope";
import { Badge, Bar, Card, Empty, ErrorBox, Field, Modal, PageHead, Pager, Spinner, Stat, usePaged } from "../components/ui";
import { fmtInt, fmtRelative, fmtTime, fmtUsd } from "../components/format";
import "./costs.css";

// ---- answers built ad hoc on the server (json! in budgets.rs and api.rs)

const PERIODS: Period[] = ["day", "week", "month"];

/** `GET /api/usage/budget` → `budgets[]`, `POST /api/usage/budget` → one (generated from the Rust `BudgetView`). */
export type { BudgetView } from "../api/gen/BudgetView";
import type { BudgetView } from "../api/gen/BudgetView";

/** A key as `GET /api/keys` lists it. */
export type KeyRow = import("../api/gen/KeyView").KeyView;

const DAY = 86_400_000;

/** The path of a pricing entry: `{*model}` on the server, so each segment is encoded alone. */
function pricePath(model: string): string {
  return `/api/pricing/${model.split("/").map(encodeURIComponent).join("/")}`;
}

/** A price typed by the user: empty → `null` (for the optional ones), invalid → `NaN`. */
function parsePrice(s: string): number | null {
  const x = s.trim();
  if (x === "") return null;
  const n = Number(x);
  return Number.isFinite(n) && n >= 0 ? n : NaN;
}

function errMsg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export default function Costs() {
  const { t } = useTranslation(["costs", "common"]);
  const budgets = useApi<{ budgets: BudgetView[] }>("/api/usage/budget", { refreshMs: 30_000 });
  return (
    <>
      <PageHead title={t("title")} subtitle={t("subtitle")} />
      <SpendStats budgets={budgets} />
      <Budgets budgets={budgets} />
      <Pricing />
    </>
  );
}

// ------------------------------------------------------------------ spend

type BudgetsLoaded = Loaded<{ budgets: BudgetView[] }>;

function SpendStats({ budgets }: { budgets: BudgetsLoaded }) {
  const { t } = useTranslation(["costs", "common"]);
  // fixed once: a path that changed every render would fetch forever
  const [since] = useState(() => Date.now() - 30 * DAY);
  const analytics = useApi<{ rows: AnalyticsRow[] }>(`/api/analytics?bucket=day&since_ms=${since}`, { refreshMs: 60_000 });
  const rows = analytics.data?.rows ?? [];
  const today = Math.floor(Date.now() / DAY) * DAY;
  const sum = (from: number) => rows.filter((r) => r.bucket_start_ms >= from).reduce((a, r) => a + r.cost_usd, 0);
  const over = (budgets.data?.budgets ?? []).filter((b) => b.exceeded).length;
  const loading = analytics.loading && !analytics.data;
  return (
    <>
      <div className="grid stats costs-stats" style={{ marginBottom: 16 }}>
        <Stat label={t("spend_today")} value={loading ? "…" : fmtUsd(sum(today))} testId="spend-today" />
        <Stat label={t("spend_7d")} value={loading ? "…" : fmtUsd(sum(today - 6 * DAY))} testId="spend-7d" />
        <Stat label={t("spend_30d")} value={loading ? "…" : fmtUsd(sum(0))} testId="spend-30d" />
        <Stat
          label={t("budgets_over")}
          value={budgets.data ? over : "…"}
          sub={budgets.data ? t("budgets_count", { n: budgets.data.budgets.length }) : undefined}
          testId="budgets-over"
        />
      </div>
      <ErrorBox error={analytics.error} onRetry={analytics.reload} />
    </>
  );
}

// ------------------------------------------------------------------ budgets

/** How a budget's scope reads: the key's name, or combo › step. */
function useScopeLabel(keys: KeyRow[] | undefined) {
  const { t } = useTranslation("costs");
  return (s: Scope) => {
    if (s.scope === "key") {
      const k = keys?.find((x) => x.id === s.key_id);
      return t("scope_key_named", { name: k?.name ?? s.key_id });
    }
    return t("scope_step_named", { combo: s.combo, step: s.step });
  };
}

function BudgetBar({ b }: { b: BudgetView }) {
  const { t } = useTranslation("costs");
  return (
    <div className="budget-bar">
      <Bar value={b.spent_usd} max={b.limit_usd} label={t("bar_label", { spent: fmtUsd(b.spent_usd), limit: fmtUsd(b.limit_usd), period: t(`per_${b.period}`) })} />
      <div className="small">
        <span className="num">{t("spent_of", { spent: fmtUsd(b.spent_usd), limit: fmtUsd(b.limit_usd) })}</span>{" "}
        <span className="muted">{t(`per_${b.period}`)}</span>
      </div>
    </div>
  );
}

function Budgets({ budgets }: { budgets: BudgetsLoaded }) {
  const { t } = useTranslation(["costs", "common"]);
  const keys = useApi<{ keys: KeyRow[] }>("/api/keys");
  const scopeLabel = useScopeLabel(keys.data?.keys);
  const [adding, setAdding] = useState(false);
  const [removing, setRemoving] = useState<BudgetView>();
  const [removeError, setRemoveError] = useState<string>();
  const [removePending, setRemovePending] = useState(false);

  const remove = async () => {
    if (!removing) return;
    setRemovePending(true);
    setRemoveError(undefined);
    try {
      await api.del(`/api/usage/budget/${encodeURIComponent(removing.id)}`);
      setRemoving(undefined);
      budgets.reload();
    } catch (e) {
      setRemoveError(errMsg(e));
    } finally {
      setRemovePending(false);
    }
  };

  const list = budgets.data?.budgets ?? [];
  return (
    <Card
      title={t("budgets")}
      actions={
        !adding && (
          <button type="button" className="primary" onClick={() => setAdding(true)} data-testid="budget-add">
            {t("add_budget")}
          </button>
        )
      }
    >
      <p className="muted small">{t("budgets_hint")}</p>
      {adding && (
        <BudgetForm
          keys={keys.data?.keys}
          onCancel={() => setAdding(false)}
          onSaved={() => {
            setAdding(false);
            budgets.reload();
          }}
        />
      )}
      {budgets.loading && !budgets.data ? (
        <Spinner />
      ) : budgets.error && !budgets.data ? (
        <ErrorBox error={budgets.error} onRetry={budgets.reload} />
      ) : list.length === 0 ? (
        !adding && (
          <Empty
            title={t("no_budgets")}
            hint={t("no_budgets_hint")}
            action={
              <button type="button" onClick={() => setAdding(true)}>
                {t("add_budget")}
              </button>
            }
          />
        )
      ) : (
        <div className="table-wrap" tabIndex={0}>
          <table className="budget-table" data-testid="budget-table">
            <thead>
              <tr>
                <th>{t("scope")}</th>
                <th>{t("period")}</th>
                <th style={{ minWidth: 200 }}>{t("spend")}</th>
                <th>{t("resets")}</th>
                <th>
                  <span className="sr-only">{t("common:actions")}</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.map((b) => (
                <tr key={b.id} data-testid="budget-row" data-budget-id={b.id}>
                  <td>
                    <div>{scopeLabel(b.scope)}</div>
                    {b.exceeded && <Badge kind="err">{t("exceeded")}</Badge>}
                  </td>
                  <td>
                    <Badge>{t(`period_${b.period}`)}</Badge>
                  </td>
                  <td>
                    <BudgetBar b={b} />
                    <div className="small muted">{t("remaining", { amount: fmtUsd(b.remaining_usd) })}</div>
                  </td>
                  <td className="small" title={fmtTime(b.resets_at_ms)}>
                    {fmtRelative(b.resets_at_ms)}
                  </td>
                  <td className="right">
                    <button
                      type="button"
                      className="small danger"
                      onClick={() => {
                        setRemoveError(undefined);
                        setRemoving(b);
                      }}
                      aria-label={t("remove_budget_named", { name: scopeLabel(b.scope) })}
                      data-testid="budget-remove"
                    >
                      {t("remove")}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Modal
        open={!!removing}
        title={t("remove_budget")}
        onClose={() => setRemoving(undefined)}
        footer={
          <>
            <button type="button" onClick={() => setRemoving(undefined)}>
              {t("common:cancel")}
            </button>
            <button type="button" className="danger" disabled={removePending} onClick={() => void remove()} data-testid="budget-remove-confirm">
              {t("remove")}
            </button>
          </>
        }
      >
        {removing && <p>{t("remove_budget_confirm", { name: scopeLabel(removing.scope), period: t(`per_${removing.period}`) })}</p>}
        <ErrorBox error={removeError} />
      </Modal>
    </Card>
  );
}

function BudgetForm({ keys, onCancel, onSaved }: { keys: KeyRow[] | undefined; onCancel: () => void; onSaved: () => void }) {
  const { t } = useTranslation(["costs", "common"]);
  const combos = useApi<{ combos: Combo[] }>("/api/combos");
  const [scope, setScope] = useState<"key" | "combo_step">("key");
  const [keyId, setKeyId] = useState("");
  const [combo, setCombo] = useState("");
  const [step, setStep] = useState("");
  const [limit, setLimit] = useState("");
  const [period, setPeriod] = useState<Period>("month");
  const [error, setError] = useState<string>();
  const [pending, setPending] = useState(false);

  const activeKeys = (keys ?? []).filter((k) => k.status === "active");
  const chosenCombo = combos.data?.combos.find((c) => c.name === combo);
  const steps = (chosenCombo?.models ?? []).filter((m) => m.includes("/"));
  const amount = parsePrice(limit);
  const ready = amount !== null && !Number.isNaN(amount) && (scope === "key" ? !!keyId : !!combo && !!step);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!ready || amount === null) return;
    setPending(true);
    setError(undefined);
    try {
      const body = scope === "key" ? { key_id: keyId, limit_usd: amount, period } : { combo, step, limit_usd: amount, period };
      await api.post<BudgetView>("/api/usage/budget", body);
      onSaved();
    } catch (err) {
      setError(errMsg(err));
    } finally {
      setPending(false);
    }
  };

  return (
    <form className="stack budget-form" onSubmit={(e) => void submit(e)} data-testid="budget-form">
      <div className="form-grid">
        <Field label={t("scope")}>
          {(id) => (
            <select id={id} value={scope} onChange={(e) => setScope(e.target.value as "key" | "combo_step")} data-testid="budget-scope-select">
              <option value="key">{t("scope_key")}</option>
              <option value="combo_step">{t("scope_step")}</option>
            </select>
          )}
        </Field>
        {scope === "key" ? (
          <Field label={t("key")} hint={activeKeys.length === 0 ? t("no_active_keys") : undefined}>
            {(id) => (
              <select id={id} value={keyId} onChange={(e) => setKeyId(e.target.value)} required data-testid="budget-key-select">
                <option value="">{t("choose_key")}</option>
                {activeKeys.map((k) => (
                  <option key={k.id} value={k.id}>
                    {k.name} ({k.masked})
                  </option>
                ))}
              </select>
            )}
          </Field>
        ) : (
          <>
            <Field label={t("combo")} hint={combos.data && combos.data.combos.length === 0 ? t("no_combos") : undefined}>
              {(id) => (
                <select
                  id={id}
                  value={combo}
                  onChange={(e) => {
                    setCombo(e.target.value);
                    setStep("");
                  }}
                  required
                  data-testid="budget-combo-select"
                >
                  <option value="">{combos.loading ? t("common:loading") : t("choose_combo")}</option>
                  {(combos.data?.combos ?? []).map((c) => (
                    <option key={c.id} value={c.name}>
                      {c.name}
                    </option>
                  ))}
                </select>
              )}
            </Field>
            <Field label={t("step")} hint={t("step_hint")}>
              {(id) => (
                <select id={id} value={step} onChange={(e) => setStep(e.target.value)} required disabled={!combo} data-testid="budget-step-select">
                  <option value="">{t("choose_step")}</option>
                  {steps.map((s) => (
                    <option key={s} value={s}>
                      {s}
                    </option>
                  ))}
                </select>
              )}
            </Field>
          </>
        )}
        <Field label={t("limit_usd")}>
          {(id) => (
            <input
              id={id}
              type="number"
              inputMode="decimal"
              min={0}
              step="any"
              required
              value={limit}
              onChange={(e) => setLimit(e.target.value)}
              aria-invalid={Number.isNaN(amount)}
              data-testid="budget-limit-input"
            />
          )}
        </Field>
        <Field label={t("period")}>
          {(id) => (
            <select id={id} value={period} onChange={(e) => setPeriod(e.target.value as Period)} data-testid="budget-period-select">
              {PERIODS.map((p) => (
                <option key={p} value={p}>
                  {t(`period_${p}`)}
                </option>
              ))}
            </select>
          )}
        </Field>
      </div>
      <ErrorBox error={combos.error} onRetry={combos.reload} />
      <ErrorBox error={error} />
      <div className="row end">
        <button type="button" onClick={onCancel}>
          {t("common:cancel")}
        </button>
        <button type="submit" className="primary" disabled={!ready || pending} data-testid="budget-save">
          {pending ? t("common:saving") : t("save_budget")}
        </button>
      </div>
    </form>
  );
}

// ------------------------------------------------------------------ pricing

type Source = "" | "default" | "api" | "config";

interface PriceDraft {
  input: string;
  output: string;
  cached: string;
  reasoning: string;
}

function draftOf(p?: ModelPrice): PriceDraft {
  const s = (n: number | null | undefined) => (n === null || n === undefined ? "" : String(n));
  return { input: s(p?.input_per_m), output: s(p?.output_per_m), cached: s(p?.cached_input_per_m), reasoning: s(p?.reasoning_per_m) };
}

/** The PUT body from a draft, or the name of the first bad field. */
function bodyOf(d: PriceDraft): { body?: Record<string, number | null>; bad?: keyof PriceDraft } {
  const input = parsePrice(d.input);
  const output = parsePrice(d.output);
  const cached = parsePrice(d.cached);
  const reasoning = parsePrice(d.reasoning);
  if (input === null || Number.isNaN(input)) return { bad: "input" };
  if (output === null || Number.isNaN(output)) return { bad: "output" };
  if (Number.isNaN(cached)) return { bad: "cached" };
  if (Number.isNaN(reasoning)) return { bad: "reasoning" };
  return { body: { input_per_m: input, output_per_m: output, cached_input_per_m: cached, reasoning_per_m: reasoning } };
}

function sourceKind(s: string): "accent" | "ok" | undefined {
  return s === "api" ? "accent" : s === "config" ? "ok" : undefined;
}

function Pricing() {
  const { t } = useTranslation(["costs", "common"]);
  const [source, setSource] = useState<Source>("");
  const pricing = useApi<{ pricing: ModelPrice[] }>(`/api/pricing${source ? `?source=${source}` : ""}`);
  const [search, setSearch] = useState("");
  const [adding, setAdding] = useState(false);
  const [editing, setEditing] = useState<string>();
  const [resetting, setResetting] = useState<ModelPrice>();
  const [resetError, setResetError] = useState<string>();
  const [resetPending, setResetPending] = useState(false);

  const filtered = useMemo(() => {
    const q = search.trim().toLowerCase();
    const all = pricing.data?.pricing ?? [];
    return q ? all.filter((p) => p.model.toLowerCase().includes(q)) : all;
  }, [pricing.data, search]);
  const paged = usePaged(filtered, 50);

  const reset = async () => {
    if (!resetting) return;
    setResetPending(true);
    setResetError(undefined);
    try {
      await api.del(pricePath(resetting.model));
      setResetting(undefined);
      pricing.reload();
    } catch (e) {
      setResetError(errMsg(e));
    } finally {
      setResetPending(false);
    }
  };

  return (
    <Card
      title={t("pricing")}
      actions={
        !adding && (
          <button type="button" className="primary" onClick={() => setAdding(true)} data-testid="pricing-add">
            {t("add_price")}
          </button>
        )
      }
    >
      <p className="muted small">{t("pricing_hint")}</p>
      {adding && (
        <AddPrice
          onCancel={() => setAdding(false)}
          onSaved={(model) => {
            setAdding(false);
            setSearch(model);
            paged.setPage(0);
            pricing.reload();
          }}
        />
      )}
      <div className="toolbar">
        <Field label={t("common:search")}>
          {(id) => (
            <input
              id={id}
              type="search"
              placeholder={t("search_placeholder")}
              value={search}
              onChange={(e) => {
                setSearch(e.target.value);
                paged.setPage(0);
              }}
              data-testid="pricing-search"
            />
          )}
        </Field>
        <Field label={t("source")}>
          {(id) => (
            <select
              id={id}
              value={source}
              onChange={(e) => {
                setSource(e.target.value as Source);
                paged.setPage(0);
              }}
              data-testid="pricing-source-filter"
            >
              <option value="">{t("source_all")}</option>
              <option value="default">{t("source_default")}</option>
              <option value="api">{t("source_api")}</option>
              <option value="config">{t("source_config")}</option>
            </select>
          )}
        </Field>
        <span className="small muted" role="status">
          {pricing.data ? t("models_count", { n: fmtInt(filtered.length) }) : ""}
        </span>
      </div>
      {pricing.loading && !pricing.data ? (
        <Spinner />
      ) : pricing.error && !pricing.data ? (
        <ErrorBox error={pricing.error} onRetry={pricing.reload} />
      ) : filtered.length === 0 ? (
        <Empty
          title={search || source ? t("no_match") : t("no_prices")}
          hint={search || source ? t("no_match_hint") : t("no_prices_hint")}
          action={
            <button type="button" onClick={() => setAdding(true)}>
              {t("add_price")}
            </button>
          }
        />
      ) : (
        <>
          <div className="table-wrap" tabIndex={0}>
            <table className="pricing-table" data-testid="pricing-table">
              <thead>
                <tr>
                  <th>{t("model")}</th>
                  <th className="num">{t("input")}</th>
                  <th className="num">{t("output")}</th>
                  <th className="num">{t("cached")}</th>
                  <th className="num">{t("reasoning")}</th>
                  <th>{t("source")}</th>
                  <th>
                    <span className="sr-only">{t("common:actions")}</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {paged.rows.map((p) =>
                  editing === p.model ? (
                    <EditPriceRow
                      key={p.model}
                      price={p}
                      onCancel={() => setEditing(undefined)}
                      onSaved={() => {
                        setEditing(undefined);
                        pricing.reload();
                      }}
                    />
                  ) : (
                    <tr key={p.model} data-testid="pricing-row" data-model={p.model}>
                      <td className="mono">{p.model}</td>
                      <td className="num">{fmtUsd(p.input_per_m)}</td>
                      <td className="num">{fmtUsd(p.output_per_m)}</td>
                      <td className="num">{p.cached_input_per_m === null ? <span className="muted small">{t("as_input")}</span> : fmtUsd(p.cached_input_per_m)}</td>
                      <td className="num">{p.reasoning_per_m === null ? <span className="muted small">{t("as_output")}</span> : fmtUsd(p.reasoning_per_m)}</td>
                      <td>
                        <div className="row" style={{ flexWrap: "nowrap" }}>
                          <Badge kind={sourceKind(p.source)}>{t(`source_${p.source}`, { defaultValue: p.source })}</Badge>
                          {p.reference && (
                            <a href={p.reference} target="_blank" rel="noreferrer noopener" className="small" aria-label={t("reference_for", { model: p.model })}>
                              {t("reference")}
                            </a>
                          )}
                        </div>
                      </td>
                      <td className="right">
                        <div className="row" style={{ flexWrap: "nowrap", justifyContent: "flex-end" }}>
                          <button type="button" className="small" onClick={() => setEditing(p.model)} aria-label={t("edit_price_for", { model: p.model })} data-testid="pricing-edit">
                            {t("common:edit")}
                          </button>
                          {p.source !== "default" && (
                            <button
                              type="button"
                              className="small danger"
                              onClick={() => {
                                setResetError(undefined);
                                setResetting(p);
                              }}
                              aria-label={t("reset_price_for", { model: p.model })}
                              title={t("reset_hint")}
                              data-testid="pricing-reset"
                            >
                              {t("reset")}
                            </button>
                          )}
                        </div>
                      </td>
                    </tr>
                  ),
                )}
              </tbody>
            </table>
          </div>
          <Pager {...paged} />
        </>
      )}
      {pricing.error && pricing.data && <ErrorBox error={pricing.error} onRetry={pricing.reload} />}
      <Modal
        open={!!resetting}
        title={t("reset_price")}
        onClose={() => setResetting(undefined)}
        footer={
          <>
            <button type="button" onClick={() => setResetting(undefined)}>
              {t("common:cancel")}
            </button>
            <button type="button" className="danger" disabled={resetPending} onClick={() => void reset()} data-testid="pricing-reset-confirm">
              {t("reset")}
            </button>
          </>
        }
      >
        {resetting && <p>{t("reset_confirm", { model: resetting.model })}</p>}
        <ErrorBox error={resetError} />
      </Modal>
    </Card>
  );
}

function EditPriceRow({ price, onCancel, onSaved }: { price: ModelPrice; onCancel: () => void; onSaved: () => void }) {
  const { t } = useTranslation(["costs", "common"]);
  const [d, setD] = useState<PriceDraft>(() => draftOf(price));
  const [error, setError] = useState<string>();
  const [pending, setPending] = useState(false);
  const { body, bad } = bodyOf(d);

  const save = async () => {
    if (!body) return;
    setPending(true);
    setError(undefined);
    try {
      await api.put<ModelPrice>(pricePath(price.model), body);
      onSaved();
    } catch (e) {
      setError(errMsg(e));
    } finally {
      setPending(false);
    }
  };

  const cell = (k: keyof PriceDraft, required: boolean) => (
    <td className="num">
      <input
        type="number"
        inputMode="decimal"
        min={0}
        step="any"
        className="price-input"
        value={d[k]}
        required={required}
        placeholder={required ? undefined : t(k === "cached" ? "as_input" : "as_output")}
        onChange={(e) => setD({ ...d, [k]: e.target.value })}
        onKeyDown={(e) => {
          if (e.key === "Enter") void save();
          if (e.key === "Escape") onCancel();
        }}
        aria-label={t(`${k}_for`, { model: price.model })}
        aria-invalid={bad === k && d[k] !== ""}
        data-testid={`pricing-edit-${k}`}
      />
    </td>
  );

  return (
    <>
      <tr data-testid="pricing-row" data-model={price.model} className="editing">
        <td className="mono">{price.model}</td>
        {cell("input", true)}
        {cell("output", true)}
        {cell("cached", false)}
        {cell("reasoning", false)}
        <td>
          <Badge kind={sourceKind(price.source)}>{t(`source_${price.source}`, { defaultValue: price.source })}</Badge>
        </td>
        <td className="right">
          <div className="row" style={{ flexWrap: "nowrap", justifyContent: "flex-end" }}>
            <button type="button" className="small" onClick={onCancel}>
              {t("common:cancel")}
            </button>
            <button type="button" className="small primary" disabled={!body || pending} onClick={() => void save()} data-testid="pricing-row-save">
              {pending ? t("common:saving") : t("common:save")}
            </button>
          </div>
        </td>
      </tr>
      {(error || price.source === "default") && (
        <tr className="editing-note">
          <td colSpan={7}>
            {price.source === "default" && !error && <span className="small muted">{t("override_note")}</span>}
            <ErrorBox error={error} />
          </td>
        </tr>
      )}
    </>
  );
}

function AddPrice({ onCancel, onSaved }: { onCancel: () => void; onSaved: (model: string) => void }) {
  const { t } = useTranslation(["costs", "common"]);
  const [model, setModel] = useState("");
  const [d, setD] = useState<PriceDraft>(() => draftOf());
  const [error, setError] = useState<string>();
  const [pending, setPending] = useState(false);
  const { body, bad } = bodyOf(d);
  const ready = !!body && model.trim() !== "";

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!ready || !body) return;
    setPending(true);
    setError(undefined);
    try {
      const m = model.trim();
      await api.put<ModelPrice>(pricePath(m), body);
      onSaved(m);
    } catch (err) {
      setError(errMsg(err));
    } finally {
      setPending(false);
    }
  };

  const price = (k: keyof PriceDraft, testId: string, required: boolean) => (
    <Field label={t(`${k}_label`)} hint={required ? undefined : t(`${k}_hint`)}>
      {(id) => (
        <input
          id={id}
          type="number"
          inputMode="decimal"
          min={0}
          step="any"
          required={required}
          value={d[k]}
          onChange={(e) => setD({ ...d, [k]: e.target.value })}
          aria-invalid={bad === k && d[k] !== ""}
          data-testid={testId}
        />
      )}
    </Field>
  );

  return (
    <form className="stack price-form" onSubmit={(e) => void submit(e)} data-testid="pricing-add-form">
      <div className="form-grid">
        <Field label={t("model")} hint={t("model_hint")}>
          {(id) => (
            <input
              id={id}
              required
              autoComplete="off"
              spellCheck={false}
              placeholder="openai/my-fine-tune"
              value={model}
              onChange={(e) => setModel(e.target.value)}
              data-testid="pricing-model-input"
            />
          )}
        </Field>
        {price("input", "pricing-input-price", true)}
        {price("output", "pricing-output-price", true)}
        {price("cached", "pricing-cached-price", false)}
        {price("reasoning", "pricing-reasoning-price", false)}
      </div>
      <ErrorBox error={error} />
      <div className="row end">
        <button type="button" onClick={onCancel}>
          {t("common:cancel")}
        </button>
        <button type="submit" className="primary" disabled={!ready || pending} data-testid="pricing-save">
          {pending ? t("common:saving") : t("save_price")}
        </button>
      </div>
    </form>
  );
}
