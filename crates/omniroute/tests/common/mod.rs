//! Test harness: start the real `omniroute` binary on an ephemeral port with its own data dir.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The admin key every test gateway gets (unless a test sets its own) and its client sends.
pub const ADMIN_KEY: &str = "test-admin-key-0123456789abcdef";

pub struct Gateway {
    pub child: Child,
    pub url: String,
    pub data_dir: PathBuf,
    pub http: reqwest::Client,
    stderr_path: PathBuf,
}

pub struct Launch<'a> {
    pub data_dir: &'a Path,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

impl<'a> Launch<'a> {
    pub fn new(data_dir: &'a Path) -> Self {
        Launch {
            data_dir,
            args: Vec::new(),
            env: Vec::new(),
        }
    }
    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push(a.into());
        self
    }
    pub fn env(mut self, k: &str, v: impl Into<String>) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }
    pub async fn start(self) -> Gateway {
        try_start(self)
            .await
            .unwrap_or_else(|(code, err)| panic!("gateway did not start ({code:?}): {err}"))
    }
}

/// Start and return the gateway, or the exit code and stderr when it refused to start.
pub async fn try_start(l: Launch<'_>) -> Result<Gateway, (Option<i32>, String)> {
    let stderr_path = l.data_dir.join(format!("stderr-{}.log", rand_suffix()));
    let stderr = std::fs::File::create(&stderr_path).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_omniroute"));
    if !l.args.iter().any(|a| a == "--port") {
        cmd.args(["--port", "0"]);
    }
    cmd.args(["--no-open", "--data-dir"])
        .arg(l.data_dir)
        .args(&l.args)
        .current_dir(l.data_dir)
        .env("RUST_LOG", "info")
        .env_remove("REQUIRE_API_KEY")
        .env_remove("HOSTNAME")
        .env_remove("PORT")
        .env_remove("STORAGE_ENCRYPTION_KEY")
        .env_remove("OMNIROUTE_ADMIN_TOKEN")
        .env_remove("OMNIROUTE_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr))
        .kill_on_drop(true);
    cmd.env("OMNIROUTE_ADMIN_TOKEN", ADMIN_KEY);
    for (k, v) in &l.env {
        cmd.env(k, v);
    }
    // the client sends the admin key in its own header, which never meets `/v1` key checks
    let admin_key = l
        .env
        .iter()
        .find(|(k, _)| k == "OMNIROUTE_ADMIN_TOKEN")
        .map_or(ADMIN_KEY.to_string(), |(_, v)| v.clone());
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await;
    match line {
        Ok(Ok(Some(line))) if line.contains("listening on") => {
            let url = line
                .split_whitespace()
                .find(|w| w.starts_with("http://"))
                .unwrap()
                .to_string();
            // keep draining stdout so the child never blocks on a full pipe
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            Ok(Gateway {
                child,
                url,
                data_dir: l.data_dir.to_path_buf(),
                http: reqwest::Client::builder()
                    .pool_max_idle_per_host(0)
                    .default_headers(
                        [(
                            reqwest::header::HeaderName::from_static("x-admin-key"),
                            reqwest::header::HeaderValue::from_str(&admin_key).unwrap(),
                        )]
                        .into_iter()
                        .collect(),
                    )
                    .build()
                    .unwrap(),
                stderr_path,
            })
        }
        _ => {
            let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
            let code = status.ok().and_then(|s| s.ok()).and_then(|s| s.code());
            Err((
                code,
                std::fs::read_to_string(&stderr_path).unwrap_or_default(),
            ))
        }
    }
}

fn rand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

impl Gateway {
    pub fn v1(&self, path: &str) -> String {
        format!("{}/v1{}", self.url, path)
    }
    pub fn api(&self, path: &str) -> String {
        format!("{}/api{}", self.url, path)
    }
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
    pub fn signal(&self, sig: i32) {
        let pid = self.child.id().expect("running") as i32;
        // SAFETY: sending a signal to our own child process.
        unsafe {
            libc::kill(pid, sig);
        }
    }
    /// SIGTERM and wait for exit; returns the exit code.
    pub async fn stop(mut self) -> Option<i32> {
        self.signal(libc::SIGTERM);
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("gateway did not exit after SIGTERM")
            .unwrap();
        status.code()
    }
    /// `GET /api{path}` as JSON.
    pub async fn api_json(&self, path: &str) -> serde_json::Value {
        self.http
            .get(self.api(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn chat(&self, body: serde_json::Value) -> reqwest::Response {
        self.http
            .post(self.v1("/chat/completions"))
            .json(&body)
            .send()
            .await
            .unwrap()
    }
}

/// A config file routing `mock/*` to the given mock upstream.
pub fn mock_config(dir: &Path, mock_url: &str, extra: &str) -> PathBuf {
    let path = dir.join("omniroute.toml");
    std::fs::write(
        &path,
        format!(
            "[[nodes]]\nid = \"mock\"\nformat = \"openai\"\nbase_url = \"{mock_url}/v1\"\napi_key = \"{UPSTREAM_SECRET}\"\nmodels = [\"mock-small\"]\n{extra}"
        ),
    )
    .unwrap();
    path
}

pub const UPSTREAM_SECRET: &str = "sk-upstream-SECRET-0123456789abcdef";

pub fn user(text: &str) -> serde_json::Value {
    serde_json::json!({"model": "mock/mock-small", "messages": [{"role": "user", "content": text}]})
}

pub fn stream_user(text: &str) -> serde_json::Value {
    let mut v = user(text);
    v["stream"] = serde_json::json!(true);
    v
}

/// Parse an SSE body into its `data:` payloads.
pub fn sse_data(body: &str) -> Vec<String> {
    let body = body.replace("\r\n", "\n");
    body.split("\n\n")
        .filter_map(|ev| {
            let data: Vec<&str> = ev
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .collect();
            (!data.is_empty()).then(|| data.join("\n"))
        })
        .collect()
}

/// The concatenated `delta.content` of an OpenAI chat stream.
pub fn stream_text(body: &str) -> String {
    sse_data(body)
        .iter()
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect()
}

/// A config with custom nodes on the mock, each `(id, format, account keys)`: one connection per
/// key, named and keyed after it, in priority order; `extra` is appended as is.
pub fn config(mock: &str, nodes: &[(&str, &str, &[&str])], extra: &str) -> String {
    let mut s = String::new();
    for (id, format, keys) in nodes {
        let base = if *format == "gemini" {
            format!("{mock}/v1beta")
        } else {
            format!("{mock}/v1")
        };
        s += &format!(
            "[[nodes]]\nid = \"{id}\"\nformat = \"{format}\"\nbase_url = \"{base}\"\nmodels = [\"mock-small\"]\n\n"
        );
        for (i, k) in keys.iter().enumerate() {
            s += &format!(
                "[[connections]]\nprovider = \"{id}\"\nname = \"{k}\"\napi_key = \"{k}\"\npriority = {i}\n\n"
            );
        }
    }
    s + extra
}

/// Start the gateway with `cfg` written as `DIR/omniroute.toml`.
pub async fn start(dir: &Path, cfg: &str) -> Gateway {
    let path = dir.join("omniroute.toml");
    std::fs::write(&path, cfg).unwrap();
    Launch::new(dir)
        .arg("--config")
        .arg(path.to_str().unwrap())
        .start()
        .await
}

/// Upstream calls the mock counted for an account key.
pub fn calls(mock: &mock_upstream::MockUpstream, key: &str) -> u64 {
    mock.stats().by_key.get(key).copied().unwrap_or(0)
}

/// A one-message OpenAI chat body.
pub fn body(model: &str, text: &str) -> serde_json::Value {
    serde_json::json!({"model": model, "messages": [{"role": "user", "content": text}]})
}

/// POST a chat completion with extra headers: status, headers, body text.
pub async fn post_h(
    gw: &Gateway,
    b: &serde_json::Value,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut r = gw.http.post(gw.v1("/chat/completions")).json(b);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let h = r.headers().clone();
    (status, h, r.text().await.unwrap())
}

pub async fn post(
    gw: &Gateway,
    b: &serde_json::Value,
) -> (u16, reqwest::header::HeaderMap, String) {
    post_h(gw, b, &[]).await
}

/// A response header as text ("" when absent).
pub fn header<'a>(h: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}
