// Settings, in tabs: security (password, sessions, access settings, blocked providers), routing,
// resilience, AI and cache, advanced (logging, limits, tracing), and system information. Each
// section edits a draft over the loaded settings: Save sends only what changed (PATCH), Cancel
// drops the draft, a refusal is shown next to the setting it names, and every setting can be
// reset to its default (DELETE /api/settings/{key}).
import { createContext, useContext, useEffect, useId, useState, type FormEvent, type ReactNode } from "react";
import { useSearchParams } from "react-router";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import { useApi, type Loaded } from "../api/hooks";
import type { GatewaySettings } from "../api/gen/GatewaySettings";
import type { ModelAlias } from "../api/gen/ModelAlias";
import type { ProviderInfo } from "../api/types";
import { Badge, Card, CopyButton, Empty, ErrorBox, PageHead, Spinner, Stat, Tabs } from "../components/ui";
import { fmtBytes, fmtInt, fmtMs, fmtRelative, fmtTime } from "../components/format";
import { PasswordForm } from "./Login";
import "./settings.css";

type S = GatewaySettings;
type K = keyof S;
type KeysOf<T> = { [P in K]: S[P] extends T ? P : never }[K];
type NumKey = KeysOf<number>;
type BoolKey = KeysOf<boolean>;
type StrKey = KeysOf<string>;
type ListKey = KeysOf<string[]>;

/** `GET`/`PATCH /api/settings`. */
type SettingsAnswer = import("../api/gen/SettingsView").SettingsView;

/** `GET /api/auth/sessions` → `sessions[]`. */
type SessionInfo = import("../api/gen/SessionInfo").SessionInfo;

/** `GET /api/health` (generated from the Rust `HealthView`). */
type Health = import("../api/gen/HealthView").HealthView;

/** `GET /api/cache`. */
type CacheStats = import("../api/gen/CacheView").CacheView;

/** `POST /api/config/reload`. */
type ReloadAnswer = import("../api/gen/ReloadAnswer").ReloadAnswer;

// The values the server accepts (crates/config/src/settings.rs).
const ACCOUNT_STRATEGIES = ["fill_first", "round_robin", "p2c", "random", "least_used", "cost_optimized"];
const COMBO_STRATEGIES = ["priority", "round_robin", "weighted", "random", "least_used", "cost_optimized", "p2c"];
const THINKING_POLICIES = ["passthrough", "auto", "custom", "adaptive"];
const INJECTION_MODES = ["off", "log", "warn", "block"];

const TABS = ["security", "routing", "resilience", "ai", "advanced", "system"] as const;
type TabId = (typeof TABS)[number];

function errMsg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function hasNaN(v: unknown): boolean {
  if (typeof v === "number") return Number.isNaN(v);
  if (v && typeof v === "object") return Object.values(v).some(hasNaN);
  return false;
}

/** JSON with object keys sorted, to compare values. */
function stable(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === "object" && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : x,
  );
}

function same(a: unknown, b: unknown): boolean {
  return !hasNaN(a) && stable(a) === stable(b);
}

function omit<T extends object>(o: T, k: PropertyKey): T {
  const c = { ...o } as Record<PropertyKey, unknown>;
  delete c[k];
  return c as T;
}

function lines(s: string): string[] {
  return s
    .split(/\r?\n/)
    .map((x) => x.trim())
    .filter(Boolean);
}

// ------------------------------------------------------------------ page

export default function Settings() {
  const { t } = useTranslation(["settings", "common"]);
  const [params, setParams] = useSearchParams();
  const asked = params.get("tab");
  const tab: TabId = (TABS as readonly string[]).includes(asked ?? "") ? (asked as TabId) : "security";
  const loaded = useApi<SettingsAnswer>("/api/settings");
  const [answer, setAnswer] = useState<SettingsAnswer>();
  useEffect(() => {
    if (loaded.data) setAnswer(loaded.data);
  }, [loaded.data]);
  const reload = async () => setAnswer(await api.get<SettingsAnswer>("/api/settings"));

  const sectionProps = answer ? { answer, onAnswer: setAnswer, reload } : undefined;
  const need = (render: (p: SectionProps) => ReactNode) =>
    sectionProps ? render(sectionProps) : loaded.error ? <ErrorBox error={loaded.error} onRetry={loaded.reload} /> : <Spinner />;

  return (
    <>
      <PageHead title={t("title")} subtitle={t("subtitle")} />
      <Tabs
        label={t("sections")}
        value={tab}
        onChange={(v) => setParams({ tab: v }, { replace: true })}
        tabs={TABS.map((id) => ({ id, label: t(`tab_${id}`) }))}
      />
      {/* every panel stays mounted so a draft survives switching tabs */}
      <div role="tabpanel" aria-label={t("tab_security")} hidden={tab !== "security"} data-testid="settings-panel-security">
        <SecurityPanel need={need} />
      </div>
      <div role="tabpanel" aria-label={t("tab_routing")} hidden={tab !== "routing"} data-testid="settings-panel-routing">
        {need((p) => (
          <RoutingSection {...p} />
        ))}
      </div>
      <div role="tabpanel" aria-label={t("tab_resilience")} hidden={tab !== "resilience"} data-testid="settings-panel-resilience">
        {need((p) => (
          <ResilienceSection {...p} />
        ))}
      </div>
      <div role="tabpanel" aria-label={t("tab_ai")} hidden={tab !== "ai"} data-testid="settings-panel-ai">
        {need((p) => (
          <AiSection {...p} />
        ))}
        <CacheCard />
      </div>
      <div role="tabpanel" aria-label={t("tab_advanced")} hidden={tab !== "advanced"} data-testid="settings-panel-advanced">
        {need((p) => (
          <AdvancedSection {...p} />
        ))}
      </div>
      <div role="tabpanel" aria-label={t("tab_system")} hidden={tab !== "system"} data-testid="settings-panel-system">
        {tab === "system" && <SystemPanel onReloaded={() => void reload().catch(() => undefined)} />}
      </div>
    </>
  );
}

