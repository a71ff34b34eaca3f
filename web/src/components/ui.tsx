// Shared building blocks of every page: cards, stat cards, fields, dialogs, tables with paging,
// empty and error states, copy buttons, tabs.
import { useEffect, useId, useRef, useState, type ReactNode } from "react";
import { useTranslation } from "react-i18next";

export function PageHead({ title, subtitle, actions }: { title: string; subtitle?: string; actions?: ReactNode }) {
  return (
    <div className="page-head">
      <div>
        <h1>{title}</h1>
        {subtitle && <p>{subtitle}</p>}
      </div>
      {actions && <div className="row">{actions}</div>}
    </div>
  );
}

export function Card({ title, actions, children, className }: { title?: string; actions?: ReactNode; children: ReactNode; className?: string }) {
  return (
    <section className={`card ${className ?? ""}`} aria-label={title}>
      {(title || actions) && (
        <div className="row" style={{ justifyContent: "space-between", marginBottom: 10 }}>
          {title && <h2 style={{ margin: 0 }}>{title}</h2>}
          {actions && <div className="row">{actions}</div>}
        </div>
      )}
      {children}
    </section>
  );
}

export function Stat({ label, value, sub, testId }: { label: string; value: ReactNode; sub?: ReactNode; testId?: string }) {
  return (
    <div className="card stat" data-testid={testId}>
      <div className="label">{label}</div>
      <div className="value">{value}</div>
      {sub && <div className="sub">{sub}</div>}
    </div>
  );
}

export function Spinner({ label }: { label?: string }) {
  const { t } = useTranslation();
  return (
    <span role="status" className="row muted">
      <span className="spinner" aria-hidden="true" />
      <span>{label ?? t("loading")}</span>
    </span>
  );
}

export function ErrorBox({ error, onRetry }: { error: Error | string | undefined | null; onRetry?: () => void }) {
  const { t } = useTranslation();
  if (!error) return null;
  const msg = typeof error === "string" ? error : error.message;
  return (
    <div className="alert err" role="alert">
      <span>{msg}</span>
      {onRetry && (
        <button className="small" style={{ marginInlineStart: 8 }} onClick={onRetry}>
          {t("retry")}
        </button>
      )}
    </div>
  );
}

export function Empty({ title, hint, action }: { title: string; hint?: string; action?: ReactNode }) {
  return (
    <div className="empty">
      <h3>{title}</h3>
      {hint && <p>{hint}</p>}
      {action}
    </div>
  );
}

export function Field({ label, hint, children }: { label: string; hint?: string; children: (id: string) => ReactNode }) {
  const id = useId();
  return (
    <label className="field" htmlFor={id}>
      <span>{label}</span>
      {children(id)}
      {hint && <small className="hint">{hint}</small>}
    </label>
  );
}

export function Toggle({ checked, onChange, label, disabled }: { checked: boolean; onChange: (v: boolean) => void; label: string; disabled?: boolean }) {
  return (
    <label className="check">
      <input type="checkbox" checked={checked} disabled={disabled} onChange={(e) => onChange(e.target.checked)} />
      <span>{label}</span>
    </label>
  );
}

export function Badge({ kind, children }: { kind?: "ok" | "warn" | "err" | "accent"; children: ReactNode }) {
  return <span className={`badge ${kind ?? ""}`}>{children}</span>;
}

export function CopyButton({ text, label }: { text: string; label?: string }) {
  const { t } = useTranslation();
  const [done, setDone] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // clipboard refused (no secure context): select-and-copy fallback
      const ta = document.createElement("textarea");
      ta.value = text;
      document.body.appendChild(ta);
      ta.select();
      document.execCommand("copy");
      ta.remove();
    }
    setDone(true);
    setTimeout(() => setDone(false), 1500);
  };
  return (
    <button type="button" className="small" onClick={() => void copy()} aria-label={label ?? t("copy")}>
      {done ? t("copied") : (label ?? t("copy"))}
    </button>
  );
}

export function Modal({ open, title, onClose, children, footer }: { open: boolean; title: string; onClose: () => void; children: ReactNode; footer?: ReactNode }) {
  const ref = useRef<HTMLDialogElement>(null);
  const { t } = useTranslation();
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);
  return (
    <dialog ref={ref} onClose={onClose} aria-label={title}>
      {open && (
        <>
          <div className="dialog-head">
            <h2 style={{ margin: 0 }}>{title}</h2>
            <button type="button" className="ghost" onClick={onClose} aria-label={t("close")}>
              ✕
            </button>
          </div>
          <div className="dialog-body">{children}</div>
          {footer && <div className="dialog-foot">{footer}</div>}
        </>
      )}
    </dialog>
  );
}

export function Tabs<T extends string>({ tabs, value, onChange, label }: { tabs: { id: T; label: string }[]; value: T; onChange: (v: T) => void; label: string }) {
  return (
    <div className="tabs" role="tablist" aria-label={label}>
      {tabs.map((tab) => (
        <button key={tab.id} role="tab" type="button" aria-selected={value === tab.id} onClick={() => onChange(tab.id)}>
          {tab.label}
        </button>
      ))}
    </div>
  );
}

/** Client-side paging for lists already in memory. */
export function usePaged<T>(items: T[] | undefined, size = 25) {
  const [page, setPage] = useState(0);
  const all = items ?? [];
  const pages = Math.max(1, Math.ceil(all.length / size));
  const current = Math.min(page, pages - 1);
  return { rows: all.slice(current * size, current * size + size), page: current, pages, setPage };
}

export function Pager({ page, pages, setPage }: { page: number; pages: number; setPage: (p: number) => void }) {
  const { t } = useTranslation();
  if (pages <= 1) return null;
  return (
    <nav className="pager" aria-label={t("pagination")}>
      <button className="small" disabled={page === 0} onClick={() => setPage(page - 1)}>
        {t("previous")}
      </button>
      <span className="small muted">{t("page_of", { page: page + 1, pages })}</span>
      <button className="small" disabled={page >= pages - 1} onClick={() => setPage(page + 1)}>
        {t("next")}
      </button>
    </nav>
  );
}

/** A horizontal meter. `neutral`: a share, not a limit (no warning colours near 100 %). */
export function Bar({ value, max, label, neutral }: { value: number; max: number; label: string; neutral?: boolean }) {
  const pct = max > 0 ? Math.min(100, (value / max) * 100) : 0;
  const kind = neutral ? "neutral" : pct >= 100 ? "err" : pct >= 80 ? "warn" : "";
  return (
    <div className={`bar ${kind}`} role="meter" aria-label={label} aria-valuemin={0} aria-valuemax={max} aria-valuenow={value}>
      <div style={{ width: `${pct}%` }} />
    </div>
  );
}
