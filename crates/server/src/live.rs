//! Live feeds for the dashboard: requests as they start and finish, and the server's own log
//! lines, as broadcast channels served over server-sent events (`GET /api/live/requests`,
//! `GET /api/live/console`). Publishing costs one atomic load when nobody listens; a slow
//! listener loses the oldest events (it is told how many), never slows a request.

use axum::extract::Query;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Serialize;
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, OnceLock};
use tokio::sync::broadcast;

/// Events kept for a slow listener before it starts losing them.
const CAPACITY: usize = 1024;

/// One request event.
#[derive(ts_rs::TS)]
#[ts(export)]
#[derive(Debug, Clone, Serialize)]
pub struct RequestEvent {
    /// `start` or `finish`.
    pub phase: &'static str,
    pub request_id: String,
    pub ts: i64,
    pub client_format: Option<String>,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub connection_id: Option<String>,
    pub stream: bool,
    /// Final status (finish only).
    pub status: Option<u16>,
    pub latency_ms: Option<i64>,
    pub ttft_ms: Option<i64>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub cost_usd: Option<f64>,
    pub attempts: Option<i64>,
    pub error: Option<String>,
}

/// One console line (already formatted).
#[derive(ts_rs::TS)]
#[ts(export)]
#[derive(Debug, Clone, Serialize)]
pub struct ConsoleLine {
    pub level: &'static str,
    pub target: String,
    pub message: String,
    pub ts: i64,
}

fn requests_tx() -> &'static broadcast::Sender<Arc<RequestEvent>> {
    static TX: OnceLock<broadcast::Sender<Arc<RequestEvent>>> = OnceLock::new();
    TX.get_or_init(|| broadcast::channel(CAPACITY).0)
}

fn console_tx() -> &'static broadcast::Sender<Arc<ConsoleLine>> {
    static TX: OnceLock<broadcast::Sender<Arc<ConsoleLine>>> = OnceLock::new();
    TX.get_or_init(|| broadcast::channel(CAPACITY).0)
}

/// Whether anyone watches the request feed (build events only then).
pub fn watching_requests() -> bool {
    requests_tx().receiver_count() > 0
}

/// Whether anyone watches the console feed.
pub fn watching_console() -> bool {
    console_tx().receiver_count() > 0
}

pub fn publish_request(ev: RequestEvent) {
    let _ = requests_tx().send(Arc::new(ev));
}

pub fn publish_console(line: ConsoleLine) {
    let _ = console_tx().send(Arc::new(line));
}

/// A filter from query parameters: every given field that the event has must match.
fn keep_request(q: &HashMap<String, String>, ev: &RequestEvent) -> bool {
    // a field not known yet (the provider of a `start` event) does not filter the event out
    let eq = |k: &str, v: Option<&str>| {
        q.get(k)
            .is_none_or(|want| v.is_none_or(|v| v == want.as_str()))
    };
    eq("provider", ev.provider.as_deref())
        && eq("model", ev.model.as_deref())
        && eq("format", ev.client_format.as_deref())
        && q.get("phase").is_none_or(|p| p == ev.phase)
        && q.get("errors")
            .is_none_or(|e| e != "true" || ev.status.is_some_and(|s| s >= 400))
}

fn keep_line(q: &HashMap<String, String>, l: &ConsoleLine) -> bool {
    let rank = |lvl: &str| match lvl {
        "ERROR" | "error" => 5,
        "WARN" | "warn" => 4,
        "INFO" | "info" => 3,
        "DEBUG" | "debug" => 2,
        _ => 1,
    };
    q.get("level").is_none_or(|min| rank(l.level) >= rank(min))
        && q.get("q").is_none_or(|s| l.message.contains(s.as_str()))
}

fn sse<T: Serialize + Send + Sync + 'static>(
    rx: broadcast::Receiver<Arc<T>>,
    keep: impl Fn(&T) -> bool + Send + 'static,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stream = futures_util::stream::unfold((rx, keep), |(mut rx, keep)| async move {
        loop {
            match rx.recv().await {
                Ok(ev) => {
                    if !keep(&ev) {
                        continue;
                    }
                    let data = serde_json::to_string(&*ev).unwrap_or_default();
                    return Some((Ok(Event::default().data(data)), (rx, keep)));
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    let ev = Event::default()
                        .event("lagged")
                        .data(format!("{{\"missed\":{n}}}"));
                    return Some((Ok(ev), (rx, keep)));
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// `GET /api/live/requests?provider=&model=&format=&phase=start|finish&errors=true`
pub async fn requests(
    Query(q): Query<HashMap<String, String>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    sse(requests_tx().subscribe(), move |ev| keep_request(&q, ev))
}

/// `GET /api/live/console?level=warn&q=text`
pub async fn console(
    Query(q): Query<HashMap<String, String>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    sse(console_tx().subscribe(), move |l| keep_line(&q, l))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters() {
        let ev = RequestEvent {
            phase: "finish",
            request_id: "r".into(),
            ts: 0,
            client_format: Some("openai".into()),
            model: Some("m".into()),
            provider: Some("p".into()),
            connection_id: None,
            stream: false,
            status: Some(502),
            latency_ms: Some(3),
            ttft_ms: None,
            input_tokens: None,
            output_tokens: None,
            cost_usd: None,
            attempts: Some(2),
            error: Some("x".into()),
        };
        let q = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>()
        };
        assert!(keep_request(&q(&[]), &ev));
        assert!(keep_request(
            &q(&[("provider", "p"), ("errors", "true")]),
            &ev
        ));
        assert!(!keep_request(&q(&[("provider", "other")]), &ev));
        assert!(!keep_request(&q(&[("phase", "start")]), &ev));
        let line = ConsoleLine {
            level: "INFO",
            target: "t".into(),
            message: "hello world".into(),
            ts: 0,
        };
        assert!(keep_line(&q(&[("level", "info"), ("q", "world")]), &line));
        assert!(!keep_line(&q(&[("level", "warn")]), &line));
    }

    #[tokio::test]
    async fn nobody_listening_costs_nothing_and_listeners_get_events() {
        assert!(!watching_console());
        let mut rx = console_tx().subscribe();
        assert!(watching_console());
        publish_console(ConsoleLine {
            level: "WARN",
            target: "t".into(),
            message: "m".into(),
            ts: 1,
        });
        assert_eq!(
            rx.recv().await.map(|l| l.message.clone()).ok().as_deref(),
            Some("m")
        );
    }
}
