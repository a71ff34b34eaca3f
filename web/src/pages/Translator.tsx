// Translator: the playground (a request or response in one format, shown in another, format
// detected), the chat tester (a real round trip: client request, translated request, raw
// upstream answer, translated answer), the test bench (cases × models with expected outputs)
// and the live monitor (requests as they flow).
import { useEffect, useMemo, useState } from "react";
import { Link } from "react-router";
import { useTranslation } from "react-i18next";
import { api, subscribe } from "../api/client";
import { useApi } from "../api/hooks";
import type { RequestEvent } from "../api/gen/RequestEvent";
import { Badge, Card, ErrorBox, Field, PageHead, Spinner, Tabs } from "../components/ui";
import { fmtMs, fmtTime, fmtUsd } from "../components/format";
import { statusKind } from "./Overview";

const FORMATS = ["openai", "anthropic", "gemini", "responses"] as const;
type Format = (typeof FORMATS)[number];

const SAMPLE = JSON.stringify(
  {
    model: "gpt-4o-mini",
    messages: [
      { role: "system", content: "You are terse." },
      { role: "user", content: "What is the weather in Paris?" },
    ],
    tools: [
      {
        type: "function",
        function: {
          name: "get_weather",
          description: "Current weather for a city",
          parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
        },
      },
    ],
    max_tokens: 256,
  },
  null,
  2,
);

type TranslateAnswer = import("../api/gen/TranslateAnswer").TranslateAnswer;


type ChatAnswer = import("../api/gen/ChatAnswer").ChatAnswer;

function pretty(v: unknown): string {
  if (typeof v === "string") {
    try {
      return JSON.stringify(JSON.parse(v), null, 2);
    } catch {
      return v;
    }
  }
  return JSON.stringify(v, null, 2);
}

/** The assistant's text from a client-format answer (for the bench and the tester summary). */
export function answerText(format: string, v: unknown): string {
  const o = v as Record<string, any>;
  try {
    if (format === "openai") return String(o.choices?.[0]?.message?.content ?? "");
    if (format === "anthropic") return (o.content ?? []).filter((b: any) => b.type === "text").map((b: any) => b.text).join("");
    if (format === "gemini") return (o.candidates?.[0]?.content?.parts ?? []).map((p: any) => p.text ?? "").join("");
    if (format === "responses")
      return (o.output ?? [])
        .flatMap((i: any) => i.content ?? [])
        .filter((c: any) => c.type === "output_text")
        .map((c: any) => c.text)
        .join("");
  } catch {
    return "";
  }
  return "";
}

function useModels() {
  const m = useApi<{ data: { id: string }[] }>("/v1/models");
  return m.data?.data.map((d) => d.id) ?? [];
}

