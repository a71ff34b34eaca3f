//! Who gets into the management API: the whole `/api` route table refuses callers without a
//! session or the admin key; login, CSRF, lockout, first-run setup, password change and logout
//! behave as a browser sees them (cookies read from `Set-Cookie`, sent back by hand).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use serde_json::{json, Value};

const PASSWORD: &str = "first-password-123";

/// A client with no admin key.
fn anonymous() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// Every (method, path) of `/api` and `/metrics` in the gateway's published OpenAPI description
/// (a unit test in `omniroute-server` keeps it equal to the routers' route table, so a route
/// added later is covered here without touching this test).
async fn route_table(gw: &Gateway) -> Vec<(String, String)> {
    let doc: Value = anonymous()
        .get(format!("{}/openapi.json", gw.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if path.starts_with("/api/") || path == "/metrics" {
            for m in item.as_object().unwrap().keys() {
                out.push((m.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    out
}

fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if seg == "{model}" {
                "some/thing".to_string()
            } else if seg.starts_with('{') {
                "some-id".to_string()
            } else {
                seg.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

const PUBLIC: &[&str] = &[
    "/api/auth/status",
    "/api/auth/login",
    "/api/auth/setup",
    "/api/auth/logout",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_api_route_answers_without_a_session_or_the_admin_key() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Launch::new(dir.path())
        .env("INITIAL_PASSWORD", PASSWORD)
        .start()
        .await;
    let routes = route_table(&gw).await;
    assert!(routes.len() > 50, "the route table parsed: {routes:?}");
    let anon = anonymous();
    for (method, path) in &routes {
        if PUBLIC.contains(&path.as_str()) {
            continue;
        }
        let url = format!("{}{}", gw.url, concrete(path));
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        // nothing, a wrong bearer, a wrong admin header, a forged cookie, from "outside"
        let attempts: Vec<reqwest::RequestBuilder> = vec![
            anon.request(m.clone(), &url),
            anon.request(m.clone(), &url).bearer_auth("not-the-key"),
            anon.request(m.clone(), &url)
                .header("x-admin-key", "not-the-key"),
            anon.request(m.clone(), &url).header(
                "cookie",
                "omniroute_session=00112233445566778899aabbccddeeff.99999999999999.AAAA",
            ),
            anon.request(m.clone(), &url)
                .header("x-forwarded-for", "203.0.113.7"),
        ];
        for (n, req) in attempts.into_iter().enumerate() {
            let r = req
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap();
            assert_eq!(
                r.status(),
                401,
                "{method} {path} (attempt {n}) answered without a session"
            );
            let v: Value = r.json().await.unwrap();
            assert!(v["error"]["code"].is_string(), "{v}");
        }
        // and the admin key gets past the guard (whatever the handler then says)
        let r = gw
            .http
            .request(m.clone(), &url)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_ne!(r.status(), 401, "{method} {path} refused the admin key");
        assert!(r.status().as_u16() < 500, "{method} {path}: {}", r.status());
    }
    gw.stop().await;
}

/// A browser's view of one session: the cookie header to send back and the CSRF token.
struct Browser {
    cookie: String,
    csrf: String,
}

fn cookies_of(r: &reqwest::Response) -> Vec<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

async fn login(
    gw: &Gateway,
    password: &str,
) -> (reqwest::StatusCode, Option<Browser>, Vec<String>) {
    let r = anonymous()
        .post(gw.api("/auth/login"))
        .json(&json!({ "password": password }))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let set = cookies_of(&r);
    if !status.is_success() {
        return (status, None, set);
    }
    let v: Value = r.json().await.unwrap();
    let session = set
        .iter()
        .find(|c| c.starts_with("omniroute_session="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let csrf = v["csrf_token"].as_str().unwrap().to_string();
    let csrf_cookie = set
        .iter()
        .find(|c| c.starts_with("omniroute_csrf="))
        .unwrap();
    assert!(csrf_cookie.starts_with(&format!("omniroute_csrf={csrf};")));
    (
        status,
        Some(Browser {
            cookie: session,
            csrf,
        }),
        set,
    )
}

impl Browser {
    fn get(&self, gw: &Gateway, path: &str) -> reqwest::RequestBuilder {
        anonymous().get(gw.api(path)).header("cookie", &self.cookie)
    }
    fn send(
        &self,
        gw: &Gateway,
        method: reqwest::Method,
        path: &str,
        csrf: bool,
    ) -> reqwest::RequestBuilder {
        let r = anonymous()
            .request(method, gw.api(path))
            .header("cookie", &self.cookie);
        if csrf {
            r.header("x-csrf-token", &self.csrf)
        } else {
            r
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_csrf_password_change_and_logout() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Launch::new(dir.path())
        .env("INITIAL_PASSWORD", PASSWORD)
        .start()
        .await;
    let status: Value = anonymous()
        .get(gw.api("/auth/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["password_set"], true);
    assert_eq!(status["must_change_password"], true);
    assert_eq!(status["logged_in"], false);

    let (st, none, _) = login(&gw, "wrong-password").await;
    assert_eq!(st, 401);
    assert!(none.is_none());
    let (st, b, set) = login(&gw, PASSWORD).await;
    assert_eq!(st, 200);
    let b = b.unwrap();
    let session = set
        .iter()
        .find(|c| c.starts_with("omniroute_session="))
        .unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(session.contains(attr), "{session}");
    }
    assert!(
        !session.contains("Secure"),
        "plain HTTP without AUTH_COOKIE_SECURE: {session}"
    );
    let csrf_cookie = set
        .iter()
        .find(|c| c.starts_with("omniroute_csrf="))
        .unwrap();
    assert!(
        !csrf_cookie.contains("HttpOnly"),
        "the page reads the CSRF cookie"
    );

    // the initial password must be changed before anything else
    let r = b.get(&gw, "/connections").send().await.unwrap();
    assert_eq!(r.status(), 403);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "password_change_required");
    let change = json!({"current_password": PASSWORD, "new_password": "a-better-password-456"});
    let r = b
        .send(&gw, reqwest::Method::POST, "/auth/password", false)
        .json(&change)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "no CSRF token");
    let r = b
        .send(&gw, reqwest::Method::POST, "/auth/password", true)
        .json(
            &json!({"current_password": "nope-nope-nope", "new_password": "another-password-789"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "the current password is checked");
    let r = b
        .send(&gw, reqwest::Method::POST, "/auth/password", true)
        .json(&change)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    // now the session works; state changes need the CSRF token
    let r = b.get(&gw, "/connections").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let setting = json!({"cache_ttl_ms": 1234});
    let r = b
        .send(&gw, reqwest::Method::PUT, "/settings", false)
        .json(&setting)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "csrf_token_invalid");
    let r = anonymous()
        .put(gw.api("/settings"))
        .header("cookie", &b.cookie)
        .header(
            "x-csrf-token",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        )
        .json(&setting)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a wrong token");
    let r = b
        .send(&gw, reqwest::Method::PUT, "/settings", true)
        .json(&setting)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // the audit log names the session
    let audit: Value = gw.api_json("/audit").await;
    let entries = audit["entries"].as_array().unwrap();
    assert!(entries
        .iter()
        .any(|e| e["target"] == "/api/settings"
            && e["actor"].as_str().unwrap().starts_with("session:")));
    assert!(entries.iter().any(|e| e["action"] == "login_failed"));
    assert!(entries.iter().any(|e| e["action"] == "login"));

    // the old password no longer works; a second session, then password change ends it
    let (st, _, _) = login(&gw, PASSWORD).await;
    assert_eq!(st, 401);
    let (_, other, _) = login(&gw, "a-better-password-456").await;
    let other = other.unwrap();
    assert_eq!(
        other
            .get(&gw, "/connections")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let sessions: Value = b
        .get(&gw, "/auth/sessions")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        sessions["sessions"].as_array().unwrap().len(),
        2,
        "{sessions}"
    );

    // sessions survive a restart
    let dir_path = gw.data_dir.clone();
    gw.stop().await;
    let gw = Launch::new(&dir_path).start().await;
    assert_eq!(
        b.get(&gw, "/connections").send().await.unwrap().status(),
        200
    );

    let r = b
        .send(&gw, reqwest::Method::POST, "/auth/password", true)
        .json(&json!({"current_password": "a-better-password-456", "new_password": "third-password-000"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        other
            .get(&gw, "/connections")
            .send()
            .await
            .unwrap()
            .status(),
        401,
        "other sessions end"
    );
    assert_eq!(
        b.get(&gw, "/connections").send().await.unwrap().status(),
        200,
        "this one stays"
    );

    // logout: cookies cleared, the old cookie is dead
    let r = b
        .send(&gw, reqwest::Method::POST, "/auth/logout", true)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cleared = cookies_of(&r);
    assert!(cleared
        .iter()
        .any(|c| c.starts_with("omniroute_session=;") && c.contains("Max-Age=0")));
    assert_eq!(
        b.get(&gw, "/connections").send().await.unwrap().status(),
        401
    );
    // a cookie with a changed signature or expiry is refused
    let (_, fresh, _) = login(&gw, "third-password-000").await;
    let fresh = fresh.unwrap();
    let value = fresh.cookie.trim_start_matches("omniroute_session=");
    let mut parts: Vec<&str> = value.split('.').collect();
    let longer = (parts[1].parse::<i64>().unwrap() + 1000).to_string();
    parts[1] = &longer;
    let forged = Browser {
        cookie: format!("omniroute_session={}", parts.join(".")),
        csrf: fresh.csrf.clone(),
    };
    assert_eq!(
        forged
            .get(&gw, "/connections")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brute_force_is_locked_out() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Launch::new(dir.path())
        .env("INITIAL_PASSWORD", PASSWORD)
        .start()
        .await;
    for i in 0..4 {
        let (st, _, _) = login(&gw, &format!("guess-number-{i}")).await;
        assert_eq!(st, 401);
    }
    // the fifth failure locks the address out, and then even the right password is refused
    let (st, _, _) = login(&gw, "guess-number-4").await;
    assert_eq!(st, 429);
    let r = anonymous()
        .post(gw.api("/auth/login"))
        .json(&json!({ "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((800..=900).contains(&retry), "{retry}");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "login_locked");
    let audit: Value = gw.api_json("/audit").await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions.iter().filter(|a| **a == "login_failed").count(),
        5,
        "{actions:?}"
    );
    assert!(actions.contains(&"login_locked"));
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_setup_only_from_this_machine() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Launch::new(dir.path()).start().await;
    let status: Value = anonymous()
        .get(gw.api("/auth/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["password_set"], false);
    assert_eq!(status["setup_allowed"], true);
    let (st, _, _) = login(&gw, "anything-at-all").await;
    assert_eq!(st, 409, "no password yet");
    // through a proxy (someone on the network) the first password cannot be claimed
    let r = anonymous()
        .post(gw.api("/auth/setup"))
        .header("x-forwarded-for", "203.0.113.50")
        .json(&json!({"password": "claimed-by-a-stranger"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = anonymous()
        .post(gw.api("/auth/setup"))
        .json(&json!({"password": "short"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "weak password");
    let r = anonymous()
        .post(gw.api("/auth/setup"))
        .json(&json!({"password": "my-own-password-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(cookies_of(&r)
        .iter()
        .any(|c| c.starts_with("omniroute_session=")));
    let r = anonymous()
        .post(gw.api("/auth/setup"))
        .json(&json!({"password": "second-try-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "once only");
    let (st, b, _) = login(&gw, "my-own-password-1").await;
    assert_eq!(st, 200);
    assert_eq!(
        b.unwrap()
            .get(&gw, "/connections")
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "no forced change for a password the owner chose"
    );
    // the database holds a hash, never the password
    let mut db = std::fs::read(gw.data_dir.join("omniroute.db")).unwrap();
    db.extend(std::fs::read(gw.data_dir.join("omniroute.db-wal")).unwrap_or_default());
    let text = String::from_utf8_lossy(&db);
    assert!(!text.contains("my-own-password-1"));
    assert!(text.contains("$argon2id$"));
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_cookies_and_the_login_requirement_setting() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Launch::new(dir.path())
        .env("INITIAL_PASSWORD", PASSWORD)
        .env("AUTH_COOKIE_SECURE", "true")
        .start()
        .await;
    let (_, _, set) = login(&gw, PASSWORD).await;
    assert!(set.iter().all(|c| c.contains("; Secure")), "{set:?}");
    assert_eq!(
        anonymous()
            .get(gw.api("/connections"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    // the owner turns the requirement off: this machine gets in without a session, the network
    // still does not
    let r = gw
        .http
        .put(gw.api("/settings"))
        .json(&json!({"require_login": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        anonymous()
            .get(gw.api("/connections"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = anonymous()
        .get(gw.api("/connections"))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_keys_for_automation() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Launch::new(dir.path())
        .env("REQUIRE_API_KEY", "true")
        .start()
        .await;
    let r = gw
        .http
        .post(gw.api("/keys"))
        .json(&json!({"name": "ci-bot", "kind": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["kind"], "admin");
    let (id, key) = (
        v["id"].as_str().unwrap().to_string(),
        v["key"].as_str().unwrap().to_string(),
    );
    // as a bearer or in X-Admin-Key, from outside too; named in the audit
    let r = anonymous()
        .get(gw.api("/connections"))
        .bearer_auth(&key)
        .header("x-forwarded-for", "203.0.113.3")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = anonymous()
        .put(gw.api("/settings"))
        .header("x-admin-key", &key)
        .json(&json!({"cache_ttl_ms": 999}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "no CSRF token needed without a cookie");
    let audit: Value = gw.api_json("/audit").await;
    assert!(audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["actor"] == format!("admin-key:{id}").as_str()));
    // not a gateway key
    let r = anonymous()
        .post(gw.v1("/chat/completions"))
        .bearer_auth(&key)
        .json(&json!({"model": "x", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // revoked: out
    gw.http
        .delete(gw.api(&format!("/keys/{id}")))
        .send()
        .await
        .unwrap();
    let r = anonymous()
        .get(gw.api("/connections"))
        .header("x-admin-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_sites_page_cannot_act_through_the_browser() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Launch::new(dir.path()).start().await;
    let setup = |extra: (&'static str, String)| {
        let url = gw.api("/auth/setup");
        async move {
            anonymous()
                .post(url)
                .header(extra.0, extra.1)
                .header("content-type", "text/plain")
                .body(r#"{"password":"attacker-password-1"}"#)
                .send()
                .await
                .unwrap()
        }
    };
    // a no-cors POST from another site (first run: the password is up for grabs otherwise)
    let r = setup(("origin", "http://evil.example".into())).await;
    assert_eq!(r.status(), 403);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "cross_site_request");
    let r = setup(("sec-fetch-site", "cross-site".into())).await;
    assert_eq!(r.status(), 403);
    // DNS rebinding: the page's own host name reaches 127.0.0.1
    let port = gw.url.rsplit(':').next().unwrap().to_string();
    let r = setup(("host", format!("evil.example:{port}"))).await;
    assert_eq!(r.status(), 403);
    let status: Value = anonymous()
        .get(gw.api("/auth/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["password_set"], false, "nothing was set");
    // the same origin (the dashboard itself) is fine
    let r = setup(("origin", gw.url.clone())).await;
    assert_eq!(r.status(), 200);
    // bodies on /api are bounded, even for the login routes
    let r = anonymous()
        .post(gw.api("/auth/login"))
        .header("content-type", "application/json")
        .body(vec![b' '; 5 << 20])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    gw.stop().await;
}
