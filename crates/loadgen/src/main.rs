//! `omniroute-loadgen`: the benchmark's load tool. Keep-alive HTTP/1.1 load at a fixed
//! concurrency with per-request latency (and time to first body byte for streams) recorded in
//! microseconds, plus a `startup` mode timing process start to first served request. Prints JSON.

use bytes::Bytes;
use clap::{Parser, Subcommand};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Load generator for OmniRoute benchmarks")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// POST a JSON body at a fixed concurrency.
    Load {
        #[arg(long)]
        url: String,
        /// JSON request body.
        #[arg(long)]
        body: String,
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
        /// Total requests (after warm-up).
        #[arg(long, default_value_t = 5000)]
        requests: u64,
        #[arg(long, default_value_t = 200)]
        warmup: u64,
        /// Extra header `name: value` (repeatable).
        #[arg(long)]
        header: Vec<String>,
    },
    /// Spawn a command and time until GET URL answers 200.
    Startup {
        #[arg(long)]
        url: String,
        /// Command and arguments.
        #[arg(last = true)]
        cmd: Vec<String>,
    },
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

struct Sample {
    total_us: u64,
    first_us: u64,
    ok: bool,
}

async fn one(
    client: &HttpClient,
    url: &hyper::Uri,
    body: &Bytes,
    headers: &[(String, String)],
) -> Sample {
    let start = Instant::now();
    let mut req = hyper::Request::post(url.clone()).header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let Ok(req) = req.body(Full::new(body.clone())) else {
        return Sample {
            total_us: 0,
            first_us: 0,
            ok: false,
        };
    };
    let resp = match client.request(req).await {
        Ok(r) => r,
        Err(_) => {
            return Sample {
                total_us: start.elapsed().as_micros() as u64,
                first_us: 0,
                ok: false,
            }
        }
    };
    let ok = resp.status().is_success();
    let mut body = resp.into_body();
    let mut first_us = 0;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => {
                if first_us == 0 && f.data_ref().is_some_and(|d| !d.is_empty()) {
                    first_us = start.elapsed().as_micros() as u64;
                }
            }
            Err(_) => {
                return Sample {
                    total_us: start.elapsed().as_micros() as u64,
                    first_us,
                    ok: false,
                }
            }
        }
    }
    Sample {
        total_us: start.elapsed().as_micros() as u64,
        first_us,
        ok,
    }
}

async fn load(
    url: String,
    body: String,
    concurrency: usize,
    requests: u64,
    warmup: u64,
    header: Vec<String>,
) -> Result<serde_json::Value, String> {
    let uri: hyper::Uri = url.parse().map_err(|e| format!("bad url: {e}"))?;
    let headers: Vec<(String, String)> = header
        .iter()
        .filter_map(|h| {
            h.split_once(':')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
    connector.set_nodelay(true);
    let client: HttpClient = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(concurrency.max(1) * 2)
        .build(connector);
    let body = Bytes::from(body);
    for _ in 0..warmup {
        one(&client, &uri, &body, &headers).await;
    }
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (client, uri, body, headers, next) = (
            client.clone(),
            uri.clone(),
            body.clone(),
            headers.clone(),
            next.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < requests {
                out.push(one(&client, &uri, &body, &headers).await);
            }
            out
        }));
    }
    let mut samples = Vec::with_capacity(requests as usize);
    for t in tasks {
        samples.extend(t.await.map_err(|e| e.to_string())?);
    }
    let wall = started.elapsed();
    let errors = samples.iter().filter(|s| !s.ok).count();
    let mut total: Vec<u64> = samples
        .iter()
        .filter(|s| s.ok)
        .map(|s| s.total_us)
        .collect();
    let mut first: Vec<u64> = samples
        .iter()
        .filter(|s| s.ok)
        .map(|s| s.first_us)
        .collect();
    total.sort_unstable();
    first.sort_unstable();
    Ok(json!({
        "url": url,
        "concurrency": concurrency,
        "requests": samples.len(),
        "errors": errors,
        "wall_s": wall.as_secs_f64(),
        "rps": samples.len() as f64 / wall.as_secs_f64(),
        "latency_us": {"p50": percentile(&total, 0.5), "p90": percentile(&total, 0.9), "p99": percentile(&total, 0.99), "max": total.last().copied().unwrap_or(0)},
        "first_byte_us": {"p50": percentile(&first, 0.5), "p90": percentile(&first, 0.9), "p99": percentile(&first, 0.99)},
    }))
}

async fn startup(url: String, cmd: Vec<String>) -> Result<serde_json::Value, String> {
    let (prog, args) = cmd.split_first().ok_or("no command given")?;
    let uri: hyper::Uri = url.parse().map_err(|e| format!("bad url: {e}"))?;
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let started = Instant::now();
    let mut child = tokio::process::Command::new(prog)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("spawn: {e}"))?;
    let deadline = started + Duration::from_secs(10);
    loop {
        if Instant::now() > deadline {
            return Err("no answer within 10 s".into());
        }
        let req = hyper::Request::get(uri.clone())
            .body(Full::new(Bytes::new()))
            .map_err(|e| e.to_string())?;
        if let Ok(r) = client.request(req).await {
            if r.status().is_success() {
                break;
            }
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let _ = child.kill().await;
    Ok(json!({"startup_ms": ms}))
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async move {
        match cli.cmd {
            Cmd::Load {
                url,
                body,
                concurrency,
                requests,
                warmup,
                header,
            } => load(url, body, concurrency, requests, warmup, header).await,
            Cmd::Startup { url, cmd } => startup(url, cmd).await,
        }
    });
    match result {
        Ok(v) => {
            println!("{v}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("omniroute-loadgen: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
