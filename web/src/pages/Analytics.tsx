// Analytics: requests, errors, tokens, cost, latency and TTFT over a time range, split by
// provider, model, key, combo or connection (top groups stacked, the rest as "other"), stat
// cards for the whole range and a table of the groups. The range, bucket and grouping live in
// the URL so a view can be shared or bookmarked.
import { useEffect, useMemo, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { useTranslation } from "react-i18next";
import { qs } from "../api/client";
import { useApi } from "../api/hooks";
import type { AnalyticsRow } from "../api/gen/AnalyticsRow";
import type { Bucket } from "../api/gen/Bucket";
import type { GroupBy } from "../api/gen/GroupBy";
import { Bar as Meter, Card, Empty, ErrorBox, Field, PageHead, Pager, Spinner, Stat, usePaged } from "../components/ui";
import { fmtCompact, fmtInt, fmtMs, fmtPct, fmtUsd } from "../components/format";
import { axisTimeFormat, OTHER_COLOR, seriesColor, TimeChart, tooltipTimeFormat, type ChartPoint, type Series } from "./charts";
import "./logs.css";

type RangeId = "1h" | "24h" | "7d" | "30d" | "custom";
const PRESETS: { id: Exclude<RangeId, "custom">; ms: number }[] = [
  { id: "1h", ms: 3_600_000 },
  { id: "24h", ms: 86_400_000 },
  { id: "7d", ms: 7 * 86_400_000 },
  { id: "30d", ms: 30 * 86_400_000 },
];
const RANGE_IDS: RangeId[] = ["1h", "24h", "7d", "30d", "custom"];
const GROUPS: GroupBy[] = ["none", "provider", "model", "api_key", "combo", "connection"];
const BUCKETS: Bucket[] = ["minute", "hour", "day"];
const WIDTH: Record<Bucket, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };
/** Most points a chart is asked to draw (the bucket choices beyond it are disabled). */
const MAX_POINTS = 2000;
/** Groups drawn as their own series; the rest are summed as "other". */
const TOP_N = 5;
const NULL_GROUP = "\u0000";

/** The bucket chosen automatically for a span: minutes up to 6 h, hours up to 7 days, then days. */
function autoBucket(spanMs: number): Bucket {
  if (spanMs <= 6 * 3_600_000) return "minute";
  if (spanMs <= 7 * 86_400_000) return "hour";
  return "day";
}

function bucketAllowed(b: Bucket, spanMs: number): boolean {
  if (b === "minute" && spanMs > 86_400_000) return false; // the server's limit
  return spanMs / WIDTH[b] <= MAX_POINTS;
}