function Playground() {
  const { t } = useTranslation("translator");
  const [input, setInput] = useState(SAMPLE);
  const [from, setFrom] = useState<"auto" | Format>("auto");
  const [to, setTo] = useState<Format>("anthropic");
  const [kind, setKind] = useState<"request" | "response">("request");
  const [out, setOut] = useState<TranslateAnswer>();
  const [error, setError] = useState<string>();
  const [pending, setPending] = useState(false);

  const run = async () => {
    setError(undefined);
    let body: unknown;
    try {
      body = JSON.parse(input);
    } catch (e) {
      setError(t("invalid_json", { error: e instanceof Error ? e.message : String(e) }));
      return;
    }
    setPending(true);
    try {
      setOut(await api.post<TranslateAnswer>("/api/translate", { from, to, kind, body }));
    } catch (e) {
      setOut(undefined);
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setPending(false);
    }
  };

  return (
    <div className="grid cols-2">
      <Card title={t("input")}>
        <div className="form-grid" style={{ marginBottom: 10 }}>
          <Field label={t("kind")}>
            {(id) => (
              <select id={id} value={kind} onChange={(e) => setKind(e.target.value as "request" | "response")}>
                <option value="request">{t("kind_request")}</option>
                <option value="response">{t("kind_response")}</option>
              </select>
            )}
          </Field>
          <Field label={t("from")}>
            {(id) => (
              <select id={id} value={from} onChange={(e) => setFrom(e.target.value as "auto" | Format)} data-testid="playground-from">
                <option value="auto">{t("auto")}</option>
                {FORMATS.map((f) => (
                  <option key={f} value={f}>
                    {t(`format_${f}`)}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field label={t("to")}>
            {(id) => (
              <select id={id} value={to} onChange={(e) => setTo(e.target.value as Format)} data-testid="playground-to">
                {FORMATS.map((f) => (
                  <option key={f} value={f}>
                    {t(`format_${f}`)}
                  </option>
                ))}
              </select>
            )}
          </Field>
        </div>
        <Field label={t("body")} hint={t("run_hint")}>
          {(id) => (
            <textarea
              id={id}
              rows={18}
              value={input}
              spellCheck={false}
              onChange={(e) => setInput(e.target.value)}
              onKeyDown={(e) => {
                if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) void run();
              }}
              data-testid="playground-input"
            />
          )}
        </Field>
        <div className="row end" style={{ marginTop: 10 }}>
          <button className="primary" onClick={() => void run()} disabled={pending} data-testid="playground-run">
            {t("translate")}
          </button>
        </div>
      </Card>
      <Card title={t("output")}>
        <ErrorBox error={error} />
        {out ? (
          <div className="stack">
            <div className="row">
              <Badge kind="accent">{t(`format_${out.from}`)}</Badge>
              {out.detected && <span className="small muted">{t("detected")}</span>}
              <span aria-hidden="true">→</span>
              <Badge kind="accent">{t(`format_${out.to}`)}</Badge>
            </div>
            {(out.warnings?.length ?? 0) > 0 && (
              <div className="alert warn">
                <strong>{t("warnings")}</strong>
                <ul style={{ margin: "4px 0 0", paddingInlineStart: 18 }}>
                  {out.warnings?.map((w) => (
                    <li key={w}>{w}</li>
                  ))}
                </ul>
              </div>
            )}
            <pre tabIndex={0} data-testid="playground-output">{pretty(out.body)}</pre>
          </div>
        ) : (
          !error && <p className="muted">{t("output_empty")}</p>
        )}
      </Card>
    </div>
  );
}

function ChatTester() {
  const { t } = useTranslation("translator");
  const models = useModels();
  const [format, setFormat] = useState<Format>("openai");
  const [model, setModel] = useState("");
  const [prompt, setPrompt] = useState("Say hello in one short sentence.");
  const [out, setOut] = useState<ChatAnswer>();
  const [error, setError] = useState<string>();
  const [pending, setPending] = useState(false);
  useEffect(() => {
    if (!model && models.length) setModel(models[0]);
  }, [models, model]);

  const send = async () => {
    setPending(true);
    setError(undefined);
    try {
      setOut(await api.post<ChatAnswer>("/api/translator/chat", { format, model, prompt }));
    } catch (e) {
      setOut(undefined);
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setPending(false);
    }
  };
  const last = out?.attempts[out.attempts.length - 1];
  const text = out ? answerText(out.format, out.response) : "";

  return (
    <div className="stack">
      <Card>
        <div className="form-grid">
          <Field label={t("client_format")}>
            {(id) => (
              <select id={id} value={format} onChange={(e) => setFormat(e.target.value as Format)} data-testid="chat-format">
                {FORMATS.map((f) => (
                  <option key={f} value={f}>
                    {t(`format_${f}`)}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field label={t("model")} hint={t("model_hint")}>
            {(id) => (
              <>
                <input id={id} list={`${id}-models`} value={model} onChange={(e) => setModel(e.target.value)} data-testid="chat-model" />
                <datalist id={`${id}-models`}>
                  {models.map((m) => (
                    <option key={m} value={m} />
                  ))}
                </datalist>
              </>
            )}
          </Field>
        </div>
        <div style={{ marginTop: 10 }}>
          <Field label={t("prompt")}>
            {(id) => <textarea id={id} rows={3} value={prompt} onChange={(e) => setPrompt(e.target.value)} data-testid="chat-prompt" />}
          </Field>
        </div>
        <div className="row end" style={{ marginTop: 10 }}>
          <button className="primary" disabled={pending || !model} onClick={() => void send()} data-testid="chat-send">
            {pending ? t("sending") : t("send")}
          </button>
        </div>
      </Card>
      <ErrorBox error={error} />
      {pending && <Spinner />}
      {out && (
        <>
          <Card>
            <div className="row" data-testid="chat-summary">
              <Badge kind={statusKind(out.status)}>{out.status}</Badge>
              <span>{fmtMs(out.latency_ms)}</span>
              {last && (
                <span className="mono small">
                  {last.provider} · {last.model} ({last.format})
                </span>
              )}
              <span className="small muted">
                {t("attempts", { count: out.attempts.length })} ·{" "}
                <Link to={`/logs?search=${encodeURIComponent(out.request_id)}`}>{out.request_id}</Link>
              </span>
            </div>
            {text && (
              <p style={{ marginTop: 10 }} data-testid="chat-answer">
                {text}
              </p>
            )}
          </Card>
          <div className="grid cols-2">
            <Card title={t("client_request")}>
              <pre tabIndex={0}>{pretty(out.client_request)}</pre>
            </Card>
            <Card title={t("translated_request")}>
              {out.attempts.length === 0 ? (
                <p className="muted">{t("no_attempt")}</p>
              ) : (
                out.attempts.map((a, i) => (
                  <div key={i} className="stack" style={{ marginBottom: 10 }}>
                    <div className="small mono">
                      POST {a.url} {a.status !== null && <Badge kind={statusKind(a.status)}>{a.status}</Badge>}
                    </div>
                    <pre tabIndex={0} data-testid="chat-upstream-request">{pretty(a.request)}</pre>
                  </div>
                ))
              )}
            </Card>
            <Card title={t("upstream_response")}>
              <pre tabIndex={0} data-testid="chat-upstream-response">{last?.response ? pretty(last.response) : t("none_recorded")}</pre>
            </Card>
            <Card title={t("client_response")}>
              <pre tabIndex={0} data-testid="chat-client-response">{pretty(out.response)}</pre>
            </Card>
          </div>
        </>
      )}
    </div>
  );
}

interface BenchCase {
  prompt: string;
  expect: string;
}

interface BenchResult {
  ok: boolean;
  text: string;
  status: number;
  ms: number;
}

function TestBench() {
  const { t } = useTranslation("translator");
  const models = useModels();
  const [cases, setCases] = useState<BenchCase[]>([
    { prompt: "What is 2 + 2? Answer with the number only.", expect: "4" },
    { prompt: "What is the capital of France? One word.", expect: "Paris" },
  ]);
  const [chosen, setChosen] = useState("");
  const [format, setFormat] = useState<Format>("openai");
  const [results, setResults] = useState<Record<string, BenchResult>>({});
  const [running, setRunning] = useState(false);
  const list = useMemo(
    () =>
      chosen
        .split(/[,\n]/)
        .map((s) => s.trim())
        .filter(Boolean),
    [chosen],
  );
  useEffect(() => {
    if (!chosen && models.length) setChosen(models.slice(0, 2).join(", "));
  }, [models, chosen]);

  const run = async () => {
    setRunning(true);
    setResults({});
    for (const m of list) {
      for (let i = 0; i < cases.length; i++) {
        const c = cases[i];
        const started = performance.now();
        let r: BenchResult;
        try {
          const a = await api.post<ChatAnswer>("/api/translator/chat", { format, model: m, prompt: c.prompt });
          const text = answerText(a.format, a.response);
          r = { ok: a.status < 400 && text.toLowerCase().includes(c.expect.toLowerCase()), text: text || pretty(a.response), status: a.status, ms: a.latency_ms };
        } catch (e) {
          r = { ok: false, text: e instanceof Error ? e.message : String(e), status: 0, ms: performance.now() - started };
        }
        setResults((prev) => ({ ...prev, [`${m}|${i}`]: r }));
      }
    }
    setRunning(false);
  };

  return (
    <div className="stack">
      <Card title={t("bench_cases")}>
        <div className="stack">
          {cases.map((c, i) => (
            <div key={i} className="row" style={{ alignItems: "flex-end" }}>
              <div style={{ flex: 3, minWidth: 200 }}>
                <Field label={t("case_prompt", { n: i + 1 })}>
                  {(id) => <input id={id} value={c.prompt} onChange={(e) => setCases(cases.map((x, j) => (j === i ? { ...x, prompt: e.target.value } : x)))} />}
                </Field>
              </div>
              <div style={{ flex: 1, minWidth: 120 }}>
                <Field label={t("case_expect")}>
                  {(id) => <input id={id} value={c.expect} onChange={(e) => setCases(cases.map((x, j) => (j === i ? { ...x, expect: e.target.value } : x)))} />}
                </Field>
              </div>
              <button className="small danger" onClick={() => setCases(cases.filter((_, j) => j !== i))} aria-label={t("remove_case", { n: i + 1 })}>
                ✕
              </button>
            </div>
          ))}
          <div className="row">
            <button onClick={() => setCases([...cases, { prompt: "", expect: "" }])}>{t("add_case")}</button>
          </div>
          <div className="form-grid">
            <Field label={t("bench_models")} hint={t("bench_models_hint")}>
              {(id) => <input id={id} value={chosen} onChange={(e) => setChosen(e.target.value)} data-testid="bench-models" />}
            </Field>
            <Field label={t("client_format")}>
              {(id) => (
                <select id={id} value={format} onChange={(e) => setFormat(e.target.value as Format)}>
                  {FORMATS.map((f) => (
                    <option key={f} value={f}>
                      {t(`format_${f}`)}
                    </option>
                  ))}
                </select>
              )}
            </Field>
          </div>
          <div className="row end">
            <button className="primary" disabled={running || list.length === 0 || cases.length === 0} onClick={() => void run()} data-testid="bench-run">
              {running ? t("running") : t("run_bench")}
            </button>
          </div>
        </div>
      </Card>
      {Object.keys(results).length > 0 && (
        <Card title={t("bench_results")}>
          <div className="table-wrap" tabIndex={0}>
            <table data-testid="bench-results">
              <thead>
                <tr>
                  <th>{t("case")}</th>
                  {list.map((m) => (
                    <th key={m} className="mono">
                      {m}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {cases.map((c, i) => (
                  <tr key={i}>
                    <td>{c.prompt}</td>
                    {list.map((m) => {
                      const r = results[`${m}|${i}`];
                      return (
                        <td key={m}>
                          {r ? (
                            <div className="stack" style={{ gap: 4 }}>
                              <Badge kind={r.ok ? "ok" : "err"}>{r.ok ? t("pass") : t("fail")}</Badge>
                              <span className="small muted">{r.text.slice(0, 160)}</span>
                              <span className="small muted">{fmtMs(r.ms)}</span>
                            </div>
                          ) : (
                            <span className="muted">…</span>
                          )}
                        </td>
                      );
                    })}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </Card>
      )}
    </div>
  );
}

function LiveMonitor() {
  const { t } = useTranslation("translator");
  const [events, setEvents] = useState<RequestEvent[]>([]);
  const [paused, setPaused] = useState(false);
  const [connected, setConnected] = useState(true);
  useEffect(() => {
    if (paused) return;
    const close = subscribe<RequestEvent>(
      "/api/live/requests",
      (_name, ev) => {
        setConnected(true);
        setEvents((prev) => {
          // a finish replaces its start
          const rest = prev.filter((p) => p.request_id !== ev.request_id);
          return [ev, ...rest].slice(0, 200);
        });
      },
      () => setConnected(false),
    );
    return close;
  }, [paused]);

  return (
    <Card
      title={t("live_title")}
      actions={
        <>
          <Badge kind={paused ? "warn" : connected ? "ok" : "err"}>{paused ? t("paused") : connected ? t("live") : t("reconnecting")}</Badge>
          <button className="small" onClick={() => setPaused(!paused)}>
            {paused ? t("resume") : t("pause")}
          </button>
          <button className="small" onClick={() => setEvents([])}>
            {t("clear")}
          </button>
        </>
      }
    >
      {events.length === 0 ? (
        <p className="muted">{t("live_empty")}</p>
      ) : (
        <div className="table-wrap" tabIndex={0}>
          <table data-testid="live-monitor">
            <thead>
              <tr>
                <th>{t("time")}</th>
                <th>{t("model")}</th>
                <th>{t("provider")}</th>
                <th>{t("status")}</th>
                <th className="num">{t("latency")}</th>
                <th className="num">{t("cost")}</th>
              </tr>
            </thead>
            <tbody>
              {events.map((e) => (
                <tr key={e.request_id}>
                  <td className="small">{fmtTime(e.ts)}</td>
                  <td className="mono">{e.model ?? "—"}</td>
                  <td>{e.provider ?? "—"}</td>
                  <td>{e.status == null ? <Badge kind="accent">{t("in_flight")}</Badge> : <Badge kind={statusKind(e.status)}>{e.status}</Badge>}</td>
                  <td className="num">{fmtMs(e.latency_ms)}</td>
                  <td className="num">{e.cost_usd == null ? "—" : fmtUsd(e.cost_usd)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  );
}

type Tab = "playground" | "chat" | "bench" | "live";

export default function Translator() {
  const { t } = useTranslation("translator");
  const [tab, setTab] = useState<Tab>("playground");
  return (
    <>
      <PageHead title={t("title")} subtitle={t("subtitle")} />
      <Tabs<Tab>
        label={t("title")}
        value={tab}
        onChange={setTab}
        tabs={[
          { id: "playground", label: t("tab_playground") },
          { id: "chat", label: t("tab_chat") },
          { id: "bench", label: t("tab_bench") },
          { id: "live", label: t("tab_live") },
        ]}
      />
      {tab === "playground" && <Playground />}
      {tab === "chat" && <ChatTester />}
      {tab === "bench" && <TestBench />}
      {tab === "live" && <LiveMonitor />}
    </>
  );
}
