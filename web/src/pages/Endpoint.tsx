// Endpoint and CLI tools: the base URLs to copy, a key and a model to fill in, and for every
// supported coding tool the exact configuration to paste.
import { useMemo, useState } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import { useApi } from "../api/hooks";
import type { Applied } from "../api/gen/Applied";
import { toolConfigs } from "../cliTools";
import { Badge, Card, CopyButton, Field, PageHead } from "../components/ui";
import { gatewayRoot } from "./Onboarding";

interface ModelList {
  data: { id: string }[];
}

type CliTools = import("../api/gen/CliToolsView").CliToolsView;


/** "Write it for me": only when the dashboard runs on the gateway's machine. */
function WriteButton({ tool, info, keyValue, model, onDone }: { tool: string; info: CliTools["tools"][number]; keyValue: string; model: string; onDone: () => void }) {
  const { t } = useTranslation("endpoint");
  const [result, setResult] = useState<Applied>();
  const [error, setError] = useState<string>();
  const [pending, setPending] = useState(false);
  const write = async () => {
    if (info.exists && !window.confirm(t("write_confirm", { path: info.path }))) return;
    setPending(true);
    setError(undefined);
    try {
      setResult(await api.post<Applied>(`/api/cli-tools/${encodeURIComponent(tool)}/apply`, { key: keyValue, model }));
      onDone();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setPending(false);
    }
  };
  return (
    <div className="stack" style={{ gap: 6, marginTop: 8 }}>
      <div className="row">
        <button className="small" disabled={pending || !keyValue} onClick={() => void write()} data-testid={`write-${tool}`} title={!keyValue ? t("write_needs_key") : undefined}>
          {t("write", { path: info.path })}
        </button>
        {!keyValue && <span className="small muted">{t("write_needs_key")}</span>}
      </div>
      {result && (
        <div className="alert ok small" role="status" data-testid={`written-${tool}`}>
          {t("written", { path: result.path })}
          {result.backup && <> {t("backup", { path: result.backup })}</>}
        </div>
      )}
      {error && (
        <div className="alert err small" role="alert">
          {error}
        </div>
      )}
    </div>
  );
}

export default function Endpoint() {
  const { t } = useTranslation("endpoint");
  const root = gatewayRoot();
  const models = useApi<ModelList>("/v1/models");
  const cli = useApi<CliTools>("/api/cli-tools");
  const [key, setKey] = useState("");
  const [model, setModel] = useState("");
  const configs = useMemo(() => toolConfigs({ root, key, model }), [root, key, model]);
  const urls = [
    { label: t("openai_url"), value: `${root}/v1` },
    { label: t("anthropic_url"), value: root },
    { label: t("gemini_url"), value: root },
    { label: t("responses_url"), value: `${root}/v1/responses` },
  ];

  return (
    <>
      <PageHead title={t("title")} subtitle={t("subtitle")} />
      <Card title={t("urls")}>
        <div className="table-wrap" tabIndex={0}>
          <table>
            <tbody>
              {urls.map((u) => (
                <tr key={u.label}>
                  <th scope="row">{u.label}</th>
                  <td>
                    <code>{u.value}</code>
                  </td>
                  <td className="right">
                    <CopyButton text={u.value} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </Card>
      <Card title={t("fill_in")}>
        {cli.data && !cli.data.local && <p className="small muted">{t("remote_note")}</p>}
        <div className="form-grid">
          <Field label={t("key")} hint={t("key_hint")}>
            {(id) => <input id={id} type="password" autoComplete="off" value={key} onChange={(e) => setKey(e.target.value)} data-testid="endpoint-key" />}
          </Field>
          <Field label={t("model")} hint={t("model_hint")}>
            {(id) => (
              <>
                <input id={id} list={`${id}-list`} value={model} onChange={(e) => setModel(e.target.value)} data-testid="endpoint-model" />
                <datalist id={`${id}-list`}>
                  {models.data?.data.map((m) => (
                    <option key={m.id} value={m.id} />
                  ))}
                </datalist>
              </>
            )}
          </Field>
        </div>
      </Card>
      <div className="grid cols-2" style={{ marginTop: 16 }}>
        {configs.map((c) => (
          <Card
            key={c.id}
            title={c.name}
            actions={
              <>
                <Badge kind={c.kind === "file" ? "accent" : undefined}>{c.kind === "file" ? t("kind_file") : t("kind_ui")}</Badge>
                <CopyButton text={c.content} />
              </>
            }
          >
            <p className="small muted">
              {c.kind === "file" ? t("put_in") : t("paste_in")} <code>{c.target}</code>
            </p>
            <pre tabIndex={0} data-testid={`tool-${c.id}`}>{c.content}</pre>
            {(() => {
              const info = cli.data?.tools.find((x) => x.id === c.id);
              return cli.data?.local && info ? <WriteButton tool={c.id} info={info} keyValue={key} model={model} onDone={cli.reload} /> : null;
            })()}
          </Card>
        ))}
      </div>
    </>
  );
}
