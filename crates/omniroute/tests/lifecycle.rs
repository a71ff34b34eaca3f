//! Process lifecycle: restart persistence, config file apply and reload, refusal of invalid
//! configuration, `.env` precedence, graceful shutdown with a stream in flight.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use mock_upstream::MockUpstream;
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let gw = Launch::new(dir.path()).start().await;
    let r = gw
        .http
        .post(gw.api("/provider-nodes"))
        .json(&json!({"id": "local", "format": "openai", "base_url": format!("{}/v1", mock.url())}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = gw
        .http
        .post(gw.api("/connections"))
        .json(&json!({"provider": "local", "name": "main", "api_key": "sk-local-secret-abcdef123"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = gw
        .http
        .post(gw.api("/provider-models"))
        .json(&json!({"provider": "local", "model": "m1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(gw.stop().await, Some(0));

    let gw = Launch::new(dir.path()).start().await;
    let r = gw
        .chat(
            json!({"model": "local/m1", "messages": [{"role": "user", "content": "still here?"}]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["choices"][0]["message"]["content"],
        "echo: still here?"
    );
    assert_eq!(
        mock.last_request().unwrap().header("authorization"),
        Some("Bearer sk-local-secret-abcdef123")
    );
    let models: Value = gw
        .http
        .get(gw.v1("/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(models.to_string().contains("local/m1"));
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_file_is_applied_and_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let cfg = mock_config(dir.path(), &mock.url(), "");
    let gw = Launch::new(dir.path())
        .arg("--config")
        .arg(cfg.to_str().unwrap())
        .start()
        .await;
    assert_eq!(gw.chat(user("a")).await.status(), 200);
    assert_eq!(
        gw.chat(json!({"model": "mock2/x", "messages": []}))
            .await
            .status(),
        404
    );

    // add a second node, reload with SIGHUP
    mock_config(dir.path(), &mock.url(), &format!("[[nodes]]\nid = \"mock2\"\nformat = \"openai\"\nbase_url = \"{}/v1\"\nauth = \"none\"\n", mock.url()));
    gw.signal(libc::SIGHUP);
    let mut ok = false;
    for _ in 0..50 {
        if gw
            .chat(json!({"model": "mock2/x", "messages": [{"role": "user", "content": "b"}]}))
            .await
            .status()
            == 200
        {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ok, "SIGHUP did not reload the config");

    // an invalid edit is refused by the API reload and the running config stays
    std::fs::write(
        &cfg,
        "[[connections]]\nprovider = \"mock\"\nnaem = \"typo\"\n",
    )
    .unwrap();
    let r = gw.http.post(gw.api("/config/reload")).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("connections[0]"),
        "{e}"
    );
    assert_eq!(gw.chat(user("still works")).await.status(), 200);

    // removing the node from the file removes it on reload
    mock_config(dir.path(), &mock.url(), "");
    let r = gw.http.post(gw.api("/config/reload")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        gw.chat(json!({"model": "mock2/x", "messages": [{"role": "user", "content": "b"}]}))
            .await
            .status(),
        404
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_configuration_refuses_to_start_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("bad.toml", "[[connections]]\nprovider = \"openai\"\nname = \"a\"\napi_kee = \"x\"\n", "connections[0]"),
        ("bad.yaml", "nodes:\n  - id: n\n    format: soap\n    base_url: http://h\n", "nodes[0].format"),
        ("env.toml", "[[connections]]\nprovider = \"openai\"\nname = \"a\"\napi_key = \"env:SURELY_NOT_SET_VAR\"\n", "SURELY_NOT_SET_VAR"),
    ];
    for (name, text, expect) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let err = try_start(
            Launch::new(dir.path())
                .arg("--config")
                .arg(path.to_str().unwrap()),
        )
        .await
        .err()
        .expect("must refuse");
        assert_eq!(err.0, Some(2));
        assert!(
            err.1.contains(expect),
            "stderr should name `{expect}`: {}",
            err.1
        );
    }
    let err = try_start(Launch::new(dir.path()).arg("--host").arg("not-an-ip"))
        .await
        .err()
        .expect("must refuse");
    assert!(err.1.contains("--host"), "{}", err.1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dotenv_is_read_and_env_and_flags_override_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "REQUIRE_API_KEY=true\nSHUTDOWN_TIMEOUT=7\n",
    )
    .unwrap();
    let gw = Launch::new(dir.path()).start().await;
    assert_eq!(
        gw.http.get(gw.v1("/models")).send().await.unwrap().status(),
        401,
        ".env applied"
    );
    gw.stop().await;
    let gw = Launch::new(dir.path())
        .env("REQUIRE_API_KEY", "false")
        .start()
        .await;
    assert_eq!(
        gw.http.get(gw.v1("/models")).send().await.unwrap().status(),
        200,
        "env overrides .env"
    );
    gw.stop().await;
    // a flag overrides the environment
    let port = {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let mut l = Launch::new(dir.path()).env("PORT", "1");
    l.args.push("--port".into());
    l.args.push(port.to_string());
    let gw = l.start().await;
    assert!(gw.url.ends_with(&format!(":{port}")), "{}", gw.url);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_lets_a_running_stream_finish() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let cfg = mock_config(dir.path(), &mock.url(), "");
    let mut gw = Launch::new(dir.path())
        .arg("--config")
        .arg(cfg.to_str().unwrap())
        .start()
        .await;
    let mut resp = gw
        .chat(stream_user("[[mock:chunks=8;delay=150]] finish me"))
        .await;
    let mut body = String::from_utf8(resp.chunk().await.unwrap().unwrap().to_vec()).unwrap();
    gw.signal(libc::SIGTERM);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // new connections are refused while draining
    let fresh = reqwest::Client::new()
        .get(format!("{}/health", gw.url))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(fresh.is_err(), "accepted a new connection after SIGTERM");
    while let Some(c) = resp.chunk().await.unwrap() {
        body.push_str(&String::from_utf8_lossy(&c));
    }
    assert_eq!(
        sse_data(&body).last().map(String::as_str),
        Some("[DONE]"),
        "stream was cut: {body}"
    );
    assert!(stream_text(&body).starts_with("echo: "));
    let status = tokio::time::timeout(Duration::from_secs(10), gw.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    let err = gw.stderr();
    assert!(err.contains("request log flushed"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_version() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Launch::new(dir.path()).start().await;
    let h: Value = gw
        .http
        .get(format!("{}/health", gw.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(h["status"], "ok");
    let r = gw
        .http
        .get(format!("{}/ready", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    gw.stop().await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_omniroute"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_omniroute"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in ["--port", "--host", "--data-dir", "--config", "--no-open"] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
}
