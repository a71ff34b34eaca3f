// Login, the forced password change, and the first-run notice for a browser on another machine.
import { useState, type FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { api, ApiError } from "../api/client";
import { useAuth, type LoginAnswer } from "../auth";
import { LanguageSelect, ThemeToggle } from "../components/Layout";
import { ErrorBox, Field } from "../components/ui";

function AuthFrame({ title, children }: { title: string; children: React.ReactNode }) {
  return (
    <div className="auth-wrap">
      <main className="card auth-card stack">
        <div className="row" style={{ justifyContent: "space-between" }}>
          <div className="brand" style={{ padding: 0 }}>
            <img src="/favicon.svg" alt="" width={24} height={24} />
            <span>OmniRoute</span>
          </div>
          <div className="row">
            <LanguageSelect />
            <ThemeToggle />
          </div>
        </div>
        <h1>{title}</h1>
        {children}
      </main>
    </div>
  );
}

export default function Login() {
  const { t } = useTranslation("auth");
  const { loggedIn } = useAuth();
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string>();
  const [pending, setPending] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setPending(true);
    setError(undefined);
    try {
      const a = await api.post<LoginAnswer>("/api/auth/login", { password }, { quiet401: true });
      await loggedIn(a);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) setError(t("wrong_password"));
      else if (err instanceof ApiError && err.status === 429) setError(t("locked_out"));
      else setError(err instanceof Error ? err.message : String(err));
    } finally {
      setPending(false);
    }
  };

  return (
    <AuthFrame title={t("login_title")}>
      <p className="muted">{t("login_hint")}</p>
      <form className="stack" onSubmit={(e) => void submit(e)}>
        <Field label={t("password")}>
          {(id) => (
            <input id={id} type="password" autoComplete="current-password" autoFocus required value={password} onChange={(e) => setPassword(e.target.value)} data-testid="login-password" />
          )}
        </Field>
        <ErrorBox error={error} />
        <button className="primary" type="submit" disabled={pending || !password} data-testid="login-submit">
          {pending ? t("logging_in") : t("login")}
        </button>
      </form>
    </AuthFrame>
  );
}

export function PasswordForm({ onDone, current, submitLabel }: { onDone: (a?: LoginAnswer) => void | Promise<void>; current: boolean; submitLabel: string }) {
  const { t } = useTranslation("auth");
  const [old, setOld] = useState("");
  const [pw, setPw] = useState("");
  const [again, setAgain] = useState("");
  const [error, setError] = useState<string>();
  const [pending, setPending] = useState(false);
  const tooShort = pw.length > 0 && pw.length < 8;
  const mismatch = again.length > 0 && pw !== again;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (pw.length < 8 || pw !== again) return;
    setPending(true);
    setError(undefined);
    try {
      if (current) {
        await api.post("/api/auth/password", { current_password: old, new_password: pw });
        await onDone();
      } else {
        const a = await api.post<LoginAnswer>("/api/auth/setup", { password: pw }, { quiet401: true });
        await onDone(a);
      }
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setPending(false);
    }
  };

  return (
    <form className="stack" onSubmit={(e) => void submit(e)}>
      {current && (
        <Field label={t("current_password")}>
          {(id) => <input id={id} type="password" autoComplete="current-password" required value={old} onChange={(e) => setOld(e.target.value)} data-testid="current-password" />}
        </Field>
      )}
      <Field label={t("new_password")} hint={t("password_rules")}>
        {(id) => (
          <input id={id} type="password" autoComplete="new-password" required minLength={8} value={pw} onChange={(e) => setPw(e.target.value)} aria-invalid={tooShort} data-testid="new-password" />
        )}
      </Field>
      <Field label={t("repeat_password")}>
        {(id) => (
          <input id={id} type="password" autoComplete="new-password" required value={again} onChange={(e) => setAgain(e.target.value)} aria-invalid={mismatch} data-testid="repeat-password" />
        )}
      </Field>
      {tooShort && <div className="alert warn">{t("too_short")}</div>}
      {mismatch && <div className="alert warn">{t("mismatch")}</div>}
      <ErrorBox error={error} />
      <button className="primary" type="submit" disabled={pending || pw.length < 8 || pw !== again} data-testid="password-submit">
        {submitLabel}
      </button>
    </form>
  );
}

export function ChangePassword({ forced }: { forced?: boolean }) {
  const { t } = useTranslation("auth");
  const { refresh } = useAuth();
  return (
    <AuthFrame title={t("change_title")}>
      {forced && <p className="muted">{t("change_forced")}</p>}
      <PasswordForm current onDone={() => refresh()} submitLabel={t("change_submit")} />
    </AuthFrame>
  );
}

export function SetupElsewhere() {
  const { t } = useTranslation("auth");
  return (
    <AuthFrame title={t("setup_elsewhere_title")}>
      <p>{t("setup_elsewhere")}</p>
      <pre tabIndex={0}>INITIAL_PASSWORD=… omniroute</pre>
    </AuthFrame>
  );
}
