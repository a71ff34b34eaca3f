// Chart helpers shared by the Analytics page (and any page that draws a time series): themed
// recharts wrappers that read their colours from the CSS variables (--chart-1..6, --text,
// --muted, --border, --panel), so both themes stay readable without re-rendering on a switch.
import type { CSSProperties } from "react";
import {
  Area,
  AreaChart,
  Bar,
  BarChart,
  CartesianGrid,
  Legend,
  Line,
  LineChart,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
  type DotItemDotProps,
} from "recharts";
import type { Bucket } from "../api/gen/Bucket";

/** Series colours in order; the grouped "other" series uses OTHER_COLOR. */
export const SERIES_COLORS = ["var(--chart-1)", "var(--chart-2)", "var(--chart-3)", "var(--chart-4)", "var(--chart-5)", "var(--chart-6)"];
export const OTHER_COLOR = "var(--muted)";

export function seriesColor(i: number): string {
  return SERIES_COLORS[i % SERIES_COLORS.length];
}

export interface Series {
  /** The data key in each point. */
  key: string;
  label: string;
  color: string;
}

/** One point of a time series: `t` (bucket start, ms) and one number per series key. */
export type ChartPoint = Record<string, number | null>;

export const tooltipStyle: CSSProperties = {
  background: "var(--panel)",
  border: "1px solid var(--border)",
  borderRadius: 8,
  color: "var(--text)",
  fontSize: 12,
  boxShadow: "var(--shadow)",
};
const tooltipLabelStyle: CSSProperties = { color: "var(--muted)", marginBottom: 4 };
const tick = { fill: "var(--muted)", fontSize: 11 };
const legendStyle: CSSProperties = { fontSize: 12, paddingTop: 4 };

/** Axis tick labels for a bucket width over a span (date only for days, date+time over a day). */
export function axisTimeFormat(lang: string, bucket: Bucket, spanMs: number): (ms: number) => string {
  const opts: Intl.DateTimeFormatOptions =
    bucket === "day"
      ? { month: "short", day: "numeric" }
      : spanMs > 86_400_000
        ? { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" }
        : { hour: "2-digit", minute: "2-digit" };
  const f = new Intl.DateTimeFormat(lang, opts);
  return (ms) => f.format(new Date(ms));
}

/** Tooltip header: the full date and time of a bucket (date only for days). */
export function tooltipTimeFormat(lang: string, bucket: Bucket): (ms: number) => string {
  const f = new Intl.DateTimeFormat(lang, bucket === "day" ? { dateStyle: "medium" } : { dateStyle: "medium", timeStyle: "short" });
  return (ms) => f.format(new Date(ms));
}

export interface TimeChartProps {
  data: ChartPoint[];
  series: Series[];
  kind: "area" | "line" | "bar";
  /** Stack the series (sums: requests, cost, errors); never for averages. */
  stacked?: boolean;
  /** Formats values on the Y axis and in the tooltip. */
  format: (v: number) => string;
  /** Compact Y-axis labels (defaults to `format`). */
  axisFormat?: (v: number) => string;
  xFormat: (ms: number) => string;
  tooltipLabel: (ms: number) => string;
  /** Whole numbers only on the Y axis (counts). */
  integer?: boolean;
  /** Accessible name of the figure. */
  label: string;
  testId?: string;
  height?: number;
}

/** A responsive, themed time-series chart (area, line or bar), one series per entry of `series`. */
export function TimeChart({ data, series, kind, stacked, format, axisFormat, xFormat, tooltipLabel, integer, label, testId, height }: TimeChartProps) {
  const yFormat = axisFormat ?? format;
  // a line through a few points (sparse averages, one busy bucket) is invisible without dots:
  // mark the buckets that have a value when there are few of them
  const dotFor = (s: Series) => {
    const has = (v: number | null | undefined) => v !== null && v !== undefined && v !== 0;
    const points = data.reduce((n, p) => n + (has(p[s.key]) ? 1 : 0), 0);
    if (points > 60) return false;
    return (props: DotItemDotProps) => {
      const v = (props.payload as ChartPoint | undefined)?.[s.key];
      if (!has(v) || props.cx === undefined || props.cy === undefined) return <g key={props.index} />;
      return <circle key={props.index} cx={props.cx} cy={props.cy} r={2.5} fill={s.color} />;
    };
  };
  const common = {
    data,
    margin: { top: 8, right: 12, bottom: 0, left: 0 },
  };
  const axes = (
    <>
      <CartesianGrid stroke="var(--border)" strokeDasharray="3 3" vertical={false} />
      <XAxis
        dataKey="t"
        tickFormatter={(v: number) => xFormat(Number(v))}
        tick={tick}
        stroke="var(--border)"
        minTickGap={28}
        tickMargin={6}
      />
      <YAxis tickFormatter={(v: number) => yFormat(Number(v))} tick={tick} stroke="var(--border)" width={56} allowDecimals={!integer} />
      <Tooltip
        contentStyle={tooltipStyle}
        labelStyle={tooltipLabelStyle}
        itemStyle={{ padding: 0 }}
        cursor={kind === "bar" ? { fill: "var(--panel-2)" } : { stroke: "var(--border)" }}
        labelFormatter={(l) => tooltipLabel(Number(l))}
        formatter={(v) => (v === undefined || v === null ? "—" : format(Number(v)))}
      />
      {series.length > 1 && <Legend wrapperStyle={legendStyle} iconSize={10} itemSorter={null} />}
    </>
  );
  const stackId = stacked ? "s" : undefined;
  let chart;
  if (kind === "bar") {
    chart = (
      <BarChart {...common}>
        {axes}
        {series.map((s) => (
          <Bar key={s.key} dataKey={s.key} name={s.label} fill={s.color} stackId={stackId} isAnimationActive={false} maxBarSize={28} />
        ))}
      </BarChart>
    );
  } else if (kind === "area") {
    chart = (
      <AreaChart {...common}>
        {axes}
        {series.map((s) => (
          <Area
            key={s.key}
            type="monotone"
            dataKey={s.key}
            name={s.label}
            stroke={s.color}
            fill={s.color}
            fillOpacity={0.25}
            strokeWidth={1.5}
            stackId={stackId}
            dot={dotFor(s)}
            isAnimationActive={false}
            connectNulls
          />
        ))}
      </AreaChart>
    );
  } else {
    chart = (
      <LineChart {...common}>
        {axes}
        {series.map((s) => (
          <Line
            key={s.key}
            type="monotone"
            dataKey={s.key}
            name={s.label}
            stroke={s.color}
            strokeWidth={1.75}
            dot={dotFor(s)}
            isAnimationActive={false}
            connectNulls
          />
        ))}
      </LineChart>
    );
  }
  return (
    // numbers with units ("28 ms") read left to right in every language: keep the SVG text LTR
    <figure className="chart" dir="ltr" style={{ margin: 0, height: height ?? 260 }} aria-label={label} data-testid={testId}>
      <ResponsiveContainer width="100%" height="100%">
        {chart}
      </ResponsiveContainer>
    </figure>
  );
}
