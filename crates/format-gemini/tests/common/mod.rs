//! Shared helpers for the integration tests: fixture discovery and SSE parsing.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use omniroute_ir::{StreamDecoder, StreamEvent};
use omniroute_protocol::sse::{SseEvent, SseParser};
use serde_json::Value;

pub fn fixtures_root() -> PathBuf {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures/clients"
    ))
    .to_path_buf()
}

/// Every fixture file (`clients/<client>/<scenario>/<file>.json`), sorted; only names
/// containing `filter` when given.
pub fn fixture_files(filter: Option<&str>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for client in std::fs::read_dir(fixtures_root()).unwrap() {
        let client = client.unwrap().path();
        if !client.is_dir() {
            continue;
        }
        for scenario in std::fs::read_dir(&client).unwrap() {
            let scenario = scenario.unwrap().path();
            if !scenario.is_dir() {
                continue;
            }
            for f in std::fs::read_dir(&scenario).unwrap() {
                let f = f.unwrap().path();
                let name = f.file_name().unwrap().to_string_lossy().to_string();
                if name.ends_with(".json") && filter.is_none_or(|x| name.contains(x)) {
                    out.push(f);
                }
            }
        }
    }
    out.sort();
    out
}

pub fn load(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// `client/scenario/file` of a fixture path.
pub fn short_name(path: &Path) -> String {
    let parts: Vec<String> = path
        .components()
        .rev()
        .take(3)
        .map(|c| c.as_os_str().to_string_lossy().to_string())
        .collect();
    format!("{}/{}/{}", parts[2], parts[1], parts[0])
}

/// The model id in a Gemini request path (`/v1beta/models/{m}:...`).
pub fn model_of(fixture: &Value) -> String {
    let path = fixture["path"].as_str().unwrap();
    let m = path.rsplit('/').next().unwrap();
    m.split(':').next().unwrap().to_string()
}

/// Parse raw SSE bytes, fed in the given chunks.
pub fn sse_events(chunks: &[&[u8]]) -> Vec<SseEvent> {
    let mut p = SseParser::default();
    let mut out = Vec::new();
    for c in chunks {
        p.push(c, |e| out.push(e)).unwrap();
    }
    p.finish(|e| out.push(e));
    out
}

/// Raw SSE bytes → IR events through a fresh decoder.
pub fn decode_stream(mut dec: Box<dyn StreamDecoder>, chunks: &[&[u8]]) -> Vec<StreamEvent> {
    let mut out = Vec::new();
    for ev in sse_events(chunks) {
        dec.push(&ev, &mut out).unwrap();
    }
    dec.finish(&mut out);
    out
}
