// Combos page: the list of combos (a named list of models used as one model name), the builder
// (name, strategy, steps picked from the catalog or typed, drag-and-drop or button reordering,
// weights, per-step budgets, enable) and "Try it", a tiny chat through /v1/chat/completions that
// shows the reply, the status, the latency and who answered (the X-OmniRoute-* headers).
import { useEffect, useMemo, useRef, useState, type FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import { useApi } from "../api/hooks";
import type { BudgetView } from "../api/gen/BudgetView";
import type { Combo } from "../api/gen/Combo";
import type { Period } from "../api/gen/Period";
import { fmtMs, fmtRelative, fmtUsd } from "../components/format";
import { Badge, Bar, Card, Empty, ErrorBox, Field, Modal, PageHead, Pager, Spinner, usePaged } from "../components/ui";
import "./providers.css";

// ------------------------------------------------------------------ answer shapes (ad hoc JSON)

/** One provider of `GET /api/models/catalog`. */
type CatalogProvider = import("../api/gen/CatalogProvider").CatalogProvider;


/** The body of POST /api/combos and PUT /api/combos/{id} (`ComboBody`, unknown fields refused). */
type ComboBody = Pick<Combo, "name" | "models" | "strategy" | "enabled" | "weights">;

/** `COMBO_STRATEGIES` in crates/config/src/settings.rs. */
const STRATEGIES = ["priority", "round_robin", "weighted", "random", "least_used", "cost_optimized", "p2c"] as const;
const PERIODS: Period[] = ["day", "week", "month"];

interface StepDraft {
  key: number;
  model: string;
  weight: number;
}
interface Draft {
  id: string | null;
  /** the name the combo is saved under (budgets are keyed by it) */
  savedName: string | null;
  name: string;
  strategy: string;
  enabled: boolean;
  steps: StepDraft[];
}

let nextKey = 1;
const errorOf = (e: unknown) => (e instanceof Error ? e : new Error(String(e)));

function draftOf(c: Combo | null): Draft {
  if (!c) return { id: null, savedName: null, name: "", strategy: "priority", enabled: true, steps: [] };
  return {
    id: c.id,
    savedName: c.name,
    name: c.name,
    strategy: c.strategy,
    enabled: c.enabled,
    steps: c.models.map((m, i) => ({ key: nextKey++, model: m, weight: c.weights[i] ?? 1 })),
  };
}

function bodyOf(d: Draft): ComboBody {
  return {
    name: d.name.trim(),
    models: d.steps.map((s) => s.model.trim()),
    strategy: d.strategy,
    enabled: d.enabled,
    weights: d.strategy === "weighted" ? d.steps.map((s) => Math.max(0, Math.round(s.weight))) : [],
  };
}

function comboBody(c: Combo, enabled = c.enabled): ComboBody {
  return { name: c.name, models: c.models, strategy: c.strategy, enabled, weights: c.weights };
}

type StepInfo =
  | { kind: "provider"; provider: CatalogProvider; model: string; budgetKey: string }
  | { kind: "combo" }
  | { kind: "bare"; known: boolean }
  | { kind: "unknown"; prefix: string };

/** What a step names, as the router resolves it: `provider/model` (id or alias), a combo, a bare model. */
function stepInfo(model: string, catalog: CatalogProvider[], combos: Set<string>): StepInfo {
  const m = model.trim();
  const at = m.indexOf("/");
  if (at > 0) {
    const prefix = m.slice(0, at);
    const rest = m.slice(at + 1);
    const p = catalog.find((c) => c.provider === prefix || c.alias === prefix);
    if (p && rest) return { kind: "provider", provider: p, model: rest, budgetKey: `${p.provider}/${rest}` };
    return { kind: "unknown", prefix };
  }
  if (combos.has(m)) return { kind: "combo" };
  return { kind: "bare", known: catalog.some((p) => p.models.some((x) => x.id === m)) };
}

function Switch({ checked, onChange, label, disabled, testId, hideLabel }: { checked: boolean; onChange: (v: boolean) => void; label: string; disabled?: boolean; testId?: string; hideLabel?: boolean }) {
  return (
    <label className="check">
      <input type="checkbox" checked={checked} disabled={disabled} onChange={(e) => onChange(e.target.checked)} data-testid={testId} />
      <span className={hideLabel ? "sr-only" : undefined}>{label}</span>
    </label>
  );
}

// ------------------------------------------------------------------ the page

export default function Combos() {
  const { t } = useTranslation(["combos", "common"]);
  const combos = useApi<{ combos: Combo[] }>("/api/combos");
  const catalog = useApi<{ providers: CatalogProvider[] }>("/api/models/catalog");
  const budgets = useApi<{ budgets: BudgetView[] }>("/api/usage/budget");
  const [editing, setEditing] = useState<Draft | null>(null);
  const [session, setSession] = useState(0);
  const [trying, setTrying] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<Combo | null>(null);
  const [rowError, setRowError] = useState<Error>();
  const editorRef = useRef<HTMLDivElement>(null);
  const list = useMemo(() => [...(combos.data?.combos ?? [])].sort((a, b) => a.name.localeCompare(b.name)), [combos.data]);
  const paged = usePaged(list, 20);

  const open = (c: Combo | null) => {
    setEditing(draftOf(c));
    setSession((n) => n + 1);
    requestAnimationFrame(() => editorRef.current?.scrollIntoView({ behavior: "smooth", block: "start" }));
  };

  const toggle = async (c: Combo, enabled: boolean) => {
    setRowError(undefined);
    try {
      await api.put(`/api/combos/${encodeURIComponent(c.id)}`, comboBody(c, enabled));
      combos.reload();
    } catch (e) {
      setRowError(errorOf(e));
    }
  };

  return (
    <>
      <PageHead
        title={t("title")}
        subtitle={t("subtitle")}
        actions={
          <button type="button" className="primary" onClick={() => open(null)} data-testid="combo-new">
            {t("new_combo")}
          </button>
        }
      />
      <div ref={editorRef} style={{ marginBottom: editing ? 16 : 0, scrollMarginTop: 64 }}>
        {editing && (
          <ComboEditor
            key={session}
            initial={editing}
            combos={list}
            catalog={catalog.data?.providers ?? []}
            catalogError={catalog.error}
            budgets={budgets.data?.budgets ?? []}
            reloadBudgets={budgets.reload}
            onSaved={(c) => {
              setEditing((e) => (e ? { ...e, id: c.id } : e));
              combos.reload();
            }}
            onClose={() => setEditing(null)}
            onTry={setTrying}
          />
        )}
      </div>
      <Card title={t("list_title")}>
        <ErrorBox error={rowError} />
        {combos.loading ? (
          <Spinner />
        ) : combos.error ? (
          <ErrorBox error={combos.error} onRetry={combos.reload} />
        ) : list.length === 0 ? (
          <Empty
            title={t("empty_title")}
            hint={t("empty_hint")}
            action={
              <button type="button" className="primary" onClick={() => open(null)}>
                {t("new_combo")}
              </button>
            }
          />
        ) : (
          <>
            <div className="table-wrap" tabIndex={0}>
              <table data-testid="combo-list">
                <thead>
                  <tr>
                    <th>{t("name", { ns: "common" })}</th>
                    <th className="hide-narrow">{t("strategy")}</th>
                    <th className="hide-narrow">{t("steps")}</th>
                    <th>{t("enabled", { ns: "common" })}</th>
                    <th>
                      <span className="sr-only">{t("actions", { ns: "common" })}</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {paged.rows.map((c) => (
                    <tr key={c.id} data-testid="combo-row" data-combo={c.name}>
                      <td>
                        <strong className="mono wrap-anywhere">{c.name}</strong>
                        {c.source !== "api" && (
                          <>
                            {" "}
                            <Badge>{t(`source_${c.source}`, { defaultValue: c.source })}</Badge>
                          </>
                        )}
                      </td>
                      <td className="hide-narrow">
                        <Badge kind="accent">{t(`strategy_${c.strategy}`, { defaultValue: c.strategy })}</Badge>
                      </td>
                      <td className="small hide-narrow">
                        <span className="mono wrap-anywhere">{c.models.slice(0, 3).join(" → ")}</span>
                        {c.models.length > 3 && <span className="muted"> {t("more_steps", { n: c.models.length - 3 })}</span>}
                      </td>
                      <td>
                        <Switch checked={c.enabled} onChange={(v) => void toggle(c, v)} label={t("enabled_label", { name: c.name })} testId="combo-row-enabled" hideLabel />
                      </td>
                      <td>
                        <div className="row end">
                          <button type="button" className="small" disabled={!c.enabled} onClick={() => setTrying(c.name)} aria-label={`${t("try")} · ${t("try_label", { name: c.name })}`} data-testid="combo-try">
                            {t("try")}
                          </button>
                          <button type="button" className="small" onClick={() => open(c)} aria-label={t("edit_label", { name: c.name })} data-testid="combo-edit">
                            {t("edit", { ns: "common" })}
                          </button>
                          <button type="button" className="small danger" onClick={() => setDeleting(c)} aria-label={t("delete_label", { name: c.name })} data-testid="combo-delete">
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
      <TryDialog combo={trying} onClose={() => setTrying(null)} />
      <DeleteDialog
        combo={deleting}
        budgets={budgets.data?.budgets ?? []}
        onClose={() => setDeleting(null)}
        onDeleted={(c) => {
          if (editing?.id === c.id) setEditing(null);
          combos.reload();
          budgets.reload();
        }}
      />
    </>
  );
}

function stepBudgets(all: BudgetView[], combo: string | null, step?: string): BudgetView[] {
  if (!combo) return [];
  return all.filter((b) => b.scope.scope === "combo_step" && b.scope.combo === combo && (step === undefined || b.scope.step === step));
}

function DeleteDialog({ combo, budgets, onClose, onDeleted }: { combo: Combo | null; budgets: BudgetView[]; onClose: () => void; onDeleted: (c: Combo) => void }) {
  const { t } = useTranslation(["combos", "common"]);
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<Error>();
  useEffect(() => setError(undefined), [combo]);
  const own = stepBudgets(budgets, combo?.name ?? null);
  const confirm = async () => {
    if (!combo) return;
    setPending(true);
    setError(undefined);
    try {
      // the server deletes the combo's step budgets with it
      await api.del(`/api/combos/${encodeURIComponent(combo.id)}`);
      onDeleted(combo);
      onClose();
    } catch (e) {
      setError(errorOf(e));
    } finally {
      setPending(false);
    }
  };
  return (
    <Modal
      open={combo !== null}
      title={t("delete_title")}
      onClose={onClose}
      footer={
        <>
          <button type="button" onClick={onClose}>
            {t("cancel", { ns: "common" })}
          </button>
          <button type="button" className="danger" disabled={pending} onClick={() => void confirm()} data-testid="confirm-delete">
            {t("delete", { ns: "common" })}
          </button>
        </>
      }
    >
      <p>{t("confirm_delete", { ns: "common", name: combo?.name ?? "" })}</p>
      {own.length > 0 && <p className="muted">{t("delete_budgets_too", { n: own.length })}</p>}
      <ErrorBox error={error} />
    </Modal>
  );
}

// ------------------------------------------------------------------ the builder

function ComboEditor({
  initial, combos, catalog, catalogError, budgets, reloadBudgets, onSaved, onClose, onTry,
}: {
  initial: Draft;
  combos: Combo[];
  catalog: CatalogProvider[];
  catalogError: Error | undefined;
  budgets: BudgetView[];
  reloadBudgets: () => void;
  onSaved: (c: Combo) => void;
  onClose: () => void;
  onTry: (name: string) => void;
}) {
  const { t } = useTranslation(["combos", "common"]);
  const [draft, setDraft] = useState<Draft>(initial);
  const [saved, setSaved] = useState(() => JSON.stringify(bodyOf(initial)));
  const [input, setInput] = useState("");
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<Error>();
  const [notice, setNotice] = useState<string>();
  const [announce, setAnnounce] = useState("");
  const [dragFrom, setDragFrom] = useState<number | null>(null);
  const [dragOver, setDragOver] = useState<number | null>(null);
  const [budgetOpen, setBudgetOpen] = useState<number | null>(null);
  const [focusAfter, setFocusAfter] = useState<{ key: number; dir: "up" | "down" } | null>(null);
  const listRef = useRef<HTMLOListElement>(null);
  const nameRef = useRef<HTMLInputElement>(null);

  useEffect(() => {
    if (initial.id === null) nameRef.current?.focus();
  }, [initial.id]);

  // keyboard moves: keep the focus on the moved step's button (or its twin at the list's end)
  useEffect(() => {
    if (!focusAfter || !listRef.current) return;
    const li = listRef.current.querySelector<HTMLLIElement>(`li[data-key="${focusAfter.key}"]`);
    const want = li?.querySelector<HTMLButtonElement>(`button[data-move="${focusAfter.dir}"]`);
    const other = li?.querySelector<HTMLButtonElement>(`button[data-move="${focusAfter.dir === "up" ? "down" : "up"}"]`);
    (want && !want.disabled ? want : other)?.focus();
    setFocusAfter(null);
  }, [focusAfter, draft.steps]);

  const comboNames = useMemo(() => new Set(combos.map((c) => c.name).filter((n) => n !== draft.savedName)), [combos, draft.savedName]);
  const options = useMemo(() => {
    const ps = [...catalog].sort((a, b) => Number(b.connected) - Number(a.connected));
    const out: { value: string; label: string }[] = [...comboNames].map((n) => ({ value: n, label: t("option_combo") }));
    for (const p of ps) {
      if (!p.enabled) continue;
      for (const m of p.models) out.push({ value: m.model, label: `${p.name} · ${m.type}${p.connected ? "" : ` · ${t("not_connected")}`}` });
    }
    return out;
  }, [catalog, comboNames, t]);

  const body = bodyOf(draft);
  const dirty = JSON.stringify(body) !== saved;
  const weighted = draft.strategy === "weighted";
  const totalWeight = draft.steps.reduce((a, s) => a + Math.max(0, s.weight), 0);
  const nameBad = draft.name.includes("/") || draft.name.length > 64;

  const set = (patch: Partial<Draft>) => setDraft((d) => ({ ...d, ...patch }));
  const setSteps = (f: (s: StepDraft[]) => StepDraft[]) => setDraft((d) => ({ ...d, steps: f(d.steps) }));

  const addStep = () => {
    const m = input.trim();
    if (!m) return;
    setSteps((s) => [...s, { key: nextKey++, model: m, weight: 1 }]);
    setInput("");
    setAnnounce(t("announce_added", { model: m, position: draft.steps.length + 1 }));
  };
  const move = (from: number, to: number) => {
    if (to < 0 || to >= draft.steps.length || from === to) return;
    const step = draft.steps[from];
    setSteps((s) => {
      const next = [...s];
      const [it] = next.splice(from, 1);
      next.splice(to, 0, it);
      return next;
    });
    setAnnounce(t("announce_moved", { model: step.model, position: to + 1, total: draft.steps.length }));
  };
  const remove = (i: number) => {
    const step = draft.steps[i];
    setSteps((s) => s.filter((_, j) => j !== i));
    setAnnounce(t("announce_removed", { model: step.model }));
  };

  const save = async (e: FormEvent) => {
    e.preventDefault();
    if (nameBad || !body.name || body.models.length === 0) return;
    setSaving(true);
    setError(undefined);
    setNotice(undefined);
    try {
      let c: Combo;
      if (draft.id) c = await api.put<Combo>(`/api/combos/${encodeURIComponent(draft.id)}`, body);
      else c = await api.post<Combo>("/api/combos", body);
      const oldName = draft.savedName;
      setDraft((d) => ({ ...d, id: c.id, savedName: c.name, name: c.name, strategy: c.strategy }));
      setSaved(JSON.stringify(bodyOf({ ...draft, name: c.name, strategy: c.strategy })));
      onSaved(c);
      // the server moves the step budgets over a rename
      if (oldName && oldName !== c.name) reloadBudgets();
      setNotice(t("saved", { ns: "common" }));
    } catch (err) {
      setError(errorOf(err));
    } finally {
      setSaving(false);
    }
  };

  return (
    <Card title={draft.id ? t("edit_title", { name: draft.savedName }) : t("new_combo")} className="combo-editor">
      <form className="stack" onSubmit={(e) => void save(e)} data-testid="combo-editor">
        <div className="form-grid">
          <Field label={t("name", { ns: "common" })} hint={t("name_hint")}>
            {(id) => (
              <input
                id={id}
                ref={nameRef}
                required
                maxLength={64}
                value={draft.name}
                aria-invalid={nameBad}
                onChange={(e) => set({ name: e.target.value })}
                placeholder="my-coding-combo"
                autoComplete="off"
                data-testid="combo-name"
              />
            )}
          </Field>
          <Field label={t("strategy")} hint={t(`strategy_hint_${draft.strategy}`, { defaultValue: "" })}>
            {(id) => (
              <select id={id} value={draft.strategy} onChange={(e) => set({ strategy: e.target.value })} data-testid="combo-strategy">
                {STRATEGIES.map((s) => (
                  <option key={s} value={s}>
                    {t(`strategy_${s}`)}
                  </option>
                ))}
              </select>
            )}
          </Field>
        </div>
        {nameBad && (
          <div className="alert err" role="alert">
            {t("name_invalid")}
          </div>
        )}
        <Switch checked={draft.enabled} onChange={(v) => set({ enabled: v })} label={t("enabled_hint")} testId="combo-enabled" />

        <fieldset className="stack" style={{ border: 0, padding: 0, margin: 0 }}>
          <legend style={{ fontWeight: 600, marginBottom: 6 }}>{t("steps")}</legend>
          <p className="small muted" style={{ margin: 0 }}>
            {t("steps_hint")}
          </p>
          {draft.steps.length === 0 ? (
            <div className="alert small" data-testid="combo-no-steps">
              {t("no_steps")}
            </div>
          ) : (
            <ol className="step-list" ref={listRef} data-testid="combo-steps">
              {draft.steps.map((s, i) => {
                const info = stepInfo(s.model, catalog, comboNames);
                const own = info.kind === "provider" ? stepBudgets(budgets, draft.savedName, info.budgetKey) : [];
                return (
                  <li
                    key={s.key}
                    data-key={s.key}
                    data-testid="combo-step"
                    className={`step${dragFrom === i ? " dragging" : ""}${dragOver === i && dragFrom !== null && dragFrom !== i ? " drop-target" : ""}`}
                    onDragOver={(e) => {
                      if (dragFrom === null) return;
                      e.preventDefault();
                      e.dataTransfer.dropEffect = "move";
                      if (dragOver !== i) setDragOver(i);
                    }}
                    onDrop={(e) => {
                      e.preventDefault();
                      if (dragFrom !== null) move(dragFrom, i);
                      setDragFrom(null);
                      setDragOver(null);
                    }}
                  >
                    <span
                      className="handle"
                      draggable
                      aria-hidden="true"
                      title={t("drag_hint")}
                      data-testid="combo-step-handle"
                      onDragStart={(e) => {
                        setDragFrom(i);
                        e.dataTransfer.effectAllowed = "move";
                        e.dataTransfer.setData("text/plain", s.model);
                        const li = e.currentTarget.closest("li");
                        if (li) e.dataTransfer.setDragImage(li, 16, 16);
                      }}
                      onDragEnd={() => {
                        setDragFrom(null);
                        setDragOver(null);
                      }}
                    >
                      ⠿
                    </span>
                    <span className="n" aria-hidden="true">
                      {i + 1}
                    </span>
                    <span className="model">
                      <span className="mono" data-testid="combo-step-model">
                        {s.model}
                      </span>
                      <StepNote info={info} />
                    </span>
                    {weighted && (
                      <label className="inline-field">
                        <span>{t("weight")}</span>
                        <input
                          type="number"
                          min={0}
                          step={1}
                          className="inline-num"
                          value={s.weight}
                          onChange={(e) => {
                            const w = Number(e.target.value);
                            setSteps((all) => all.map((x) => (x.key === s.key ? { ...x, weight: Number.isFinite(w) ? w : 0 } : x)));
                          }}
                          aria-label={t("weight_label", { model: s.model })}
                          data-testid="combo-step-weight"
                        />
                        <span className="muted">{totalWeight > 0 ? `${Math.round((Math.max(0, s.weight) / totalWeight) * 100)}%` : "—"}</span>
                      </label>
                    )}
                    <span className="step-tools">
                      {info.kind === "provider" && (
                        <button
                          type="button"
                          className="small"
                          aria-expanded={budgetOpen === s.key}
                          onClick={() => setBudgetOpen(budgetOpen === s.key ? null : s.key)}
                          aria-label={t("budget_label", { model: s.model })}
                          data-testid="combo-step-budget"
                        >
                          {own.length > 0 ? t("budget_count", { n: own.length }) : t("budget")}
                          {own.some((b) => b.exceeded) && <Badge kind="err">{t("over")}</Badge>}
                        </button>
                      )}
                      <button type="button" className="small" data-move="up" disabled={i === 0} onClick={() => { move(i, i - 1); setFocusAfter({ key: s.key, dir: "up" }); }} aria-label={t("move_up", { model: s.model, position: i + 1 })} data-testid="combo-step-up">
                        ↑
                      </button>
                      <button
                        type="button"
                        className="small"
                        data-move="down"
                        disabled={i === draft.steps.length - 1}
                        onClick={() => { move(i, i + 1); setFocusAfter({ key: s.key, dir: "down" }); }}
                        aria-label={t("move_down", { model: s.model, position: i + 1 })}
                        data-testid="combo-step-down"
                      >
                        ↓
                      </button>
                      <button type="button" className="small danger" onClick={() => remove(i)} aria-label={t("remove_step", { model: s.model })} data-testid="combo-step-remove">
                        ✕
                      </button>
                    </span>
                    {budgetOpen === s.key && info.kind === "provider" && (
                      <StepBudget combo={draft.savedName} step={info.budgetKey} budgets={own} onChanged={reloadBudgets} />
                    )}
                  </li>
                );
              })}
            </ol>
          )}
          <div role="status" className="sr-only">
            {announce}
          </div>
          <div className="row" style={{ alignItems: "flex-end" }}>
            <div style={{ flex: "1 1 240px" }}>
              <Field label={t("add_step")} hint={catalogError ? t("catalog_failed", { error: catalogError.message }) : t("add_step_hint")}>
                {(id) => (
                  <input
                    id={id}
                    list="combo-model-options"
                    value={input}
                    autoComplete="off"
                    placeholder="openai/gpt-4o-mini"
                    onChange={(e) => setInput(e.target.value)}
                    onKeyDown={(e) => {
                      if (e.key === "Enter") {
                        e.preventDefault();
                        addStep();
                      }
                    }}
                    data-testid="combo-step-input"
                  />
                )}
              </Field>
              <datalist id="combo-model-options">
                {options.map((o) => (
                  <option key={`${o.value}|${o.label}`} value={o.value} label={o.label} />
                ))}
              </datalist>
            </div>
            <button type="button" onClick={addStep} disabled={!input.trim()} data-testid="combo-step-add">
              {t("add", { ns: "common" })}
            </button>
          </div>
        </fieldset>

        <ErrorBox error={error} />
        {notice && !dirty && (
          <div className="alert ok" role="status" data-testid="combo-saved">
            {notice}
          </div>
        )}
        <div className="row end">
          {draft.id && (
            <button
              type="button"
              disabled={dirty || !draft.enabled || !draft.savedName}
              title={dirty ? t("try_save_first") : !draft.enabled ? t("try_enable_first") : undefined}
              onClick={() => draft.savedName && onTry(draft.savedName)}
              data-testid="combo-editor-try"
            >
              {t("try")}
            </button>
          )}
          <button type="button" onClick={onClose} data-testid="combo-close">
            {dirty ? t("cancel", { ns: "common" }) : t("close", { ns: "common" })}
          </button>
          <button type="submit" className="primary" disabled={saving || nameBad || !body.name || body.models.length === 0} data-testid="combo-save">
            {saving ? t("saving", { ns: "common" }) : t("save", { ns: "common" })}
          </button>
        </div>
      </form>
    </Card>
  );
}

function StepNote({ info }: { info: StepInfo }) {
  const { t } = useTranslation("combos");
  switch (info.kind) {
    case "combo":
      return (
        <>
          {" "}
          <Badge kind="accent">{t("step_combo")}</Badge>
        </>
      );
    case "provider":
      return (
        <span className="small muted">
          {" "}
          · {info.provider.name}
          {!info.provider.connected && (
            <>
              {" "}
              <Badge kind="warn">{t("not_connected")}</Badge>
            </>
          )}
          {!info.provider.enabled && (
            <>
              {" "}
              <Badge kind="warn">{t("provider_disabled")}</Badge>
            </>
          )}
        </span>
      );
    case "bare":
      return <span className="small muted"> · {info.known ? t("step_bare") : t("step_unknown_model")}</span>;
    case "unknown":
      return (
        <>
          {" "}
          <Badge kind="warn">{t("step_unknown_provider", { prefix: info.prefix })}</Badge>
        </>
      );
  }
}

function StepBudget({ combo, step, budgets, onChanged }: { combo: string | null; step: string; budgets: BudgetView[]; onChanged: () => void }) {
  const { t } = useTranslation(["combos", "common"]);
  const [amount, setAmount] = useState("");
  const [period, setPeriod] = useState<Period>("day");
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<Error>();

  if (!combo) {
    return (
      <div className="budget-panel small muted" data-testid="combo-budget-panel">
        {t("budget_save_first")}
      </div>
    );
  }

  const run = async (f: () => Promise<unknown>) => {
    setPending(true);
    setError(undefined);
    try {
      await f();
      onChanged();
      return true;
    } catch (e) {
      setError(errorOf(e));
      return false;
    } finally {
      setPending(false);
    }
  };
  const add = async () => {
    const n = Number(amount);
    if (amount.trim() === "" || !Number.isFinite(n) || n < 0) {
      setError(new Error(t("budget_invalid")));
      return;
    }
    if (await run(() => api.post("/api/usage/budget", { combo, step, limit_usd: n, period }))) setAmount("");
  };

  return (
    <div className="budget-panel" data-testid="combo-budget-panel">
      <span className="small muted">
        {t("budget_intro", { step })}
      </span>
      {budgets.map((b) => (
        <div key={b.id} className="budget-row" data-testid="combo-budget">
          <span className="small">
            {t("budget_line", { limit: fmtUsd(b.limit_usd), period: t(`period_${b.period}`), spent: fmtUsd(b.spent_usd) })}
            {" · "}
            <span className="muted">{t("budget_resets", { when: fmtRelative(b.resets_at_ms) })}</span>
            {b.exceeded && (
              <>
                {" "}
                <Badge kind="err">{t("budget_exceeded")}</Badge>
              </>
            )}
          </span>
          <button type="button" className="small danger" disabled={pending} onClick={() => void run(() => api.del(`/api/usage/budget/${encodeURIComponent(b.id)}`))} aria-label={t("budget_remove_label", { period: t(`period_${b.period}`) })} data-testid="combo-budget-remove">
            {t("remove")}
          </button>
          <Bar value={b.spent_usd} max={b.limit_usd} label={t("budget_bar", { period: t(`period_${b.period}`) })} />
        </div>
      ))}
      <div className="row" style={{ alignItems: "flex-end" }}>
        <label className="field" style={{ width: 130 }}>
          <span>{t("budget_amount")}</span>
          <input
            type="number"
            min={0}
            step={0.01}
            inputMode="decimal"
            value={amount}
            onChange={(e) => setAmount(e.target.value)}
            onKeyDown={(e) => {
              if (e.key === "Enter") {
                e.preventDefault();
                void add();
              }
            }}
            data-testid="combo-budget-amount"
          />
        </label>
        <label className="field" style={{ width: 130 }}>
          <span>{t("budget_period")}</span>
          <select value={period} onChange={(e) => setPeriod(e.target.value as Period)} data-testid="combo-budget-period">
            {PERIODS.map((p) => (
              <option key={p} value={p}>
                {t(`period_${p}`)}
              </option>
            ))}
          </select>
        </label>
        <button type="button" disabled={pending || amount.trim() === ""} onClick={() => void add()} data-testid="combo-budget-save">
          {t("budget_set")}
        </button>
      </div>
      <span className="small muted">{t("budget_hint")}</span>
      <ErrorBox error={error} />
    </div>
  );
}

// ------------------------------------------------------------------ try it

interface TryResult {
  status: number;
  ms: number;
  reply: string;
  error?: string;
  provider?: string;
  model?: string;
  connection?: string;
  attempts?: string;
  cost?: string;
  cache?: string;
}

function replyOf(j: unknown): { reply: string; error?: string; model?: string } {
  if (!j || typeof j !== "object") return { reply: "" };
  const o = j as { choices?: { message?: { content?: unknown } }[]; error?: { message?: string } | string; model?: string };
  const content = o.choices?.[0]?.message?.content;
  const reply =
    typeof content === "string"
      ? content
      : Array.isArray(content)
        ? content.map((p) => (p && typeof p === "object" && "text" in p ? String((p as { text: unknown }).text) : "")).join("")
        : "";
  const error = typeof o.error === "string" ? o.error : o.error?.message;
  return { reply, error, model: o.model };
}

function TryDialog({ combo, onClose }: { combo: string | null; onClose: () => void }) {
  const { t } = useTranslation(["combos", "common"]);
  const [key, setKey] = useState("");
  const [result, setResult] = useState<TryResult>();
  const [failure, setFailure] = useState<Error>();
  const [pending, setPending] = useState(false);
  const ctl = useRef<AbortController | null>(null);
  const conns = useApi<{ connections: import("../api/gen/ConnectionView").ConnectionView[] }>(combo ? "/api/connections" : null);
  const connName = (id: string) => conns.data?.connections.find((c) => c.id === id)?.name;

  const send = async (name: string) => {
    ctl.current?.abort();
    const c = new AbortController();
    ctl.current = c;
    setPending(true);
    setResult(undefined);
    setFailure(undefined);
    const headers: Record<string, string> = { "content-type": "application/json", accept: "application/json" };
    if (key.trim()) headers.authorization = `Bearer ${key.trim()}`;
    const started = performance.now();
    try {
      const res = await fetch("/v1/chat/completions", {
        method: "POST",
        headers,
        credentials: "same-origin",
        signal: c.signal,
        body: JSON.stringify({ model: name, messages: [{ role: "user", content: "Say hi" }], max_tokens: 32 }),
      });
      const text = await res.text();
      const ms = performance.now() - started;
      let parsed: ReturnType<typeof replyOf> = { reply: "" };
      try {
        parsed = replyOf(JSON.parse(text));
      } catch {
        parsed = { reply: "", error: res.ok ? undefined : text.slice(0, 500) };
      }
      const h = (n: string) => res.headers.get(n) ?? undefined;
      setResult({
        status: res.status,
        ms,
        reply: parsed.reply,
        error: res.ok ? undefined : (parsed.error ?? `${res.status} ${res.statusText}`),
        provider: h("x-omniroute-provider"),
        model: h("x-omniroute-model") ?? parsed.model,
        connection: h("x-omniroute-connection"),
        attempts: h("x-omniroute-attempts"),
        cost: h("x-omniroute-cost"),
        cache: h("x-omniroute-cache"),
      });
    } catch (e) {
      if (!c.signal.aborted) setFailure(errorOf(e));
    } finally {
      if (ctl.current === c) setPending(false);
    }
  };

  useEffect(() => {
    if (combo) void send(combo);
    else {
      ctl.current?.abort();
      setResult(undefined);
      setFailure(undefined);
    }
    // send again only when another combo is opened (the key field re-sends by its button)
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [combo]);
  useEffect(() => () => ctl.current?.abort(), []);

  const kind = result ? (result.status < 400 ? "ok" : result.status === 429 ? "warn" : "err") : undefined;
  return (
    <Modal
      open={combo !== null}
      title={t("try_title", { name: combo ?? "" })}
      onClose={onClose}
      footer={
        <>
          <button type="button" onClick={onClose}>
            {t("close", { ns: "common" })}
          </button>
          <button type="button" className="primary" disabled={pending || !combo} onClick={() => combo && void send(combo)} data-testid="combo-try-send">
            {t("send_again")}
          </button>
        </>
      }
    >
      <p className="small muted">{t("try_intro")}</p>
      {pending && <Spinner label={t("try_sending")} />}
      <ErrorBox error={failure} />
      {result && (
        <div className="stack" data-testid="combo-try-result">
          <dl className="try-meta">
            <dt>{t("status", { ns: "common" })}</dt>
            <dd>
              <Badge kind={kind}>
                <span data-testid="combo-try-status">{result.status}</span>
              </Badge>
            </dd>
            <dt>{t("latency")}</dt>
            <dd data-testid="combo-try-latency">{fmtMs(result.ms)}</dd>
            <dt>{t("answered_by")}</dt>
            <dd className="mono" data-testid="combo-try-provider">
              {result.provider ? `${result.provider}${result.model ? ` / ${result.model}` : ""}` : (result.model ?? t("unknown"))}
            </dd>
            {result.connection && (
              <>
                <dt>{t("connection")}</dt>
                <dd>
                  {connName(result.connection) ?? <span className="mono">{result.connection}</span>}
                </dd>
              </>
            )}
            {result.attempts && (
              <>
                <dt>{t("attempts")}</dt>
                <dd>{result.attempts}</dd>
              </>
            )}
            {result.cost && (
              <>
                <dt>{t("cost")}</dt>
                <dd>{fmtUsd(Number(result.cost))}</dd>
              </>
            )}
            {result.cache && (
              <>
                <dt>{t("cache")}</dt>
                <dd className="mono">{result.cache}</dd>
              </>
            )}
          </dl>
          {result.error ? (
            <div className="alert err" role="alert" data-testid="combo-try-error">
              {result.error}
            </div>
          ) : (
            <div className="stack" style={{ gap: 4 }}>
              <span className="small muted">{t("reply")}</span>
              <pre tabIndex={0} data-testid="combo-try-reply">{result.reply || t("empty_reply")}</pre>
            </div>
          )}
          {result.status === 401 && <p className="small muted">{t("needs_key")}</p>}
        </div>
      )}
      <Field label={t("gateway_key")} hint={t("gateway_key_hint")}>
        {(id) => <input id={id} type="password" autoComplete="off" value={key} onChange={(e) => setKey(e.target.value)} data-testid="combo-try-key" />}
      </Field>
    </Modal>
  );
}
