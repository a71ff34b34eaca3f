// Evals: golden sets (the built-in ten plus your own), match strategies exact / contains /
// regex / custom (a predicate tree the gateway evaluates), runs against several models or
// combos side by side, and the kept results of earlier runs.
import { useEffect, useMemo, useState } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import { useApi } from "../api/hooks";
import type { EvalCase } from "../api/gen/EvalCase";
import type { EvalRun } from "../api/gen/EvalRun";
import type { EvalSet } from "../api/gen/EvalSet";
import type { Matcher } from "../api/gen/Matcher";
import { Badge, Card, Empty, ErrorBox, Field, Modal, PageHead, Spinner } from "../components/ui";
import { fmtMs, fmtPct, fmtTime } from "../components/format";

function expectText(m: Matcher): string {
  switch (m.strategy) {
    case "exact":
    case "contains":
      return m.value;
    case "regex":
      return m.pattern;
    case "custom":
      return JSON.stringify(m.predicate);
  }
}

function CaseEditor({ value, onChange, onRemove, index }: { value: EvalCase; onChange: (c: EvalCase) => void; onRemove: () => void; index: number }) {
  const { t } = useTranslation("evals");
  const [predicate, setPredicate] = useState(value.expect.strategy === "custom" ? JSON.stringify(value.expect.predicate, null, 1) : '{"all": [{"contains": "..."}]}');
  const [predError, setPredError] = useState<string>();
  const setStrategy = (s: Matcher["strategy"]) => {
    const text = value.expect.strategy === "custom" ? "" : expectText(value.expect);
    if (s === "exact" || s === "contains") onChange({ ...value, expect: { strategy: s, value: text } });
    else if (s === "regex") onChange({ ...value, expect: { strategy: "regex", pattern: text } });
    else {
      try {
        onChange({ ...value, expect: { strategy: "custom", predicate: JSON.parse(predicate) } });
      } catch {
        onChange({ ...value, expect: { strategy: "custom", predicate: { contains: text } } });
      }
    }
  };
  return (
    <fieldset className="card stack" style={{ boxShadow: "none" }}>
      <legend className="small muted">{t("case_n", { n: index + 1 })}</legend>
      <div className="form-grid">
        <Field label={t("case_id")}>{(id) => <input id={id} value={value.id} onChange={(e) => onChange({ ...value, id: e.target.value })} />}</Field>
        <Field label={t("case_name")}>{(id) => <input id={id} value={value.name} onChange={(e) => onChange({ ...value, name: e.target.value })} />}</Field>
        <Field label={t("strategy")}>
          {(id) => (
            <select id={id} value={value.expect.strategy} onChange={(e) => setStrategy(e.target.value as Matcher["strategy"])}>
              <option value="exact">{t("strategy_exact")}</option>
              <option value="contains">{t("strategy_contains")}</option>
              <option value="regex">{t("strategy_regex")}</option>
              <option value="custom">{t("strategy_custom")}</option>
            </select>
          )}
        </Field>
      </div>
      <Field label={t("input")}>{(id) => <textarea id={id} rows={2} value={value.input} onChange={(e) => onChange({ ...value, input: e.target.value })} />}</Field>
      {value.expect.strategy === "custom" ? (
        <Field label={t("predicate")} hint={t("predicate_hint")}>
          {(id) => (
            <>
              <textarea
                id={id}
                rows={3}
                value={predicate}
                onChange={(e) => {
                  setPredicate(e.target.value);
                  try {
                    onChange({ ...value, expect: { strategy: "custom", predicate: JSON.parse(e.target.value) } });
                    setPredError(undefined);
                  } catch (err) {
                    setPredError(err instanceof Error ? err.message : String(err));
                  }
                }}
              />
              {predError && <span className="small" style={{ color: "var(--err)" }}>{predError}</span>}
            </>
          )}
        </Field>
      ) : (
        <Field label={value.expect.strategy === "regex" ? t("pattern") : t("expected")}>
          {(id) => (
            <input
              id={id}
              value={expectText(value.expect)}
              onChange={(e) =>
                onChange({
                  ...value,
                  expect: value.expect.strategy === "regex" ? { strategy: "regex", pattern: e.target.value } : { strategy: value.expect.strategy as "exact" | "contains", value: e.target.value },
                })
              }
            />
          )}
        </Field>
      )}
      <div className="row end">
        <button className="small danger" onClick={onRemove}>
          {t("remove_case")}
        </button>
      </div>
    </fieldset>
  );
}

