// The landing page: the endpoint to copy, the last 24 hours in stat cards, the recent requests,
// and a way into the set-up wizard while nothing is connected.
import { Link } from "react-router";
import { useTranslation } from "react-i18next";
import { useApi } from "../api/hooks";
import type { AnalyticsRow } from "../api/gen/AnalyticsRow";
import type { RequestLog } from "../api/gen/RequestLog";
import { Badge, Card, CopyButton, Empty, ErrorBox, PageHead, Spinner, Stat } from "../components/ui";
import { fmtCompact, fmtInt, fmtMs, fmtPct, fmtTime, fmtUsd } from "../components/format";
import { gatewayRoot } from "./Onboarding";

export function statusKind(status: number): "ok" | "warn" | "err" {
  return status < 400 ? "ok" : status === 429 ? "warn" : "err";
}

export default function Overview() {
  const { t } = useTranslation();
  const analytics = useApi<{ rows: AnalyticsRow[] }>("/api/analytics?bucket=day", { refreshMs: 15000 });
  const logs = useApi<{ logs: RequestLog[] }>("/api/logs?limit=8", { refreshMs: 15000 });
  const connections = useApi<{ connections: import("../api/gen/ConnectionView").ConnectionView[] }>("/api/connections");
  const keys = useApi<{ keys: import("../api/gen/KeyView").KeyView[] }>("/api/keys");

  const rows = analytics.data?.rows ?? [];
  const sum = (f: (r: AnalyticsRow) => number) => rows.reduce((a, r) => a + f(r), 0);
  const requests = sum((r) => r.requests);
  const errors = sum((r) => r.errors);
  const latency = requests ? sum((r) => r.avg_latency_ms * r.requests) / requests : null;
  const root = gatewayRoot();
  const noConnections = connections.data && connections.data.connections.length === 0;

  return (
    <>
      <PageHead title={t("overview.title")} subtitle={t("overview.subtitle")} />
      {noConnections && (
        <Card title={t("overview.get_started")}>
          <p className="muted">{t("overview.get_started_hint")}</p>
          <Link className="btn primary" to="/onboarding" data-testid="start-wizard">
            {t("overview.start_wizard")}
          </Link>
        </Card>
      )}
      <div className="grid stats" style={{ margin: "16px 0" }}>
        <Stat label={t("overview.requests")} value={fmtInt(requests)} testId="stat-requests" />
        <Stat label={t("overview.errors")} value={requests ? fmtPct(errors / requests) : "—"} />
        <Stat label={t("overview.tokens")} value={fmtCompact(sum((r) => r.input_tokens + r.output_tokens))} />
        <Stat label={t("overview.cost")} value={fmtUsd(sum((r) => r.cost_usd))} />
        <Stat label={t("overview.latency")} value={fmtMs(latency)} />
        <Stat label={t("overview.connections")} value={fmtInt(connections.data?.connections.length)} sub={<Link to="/providers">{t("nav.providers")}</Link>} />
        <Stat label={t("overview.keys")} value={fmtInt(keys.data?.keys.length)} sub={<Link to="/keys">{t("nav.keys")}</Link>} />
      </div>
      <ErrorBox error={analytics.error} onRetry={analytics.reload} />
      <div className="grid cols-2">
        <Card title={t("overview.endpoint")}>
          <p className="muted">{t("overview.endpoint_hint")}</p>
          <div className="row">
            <code data-testid="endpoint-url">{root}/v1</code>
            <CopyButton text={`${root}/v1`} />
          </div>
          <p style={{ marginTop: 8 }}>
            <Link to="/endpoint">{t("nav.endpoint")} →</Link>
          </p>
        </Card>
        <Card title={t("overview.recent")} actions={<Link to="/logs">{t("overview.see_logs")}</Link>}>
          {logs.loading ? (
            <Spinner />
          ) : logs.error ? (
            <ErrorBox error={logs.error} onRetry={logs.reload} />
          ) : (logs.data?.logs.length ?? 0) === 0 ? (
            <Empty title={t("overview.no_requests")} hint={t("overview.no_requests_hint")} />
          ) : (
            <div className="table-wrap" tabIndex={0}>
              <table>
                <tbody>
                  {logs.data?.logs.map((l) => (
                    <tr key={l.id}>
                      <td className="small muted">{fmtTime(l.ts)}</td>
                      <td className="mono">{l.model ?? "—"}</td>
                      <td>
                        <Badge kind={statusKind(l.status)}>{l.status}</Badge>
                      </td>
                      <td className="num">{fmtMs(l.latency_ms)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </Card>
      </div>
    </>
  );
}
