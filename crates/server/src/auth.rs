//! Dashboard and management login: the password (Argon2id), sessions in a signed cookie
//! (HMAC-SHA256 with `JWT_SECRET`, or a secret generated into `DATA_DIR`), the CSRF token each
//! session carries, and the per-IP lockout of failed logins.
//!
//! A session cookie is `<id>.<expiry ms>.<signature>`; the store keeps only the SHA-256 of the
//! id, so neither a copy of the database nor of the secret alone opens a session. The CSRF token
//! is derived from the session (no storage): the double-submit cookie `omniroute_csrf` and the
//! `X-CSRF-Token` header must carry it on every state-changing call made with the cookie.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use hmac::{Hmac, Mac};
use omniroute_store::{AuthRecord, SessionRecord, Store, StoreError};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

pub const SESSION_COOKIE: &str = "omniroute_session";
pub const CSRF_COOKIE: &str = "omniroute_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Failed logins from one address before it is locked out ...
pub const MAX_FAILURES: u32 = 5;
/// ... within this window ...
const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// ... for this long.
pub const LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// Addresses tracked at most (the oldest entries go first when full).
const MAX_TRACKED: usize = 10_000;

pub const MIN_PASSWORD_CHARS: usize = 8;
const MAX_PASSWORD_BYTES: usize = 1024;

/// `JWT_SECRET` values copied from examples: using one is as good as no secret.
const KNOWN_DEFAULTS: &[&str] = &[
    "change-me",
    "changeme",
    "secret",
    "jwt-secret",
    "your-secret-key",
    "your-jwt-secret",
    "omniroute-secret",
    "omniroute-default-secret-change-me",
];

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, Default)]
struct Failures {
    count: u32,
    /// Attempts being verified right now (they count against the limit until they end).
    pending: u32,
    first: Option<Instant>,
    locked_until: Option<Instant>,
}

/// Password verifications at once (Argon2 takes ~19 MiB and tens of milliseconds each).
const MAX_VERIFYING: usize = 4;

/// Login state shared by the guard and the auth endpoints.
pub struct Auth {
    secret: Vec<u8>,
    password: RwLock<Option<AuthRecord>>,
    /// Live sessions by id hash.
    sessions: RwLock<HashMap<String, SessionRecord>>,
    failures: Mutex<HashMap<IpAddr, Failures>>,
    verifying: tokio::sync::Semaphore,
    /// `AUTH_COOKIE_SECURE=true`: cookies are `Secure` on every response.
    pub cookie_secure: bool,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").finish_non_exhaustive()
    }
}

/// Why a password was refused.
pub fn password_problem(p: &str) -> Option<String> {
    if p.chars().count() < MIN_PASSWORD_CHARS {
        Some(format!(
            "the password must have at least {MIN_PASSWORD_CHARS} characters"
        ))
    } else if p.len() > MAX_PASSWORD_BYTES {
        Some(format!(
            "the password must be at most {MAX_PASSWORD_BYTES} bytes"
        ))
    } else {
        None
    }
}