function SetEditor({ initial, onClose, onSaved }: { initial: EvalSet; onClose: () => void; onSaved: (s: EvalSet) => void }) {
  const { t } = useTranslation(["evals", "common"]);
  const [set, setSet] = useState<EvalSet>(initial);
  const [error, setError] = useState<string>();
  const [saving, setSaving] = useState(false);
  const save = async () => {
    setSaving(true);
    setError(undefined);
    try {
      const body = { name: set.name, description: set.description, cases: set.cases };
      const saved = set.id ? await api.put<EvalSet>(`/api/evals/sets/${encodeURIComponent(set.id)}`, body) : await api.post<EvalSet>("/api/evals/sets", body);
      onSaved(saved);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setSaving(false);
    }
  };
  return (
    <Modal
      open
      title={set.id ? t("edit_set") : t("new_set")}
      onClose={onClose}
      footer={
        <>
          <button onClick={onClose}>{t("common:cancel")}</button>
          <button className="primary" disabled={saving} onClick={() => void save()} data-testid="eval-set-save">
            {saving ? t("common:saving") : t("common:save")}
          </button>
        </>
      }
    >
      <Field label={t("set_name")}>{(id) => <input id={id} value={set.name} onChange={(e) => setSet({ ...set, name: e.target.value })} data-testid="eval-set-name" />}</Field>
      <Field label={t("description")}>{(id) => <input id={id} value={set.description} onChange={(e) => setSet({ ...set, description: e.target.value })} />}</Field>
      {set.cases.map((c, i) => (
        <CaseEditor
          key={i}
          index={i}
          value={c}
          onChange={(nc) => setSet({ ...set, cases: set.cases.map((x, j) => (j === i ? nc : x)) })}
          onRemove={() => setSet({ ...set, cases: set.cases.filter((_, j) => j !== i) })}
        />
      ))}
      <button
        onClick={() =>
          setSet({
            ...set,
            cases: [...set.cases, { id: `case-${set.cases.length + 1}`, name: "", input: "", expect: { strategy: "contains", value: "" } }],
          })
        }
      >
        {t("add_case")}
      </button>
      <ErrorBox error={error} />
    </Modal>
  );
}

