// Endpoint and CLI tools: the base URLs to copy, a key and a model to fill in, and for every
// supported coding tool the exact configuration to paste.
import { useMemo, useState } from "react";
import { useTranslation } from "react-i18next";
import { useApi } from "../api/hooks";
import { toolConfigs } from "../cliTools";
import { Badge, Card, CopyButton, Field, PageHead } from "../components/ui";
import { gatewayRoot } from "./Onboarding";

interface ModelList {
  data: { id: string }[];
}

export default function Endpoint() {
  const { t } = useTranslation("endpoint");
  const root = gatewayRoot();
  const models = useApi<ModelList>("/v1/models");
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
          </Card>
        ))}
      </div>
    </>
  );
}
