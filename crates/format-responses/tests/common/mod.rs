//! Helpers shared by the integration tests: fixture loading, SSE parsing, and a checker for the
//! lifecycle of an encoded Responses stream.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use omniroute_protocol::sse::{SseEvent, SseParser};
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;

pub const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/fixtures/clients"
);

/// Every `*openai_responses*.json` fixture, as (relative path, whole recording).
pub fn responses_fixtures() -> Vec<(String, Value)> {
    let root = PathBuf::from(FIXTURES);
    let mut out = Vec::new();
    for client in std::fs::read_dir(&root).unwrap() {
        let client = client.unwrap().path();
        if !client.is_dir() {
            continue;
        }
        for scenario in std::fs::read_dir(&client).unwrap() {
            let scenario = scenario.unwrap().path();
            if !scenario.is_dir() {
                continue;
            }
            for file in std::fs::read_dir(&scenario).unwrap() {
                let file = file.unwrap().path();
                let name = file.file_name().unwrap().to_string_lossy().to_string();
                if name.contains("openai_responses") && name.ends_with(".json") {
                    let rel = file
                        .strip_prefix(&root)
                        .unwrap()
                        .to_string_lossy()
                        .to_string();
                    let v: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
                    out.push((rel, v));
                }
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// One fixture by relative path.
pub fn fixture(rel: &str) -> Value {
    let path = PathBuf::from(FIXTURES).join(rel);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Parse SSE bytes, fed in the given chunks.
pub fn parse_sse(chunks: &[&[u8]]) -> Vec<SseEvent> {
    let mut p = SseParser::default();
    let mut out = Vec::new();
    for c in chunks {
        p.push(c, |e| out.push(e)).unwrap();
    }
    p.finish(|e| out.push(e));
    out
}

/// The JSON data of every event, checking that `event:` names match the `type`.
pub fn events_json(bytes: &[u8]) -> Vec<Value> {
    parse_sse(&[bytes])
        .into_iter()
        .map(|e| {
            let v: Value = serde_json::from_str(&e.data).unwrap();
            assert_eq!(e.event.as_deref(), v["type"].as_str(), "event name = type");
            v
        })
        .collect()
}

/// Check the lifecycle rules of an encoded stream and return the terminal event.
pub fn check_lifecycle(events: &[Value]) -> Value {
    assert!(events.len() >= 3, "too few events: {events:#?}");
    assert_eq!(events[0]["type"], "response.created");
    assert_eq!(events[1]["type"], "response.in_progress");
    let resp_id = events[0]["response"]["id"].as_str().unwrap().to_string();
    assert!(resp_id.starts_with("resp_"));

    // Strictly increasing sequence numbers.
    let mut last: Option<u64> = None;
    for e in events {
        let n = e["sequence_number"].as_u64().expect("sequence_number");
        if let Some(prev) = last {
            assert!(n > prev, "sequence numbers must increase: {prev} then {n}");
        }
        last = Some(n);
    }

    // Terminal event last, and only there.
    let terminal = events.last().unwrap().clone();
    let tty = terminal["type"].as_str().unwrap();
    assert!(
        matches!(
            tty,
            "response.completed" | "response.incomplete" | "response.failed"
        ),
        "last event is {tty}"
    );
    for e in &events[..events.len() - 1] {
        let t = e["type"].as_str().unwrap();
        assert!(
            !matches!(
                t,
                "response.completed" | "response.incomplete" | "response.failed"
            ),
            "terminal event {t} before the end"
        );
    }

    // Items: added then done, once each; deltas concatenate to the done texts.
    let mut added: HashMap<u64, Value> = HashMap::new();
    let mut done: Vec<(u64, Value)> = Vec::new();
    let mut text: HashMap<String, String> = HashMap::new();
    let mut args: HashMap<String, String> = HashMap::new();
    let mut summary: HashMap<String, String> = HashMap::new();
    let mut open: HashMap<String, bool> = HashMap::new();
    for e in events {
        let t = e["type"].as_str().unwrap();
        match t {
            "response.output_item.added" => {
                let oi = e["output_index"].as_u64().unwrap();
                assert!(
                    added.insert(oi, e["item"].clone()).is_none(),
                    "index {oi} added twice"
                );
                open.insert(e["item"]["id"].as_str().unwrap().to_string(), true);
            }
            "response.output_item.done" => {
                let oi = e["output_index"].as_u64().unwrap();
                let a = added.get(&oi).expect("done without added");
                assert_eq!(a["id"], e["item"]["id"]);
                assert_eq!(a["type"], e["item"]["type"]);
                assert!(done.iter().all(|(i, _)| *i != oi), "index {oi} done twice");
                let id = e["item"]["id"].as_str().unwrap().to_string();
                open.insert(id.clone(), false);
                let item = &e["item"];
                match item["type"].as_str().unwrap() {
                    "message" => {
                        let full = item["content"][0]["text"].as_str().unwrap();
                        assert_eq!(text.get(&id).map(String::as_str).unwrap_or(""), full);
                    }
                    "function_call" => {
                        let full = item["arguments"].as_str().unwrap();
                        assert_eq!(args.get(&id).map(String::as_str).unwrap_or(""), full);
                        assert!(item["call_id"].as_str().is_some());
                    }
                    "reasoning" => {
                        let full = item["summary"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|s| s["text"].as_str().unwrap())
                            .collect::<String>();
                        assert_eq!(summary.get(&id).map(String::as_str).unwrap_or(""), full);
                    }
                    other => panic!("unexpected item type {other}"),
                }
                done.push((oi, item.clone()));
            }
            "response.output_text.delta" => {
                let id = e["item_id"].as_str().unwrap().to_string();
                assert_eq!(open.get(&id), Some(&true), "delta outside its item");
                text.entry(id)
                    .or_default()
                    .push_str(e["delta"].as_str().unwrap());
            }
            "response.output_text.done" => {
                let id = e["item_id"].as_str().unwrap();
                assert_eq!(text.get(id).map(String::as_str).unwrap_or(""), e["text"]);
            }
            "response.function_call_arguments.delta" => {
                let id = e["item_id"].as_str().unwrap().to_string();
                assert_eq!(open.get(&id), Some(&true), "delta outside its item");
                args.entry(id)
                    .or_default()
                    .push_str(e["delta"].as_str().unwrap());
            }
            "response.function_call_arguments.done" => {
                let id = e["item_id"].as_str().unwrap();
                assert_eq!(
                    args.get(id).map(String::as_str).unwrap_or(""),
                    e["arguments"]
                );
            }
            "response.reasoning_summary_text.delta" => {
                let id = e["item_id"].as_str().unwrap().to_string();
                assert_eq!(open.get(&id), Some(&true), "delta outside its item");
                summary
                    .entry(id)
                    .or_default()
                    .push_str(e["delta"].as_str().unwrap());
            }
            "response.reasoning_summary_text.done" => {
                let id = e["item_id"].as_str().unwrap();
                assert_eq!(summary.get(id).map(String::as_str).unwrap_or(""), e["text"]);
            }
            _ => {}
        }
    }
    assert_eq!(added.len(), done.len(), "every added item is done");
    done.sort_by_key(|(i, _)| *i);
    let done_items: Vec<Value> = done.into_iter().map(|(_, v)| v).collect();
    let resp = &terminal["response"];
    assert_eq!(resp["id"].as_str().unwrap(), resp_id);
    assert_eq!(resp["object"], "response");
    assert_eq!(
        resp["output"],
        Value::Array(done_items),
        "final output = done items"
    );
    terminal
}
