//! Who may connect at all: the client's address (the TCP peer, or — when the peer is a trusted
//! proxy — the address it forwarded), an allowlist and a blocklist of CIDR ranges, and a per-IP
//! request rate over a configurable window. Runs before everything else; refusals come in the
//! client's error format. This machine is always on the allowlist (the owner cannot lock
//! themselves out by forgetting it), but a blocklist entry covers it too.

use crate::error::render;
use crate::state::AppState;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;
use omniroute_protocol::{ApiError, ErrorKind};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The client's address as the filter decided it (a request extension).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// Addresses tracked by the rate limiter at most (expired windows are swept when full).
const MAX_TRACKED: usize = 50_000;

/// The parsed rules (built with the snapshot).
#[derive(Debug, Default, Clone)]
pub struct IpRules {
    pub allow: Vec<IpNet>,
    pub block: Vec<IpNet>,
    pub trusted: Vec<IpNet>,
    /// (requests, window)
    pub rate: Option<(u32, Duration)>,
}

/// `1.2.3.4`, `1.2.3.0/24`, `::1`, `2001:db8::/32`.
pub fn parse_net(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("`{s}` is not an IP address or CIDR range"))
}

impl IpRules {
    pub fn from_settings(s: &omniroute_config::GatewaySettings) -> IpRules {
        let nets = |list: &[String]| list.iter().filter_map(|e| parse_net(e).ok()).collect();
        IpRules {
            allow: nets(&s.ip_allowlist),
            block: nets(&s.ip_blocklist),
            trusted: nets(&s.trusted_proxies),
            rate: (s.ip_rate_limit.requests > 0 && s.ip_rate_limit.window_ms > 0).then(|| {
                (
                    s.ip_rate_limit.requests,
                    Duration::from_millis(s.ip_rate_limit.window_ms),
                )
            }),
        }
    }

    fn is_empty(&self) -> bool {
        self.allow.is_empty()
            && self.block.is_empty()
            && self.trusted.is_empty()
            && self.rate.is_none()
    }

    fn trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|n| n.contains(&ip))
    }

    /// The client's address: the peer, or, when the peer is a trusted proxy, the nearest
    /// address in `X-Forwarded-For` (read right to left) that is not itself a trusted proxy
    /// (`X-Real-IP` when there is no `X-Forwarded-For`).
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusted(peer) {
            return peer;
        }
        let forwarded: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse::<IpAddr>().ok())
            .collect();
        if let Some(ip) = forwarded.iter().rev().find(|ip| !self.trusted(**ip)) {
            return *ip;
        }
        // every forwarded hop is a trusted proxy (or there is none): a client-made
        // `X-Forwarded-For: 127.0.0.1` must not make it look local, so only `X-Real-IP` (set by
        // the proxy itself) or the peer count
        headers
            .get("x-real-ip")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<IpAddr>().ok())
            .filter(|ip| !self.trusted(*ip))
            .unwrap_or(peer)
    }

    /// Why `ip` may not connect, if it may not.
    /// `direct`: the address is the TCP peer's (only then is loopback exempt from the
    /// allowlist; a forwarded loopback address is not this machine).
    pub fn refused(&self, ip: IpAddr, direct: bool) -> Option<&'static str> {
        if self.block.iter().any(|n| n.contains(&ip)) {
            return Some("blocked");
        }
        let this_machine = direct && ip.is_loopback();
        if !self.allow.is_empty() && !this_machine && !self.allow.iter().any(|n| n.contains(&ip)) {
            return Some("not on the allowlist");
        }
        None
    }
}