/// Argon2id with the crate's defaults (19 MiB, 2 passes), random salt; a PHC string.
pub fn hash_password(p: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(p.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Whether `p` matches the PHC string `hash`.
pub fn verify_password(p: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| Argon2::default().verify_password(p.as_bytes(), &h).is_ok())
        .unwrap_or(false)
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn id_hash(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

/// The signing secret: `JWT_SECRET`, else `DATA_DIR/jwt.secret` (created with 32 random bytes,
/// mode 0600). Warns when the value is a known example or short.
fn load_secret(data_dir: &Path) -> Result<Vec<u8>, String> {
    if let Ok(v) = std::env::var("JWT_SECRET") {
        let v = v.trim().to_string();
        if !v.is_empty() {
            if KNOWN_DEFAULTS.contains(&v.to_ascii_lowercase().as_str()) || v.len() < 32 {
                tracing::warn!(
                    "JWT_SECRET is a well-known example value or shorter than 32 characters: anyone who knows it can forge dashboard sessions; set a long random value (or unset it to have one generated)"
                );
            }
            return Ok(v.into_bytes());
        }
    }
    let path = data_dir.join("jwt.secret");
    if let Ok(s) = std::fs::read_to_string(&path) {
        if let Ok(bytes) = hex::decode(s.trim()) {
            if bytes.len() >= 32 {
                return Ok(bytes);
            }
        }
        return Err(format!("{} is not a 64-hex-digit secret", path.display()));
    }
    let bytes: [u8; 32] = rand::random();
    write_private(&path, hex::encode(bytes).as_bytes(), false)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    tracing::info!(path = %path.display(), "generated the session signing secret (set JWT_SECRET to choose one)");
    Ok(bytes.to_vec())
}

/// Write a file only its owner may read (mode 0600 on Unix) and sync it. `replace`: overwrite
/// an existing file, else refuse to.
pub(crate) fn write_private(path: &Path, bytes: &[u8], replace: bool) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    if replace {
        opts.write(true).create(true).truncate(true);
    } else {
        opts.write(true).create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

impl Auth {
    /// Load the secret, the password (set from `INITIAL_PASSWORD` on first start, to be changed
    /// at the first login) and the live sessions.
    pub async fn load(store: &Store, data_dir: &Path) -> Result<Auth, String> {
        let secret = load_secret(data_dir)?;
        let mut password = store.auth_record().await.map_err(|e| e.to_string())?;
        if password.is_none() {
            if let Ok(initial) = std::env::var("INITIAL_PASSWORD") {
                if !initial.is_empty() {
                    if let Some(problem) = password_problem(&initial) {
                        return Err(format!("INITIAL_PASSWORD: {problem}"));
                    }
                    let hash = hash_password(&initial)?;
                    store
                        .set_password(&hash, true)
                        .await
                        .map_err(|e| e.to_string())?;
                    password = store.auth_record().await.map_err(|e| e.to_string())?;
                    tracing::info!("dashboard password set from INITIAL_PASSWORD; it must be changed at the first login");
                }
            }
        }
        let sessions = store
            .live_sessions()
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|s| (s.id_hash.clone(), s))
            .collect();
        let cookie_secure = std::env::var("AUTH_COOKIE_SECURE")
            .ok()
            .and_then(|v| omniroute_config::settings::parse_bool(&v))
            .unwrap_or(false);
        Ok(Auth {
            secret,
            password: RwLock::new(password),
            sessions: RwLock::new(sessions),
            failures: Mutex::new(HashMap::new()),
            verifying: tokio::sync::Semaphore::new(MAX_VERIFYING),
            cookie_secure,
        })
    }

    /// The password record in force (`None` until one is set).
    pub fn password(&self) -> Option<AuthRecord> {
        self.password.read().ok().and_then(|p| p.clone())
    }

    /// Store a new password; `must_change` for a password someone else chose.
    pub async fn set_password(
        &self,
        store: &Store,
        plain: &str,
        must_change: bool,
    ) -> Result<(), String> {
        let plain = plain.to_string();
        let hash = tokio::task::spawn_blocking(move || hash_password(&plain))
            .await
            .map_err(|e| e.to_string())??;
        store
            .set_password(&hash, must_change)
            .await
            .map_err(|e| e.to_string())?;
        let rec = store.auth_record().await.map_err(|e| e.to_string())?;
        if let Ok(mut p) = self.password.write() {
            *p = rec;
        }
        Ok(())
    }

    /// Check a password against the stored hash off the async runtime (Argon2 takes tens of
    /// milliseconds by design).
    pub async fn check_password(&self, plain: &str) -> bool {
        let Some(rec) = self.password() else {
            return false;
        };
        let Ok(_permit) = self.verifying.acquire().await else {
            return false;
        };
        let plain = plain.to_string();
        tokio::task::spawn_blocking(move || verify_password(&plain, &rec.password_hash))
            .await
            .unwrap_or(false)
    }

    /// Start a login attempt from `ip`: refused while it is locked out, or while the attempts
    /// already being verified would reach the limit (parallel guesses count before they end).
    pub fn begin_attempt(&self, ip: IpAddr) -> Result<(), Duration> {
        let Ok(mut f) = self.failures.lock() else {
            return Ok(());
        };
        let now = Instant::now();
        let e = f.entry(ip).or_default();
        if let Some(until) = e.locked_until {
            if until > now {
                return Err(until - now);
            }
            e.locked_until = None;
        }
        if e.first
            .is_some_and(|t| now.duration_since(t) >= FAILURE_WINDOW)
        {
            e.count = 0;
            e.first = None;
        }
        if e.count + e.pending >= MAX_FAILURES {
            return Err(Duration::from_secs(1));
        }
        e.pending += 1;
        Ok(())
    }

    fn sign(&self, payload: &str) -> Vec<u8> {
        // HMAC accepts keys of any length
        match HmacSha256::new_from_slice(&self.secret) {
            Ok(mut mac) => {
                mac.update(payload.as_bytes());
                mac.finalize().into_bytes().to_vec()
            }
            Err(_) => Vec::new(),
        }
    }

    /// Open a session: the cookie value, the CSRF token and the record (stored).
    pub async fn open_session(
        &self,
        store: &Store,
        ttl: Duration,
        ip: Option<IpAddr>,
        user_agent: Option<&str>,
    ) -> Result<(String, String, SessionRecord), StoreError> {
        let id = hex::encode(rand::random::<[u8; 16]>());
        let now = omniroute_store::now_ms();
        let expires = now.saturating_add(ttl.as_millis() as i64);
        let payload = format!("{id}.{expires}");
        let token = format!(
            "{payload}.{}",
            b64(&self.sign(&format!("session:{payload}")))
        );
        let rec = SessionRecord {
            id_hash: id_hash(&id),
            created_at: now,
            expires_at: expires,
            ip: ip.map(|i| i.to_string()),
            user_agent: user_agent.map(|u| u.chars().take(256).collect()),
        };
        store.insert_session(&rec).await?;
        if let Ok(mut s) = self.sessions.write() {
            s.retain(|_, r| r.expires_at > now);
            s.insert(rec.id_hash.clone(), rec.clone());
        }
        let csrf = self.csrf_for(&rec.id_hash);
        Ok((token, csrf, rec))
    }

    /// The live session a cookie value names, if its signature, expiry and record hold.
    pub fn session(&self, token: &str) -> Option<SessionRecord> {
        let (payload, sig) = token.rsplit_once('.')?;
        let (id, expires) = payload.split_once('.')?;
        if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sig)
            .ok()?;
        let mut mac = HmacSha256::new_from_slice(&self.secret).ok()?;
        mac.update(format!("session:{payload}").as_bytes());
        mac.verify_slice(&sig).ok()?;
        let expires: i64 = expires.parse().ok()?;
        if expires <= omniroute_store::now_ms() {
            return None;
        }
        let rec = self.sessions.read().ok()?.get(&id_hash(id)).cloned()?;
        (rec.expires_at > omniroute_store::now_ms()).then_some(rec)
    }

    /// The CSRF token of a session.
    pub fn csrf_for(&self, session_hash: &str) -> String {
        b64(&self.sign(&format!("csrf:{session_hash}")))
    }

    /// Whether `presented` is the session's CSRF token (constant time).
    pub fn csrf_ok(&self, session_hash: &str, presented: &str) -> bool {
        let Ok(p) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(presented.trim())
        else {
            return false;
        };
        match HmacSha256::new_from_slice(&self.secret) {
            Ok(mut mac) => {
                mac.update(format!("csrf:{session_hash}").as_bytes());
                mac.verify_slice(&p).is_ok()
            }
            Err(_) => false,
        }
    }

    /// End one session, or every session but `keep` (`only = None`).
    pub async fn end_sessions(
        &self,
        store: &Store,
        only: Option<&str>,
        keep: Option<&str>,
    ) -> Result<u64, StoreError> {
        let n = store.delete_sessions(only, keep).await?;
        if let Ok(mut s) = self.sessions.write() {
            match only {
                Some(h) => {
                    s.remove(h);
                }
                None => s.retain(|h, _| Some(h.as_str()) == keep),
            }
        }
        Ok(n)
    }

    /// Live sessions, newest first.
    pub fn sessions(&self) -> Vec<SessionRecord> {
        let now = omniroute_store::now_ms();
        let mut v: Vec<SessionRecord> = self
            .sessions
            .read()
            .map(|s| s.values().filter(|r| r.expires_at > now).cloned().collect())
            .unwrap_or_default();
        v.sort_by_key(|s| std::cmp::Reverse(s.created_at));
        v
    }

    /// Count a failed login; returns the lockout when this one triggers it.
    pub fn failed(&self, ip: IpAddr) -> Option<Duration> {
        let mut f = self.failures.lock().ok()?;
        let now = Instant::now();
        if f.len() >= MAX_TRACKED && !f.contains_key(&ip) {
            // forget the addresses whose window is over, else the oldest
            f.retain(|_, e| {
                e.locked_until.is_some_and(|u| u > now)
                    || e.first
                        .is_some_and(|t| now.duration_since(t) < FAILURE_WINDOW)
            });
            if f.len() >= MAX_TRACKED {
                // the oldest failure that is not a lockout
                if let Some(oldest) = f
                    .iter()
                    .filter(|(_, e)| e.locked_until.is_none())
                    .min_by_key(|(_, e)| e.first)
                    .map(|(k, _)| *k)
                {
                    f.remove(&oldest);
                }
            }
        }
        let e = f.entry(ip).or_default();
        e.pending = e.pending.saturating_sub(1);
        if e.first
            .is_none_or(|t| now.duration_since(t) >= FAILURE_WINDOW)
        {
            *e = Failures {
                count: 0,
                pending: e.pending,
                first: Some(now),
                locked_until: None,
            };
        }
        e.count += 1;
        if e.count >= MAX_FAILURES {
            e.locked_until = Some(now + LOCKOUT);
            e.count = 0;
            e.first = None;
            return Some(LOCKOUT);
        }
        None
    }

    /// Addresses locked out of the login now, with the seconds left.
    pub fn lockouts(&self) -> Vec<(IpAddr, u64)> {
        let now = Instant::now();
        let mut v: Vec<(IpAddr, u64)> = self
            .failures
            .lock()
            .map(|f| {
                f.iter()
                    .filter_map(|(ip, e)| {
                        let until = e.locked_until?;
                        (until > now).then(|| (*ip, (until - now).as_secs().max(1)))
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Lift an address's lockout (and forget its failures). Whether there was one.
    pub fn unlock(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        self.failures
            .lock()
            .map(|mut f| match f.get(&ip) {
                Some(e) if e.locked_until.is_some_and(|u| u > now) => {
                    f.remove(&ip);
                    true
                }
                _ => false,
            })
            .unwrap_or(false)
    }

    /// A successful login clears the address's failures.
    pub fn succeeded(&self, ip: IpAddr) {
        if let Ok(mut f) = self.failures.lock() {
            f.remove(&ip);
        }
    }

    /// An attempt that ended without a verdict (a malformed body): release its slot.
    pub fn abandoned(&self, ip: IpAddr) {
        if let Ok(mut f) = self.failures.lock() {
            if let Some(e) = f.get_mut(&ip) {
                e.pending = e.pending.saturating_sub(1);
            }
        }
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == name).then_some(v.trim())
        })
}

/// A `Set-Cookie` value: `SameSite=Strict`, `Path=/`, optionally `HttpOnly` and `Secure`;
/// `max_age` 0 deletes it.
pub fn set_cookie(
    name: &str,
    value: &str,
    max_age: Duration,
    http_only: bool,
    secure: bool,
) -> String {
    let mut c = format!(
        "{name}={value}; Path=/; SameSite=Strict; Max-Age={}",
        max_age.as_secs()
    );
    if http_only {
        c.push_str("; HttpOnly");
    }
    if secure {
        c.push_str("; Secure");
    }
    c
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("correct horsf", &h));
        assert!(!verify_password("x", "not a phc string"));
        assert!(password_problem("short").is_some());
        assert!(password_problem("long enough").is_none());
    }

    fn bare(secret: &[u8]) -> Auth {
        Auth {
            secret: secret.to_vec(),
            password: RwLock::new(None),
            sessions: RwLock::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            verifying: tokio::sync::Semaphore::new(MAX_VERIFYING),
            cookie_secure: false,
        }
    }

    /// A signed token for `id` expiring at `expires`, with its record stored (as `open_session`
    /// does, without the database).
    fn token(a: &Auth, id: &str, expires: i64) -> String {
        let payload = format!("{id}.{expires}");
        a.sessions.write().unwrap().insert(
            id_hash(id),
            SessionRecord {
                id_hash: id_hash(id),
                created_at: 0,
                expires_at: expires,
                ip: None,
                user_agent: None,
            },
        );
        format!("{payload}.{}", b64(&a.sign(&format!("session:{payload}"))))
    }

    #[test]
    fn sessions_need_signature_expiry_and_record() {
        let a = bare(b"0123456789abcdef0123456789abcdef");
        let id = "00112233445566778899aabbccddeeff";
        let later = omniroute_store::now_ms() + 60_000;
        let good = token(&a, id, later);
        assert!(a.session(&good).is_some());
        // expired
        let old = token(
            &a,
            "ffeeddccbbaa99887766554433221100",
            omniroute_store::now_ms() - 1,
        );
        assert!(a.session(&old).is_none());
        // signed with another secret
        let other = bare(b"another secret, also long enough!");
        let foreign = token(&other, id, later);
        assert!(a.session(&foreign).is_none());
        // signature fine but the session was ended
        a.sessions.write().unwrap().clear();
        assert!(a.session(&good).is_none());
        // CSRF tokens belong to their session
        let csrf = a.csrf_for("h1");
        assert!(a.csrf_ok("h1", &csrf));
        assert!(!a.csrf_ok("h2", &csrf));
        assert!(!a.csrf_ok("h1", "garbage!"));
    }

    #[test]
    fn lockout_after_five_failures_per_address() {
        let a = bare(b"0123456789abcdef0123456789abcdef");
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..4 {
            assert!(a.begin_attempt(ip).is_ok());
            assert!(a.failed(ip).is_none());
        }
        // a fifth guess may start, and a sixth in parallel may not
        assert!(a.begin_attempt(ip).is_ok());
        assert!(a.begin_attempt(ip).is_err(), "attempts in flight count");
        assert_eq!(a.failed(ip), Some(LOCKOUT));
        assert!(a.begin_attempt(ip).is_err());
        assert!(a.begin_attempt(other).is_ok(), "per address");
        a.succeeded(ip);
        assert!(a.begin_attempt(ip).is_ok());
    }

    #[test]
    fn cookies_parse_and_render() {
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::COOKIE,
            "a=1; omniroute_session=abc.123.sig ; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc.123.sig"));
        assert_eq!(cookie(&h, "missing"), None);
        let c = set_cookie("n", "v", Duration::from_secs(60), true, true);
        assert_eq!(
            c,
            "n=v; Path=/; SameSite=Strict; Max-Age=60; HttpOnly; Secure"
        );
    }
}