function RunView({ run }: { run: EvalRun }) {
  const { t } = useTranslation("evals");
  const sets = useApi<{ sets: EvalSet[] }>("/api/evals/sets");
  const set = sets.data?.sets.find((s) => s.id === run.set_id);
  const caseIds = useMemo(() => {
    const ids = set?.cases.map((c) => c.id) ?? [];
    for (const r of run.results) if (!ids.includes(r.case_id)) ids.push(r.case_id);
    return ids;
  }, [set, run.results]);
  const cell = (caseId: string, target: string) => run.results.find((r) => r.case_id === caseId && r.target === target);
  const done = run.results.length;
  return (
    <Card
      title={t("run_title", { set: run.set_name, time: fmtTime(run.started_at) })}
      actions={run.status === "running" ? <Badge kind="accent">{t("running", { done, total: run.total })}</Badge> : <Badge kind="ok">{t("done")}</Badge>}
    >
      <div className="table-wrap" tabIndex={0}>
        <table data-testid="eval-results">
          <thead>
            <tr>
              <th>{t("case")}</th>
              {run.targets.map((tg) => (
                <th key={tg} className="mono">
                  {tg}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            <tr>
              <th scope="row">{t("score")}</th>
              {run.summary.map((s) => {
                const n = s.passed + s.failed + s.errors;
                return (
                  <td key={s.target}>
                    <strong>{n ? fmtPct(s.passed / n, 0) : "—"}</strong>{" "}
                    <span className="small muted">
                      {s.passed}/{n} · {fmtMs(s.avg_latency_ms)}
                    </span>
                  </td>
                );
              })}
            </tr>
            {caseIds.map((cid) => (
              <tr key={cid}>
                <td>{set?.cases.find((c) => c.id === cid)?.name || cid}</td>
                {run.targets.map((tg) => {
                  const r = cell(cid, tg);
                  return (
                    <td key={tg}>
                      {!r ? (
                        <span className="muted">…</span>
                      ) : (
                        <div className="stack" style={{ gap: 2 }}>
                          <Badge kind={r.error ? "warn" : r.passed ? "ok" : "err"}>{r.error ? t("error") : r.passed ? t("pass") : t("fail")}</Badge>
                          <span className="small muted" title={r.output || r.error}>
                            {(r.error ?? r.output).slice(0, 120)}
                          </span>
                        </div>
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
  );
}

export default function Evals() {
  const { t } = useTranslation(["evals", "common"]);
  const sets = useApi<{ sets: EvalSet[] }>("/api/evals/sets");
  const runs = useApi<{ runs: EvalRun[] }>("/api/evals/runs?limit=20");
  const models = useApi<{ data: { id: string }[] }>("/v1/models");
  const [setId, setSetId] = useState("builtin");
  const [targets, setTargets] = useState("");
  const [editing, setEditing] = useState<EvalSet>();
  const [current, setCurrent] = useState<EvalRun>();
  const [error, setError] = useState<string>();
  const chosen = sets.data?.sets.find((s) => s.id === setId);

  useEffect(() => {
    if (!targets && models.data?.data.length) setTargets(models.data.data.slice(0, 2).map((m) => m.id).join(", "));
  }, [models.data, targets]);

  // follow a running run until it is done
  useEffect(() => {
    if (!current || current.status !== "running") return;
    const id = setInterval(() => {
      api
        .get<EvalRun>(`/api/evals/runs/${encodeURIComponent(current.id)}`)
        .then((r) => {
          setCurrent(r);
          if (r.status !== "running") runs.reload();
        })
        .catch(() => {});
    }, 1000);
    return () => clearInterval(id);
  }, [current, runs]);

  const start = async () => {
    setError(undefined);
    try {
      const r = await api.post<EvalRun>("/api/evals/runs", {
        set_id: setId,
        targets: targets
          .split(/[,\n]/)
          .map((s) => s.trim())
          .filter(Boolean),
      });
      setCurrent(r);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };

  const remove = async (s: EvalSet) => {
    if (!window.confirm(t("common:confirm_delete", { name: s.name }))) return;
    try {
      await api.del(`/api/evals/sets/${encodeURIComponent(s.id)}`);
      setSetId("builtin");
      sets.reload();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };

  return (
    <>
      <PageHead
        title={t("title")}
        subtitle={t("subtitle")}
        actions={
          <button onClick={() => setEditing({ id: "", name: "", description: "", builtin: false, cases: [{ id: "case-1", name: "", input: "", expect: { strategy: "contains", value: "" } }] })} data-testid="eval-new-set">
            {t("new_set")}
          </button>
        }
      />
      <ErrorBox error={sets.error} onRetry={sets.reload} />
      <ErrorBox error={error} />
      <div className="grid cols-2">
        <Card title={t("sets")}>
          {sets.loading ? (
            <Spinner />
          ) : (
            <div className="stack">
              <Field label={t("set")}>
                {(id) => (
                  <select id={id} value={setId} onChange={(e) => setSetId(e.target.value)} data-testid="eval-set-select">
                    {sets.data?.sets.map((s) => (
                      <option key={s.id} value={s.id}>
                        {s.name} ({s.cases.length}){s.builtin ? ` · ${t("builtin")}` : ""}
                      </option>
                    ))}
                  </select>
                )}
              </Field>
              {chosen && (
                <>
                  <p className="small muted">{chosen.description}</p>
                  <div className="row">
                    <button className="small" onClick={() => setEditing({ ...chosen, id: chosen.builtin ? "" : chosen.id, name: chosen.builtin ? t("copy_of", { name: chosen.name }) : chosen.name, builtin: false })}>
                      {chosen.builtin ? t("copy_to_edit") : t("common:edit")}
                    </button>
                    {!chosen.builtin && (
                      <button className="small danger" onClick={() => void remove(chosen)}>
                        {t("common:delete")}
                      </button>
                    )}
                  </div>
                  <div className="table-wrap" tabIndex={0}>
                    <table>
                      <thead>
                        <tr>
                          <th>{t("case_name")}</th>
                          <th>{t("input")}</th>
                          <th>{t("strategy")}</th>
                        </tr>
                      </thead>
                      <tbody>
                        {chosen.cases.map((c) => (
                          <tr key={c.id}>
                            <td>{c.name || c.id}</td>
                            <td className="small">{c.input}</td>
                            <td className="small">
                              <Badge>{t(`strategy_${c.expect.strategy}`)}</Badge> <span className="mono">{expectText(c.expect).slice(0, 60)}</span>
                            </td>
                          </tr>
                        ))}
                      </tbody>
                    </table>
                  </div>
                </>
              )}
            </div>
          )}
        </Card>
        <Card title={t("run")}>
          <div className="stack">
            <Field label={t("targets")} hint={t("targets_hint")}>
              {(id) => (
                <>
                  <input id={id} list={`${id}-models`} value={targets} onChange={(e) => setTargets(e.target.value)} data-testid="eval-targets" />
                  <datalist id={`${id}-models`}>
                    {models.data?.data.map((m) => (
                      <option key={m.id} value={m.id} />
                    ))}
                  </datalist>
                </>
              )}
            </Field>
            <div className="row end">
              <button className="primary" disabled={!targets.trim() || current?.status === "running"} onClick={() => void start()} data-testid="eval-run">
                {t("run_set")}
              </button>
            </div>
            <h3>{t("recent_runs")}</h3>
            {(runs.data?.runs.length ?? 0) === 0 ? (
              <Empty title={t("no_runs")} hint={t("no_runs_hint")} />
            ) : (
              <div className="table-wrap" tabIndex={0}>
                <table>
                  <tbody>
                    {runs.data?.runs.map((r) => (
                      <tr key={r.id} className="clickable" onClick={() => setCurrent(r)} tabIndex={0} onKeyDown={(e) => e.key === "Enter" && setCurrent(r)}>
                        <td className="small">{fmtTime(r.started_at)}</td>
                        <td>{r.set_name}</td>
                        <td className="small mono">{r.targets.join(", ")}</td>
                        <td>
                          {r.summary.map((s) => (
                            <Badge key={s.target}>{`${s.passed}/${s.passed + s.failed + s.errors}`}</Badge>
                          ))}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </div>
        </Card>
      </div>
      {current && (
        <div style={{ marginTop: 16 }}>
          <RunView run={current} />
        </div>
      )}
      {editing && (
        <SetEditor
          initial={editing}
          onClose={() => setEditing(undefined)}
          onSaved={(s) => {
            setEditing(undefined);
            sets.reload();
            setSetId(s.id);
          }}
        />
      )}
    </>
  );
}