/// Fixed windows of requests per address.
#[derive(Debug, Default)]
pub struct IpRates {
    windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl IpRates {
    /// Count one request from `ip`; `Err(wait)` when its window is full.
    pub fn admit(&self, ip: IpAddr, limit: u32, window: Duration) -> Result<(), Duration> {
        let now = Instant::now();
        let Ok(mut w) = self.windows.lock() else {
            return Ok(());
        };
        if w.len() >= MAX_TRACKED && !w.contains_key(&ip) {
            w.retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let e = w.entry(ip).or_insert((now, 0));
        if now.duration_since(e.0) >= window {
            *e = (now, 0);
        }
        if e.1 >= limit {
            return Err(window.saturating_sub(now.duration_since(e.0)));
        }
        e.1 += 1;
        Ok(())
    }
}

/// The outermost layer: decide the client's address, refuse blocked ones and those over their
/// rate.
pub async fn ip_filter(
    State(st): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut req: Request,
    next: Next,
) -> Response {
    let snap = st.snapshot.load();
    let rules = &snap.ip_rules;
    if rules.is_empty() {
        req.extensions_mut().insert(ClientIp(peer.ip()));
        drop(snap);
        return next.run(req).await;
    }
    let ip = rules.client_ip(peer.ip(), req.headers());
    let path = req.uri().path().to_string();
    let format = crate::middleware::format_for_path(&path);
    if let Some(why) = rules.refused(ip, ip == peer.ip()) {
        tracing::warn!(client_ip = %ip, path = %path, "refused: address {why}");
        return render(
            &ApiError::new(
                ErrorKind::PermissionDenied,
                format!("requests from {ip} are not accepted ({why})"),
            )
            .with_code("ip_not_allowed"),
            format,
        );
    }
    if let Some((limit, window)) = rules.rate {
        if let Err(wait) = st.ip_rates.admit(ip, limit, window) {
            let secs = wait.as_secs().max(1);
            return render(
                &ApiError::new(
                    ErrorKind::RateLimited,
                    format!(
                        "too many requests from {ip}: at most {limit} per {} s; retry in {secs} s",
                        window.as_secs().max(1)
                    ),
                )
                .with_code("ip_rate_limited")
                .with_retry_after(Some(secs.to_string())),
                format,
            );
        }
    }
    drop(snap);
    req.extensions_mut().insert(ClientIp(ip));
    next.run(req).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn rules(allow: &[&str], block: &[&str], trusted: &[&str]) -> IpRules {
        let n = |l: &[&str]| l.iter().map(|e| parse_net(e).unwrap()).collect();
        IpRules {
            allow: n(allow),
            block: n(block),
            trusted: n(trusted),
            rate: None,
        }
    }

    fn xff(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", v.parse().unwrap());
        h
    }

    #[test]
    fn forwarded_addresses_only_from_trusted_proxies() {
        let peer: IpAddr = "10.0.0.2".parse().unwrap();
        let none = rules(&[], &[], &[]);
        assert_eq!(
            none.client_ip(peer, &xff("203.0.113.9")),
            peer,
            "not believed"
        );
        let t = rules(&[], &[], &["10.0.0.0/8"]);
        assert_eq!(
            t.client_ip(peer, &xff("203.0.113.9")),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        // a client cannot hide behind a spoofed first entry: the nearest untrusted one counts
        assert_eq!(
            t.client_ip(peer, &xff("1.1.1.1, 203.0.113.9, 10.0.0.7")),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(t.client_ip(peer, &HeaderMap::new()), peer);
        // a client-made entry that is itself "trusted" does not replace the peer
        assert_eq!(t.client_ip(peer, &xff("10.9.9.9")), peer);
        let lo = rules(&[], &[], &["127.0.0.1"]);
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(lo.client_ip(local, &xff("127.0.0.1")), local);
        let r = rules(&["198.51.100.0/24"], &[], &[]);
        assert_eq!(
            r.refused("127.0.0.1".parse().unwrap(), false),
            Some("not on the allowlist"),
            "a forwarded loopback address is not this machine"
        );
        let mut real = HeaderMap::new();
        real.insert("x-real-ip", "198.51.100.4".parse().unwrap());
        assert_eq!(
            t.client_ip(peer, &real),
            "198.51.100.4".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn allow_and_block_lists() {
        let r = rules(
            &["198.51.100.0/24", "2001:db8::/32"],
            &["198.51.100.66"],
            &[],
        );
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(r.refused(ip("198.51.100.7"), true), None);
        assert_eq!(r.refused(ip("2001:db8::1"), true), None);
        assert_eq!(r.refused(ip("198.51.100.66"), true), Some("blocked"));
        assert_eq!(
            r.refused(ip("203.0.113.1"), true),
            Some("not on the allowlist")
        );
        assert_eq!(
            r.refused(ip("127.0.0.1"), true),
            None,
            "this machine stays in"
        );
        let b = rules(&[], &["127.0.0.0/8"], &[]);
        assert_eq!(
            b.refused(ip("127.0.0.1"), true),
            Some("blocked"),
            "unless blocked"
        );
        assert!(parse_net("nonsense").is_err());
        assert!(parse_net("10.0.0.0/33").is_err());
    }

    #[test]
    fn rate_windows_per_address() {
        let r = IpRates::default();
        let (a, b) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let w = Duration::from_secs(60);
        assert!(r.admit(a, 2, w).is_ok());
        assert!(r.admit(a, 2, w).is_ok());
        let wait = r.admit(a, 2, w).unwrap_err();
        assert!(wait <= w && wait > Duration::from_secs(50));
        assert!(r.admit(b, 2, w).is_ok(), "per address");
        // a zero-length window has passed at once
        assert!(r.admit(a, 2, Duration::ZERO).is_ok());
    }
}