// ------------------------------------------------------------------ the section machinery

interface SectionProps {
  answer: SettingsAnswer;
  onAnswer: (a: SettingsAnswer) => void;
  reload: () => Promise<void>;
}

interface SectionApi {
  value: <P extends K>(k: P) => S[P];
  set: <P extends K>(k: P, v: S[P]) => void;
  error: (k: K) => string | undefined;
  reset: (k: K) => Promise<void>;
  resetting: K | undefined;
  env: SettingsAnswer["env_overrides"];
}

const SectionCtx = createContext<SectionApi | null>(null);

function useSection(): SectionApi {
  const c = useContext(SectionCtx);
  if (!c) throw new Error("a setting outside a section");
  return c;
}

function Section({ id, title, intro, answer, onAnswer, reload, children }: SectionProps & { id: string; title: string; intro?: string; children: ReactNode }) {
  const { t } = useTranslation(["settings", "common"]);
  const headId = useId();
  const [edits, setEdits] = useState<Partial<S>>({});
  const [errors, setErrors] = useState<Partial<Record<K, string>>>({});
  const [sectionError, setSectionError] = useState<string>();
  const [notice, setNotice] = useState<string>();
  const [pending, setPending] = useState(false);
  const [resetting, setResetting] = useState<K>();
  const settings = answer.settings;
  const changed = (Object.keys(edits) as K[]).filter((k) => !same(edits[k], settings[k]));
  const dirty = changed.length > 0;

  const ctx: SectionApi = {
    value: <P extends K>(k: P): S[P] => (k in edits ? (edits[k] as S[P]) : settings[k]),
    set: <P extends K>(k: P, v: S[P]) => {
      setEdits((e) => ({ ...e, [k]: v }));
      setErrors((e) => omit(e, k));
      setNotice(undefined);
      setSectionError(undefined);
    },
    error: (k) => errors[k],
    reset: async (k) => {
      setResetting(k);
      setNotice(undefined);
      setSectionError(undefined);
      try {
        await api.del(`/api/settings/${encodeURIComponent(k)}`);
        setEdits((e) => omit(e, k));
        setErrors((e) => omit(e, k));
        await reload();
        setNotice(t("reset_done", { name: t(`f.${k}.label`) }));
      } catch (err) {
        setErrors((e) => ({ ...e, [k]: errMsg(err) }));
      } finally {
        setResetting(undefined);
      }
    },
    resetting,
    env: answer.env_overrides,
  };

  const save = async (e: FormEvent) => {
    e.preventDefault();
    if (!dirty || pending) return;
    const bad = changed.filter((k) => hasNaN(edits[k]));
    if (bad.length > 0) {
      setErrors(Object.fromEntries(bad.map((k) => [k, t("invalid_number")])));
      setSectionError(t("fix_errors"));
      return;
    }
    setPending(true);
    setErrors({});
    setSectionError(undefined);
    setNotice(undefined);
    try {
      const body = Object.fromEntries(changed.map((k) => [k, edits[k]]));
      onAnswer(await api.patch<SettingsAnswer>("/api/settings", body));
      setEdits({});
      setNotice(t("common:saved"));
    } catch (err) {
      const msg = errMsg(err);
      // the server names the setting it refused: "setting `key`: what is wrong"
      const m = /^setting `([^`]+)`: ([\s\S]*)$/.exec(msg);
      if (m && (changed as string[]).includes(m[1])) {
        setErrors({ [m[1]]: m[2] });
        setSectionError(t("fix_errors"));
      } else {
        setSectionError(msg);
      }
    } finally {
      setPending(false);
    }
  };

  const cancel = () => {
    setEdits({});
    setErrors({});
    setSectionError(undefined);
    setNotice(undefined);
  };

  return (
    <SectionCtx.Provider value={ctx}>
      <form className="card settings-section" aria-labelledby={headId} onSubmit={(e) => void save(e)} noValidate data-testid={`settings-section-${id}`}>
        <h2 id={headId}>{title}</h2>
        {intro && <p className="muted small">{intro}</p>}
        <div className="settings-grid">{children}</div>
        {sectionError && (
          <div className="alert err section-error" role="alert" data-testid={`settings-error-${id}`}>
            {sectionError}
          </div>
        )}
        <div className="section-foot">
          <span className="section-status" role="status">
            {notice ? (
              <span className="alert ok" data-testid={`settings-saved-${id}`}>
                {notice}
              </span>
            ) : dirty ? (
              <span className="small muted">{t("unsaved", { n: changed.length })}</span>
            ) : null}
          </span>
          <button type="button" onClick={cancel} disabled={!dirty || pending} data-testid={`settings-cancel-${id}`}>
            {t("common:cancel")}
          </button>
          <button type="submit" className="primary" disabled={!dirty || pending} data-testid={`settings-save-${id}`}>
            {pending ? t("common:saving") : t("common:save")}
          </button>
        </div>
      </form>
    </SectionCtx.Provider>
  );
}

function ResetButton({ k, label, disabled }: { k: K; label: string; disabled?: boolean }) {
  const { t } = useTranslation("settings");
  const s = useSection();
  const text = t("reset_aria", { name: label });
  return (
    <button
      type="button"
      className="ghost small reset-btn"
      onClick={() => void s.reset(k)}
      disabled={disabled || s.resetting === k}
      aria-label={text}
      title={text}
      data-testid={`settings-reset-${k}`}
    >
      <span aria-hidden="true">↺</span>
    </button>
  );
}

interface ControlProps {
  id: string;
  describedBy: string | undefined;
  invalid: boolean;
}

/** One setting: label, reset button, the control, its hint and its error. `group` for a
 * setting made of several inputs (each labelled on its own). */
function Row({ k, children, wide, extra, group }: { k: K; children: (p: ControlProps) => ReactNode; wide?: boolean; extra?: ReactNode; group?: boolean }) {
  const { t } = useTranslation("settings");
  const s = useSection();
  const id = useId();
  const err = s.error(k);
  const label = t(`f.${k}.label`);
  const hint = t(`f.${k}.hint`, { defaultValue: "" });
  const hintId = `${id}-hint`;
  const errId = `${id}-err`;
  const describedBy = [hint ? hintId : "", err ? errId : ""].filter(Boolean).join(" ") || undefined;
  return (
    <div
      className={`setting${wide ? " wide" : ""}${err ? " has-error" : ""}`}
      data-setting={k}
      role={group ? "group" : undefined}
      aria-labelledby={group ? `${id}-label` : undefined}
      aria-describedby={group ? describedBy : undefined}
    >
      <div className="setting-head">
        {group ? (
          <span id={`${id}-label`} className="setting-label">
            {label}
          </span>
        ) : (
          <label htmlFor={id} className="setting-label">
            {label}
          </label>
        )}
        <ResetButton k={k} label={label} />
      </div>
      {children({ id, describedBy, invalid: !!err })}
      {extra}
      {hint && (
        <small id={hintId} className="hint">
          {hint}
        </small>
      )}
      {err && (
        <small id={errId} className="setting-error" data-testid={`settings-error-${k}`}>
          {err}
        </small>
      )}
    </div>
  );
}

function BoolSetting({ k }: { k: BoolKey }) {
  const { t } = useTranslation("settings");
  const s = useSection();
  const id = useId();
  const err = s.error(k);
  const label = t(`f.${k}.label`);
  const hint = t(`f.${k}.hint`, { defaultValue: "" });
  const envValue = k === "require_api_key" ? s.env.require_api_key : null;
  const locked = envValue !== null && envValue !== undefined;
  const describedBy = [hint ? `${id}-hint` : "", locked ? `${id}-env` : "", err ? `${id}-err` : ""].filter(Boolean).join(" ") || undefined;
  return (
    <div className={`setting${err ? " has-error" : ""}`} data-setting={k}>
      <div className="setting-head">
        <label className="check">
          <input
            id={id}
            type="checkbox"
            checked={s.value(k)}
            disabled={locked}
            onChange={(e) => s.set(k, e.target.checked)}
            aria-describedby={describedBy}
            aria-invalid={!!err}
            data-testid={`settings-${k}`}
          />
          <span className="setting-label strong">{label}</span>
        </label>
        <ResetButton k={k} label={label} disabled={locked} />
      </div>
      {hint && (
        <small id={`${id}-hint`} className="hint">
          {hint}
        </small>
      )}
      {locked && (
        <small id={`${id}-env`} className="hint">
          <Badge kind="warn">{t("env_locked")}</Badge>
        </small>
      )}
      {err && (
        <small id={`${id}-err`} className="setting-error" data-testid={`settings-error-${k}`}>
          {err}
        </small>
      )}
    </div>
  );
}

/** A number typed by the user. Invalid input gives `NaN` (caught before saving); with
 * `nullable`, an empty field gives `null`. */
function NumberInput({
  id,
  value,
  onChange,
  nullable,
  int = true,
  min = 0,
  max,
  describedBy,
  invalid,
  testId,
  placeholder,
  label,
}: {
  id?: string;
  value: number | null;
  onChange: (v: number | null) => void;
  nullable?: boolean;
  int?: boolean;
  min?: number;
  max?: number;
  describedBy?: string;
  invalid?: boolean;
  testId?: string;
  placeholder?: string;
  label?: string;
}) {
  const parse = (s: string): number | null => {
    const x = s.trim();
    if (x === "") return nullable ? null : NaN;
    const n = Number(x);
    if (!Number.isFinite(n) || n < min || (max !== undefined && n > max) || (int && !Number.isInteger(n))) return NaN;
    return n;
  };
  const show = (v: number | null) => (v === null || Number.isNaN(v) ? "" : String(v));
  const [text, setText] = useState(show(value));
  useEffect(() => {
    // follow outside changes (Cancel, reset, a save elsewhere), not the user's own typing
    if (value !== null && Number.isNaN(value)) return;
    if (parse(text) !== value) setText(show(value));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [value]);
  const bad = invalid || Number.isNaN(parse(text));
  return (
    <input
      id={id}
      type="number"
      inputMode={int ? "numeric" : "decimal"}
      min={min}
      max={max}
      step={int ? 1 : "any"}
      value={text}
      placeholder={placeholder}
      onChange={(e) => {
        setText(e.target.value);
        onChange(parse(e.target.value));
      }}
      aria-invalid={bad}
      aria-describedby={describedBy}
      aria-label={label}
      data-testid={testId}
    />
  );
}

type Unit = "ms" | "bytes" | "mib";

function human(v: number, unit: Unit | undefined): string | undefined {
  if (!unit || !Number.isFinite(v)) return undefined;
  if (unit === "ms") return fmtMs(v);
  if (unit === "bytes") return fmtBytes(v);
  return fmtBytes(v * 1024 * 1024);
}

function NumberSetting({ k, unit, int = true, min = 0, max }: { k: NumKey; unit?: Unit; int?: boolean; min?: number; max?: number }) {
  const { t } = useTranslation("settings");
  const s = useSection();
  const v = s.value(k);
  const h = human(v, unit);
  return (
    <Row k={k} extra={h && v > 0 ? <small className="hint mono">{t("human", { value: h })}</small> : undefined}>
      {(p) => (
        <NumberInput
          id={p.id}
          value={v}
          onChange={(n) => s.set(k, n ?? NaN)}
          int={int}
          min={min}
          max={max}
          describedBy={p.describedBy}
          invalid={p.invalid}
          testId={`settings-${k}`}
        />
      )}
    </Row>
  );
}

function TextSetting({ k, placeholder, wide }: { k: StrKey; placeholder?: string; wide?: boolean }) {
  const s = useSection();
  return (
    <Row k={k} wide={wide}>
      {(p) => (
        <input
          id={p.id}
          value={s.value(k)}
          placeholder={placeholder}
          spellCheck={false}
          autoComplete="off"
          onChange={(e) => s.set(k, e.target.value)}
          aria-invalid={p.invalid}
          aria-describedby={p.describedBy}
          data-testid={`settings-${k}`}
        />
      )}
    </Row>
  );
}

function TextAreaSetting({ k, placeholder }: { k: StrKey; placeholder?: string }) {
  const s = useSection();
  return (
    <Row k={k} wide>
      {(p) => (
        <textarea
          id={p.id}
          rows={5}
          value={s.value(k)}
          placeholder={placeholder}
          onChange={(e) => s.set(k, e.target.value)}
          aria-invalid={p.invalid}
          aria-describedby={p.describedBy}
          data-testid={`settings-${k}`}
        />
      )}
    </Row>
  );
}

function SelectSetting({ k, options, labels }: { k: StrKey; options: string[]; labels: string }) {
  const { t } = useTranslation("settings");
  const s = useSection();
  const v = s.value(k);
  const all = options.includes(v) ? options : [v, ...options];
  return (
    <Row k={k}>
      {(p) => (
        <select id={p.id} value={v} onChange={(e) => s.set(k, e.target.value)} aria-invalid={p.invalid} aria-describedby={p.describedBy} data-testid={`settings-${k}`}>
          {all.map((o) => (
            <option key={o} value={o}>
              {t(`${labels}.${o}`, { defaultValue: o })}
            </option>
          ))}
        </select>
      )}
    </Row>
  );
}

/** A list of strings as one entry per line. */
function LinesSetting({ k, placeholder }: { k: ListKey; placeholder?: string }) {
  const s = useSection();
  const v = s.value(k);
  const [text, setText] = useState(v.join("\n"));
  useEffect(() => {
    if (stable(lines(text)) !== stable(v)) setText(v.join("\n"));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [v]);
  return (
    <Row k={k}>
      {(p) => (
        <textarea
          id={p.id}
          rows={4}
          className="lines"
          spellCheck={false}
          value={text}
          placeholder={placeholder}
          onChange={(e) => {
            setText(e.target.value);
            s.set(k, lines(e.target.value));
          }}
          aria-invalid={p.invalid}
          aria-describedby={p.describedBy}
          data-testid={`settings-${k}`}
        />
      )}
    </Row>
  );
}

function IpRateLimitSetting() {
  const { t } = useTranslation("settings");
  const s = useSection();
  const v = s.value("ip_rate_limit");
  const id = useId();
  return (
    <Row k="ip_rate_limit" group>
      {(p) => (
        <div className="subgrid">
          <label className="sub" htmlFor={`${id}-r`}>
            <span>{t("irl_requests")}</span>
            <NumberInput id={`${id}-r`} value={v.requests} onChange={(n) => s.set("ip_rate_limit", { ...v, requests: n ?? NaN })} invalid={p.invalid} testId="settings-ip_rate_limit-requests" />
          </label>
          <label className="sub" htmlFor={`${id}-w`}>
            <span>{t("irl_window")}</span>
            <NumberInput id={`${id}-w`} value={v.window_ms} onChange={(n) => s.set("ip_rate_limit", { ...v, window_ms: n ?? NaN })} invalid={p.invalid} testId="settings-ip_rate_limit-window" />
          </label>
        </div>
      )}
    </Row>
  );
}

function RateLimitSetting() {
  const { t } = useTranslation("settings");
  const s = useSection();
  const v = s.value("rate_limit");
  const id = useId();
  const part = (field: "rpm" | "min_gap_ms" | "max_concurrent", label: string, invalid: boolean) => (
    <label className="sub" htmlFor={`${id}-${field}`}>
      <span>{label}</span>
      <NumberInput
        id={`${id}-${field}`}
        value={v[field]}
        nullable
        min={field === "min_gap_ms" ? 0 : 1}
        placeholder={t("unlimited")}
        onChange={(n) => s.set("rate_limit", { ...v, [field]: n })}
        invalid={invalid}
        testId={`settings-rate_limit-${field}`}
      />
    </label>
  );
  return (
    <Row k="rate_limit" group wide>
      {(p) => (
        <div className="subgrid">
          {part("rpm", t("rl_rpm"), p.invalid)}
          {part("min_gap_ms", t("rl_min_gap"), p.invalid)}
          {part("max_concurrent", t("rl_concurrent"), p.invalid)}
        </div>
      )}
    </Row>
  );
}

function AliasesSetting() {
  const { t } = useTranslation("settings");
  const s = useSection();
  const v = s.value("model_aliases");
  const clean = (rows: ModelAlias[]) => rows.filter((r) => r.pattern.trim() || r.target.trim()).map((r) => ({ pattern: r.pattern.trim(), target: r.target.trim() }));
  const [rows, setRows] = useState<ModelAlias[]>(v);
  useEffect(() => {
    if (stable(clean(rows)) !== stable(v)) setRows(v);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [v]);
  const update = (next: ModelAlias[]) => {
    setRows(next);
    s.set("model_aliases", clean(next));
  };
  const move = (i: number, d: number) => {
    const next = [...rows];
    const [r] = next.splice(i, 1);
    next.splice(i + d, 0, r);
    update(next);
  };
  return (
    <Row k="model_aliases" group wide>
      {(p) => (
        <div className="stack" style={{ gap: 6 }}>
          {rows.length === 0 && <span className="small muted">{t("no_aliases")}</span>}
          {rows.map((r, i) => (
            <div className="alias-row" key={i} data-testid="settings-alias-row">
              <input
                value={r.pattern}
                placeholder="claude-sonnet-*"
                spellCheck={false}
                aria-label={t("alias_pattern", { n: i + 1 })}
                aria-invalid={p.invalid && !r.pattern.trim()}
                onChange={(e) => update(rows.map((x, j) => (j === i ? { ...x, pattern: e.target.value } : x)))}
                data-testid="settings-alias-pattern"
              />
              <span aria-hidden="true" className="muted arrow">
                →
              </span>
              <input
                value={r.target}
                placeholder="cc/claude-sonnet-4-5"
                spellCheck={false}
                aria-label={t("alias_target", { n: i + 1 })}
                aria-invalid={p.invalid && !r.target.trim()}
                onChange={(e) => update(rows.map((x, j) => (j === i ? { ...x, target: e.target.value } : x)))}
                data-testid="settings-alias-target"
              />
              <div className="row alias-actions">
                <button type="button" className="small ghost" disabled={i === 0} onClick={() => move(i, -1)} aria-label={t("alias_up", { n: i + 1 })} title={t("alias_up", { n: i + 1 })}>
                  <span aria-hidden="true">↑</span>
                </button>
                <button
                  type="button"
                  className="small ghost"
                  disabled={i === rows.length - 1}
                  onClick={() => move(i, 1)}
                  aria-label={t("alias_down", { n: i + 1 })}
                  title={t("alias_down", { n: i + 1 })}
                >
                  <span aria-hidden="true">↓</span>
                </button>
                <button
                  type="button"
                  className="small ghost danger"
                  onClick={() => update(rows.filter((_, j) => j !== i))}
                  aria-label={t("alias_remove", { n: i + 1 })}
                  title={t("alias_remove", { n: i + 1 })}
                  data-testid="settings-alias-remove"
                >
                  <span aria-hidden="true">✕</span>
                </button>
              </div>
            </div>
          ))}
          <div>
            <button type="button" className="small" onClick={() => setRows([...rows, { pattern: "", target: "" }])} data-testid="settings-alias-add">
              {t("alias_add")}
            </button>
          </div>
        </div>
      )}
    </Row>
  );
}

function ProviderStrategiesSetting() {
  const { t } = useTranslation("settings");
  const s = useSection();
  const providers = useApi<{ providers: ProviderInfo[] }>("/api/providers");
  const v = s.value("provider_strategies");
  type Pair = [string, string];
  const clean = (rows: Pair[]) => Object.fromEntries(rows.filter(([p]) => p));
  const [rows, setRows] = useState<Pair[]>(Object.entries(v));
  useEffect(() => {
    if (stable(clean(rows)) !== stable(v)) setRows(Object.entries(v));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [v]);
  const update = (next: Pair[]) => {
    setRows(next);
    s.set("provider_strategies", clean(next));
  };
  const list = providers.data?.providers ?? [];
  return (
    <Row k="provider_strategies" group wide>
      {() => (
        <div className="stack" style={{ gap: 6 }}>
          {rows.length === 0 && <span className="small muted">{t("no_overrides")}</span>}
          {rows.map(([p, strat], i) => (
            <div className="pair-row" key={i} data-testid="settings-provider-strategy-row">
              <select
                value={p}
                aria-label={t("ps_provider", { n: i + 1 })}
                onChange={(e) => update(rows.map((x, j): Pair => (j === i ? [e.target.value, x[1]] : x)))}
                data-testid="settings-provider-strategy-provider"
              >
                <option value="">{t("choose_provider")}</option>
                {p && !list.some((x) => x.id === p) && <option value={p}>{p}</option>}
                {list
                  .filter((x) => x.id === p || !rows.some(([q]) => q === x.id))
                  .map((x) => (
                    <option key={x.id} value={x.id}>
                      {x.name} ({x.id})
                    </option>
                  ))}
              </select>
              <select
                value={strat}
                aria-label={t("ps_strategy", { n: i + 1 })}
                onChange={(e) => update(rows.map((x, j): Pair => (j === i ? [x[0], e.target.value] : x)))}
                data-testid="settings-provider-strategy-strategy"
              >
                {ACCOUNT_STRATEGIES.map((o) => (
                  <option key={o} value={o}>
                    {t(`strategy.${o}`)}
                  </option>
                ))}
              </select>
              <button
                type="button"
                className="small ghost danger"
                onClick={() => update(rows.filter((_, j) => j !== i))}
                aria-label={t("ps_remove", { n: i + 1 })}
                title={t("ps_remove", { n: i + 1 })}
              >
                <span aria-hidden="true">✕</span>
              </button>
            </div>
          ))}
          <div>
            <button type="button" className="small" onClick={() => setRows([...rows, ["", "round_robin"]])} data-testid="settings-provider-strategy-add">
              {t("ps_add")}
            </button>
          </div>
          <ErrorBox error={providers.error} onRetry={providers.reload} />
        </div>
      )}
    </Row>
  );
}

// ------------------------------------------------------------------ the sections

function SecurityPanel({ need }: { need: (render: (p: SectionProps) => ReactNode) => ReactNode }) {
  const { t } = useTranslation(["settings", "common", "auth"]);
  const sessions = useApi<{ sessions: SessionInfo[] }>("/api/auth/sessions");
  const [pwDone, setPwDone] = useState(false);
  const [pwForm, setPwForm] = useState(0);
  return (
    <>
      <div className="grid cols-2 security-top">
        <Card title={t("password_title")}>
          <p className="muted small">{t("password_hint")}</p>
          {pwDone && (
            <div className="alert ok" role="status" style={{ marginBottom: 10 }} data-testid="password-changed">
              {t("password_changed")}
            </div>
          )}
          <PasswordForm
            key={pwForm}
            current
            submitLabel={t("auth:change_submit")}
            onDone={() => {
              setPwDone(true);
              setPwForm((n) => n + 1);
              sessions.reload();
            }}
          />
        </Card>
        <SessionsCard sessions={sessions} />
      </div>
      <div className="section-gap" />
      {need((p) => (
        <SecuritySection {...p} />
      ))}
      <BlockedProviders />
    </>
  );
}

function SecuritySection(p: SectionProps) {
  const { t } = useTranslation("settings");
  return (
    <Section id="security" title={t("sec_security")} intro={t("sec_security_intro")} {...p}>
      <BoolSetting k="require_login" />
      <NumberSetting k="session_ttl_hours" min={1} max={24 * 366} />
      <BoolSetting k="require_api_key" />
      <BoolSetting k="models_require_key" />
      <LinesSetting k="ip_allowlist" placeholder={"192.168.1.0/24\n10.0.0.5"} />
      <LinesSetting k="ip_blocklist" placeholder="203.0.113.0/24" />
      <LinesSetting k="trusted_proxies" placeholder="127.0.0.1" />
      <IpRateLimitSetting />
      <SelectSetting k="injection_guard" options={INJECTION_MODES} labels="guard" />
      <LinesSetting k="injection_patterns" placeholder={"ignore (all )?previous instructions"} />
    </Section>
  );
}

function RoutingSection(p: SectionProps) {
  const { t } = useTranslation("settings");
  return (
    <Section id="routing" title={t("sec_routing")} intro={t("sec_routing_intro")} {...p}>
      <SelectSetting k="account_strategy" options={ACCOUNT_STRATEGIES} labels="strategy" />
      <SelectSetting k="combo_strategy" options={COMBO_STRATEGIES} labels="strategy" />
      <NumberSetting k="sticky_limit" min={1} />
      <LinesSetting k="fallback_models" placeholder={"openai/gpt-4o-mini\ncc/claude-haiku-4-5"} />
      <ProviderStrategiesSetting />
      <AliasesSetting />
    </Section>
  );
}

function ResilienceSection(p: SectionProps) {
  const { t } = useTranslation("settings");
  return (
    <Section id="resilience" title={t("sec_resilience")} intro={t("sec_resilience_intro")} {...p}>
      <NumberSetting k="max_attempts" min={1} />
      <NumberSetting k="total_timeout_ms" unit="ms" />
      <NumberSetting k="connect_timeout_ms" unit="ms" />
      <NumberSetting k="first_byte_timeout_ms" unit="ms" />
      <NumberSetting k="idle_timeout_ms" unit="ms" />
      <NumberSetting k="breaker_failure_threshold" min={1} />
      <NumberSetting k="breaker_window_ms" unit="ms" />
      <NumberSetting k="breaker_open_ms" unit="ms" />
      <NumberSetting k="cooldown_base_ms" unit="ms" />
      <NumberSetting k="cooldown_max_ms" unit="ms" />
      <NumberSetting k="rate_limit_wait_ms" unit="ms" />
      <NumberSetting k="idempotency_window_ms" unit="ms" />
      <RateLimitSetting />
    </Section>
  );
}

function AiSection(p: SectionProps) {
  const { t } = useTranslation("settings");
  return (
    <Section id="ai" title={t("sec_ai")} intro={t("sec_ai_intro")} {...p}>
      <TextAreaSetting k="system_prompt" placeholder={t("system_prompt_placeholder")} />
      <SelectSetting k="thinking_policy" options={THINKING_POLICIES} labels="thinking" />
      <NumberSetting k="thinking_budget" />
      <BoolSetting k="cache_enabled" />
      <NumberSetting k="cache_ttl_ms" unit="ms" />
      <NumberSetting k="cache_max_entries" />
      <NumberSetting k="cache_max_bytes" unit="bytes" />
      <BoolSetting k="semantic_cache_enabled" />
      <TextSetting k="semantic_cache_model" placeholder="openai/text-embedding-3-small" />
      <NumberSetting k="semantic_cache_threshold" int={false} max={1} />
    </Section>
  );
}

function AdvancedSection(p: SectionProps) {
  const { t } = useTranslation("settings");
  return (
    <Section id="advanced" title={t("sec_advanced")} intro={t("sec_advanced_intro")} {...p}>
      <TextSetting k="otel_endpoint" placeholder="http://localhost:4318" wide />
      <TextSetting k="outbound_proxy" placeholder="socks5://127.0.0.1:1080" wide />
      <BoolSetting k="request_log" />
      <NumberSetting k="request_log_retention" />
      <NumberSetting k="request_log_max_age_days" />
      <NumberSetting k="request_log_max_mb" unit="mib" />
      <BoolSetting k="request_bodies" />
      <NumberSetting k="request_body_max_bytes" unit="bytes" />
      <NumberSetting k="max_body_bytes" unit="bytes" />
      <NumberSetting k="max_stream_duration_ms" unit="ms" min={1} />
      <NumberSetting k="max_stream_bytes" unit="bytes" min={1} />
    </Section>
  );
}

// ------------------------------------------------------------------ sessions, providers, cache, system

function SessionsCard({ sessions }: { sessions: Loaded<{ sessions: SessionInfo[] }> }) {
  const { t } = useTranslation(["settings", "common"]);
  const [ending, setEnding] = useState<string>();
  const [error, setError] = useState<string>();
  const end = async (id: string) => {
    setEnding(id);
    setError(undefined);
    try {
      await api.del(`/api/auth/sessions/${encodeURIComponent(id)}`);
      sessions.reload();
    } catch (e) {
      setError(errMsg(e));
    } finally {
      setEnding(undefined);
    }
  };
  const list = sessions.data?.sessions ?? [];
  return (
    <Card title={t("sessions_title")} actions={<button type="button" className="small" onClick={sessions.reload}>{t("common:refresh")}</button>}>
      <p className="muted small">{t("sessions_hint")}</p>
      {sessions.loading && !sessions.data ? (
        <Spinner />
      ) : sessions.error && !sessions.data ? (
        <ErrorBox error={sessions.error} onRetry={sessions.reload} />
      ) : list.length === 0 ? (
        <Empty title={t("no_sessions")} hint={t("no_sessions_hint")} />
      ) : (
        <div className="table-wrap" tabIndex={0}>
          <table className="sessions-table" data-testid="sessions-table">
            <thead>
              <tr>
                <th>{t("session_client")}</th>
                <th>{t("session_started")}</th>
                <th>
                  <span className="sr-only">{t("common:actions")}</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.map((s) => (
                <tr key={s.id} data-testid="session-row" data-current={s.current}>
                  <td className="small">
                    <div className="mono">{s.ip ?? "—"}</div>
                    <div className="muted ua" title={s.user_agent ?? undefined}>
                      {s.user_agent ?? "—"}
                    </div>
                  </td>
                  <td className="small">
                    <div title={fmtTime(s.created_at)}>{fmtRelative(s.created_at)}</div>
                    <div className="muted" title={fmtTime(s.expires_at)}>
                      {t("expires_when", { when: fmtRelative(s.expires_at) })}
                    </div>
                  </td>
                  <td className="right">
                    {s.current ? (
                      <Badge kind="accent">{t("this_session")}</Badge>
                    ) : (
                      <button
                        type="button"
                        className="small danger"
                        disabled={ending === s.id}
                        onClick={() => void end(s.id)}
                        aria-label={t("end_session_named", { ip: s.ip ?? "?", when: fmtTime(s.created_at) })}
                        data-testid="session-end"
                      >
                        {t("end_session")}
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <ErrorBox error={error} />
    </Card>
  );
}

function BlockedProviders() {
  const { t } = useTranslation("settings");
  const providers = useApi<{ providers: ProviderInfo[] }>("/api/providers");
  const [choice, setChoice] = useState("");
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<string>();
  const all = providers.data?.providers ?? [];
  const blocked = all.filter((p) => !p.enabled);
  const set = async (id: string, enabled: boolean) => {
    setPending(true);
    setError(undefined);
    try {
      await api.patch(`/api/providers/${encodeURIComponent(id)}`, { enabled });
      setChoice("");
      providers.reload();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setPending(false);
    }
  };
  return (
    <Card title={t("blocked_title")}>
      <p className="muted small">{t("blocked_hint")}</p>
      {providers.loading && !providers.data ? (
        <Spinner />
      ) : providers.error ? (
        <ErrorBox error={providers.error} onRetry={providers.reload} />
      ) : blocked.length === 0 ? (
        <p data-testid="blocked-none">{t("none_blocked")}</p>
      ) : (
        <ul className="blocked-list" data-testid="blocked-providers">
          {blocked.map((p) => (
            <li key={p.id}>
              <Badge kind="err">{t("blocked")}</Badge> {p.name} <code className="muted">{p.id}</code>{" "}
              <button type="button" className="small" disabled={pending} onClick={() => void set(p.id, true)} data-testid={`unblock-${p.id}`}>
                {t("unblock")}
              </button>
            </li>
          ))}
        </ul>
      )}
      <div className="row" style={{ alignItems: "flex-end", marginTop: 8 }}>
        <label className="field">
          <span>{t("block_choose")}</span>
          <select value={choice} onChange={(e) => setChoice(e.target.value)} data-testid="block-select">
            <option value="">—</option>
            {all
              .filter((p) => p.enabled)
              .map((p) => (
                <option key={p.id} value={p.id}>
                  {p.name} ({p.id})
                </option>
              ))}
          </select>
        </label>
        <button type="button" className="danger" disabled={!choice || pending} onClick={() => void set(choice, false)} data-testid="block-provider">
          {t("block")}
        </button>
      </div>
      {error && (
        <div className="alert err" role="alert">
          {error}
        </div>
      )}
    </Card>
  );
}

function CacheCard() {
  const { t } = useTranslation("settings");
  const cache = useApi<CacheStats>("/api/cache", { refreshMs: 30_000 });
  const [pending, setPending] = useState(false);
  const [done, setDone] = useState(false);
  const [error, setError] = useState<string>();
  const clear = async () => {
    setPending(true);
    setError(undefined);
    setDone(false);
    try {
      await api.del("/api/cache");
      setDone(true);
      cache.reload();
    } catch (e) {
      setError(errMsg(e));
    } finally {
      setPending(false);
    }
  };
  const c = cache.data;
  return (
    <Card
      title={t("cache_title")}
      actions={
        <button type="button" className="small danger" disabled={pending} onClick={() => void clear()} data-testid="settings-cache-clear">
          {t("cache_clear")}
        </button>
      }
    >
      {cache.loading && !c ? (
        <Spinner />
      ) : cache.error && !c ? (
        <ErrorBox error={cache.error} onRetry={cache.reload} />
      ) : c ? (
        <p className="small" data-testid="settings-cache-stats">
          {t("cache_stats", {
            entries: fmtInt(c.entries),
            size: fmtBytes(c.bytes),
            hits: fmtInt(c.hits),
            misses: fmtInt(c.misses),
            semantic: fmtInt(c.semantic_hits),
          })}
        </p>
      ) : null}
      {done && (
        <div className="alert ok" role="status">
          {t("cache_cleared")}
        </div>
      )}
      <ErrorBox error={error} />
    </Card>
  );
}

/** Whole days, hours and minutes of a duration in seconds. */
function dhm(s: number): { d: number; h: number; m: number } {
  return { d: Math.floor(s / 86_400), h: Math.floor((s % 86_400) / 3600), m: Math.floor((s % 3600) / 60) };
}

function SystemPanel({ onReloaded }: { onReloaded: () => void }) {
  const { t } = useTranslation(["settings", "common"]);
  const health = useApi<Health>("/api/health", { refreshMs: 15_000 });
  const [reloading, setReloading] = useState(false);
  const [result, setResult] = useState<string>();
  const [error, setError] = useState<string>();
  const reloadConfig = async () => {
    setReloading(true);
    setError(undefined);
    setResult(undefined);
    try {
      const a = await api.post<ReloadAnswer>("/api/config/reload");
      setResult(a.config_file ? t("reloaded", { file: a.config_file }) : t("reloaded_none"));
      onReloaded();
    } catch (e) {
      setError(errMsg(e));
    } finally {
      setReloading(false);
    }
  };
  const h = health.data;
  const up = dhm(h?.uptime_s ?? 0);
  const uptime = up.d > 0 ? t("uptime_days", up) : up.h > 0 ? t("uptime_hours", up) : t("uptime_minutes", up);
  return (
    <>
      <Card title={t("system_title")} actions={<button type="button" className="small" onClick={health.reload}>{t("common:refresh")}</button>}>
        {health.loading && !h ? (
          <Spinner />
        ) : health.error && !h ? (
          <ErrorBox error={health.error} onRetry={health.reload} />
        ) : h ? (
          <>
            <div className="grid stats system-stats">
              <Stat label={t("version")} value={h.version} testId="system-version" />
              <Stat label={t("status")} value={<Badge kind={h.status === "ok" ? "ok" : "warn"}>{t(`status_${h.status}`, { defaultValue: h.status })}</Badge>} />
              <Stat label={t("uptime")} value={uptime} />
              <Stat label={t("db_size")} value={fmtBytes(h.database.bytes)} testId="system-db-size" />
              <Stat label={t("memory")} value={fmtBytes(h.memory.rss_bytes)} />
              <Stat label={t("log_rows")} value={fmtInt(h.request_log.rows)} sub={t("log_size", { size: fmtBytes(h.request_log.bytes_estimate) })} />
              <Stat label={t("providers_connected")} value={fmtInt(h.connected_providers)} sub={t("connections_count", { n: fmtInt(h.connections) })} />
            </div>
            <div className="data-dir">
              <span className="small muted">{t("data_dir")}</span>
              <div className="row key-secret-like">
                <code data-testid="system-data-dir">{h.data_dir}</code>
                <CopyButton text={h.data_dir} />
              </div>
            </div>
          </>
        ) : null}
      </Card>
      <Card title={t("reload_title")}>
        <p className="muted small">{t("reload_hint")}</p>
        <button type="button" disabled={reloading} onClick={() => void reloadConfig()} data-testid="settings-reload-config">
          {reloading ? t("reloading") : t("reload")}
        </button>
        {result && (
          <div className="alert ok" role="status" style={{ marginTop: 10 }}>
            {result}
          </div>
        )}
        {error && (
          <div style={{ marginTop: 10 }}>
            <ErrorBox error={error} />
          </div>
        )}
      </Card>
    </>
  );
}
