// Connect an API-key provider: pick it from the catalog (searchable), give the key and an
// optional base URL, test the credentials before saving, then save the connection.
import { useMemo, useState, type FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import { useApi } from "../api/hooks";
import type { ProviderInfo, TestResult } from "../api/types";
import { ErrorBox, Field, Spinner } from "./ui";

export function TestBadge({ result }: { result: TestResult | undefined }) {
  const { t } = useTranslation("providers");
  if (!result) return null;
  return result.ok ? (
    <div className="alert ok" role="status" data-testid="test-ok">
      {t("test_ok", { ms: result.latency_ms })}
      {typeof result.models === "number" ? ` · ${t("test_models", { count: result.models })}` : ""}
    </div>
  ) : (
    <div className="alert err" role="alert" data-testid="test-failed">
      {t("test_failed", { error: result.error ?? result.status ?? "?" })}
    </div>
  );
}

export default function ConnectForm({ onSaved, initialProvider }: { onSaved: (id: string) => void; initialProvider?: string }) {
  const { t } = useTranslation("providers");
  const providers = useApi<{ providers: ProviderInfo[] }>("/api/providers");
  const [search, setSearch] = useState("");
  const [provider, setProvider] = useState(initialProvider ?? "");
  const [name, setName] = useState("default");
  const [key, setKey] = useState("");
  const [baseUrl, setBaseUrl] = useState("");
  const [test, setTest] = useState<TestResult>();
  const [testing, setTesting] = useState(false);
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<Error>();

  const list = useMemo(() => {
    const q = search.trim().toLowerCase();
    const all = (providers.data?.providers ?? []).filter((p) => p.auth !== "none" || p.custom);
    return q ? all.filter((p) => `${p.id} ${p.alias} ${p.name}`.toLowerCase().includes(q)) : all;
  }, [providers.data, search]);
  const chosen = providers.data?.providers.find((p) => p.id === provider);

  const body = () => ({
    provider,
    name: name.trim() || "default",
    api_key: key || undefined,
    base_url: baseUrl.trim() || undefined,
  });

  const runTest = async () => {
    setTesting(true);
    setTest(undefined);
    setError(undefined);
    try {
      const { provider: p, api_key, base_url } = body();
      setTest(await api.post<TestResult>("/api/connections/test", { provider: p, api_key, base_url }));
    } catch (e) {
      setError(e instanceof Error ? e : new Error(String(e)));
    } finally {
      setTesting(false);
    }
  };

  const save = async (e: FormEvent) => {
    e.preventDefault();
    setSaving(true);
    setError(undefined);
    try {
      const c = await api.post<import("../api/gen/ConnectionView").ConnectionView>("/api/connections", body());
      onSaved(c.id);
    } catch (err) {
      setError(err instanceof Error ? err : new Error(String(err)));
    } finally {
      setSaving(false);
    }
  };

  if (providers.loading) return <Spinner />;
  return (
    <form className="stack" onSubmit={(e) => void save(e)}>
      <ErrorBox error={providers.error} onRetry={providers.reload} />
      <div className="form-grid">
        <Field label={t("search_catalog")}>
          {(id) => <input id={id} type="search" value={search} onChange={(e) => setSearch(e.target.value)} placeholder={t("search_placeholder")} data-testid="provider-search" />}
        </Field>
        <Field label={t("provider")}>
          {(id) => (
            <select id={id} required value={provider} onChange={(e) => { setProvider(e.target.value); setTest(undefined); }} data-testid="provider-select">
              <option value="">{t("choose_provider")}</option>
              {list.map((p) => (
                <option key={p.id} value={p.id}>
                  {p.name} ({p.alias})
                </option>
              ))}
            </select>
          )}
        </Field>
      </div>
      {chosen && (
        <p className="small muted">
          {t("provider_line", { format: chosen.format, url: chosen.base_url })}
          {chosen.website && (
            <>
              {" · "}
              <a href={chosen.website} target="_blank" rel="noreferrer">
                {t("get_key")}
              </a>
            </>
          )}
        </p>
      )}
      <div className="form-grid">
        <Field label={t("connection_name")}>
          {(id) => <input id={id} value={name} onChange={(e) => setName(e.target.value)} data-testid="connection-name" />}
        </Field>
        <Field label={t("api_key")}>
          {(id) => (
            <input id={id} type="password" autoComplete="off" value={key} onChange={(e) => { setKey(e.target.value); setTest(undefined); }} data-testid="connection-key" />
          )}
        </Field>
      </div>
      <Field label={t("base_url")} hint={t("base_url_hint")}>
        {(id) => (
          <input id={id} type="url" value={baseUrl} placeholder={chosen?.base_url} onChange={(e) => { setBaseUrl(e.target.value); setTest(undefined); }} data-testid="connection-base-url" />
        )}
      </Field>
      <TestBadge result={test} />
      <ErrorBox error={error} />
      <div className="row end">
        <button type="button" onClick={() => void runTest()} disabled={!provider || testing} data-testid="connection-test">
          {testing ? t("testing") : t("test")}
        </button>
        <button type="submit" className="primary" disabled={!provider || saving} data-testid="connection-save">
          {saving ? t("saving") : t("save")}
        </button>
      </div>
    </form>
  );
}
