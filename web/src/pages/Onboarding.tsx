// The first-run wizard: 1 set the password, 2 connect a first provider (tested), 3 create a
// gateway key, 4 configure a CLI tool. Steps 2–4 can be skipped and revisited from the pages.
import { useMemo, useState } from "react";
import { useNavigate } from "react-router";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import type { CreatedKey } from "../api/types";
import { useAuth } from "../auth";
import { toolConfigs } from "../cliTools";
import ConnectForm from "../components/ConnectForm";
import { LanguageSelect, ThemeToggle } from "../components/Layout";
import { CopyButton, ErrorBox, Field } from "../components/ui";
import { PasswordForm } from "./Login";

export function gatewayRoot(): string {
  return window.location.origin;
}

export default function Onboarding({ firstRun }: { firstRun?: boolean }) {
  const { t } = useTranslation("auth");
  const { loggedIn } = useAuth();
  const navigate = useNavigate();
  const [step, setStep] = useState(firstRun ? 1 : 2);
  const [connected, setConnected] = useState<string>();
  const [key, setKey] = useState<CreatedKey>();
  const [keyName, setKeyName] = useState("my laptop");
  const [keyError, setKeyError] = useState<Error>();
  const [tool, setTool] = useState("claude-code");
  const steps = [t("step_password"), t("step_provider"), t("step_key"), t("step_tool")];
  const configs = useMemo(() => toolConfigs({ root: gatewayRoot(), key: key?.key ?? "", model: "" }), [key]);
  const chosen = configs.find((c) => c.id === tool) ?? configs[0];

  const createKey = async () => {
    setKeyError(undefined);
    try {
      setKey(await api.post<CreatedKey>("/api/keys", { name: keyName.trim() || "default" }));
    } catch (e) {
      setKeyError(e instanceof Error ? e : new Error(String(e)));
    }
  };

  return (
    <div className="auth-wrap">
      <main className="card stack" style={{ width: "min(760px, 100%)" }}>
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
        <h1>{t("welcome")}</h1>
        <ol className="steps" aria-label={t("steps_label")}>
          {steps.map((s, i) => (
            <li key={s} className={i + 1 === step ? "current" : i + 1 < step ? "done" : ""} aria-current={i + 1 === step ? "step" : undefined}>
              <span className="n">{i + 1}</span>
              {s}
            </li>
          ))}
        </ol>

        {step === 1 && (
          <section className="stack" data-testid="onboarding-step-1">
            <p className="muted">{t("password_intro")}</p>
            <PasswordForm
              current={false}
              submitLabel={t("set_password")}
              onDone={async (a) => {
                navigate("/onboarding");
                if (a) await loggedIn(a);
              }}
            />
          </section>
        )}

        {step === 2 && (
          <section className="stack" data-testid="onboarding-step-2">
            <p className="muted">{t("provider_intro")}</p>
            {connected ? (
              <div className="alert ok" role="status">
                {t("provider_done")}
              </div>
            ) : (
              <ConnectForm onSaved={(id) => setConnected(id)} />
            )}
            <div className="row end">
              <button type="button" onClick={() => setStep(3)} data-testid="onboarding-next">
                {connected ? t("next") : t("skip")}
              </button>
            </div>
          </section>
        )}

        {step === 3 && (
          <section className="stack" data-testid="onboarding-step-3">
            <p className="muted">{t("key_intro")}</p>
            {key ? (
              <div className="stack">
                <div className="alert warn">{t("key_once")}</div>
                <div className="row">
                  <code data-testid="created-key" style={{ wordBreak: "break-all" }}>
                    {key.key}
                  </code>
                  <CopyButton text={key.key} />
                </div>
              </div>
            ) : (
              <div className="row" style={{ alignItems: "flex-end" }}>
                <Field label={t("key_name")}>
                  {(id) => <input id={id} value={keyName} onChange={(e) => setKeyName(e.target.value)} data-testid="key-name" />}
                </Field>
                <button type="button" className="primary" onClick={() => void createKey()} data-testid="create-key">
                  {t("create_key")}
                </button>
              </div>
            )}
            <ErrorBox error={keyError} />
            <div className="row end">
              <button type="button" onClick={() => setStep(4)} data-testid="onboarding-next">
                {key ? t("next") : t("skip")}
              </button>
            </div>
          </section>
        )}

        {step === 4 && (
          <section className="stack" data-testid="onboarding-step-4">
            <p className="muted">{t("tool_intro")}</p>
            <Field label={t("tool")}>
              {(id) => (
                <select id={id} value={tool} onChange={(e) => setTool(e.target.value)} data-testid="tool-select">
                  {configs.map((c) => (
                    <option key={c.id} value={c.id}>
                      {c.name}
                    </option>
                  ))}
                </select>
              )}
            </Field>
            <div className="row" style={{ justifyContent: "space-between" }}>
              <code>{chosen.target}</code>
              <CopyButton text={chosen.content} />
            </div>
            <pre tabIndex={0} data-testid="tool-config">{chosen.content}</pre>
            <p className="small muted">{t("tool_more")}</p>
            <div className="row end">
              <button type="button" className="primary" onClick={() => navigate("/")} data-testid="onboarding-finish">
                {t("finish")}
              </button>
            </div>
          </section>
        )}
      </main>
    </div>
  );
}