/** `YYYY-MM-DDTHH:mm` in local time, for `<input type="datetime-local">`. */
function toLocalInput(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

function fromLocalInput(s: string | null): number | null {
  if (!s) return null;
  const ms = new Date(s).getTime();
  return Number.isNaN(ms) ? null : ms;
}

interface Agg {
  requests: number;
  errors: number;
  input: number;
  output: number;
  cached: number;
  reasoning: number;
  cost: number;
  latSum: number;
  ttftSum: number;
  ttftW: number;
}

const emptyAgg = (): Agg => ({ requests: 0, errors: 0, input: 0, output: 0, cached: 0, reasoning: 0, cost: 0, latSum: 0, ttftSum: 0, ttftW: 0 });

function add(a: Agg, r: AnalyticsRow) {
  a.requests += r.requests;
  a.errors += r.errors;
  a.input += r.input_tokens;
  a.output += r.output_tokens;
  a.cached += r.cached_tokens;
  a.reasoning += r.reasoning_tokens;
  a.cost += r.cost_usd;
  a.latSum += r.avg_latency_ms * r.requests;
  if (r.avg_ttft_ms !== null) {
    // the rows do not say how many requests had a TTFT: weigh by requests (an approximation)
    a.ttftSum += r.avg_ttft_ms * r.requests;
    a.ttftW += r.requests;
  }
}

const avgLatency = (a: Agg) => (a.requests ? a.latSum / a.requests : null);
const avgTtft = (a: Agg) => (a.ttftW ? a.ttftSum / a.ttftW : null);

interface GroupTotal extends Agg {
  key: string;
}

type AnalyticsAnswer = import("../api/gen/AnalyticsView").AnalyticsView;

export default function Analytics() {
  const { t, i18n } = useTranslation(["analytics", "common"]);
  const [params, setParams] = useSearchParams();
  const range: RangeId = RANGE_IDS.includes(params.get("range") as RangeId) ? (params.get("range") as RangeId) : "24h";
  const groupBy: GroupBy = GROUPS.includes(params.get("group") as GroupBy) ? (params.get("group") as GroupBy) : "none";
  const bucketParam = BUCKETS.includes(params.get("bucket") as Bucket) ? (params.get("bucket") as Bucket) : null;
  const [tokenView, setTokenView] = useState<"type" | "group">("type");

  // from the address bar, not from the last render: two quick changes must both stick
  const set = (changes: Record<string, string | null>) => {
    const next = new URLSearchParams(window.location.search);
    for (const [k, v] of Object.entries(changes)) {
      if (v === null) next.delete(k);
      else next.set(k, v);
    }
    setParams(next, { replace: true });
  };

  // "now" for the preset ranges, moved on every minute so the charts follow the traffic
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (range === "custom") return;
    const id = setInterval(() => {
      if (document.visibilityState === "visible") setNow(Date.now());
    }, 60_000);
    return () => clearInterval(id);
  }, [range]);

  let since: number | null;
  let until: number | null;
  if (range === "custom") {
    since = fromLocalInput(params.get("since"));
    until = fromLocalInput(params.get("until"));
  } else {
    until = Math.ceil(now / 60_000) * 60_000;
    since = until - (PRESETS.find((p) => p.id === range)?.ms ?? 86_400_000);
  }
  const rangeValid = since !== null && until !== null && since < until;
  const span = rangeValid ? until! - since! : 86_400_000;
  const auto = autoBucket(span);
  const bucket: Bucket = bucketParam && bucketAllowed(bucketParam, span) ? bucketParam : auto;

  const path = rangeValid ? `/api/analytics${qs({ since_ms: since, until_ms: until, bucket, group_by: groupBy })}` : null;
  const analytics = useApi<AnalyticsAnswer>(path);
  const keys = useApi<{ keys: import("../api/gen/KeyView").KeyView[] }>(groupBy === "api_key" ? "/api/keys" : null);
  const conns = useApi<{ connections: import("../api/gen/ConnectionView").ConnectionView[] }>(groupBy === "connection" ? "/api/connections" : null);

  const data = analytics.data;
  const fresh = data && data.query.bucket === bucket && data.query.group_by === groupBy && data.query.since_ms === since && data.query.until_ms === until;

  const groupLabel = (key: string, by: GroupBy): string => {
    if (key === NULL_GROUP) return by === "none" ? t("all_traffic") : t(`no_group.${by}`);
    if (by === "api_key") return keys.data?.keys.find((k) => k.id === key)?.name ?? key;
    if (by === "connection") {
      const c = conns.data?.connections.find((c) => c.id === key);
      return c ? `${c.provider} · ${c.name}` : key;
    }
    return key;
  };

  const view = useMemo(() => {
    if (!data) return null;
    const q = data.query;
    const width = WIDTH[q.bucket];
    const first = Math.floor(q.since_ms / width) * width;
    const last = Math.ceil(q.until_ms / width) * width;
    // totals per group, biggest first
    const totals = new Map<string, GroupTotal>();
    const all = emptyAgg();
    for (const r of data.rows) {
      const key = r.group ?? NULL_GROUP;
      let g = totals.get(key);
      if (!g) {
        g = { key, ...emptyAgg() };
        totals.set(key, g);
      }
      add(g, r);
      add(all, r);
    }
    const groups = [...totals.values()].sort((a, b) => b.requests - a.requests || b.cost - a.cost || a.key.localeCompare(b.key));
    const shown = groups.length <= TOP_N + 1 ? groups : groups.slice(0, TOP_N);
    const seriesOf = new Map<string, string>();
    shown.forEach((g, i) => seriesOf.set(g.key, `g${i}`));
    const hasOther = groups.length > shown.length;
    const series: Series[] = shown.map((g, i) => ({ key: `g${i}`, label: groupLabel(g.key, q.group_by), color: seriesColor(i) }));
    if (hasOther) series.push({ key: "other", label: t("other", { n: groups.length - shown.length }), color: OTHER_COLOR });

    // per bucket and series
    const buckets = new Map<number, Map<string, Agg>>();
    const byType = new Map<number, Agg>();
    for (let b = first; b < last; b += width) {
      buckets.set(b, new Map());
      byType.set(b, emptyAgg());
    }
    for (const r of data.rows) {
      const b = Math.floor(r.bucket_start_ms / width) * width;
      let m = buckets.get(b);
      if (!m) {
        m = new Map();
        buckets.set(b, m);
        byType.set(b, emptyAgg());
      }
      const s = seriesOf.get(r.group ?? NULL_GROUP) ?? "other";
      let a = m.get(s);
      if (!a) {
        a = emptyAgg();
        m.set(s, a);
      }
      add(a, r);
      add(byType.get(b)!, r);
    }
    const times = [...buckets.keys()].sort((a, b) => a - b);
    const point = (tm: number, f: (a: Agg) => number | null, zero: boolean): ChartPoint => {
      const p: ChartPoint = { t: tm };
      const m = buckets.get(tm)!;
      for (const s of series) {
        const a = m.get(s.key);
        p[s.key] = a ? f(a) : zero ? 0 : null;
      }
      return p;
    };
    const colorOf = (key: string) => {
      const i = shown.findIndex((g) => g.key === key);
      return i >= 0 ? seriesColor(i) : OTHER_COLOR;
    };
    return {
      q,
      all,
      groups,
      series,
      colorOf,
      requests: times.map((tm) => point(tm, (a) => a.requests, true)),
      errors: times.map((tm) => point(tm, (a) => a.errors, true)),
      cost: times.map((tm) => point(tm, (a) => a.cost, true)),
      tokens: times.map((tm) => point(tm, (a) => a.input + a.output, true)),
      latency: times.map((tm) => point(tm, avgLatency, false)),
      ttft: times.map((tm) => point(tm, avgTtft, false)),
      tokenTypes: times.map((tm) => {
        const a = byType.get(tm)!;
        return { t: tm, input: a.input, output: a.output, cached: a.cached, reasoning: a.reasoning };
      }),
    };
    // groupLabel reads the key and connection names: recompute when they arrive
  }, [data, keys.data, conns.data, t]);

  const lang = i18n.language || "en";
  const xFormat = view ? axisTimeFormat(lang, view.q.bucket, view.q.until_ms - view.q.since_ms) : (ms: number) => String(ms);
  const tipFormat = view ? tooltipTimeFormat(lang, view.q.bucket) : (ms: number) => String(ms);
  const tokenSeries: Series[] = [
    { key: "input", label: t("tokens_input"), color: seriesColor(0) },
    { key: "output", label: t("tokens_output"), color: seriesColor(1) },
    { key: "cached", label: t("tokens_cached"), color: seriesColor(2) },
    { key: "reasoning", label: t("tokens_reasoning"), color: seriesColor(3) },
  ];
  const grouped = (view?.q.group_by ?? groupBy) !== "none";

  const table = usePaged(view?.groups, 20);
  const logsLink = (key: string, by: GroupBy): string | null => {
    if (key === NULL_GROUP) return null;
    const param = { provider: "provider", model: "model", api_key: "api_key_id", combo: "combo", connection: "connection_id", none: null }[by];
    return param ? `/logs${qs({ [param]: key })}` : null;
  };

  const refresh = () => {
    setNow(Date.now());
    analytics.reload();
  };

  const chartProps = view ? { xFormat, tooltipLabel: tipFormat } : null;
  const all = view?.all;

  return (
    <>
      <PageHead
        title={t("title")}
        subtitle={t("subtitle")}
        actions={
          <button type="button" onClick={refresh} data-testid="analytics-refresh">
            {t("common:refresh")}
          </button>
        }
      />

      <div className="card" style={{ marginBottom: 16 }}>
        <div className="toolbar" style={{ marginBottom: 0 }}>
          <div className="field">
            <span id="analytics-range-label">{t("range")}</span>
            <div className="row" role="group" aria-labelledby="analytics-range-label" data-testid="analytics-range">
              {RANGE_IDS.map((id) => (
                <button
                  key={id}
                  type="button"
                  className={range === id ? "primary" : ""}
                  aria-pressed={range === id}
                  data-testid={`analytics-range-${id}`}
                  onClick={() => {
                    if (id === "custom") {
                      const u = since !== null && until !== null && rangeValid ? until : Date.now();
                      const s = since !== null && rangeValid ? since : u - 86_400_000;
                      set({ range: id, since: params.get("since") ?? toLocalInput(s), until: params.get("until") ?? toLocalInput(u) });
                    } else {
                      setNow(Date.now());
                      set({ range: id, since: null, until: null });
                    }
                  }}
                >
                  {t(`ranges.${id}`)}
                </button>
              ))}
            </div>
          </div>
          {range === "custom" && (
            <>
              <Field label={t("from")}>
                {(id) => (
                  <input id={id} type="datetime-local" value={params.get("since") ?? ""} onChange={(e) => set({ since: e.target.value })} data-testid="analytics-since" />
                )}
              </Field>
              <Field label={t("to")}>
                {(id) => (
                  <input id={id} type="datetime-local" value={params.get("until") ?? ""} onChange={(e) => set({ until: e.target.value })} data-testid="analytics-until" />
                )}
              </Field>
            </>
          )}
          <Field label={t("bucket")}>
            {(id) => (
              <select id={id} value={bucketParam && bucket === bucketParam ? bucketParam : "auto"} onChange={(e) => set({ bucket: e.target.value === "auto" ? null : e.target.value })} data-testid="analytics-bucket">
                <option value="auto">{t("bucket_auto", { bucket: t(`buckets.${auto}`) })}</option>
                {BUCKETS.map((b) => (
                  <option key={b} value={b} disabled={!bucketAllowed(b, span)}>
                    {t(`buckets.${b}`)}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field label={t("group_by")}>
            {(id) => (
              <select id={id} value={groupBy} onChange={(e) => set({ group: e.target.value === "none" ? null : e.target.value })} data-testid="analytics-group-by">
                {GROUPS.map((g) => (
                  <option key={g} value={g}>
                    {t(`groups.${g}`)}
                  </option>
                ))}
              </select>
            )}
          </Field>
          {path && !fresh && !analytics.error && <Spinner label={t("updating")} />}
        </div>
        {!rangeValid && (
          <div className="alert warn" role="alert" style={{ marginTop: 12 }}>
            {t("invalid_range")}
          </div>
        )}
      </div>

      <ErrorBox error={analytics.error} onRetry={analytics.reload} />

      {analytics.loading && !data ? (
        <Spinner />
      ) : !view || !all ? null : view.groups.length === 0 ? (
        <div className="card" data-testid="analytics-empty">
          <Empty
            title={t("empty_title")}
            hint={t("empty_hint")}
            action={
              <div className="row" style={{ justifyContent: "center" }}>
                <Link className="btn" to="/endpoint">
                  {t("empty_endpoint")}
                </Link>
                {range !== "30d" && (
                  <button type="button" onClick={() => set({ range: "30d", since: null, until: null })}>
                    {t("empty_longer")}
                  </button>
                )}
              </div>
            }
          />
        </div>
      ) : (
        <>
          <div className="grid stats flush" style={{ marginBottom: 16 }} data-testid="analytics-stats">
            <Stat label={t("requests")} value={fmtInt(all.requests)} testId="analytics-stat-requests" />
            <Stat
              label={t("errors")}
              value={fmtInt(all.errors)}
              sub={t("error_rate", { rate: fmtPct(all.requests ? all.errors / all.requests : 0) })}
              testId="analytics-stat-errors"
            />
            <Stat label={t("tokens_input")} value={fmtCompact(all.input)} sub={t("of_which_cached", { n: fmtCompact(all.cached) })} testId="analytics-stat-input" />
            <Stat label={t("tokens_output")} value={fmtCompact(all.output)} sub={t("of_which_reasoning", { n: fmtCompact(all.reasoning) })} testId="analytics-stat-output" />
            <Stat label={t("cost")} value={fmtUsd(all.cost)} testId="analytics-stat-cost" />
            <Stat label={t("latency")} value={fmtMs(avgLatency(all))} testId="analytics-stat-latency" />
            <Stat label={t("ttft")} value={fmtMs(avgTtft(all))} testId="analytics-stat-ttft" />
          </div>

          {chartProps && (
            <div className="grid cols-2 flush">
              <Card title={t("chart_requests")}>
                <TimeChart {...chartProps} data={view.requests} series={view.series} kind="area" stacked integer format={fmtInt} axisFormat={fmtCompact} label={t("chart_requests")} testId="analytics-chart-requests" />
              </Card>
              <Card title={t("chart_errors")}>
                <TimeChart {...chartProps} data={view.errors} series={view.series} kind="bar" stacked integer format={fmtInt} axisFormat={fmtCompact} label={t("chart_errors")} testId="analytics-chart-errors" />
              </Card>
              <Card
                title={t("chart_tokens")}
                actions={
                  grouped ? (
                    <label className="row small">
                      <span className="sr-only">{t("token_view")}</span>
                      <select value={tokenView} onChange={(e) => setTokenView(e.target.value as "type" | "group")} aria-label={t("token_view")} data-testid="analytics-token-view">
                        <option value="type">{t("token_by_type")}</option>
                        <option value="group">{t("token_by_group")}</option>
                      </select>
                    </label>
                  ) : undefined
                }
              >
                {grouped && tokenView === "group" ? (
                  <TimeChart {...chartProps} data={view.tokens} series={view.series} kind="area" stacked integer format={fmtInt} axisFormat={fmtCompact} label={t("chart_tokens")} testId="analytics-chart-tokens" />
                ) : (
                  <TimeChart {...chartProps} data={view.tokenTypes} series={tokenSeries} kind="line" integer format={fmtInt} axisFormat={fmtCompact} label={t("chart_tokens")} testId="analytics-chart-tokens" />
                )}
              </Card>
              <Card title={t("chart_cost")}>
                <TimeChart {...chartProps} data={view.cost} series={view.series} kind="bar" stacked format={fmtUsd} label={t("chart_cost")} testId="analytics-chart-cost" />
              </Card>
              <Card title={t("chart_latency")}>
                <TimeChart {...chartProps} data={view.latency} series={view.series} kind="line" format={fmtMs} label={t("chart_latency")} testId="analytics-chart-latency" />
              </Card>
              <Card title={t("chart_ttft")}>
                <TimeChart {...chartProps} data={view.ttft} series={view.series} kind="line" format={fmtMs} label={t("chart_ttft")} testId="analytics-chart-ttft" />
              </Card>
            </div>
          )}

          <Card title={grouped ? t("table_title", { group: t(`groups.${view.q.group_by}`) }) : t("table_title_all")} className="analytics-table-card" >
            {!grouped && <p className="muted small">{t("table_hint")}</p>}
            <div className="table-wrap" tabIndex={0}>
              <table data-testid="analytics-groups-table">
                <thead>
                  <tr>
                    <th>{grouped ? t(`groups.${view.q.group_by}`) : t("groups.none")}</th>
                    <th className="num">{t("requests")}</th>
                    <th>{t("share")}</th>
                    <th className="num">{t("errors")}</th>
                    <th className="num">{t("tokens_input")}</th>
                    <th className="num">{t("tokens_output")}</th>
                    <th className="num">{t("tokens_cached")}</th>
                    <th className="num">{t("tokens_reasoning")}</th>
                    <th className="num">{t("cost")}</th>
                    <th className="num">{t("latency")}</th>
                    <th className="num">{t("ttft")}</th>
                  </tr>
                </thead>
                <tbody>
                  {table.rows.map((g) => {
                    const label = groupLabel(g.key, view.q.group_by);
                    const link = logsLink(g.key, view.q.group_by);
                    return (
                      <tr key={g.key} data-testid="analytics-group-row">
                        <td>
                          <span className="row" style={{ flexWrap: "nowrap", whiteSpace: "nowrap" }}>
                            <span
                              aria-hidden="true"
                              style={{ width: 10, height: 10, borderRadius: 3, flex: "none", background: view.colorOf(g.key) }}
                            />
                            {link ? (
                              <Link to={link} className="mono" title={t("see_logs")}>
                                {label}
                              </Link>
                            ) : (
                              <span className={g.key === NULL_GROUP ? "muted" : "mono"}>{label}</span>
                            )}
                          </span>
                        </td>
                        <td className="num">{fmtInt(g.requests)}</td>
                        <td style={{ minWidth: 90 }}>
                          <Meter neutral value={g.requests} max={all.requests} label={t("share_of", { name: label })} />
                          <span className="small muted">{fmtPct(all.requests ? g.requests / all.requests : 0)}</span>
                        </td>
                        <td className="num">
                          {fmtInt(g.errors)}
                          {g.errors > 0 && <div className="small muted">{fmtPct(g.errors / g.requests)}</div>}
                        </td>
                        <td className="num">{fmtCompact(g.input)}</td>
                        <td className="num">{fmtCompact(g.output)}</td>
                        <td className="num">{fmtCompact(g.cached)}</td>
                        <td className="num">{fmtCompact(g.reasoning)}</td>
                        <td className="num">{fmtUsd(g.cost)}</td>
                        <td className="num">{fmtMs(avgLatency(g))}</td>
                        <td className="num">{fmtMs(avgTtft(g))}</td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
            <Pager page={table.page} pages={table.pages} setPage={table.setPage} />
          </Card>
          <p className="small muted" style={{ marginTop: 8 }}>
            {t("footnote")}
          </p>
        </>
      )}
    </>
  );
}
