//! Cross-format properties: A → B → A keeps what both formats can express, for every request
//! real clients sent (../shared/fixtures/clients); and stream translation does not depend on how
//! the upstream bytes are split.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::BytesMut;
use omniroute_protocol::ApiFormat;
use omniroute_translate::ir::{ChatRequest, EncoderOptions, Part, Role, StreamEnd};
use omniroute_translate::{codec, decode_request, encode_request, StreamTranslator};
use serde_json::Value;
use std::path::PathBuf;

const ALL: [ApiFormat; 4] = [
    ApiFormat::Openai,
    ApiFormat::Anthropic,
    ApiFormat::Gemini,
    ApiFormat::Responses,
];

fn fixtures() -> Vec<(String, ApiFormat, Value)> {
    let root = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures/clients"
    ));
    let mut out = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("fixtures at {}: {e}", root.display()))
        {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            let format = if name.contains("openai_chat") {
                ApiFormat::Openai
            } else if name.contains("anthropic_messages") {
                ApiFormat::Anthropic
            } else if name.contains("gemini") {
                ApiFormat::Gemini
            } else if name.contains("openai_responses") {
                ApiFormat::Responses
            } else {
                continue;
            };
            let v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            out.push((
                p.strip_prefix(&root).unwrap().display().to_string(),
                format,
                v["body"].clone(),
            ));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(out.len() >= 30, "only {} fixtures found", out.len());
    out
}

/// Text without whitespace: how blocks of one turn are joined (`\n\n` or separate blocks)
/// differs between formats and is not meaning.
fn squash(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

fn short<T: std::fmt::Debug>(v: &T) -> String {
    let s = format!("{v:?}");
    if s.len() > 600 {
        format!(
            "{}…",
            &s[..s.char_indices().nth(600).map_or(s.len(), |(i, _)| i)]
        )
    } else {
        s
    }
}

/// What every format can express: visible text per role, tool calls (id, name, arguments as JSON)
/// and tool results (call id, text).
#[derive(Debug, PartialEq)]
enum Item {
    Text(Role, String),
    Call(String, String, Value),
    Result(String, String),
}

fn essence(req: &ChatRequest) -> (String, Vec<Item>, Vec<String>) {
    let mut items = Vec::new();
    for m in &req.messages {
        let mut text = String::new();
        for p in &m.content {
            match p {
                Part::Text { text: t } => text.push_str(&squash(t)),
                Part::ToolCall {
                    id,
                    name,
                    arguments,
                    ..
                } => {
                    let args: Value = serde_json::from_str(arguments).unwrap_or(Value::Null);
                    items.push(Item::Call(id.clone(), name.clone(), args));
                }
                Part::ToolResult {
                    call_id, content, ..
                } => {
                    let t: String = content
                        .iter()
                        .filter_map(|c| match c {
                            Part::Text { text } => Some(squash(text)),
                            _ => None,
                        })
                        .collect::<Vec<_>>()
                        .join("");
                    items.push(Item::Result(call_id.clone(), t));
                }
                _ => {}
            }
        }
        if !text.is_empty() {
            items.push(Item::Text(m.role, text));
        }
    }
    // text of one turn may be split or merged differently across formats: compare per role runs
    let mut merged: Vec<Item> = Vec::new();
    for it in items {
        match (merged.last_mut(), it) {
            (Some(Item::Text(r0, t0)), Item::Text(r1, t1)) if *r0 == r1 => t0.push_str(&t1),
            (_, it) => merged.push(it),
        }
    }
    let system: String = req
        .system
        .iter()
        .map(|s| squash(s))
        .collect::<Vec<_>>()
        .join("");
    let mut tools: Vec<String> = req.tools.iter().map(|t| t.name.clone()).collect();
    tools.sort();
    (system, merged, tools)
}

#[test]
fn every_fixture_survives_a_round_trip_through_every_format() {
    let mut checked = 0;
    for (name, format, body) in fixtures() {
        let bytes = serde_json::to_vec(&body).unwrap();
        let original =
            decode_request(format, &bytes, Some("m")).unwrap_or_else(|e| panic!("{name}: {e}"));
        let want = essence(&original);
        for via in ALL {
            let mut a = original.clone();
            let (b_body, _) = encode_request(via, &mut a, "upstream-model")
                .unwrap_or_else(|e| panic!("{name} -> {via}: {e}"));
            let b = decode_request(via, &serde_json::to_vec(&b_body).unwrap(), Some("m"))
                .unwrap_or_else(|e| panic!("{name} -> {via} -> decode: {e}\n{b_body}"));
            let mut b2 = b.clone();
            let (back, _) = encode_request(format, &mut b2, "m")
                .unwrap_or_else(|e| panic!("{name} -> {via} -> {format}: {e}"));
            let again =
                decode_request(format, &serde_json::to_vec(&back).unwrap(), Some("m")).unwrap();
            let got = essence(&again);
            assert!(
                got.0 == want.0,
                "{name}: system prompt changed via {via}: {} vs {}",
                short(&got.0),
                short(&want.0)
            );
            assert_eq!(got.2, want.2, "{name}: tools changed via {via}");
            assert_eq!(
                got.1.len(),
                want.1.len(),
                "{name} via {via}: items\n got {}\nwant {}",
                short(&got.1),
                short(&want.1)
            );
            for (g, w) in got.1.iter().zip(&want.1) {
                match (g, w) {
                    // Gemini has no call ids of its own, but the ids a client made survive
                    (Item::Call(gi, gn, ga), Item::Call(wi, wn, wa)) => {
                        assert_eq!((gn, ga), (wn, wa), "{name} via {via}");
                        assert_eq!(gi, wi, "{name} via {via}: call id changed");
                    }
                    (Item::Result(gi, gt), Item::Result(wi, wt)) => {
                        assert_eq!(gi, wi, "{name} via {via}: result id changed");
                        assert_eq!(gt, wt, "{name} via {via}: result text changed");
                    }
                    _ => assert!(g == w, "{name} via {via}: {} vs {}", short(g), short(w)),
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 120, "{checked}");
}

/// A realistic upstream stream in each format, produced by encoding IR events with that format's
/// own stream encoder (the encoders are tested against the real wire shapes in their crates).
fn upstream_stream(format: ApiFormat) -> Vec<u8> {
    use omniroute_translate::ir::{FinishReason, StreamEvent as E, Usage};
    let events = vec![
        E::Start {
            id: Some("up-1".into()),
            model: Some("m".into()),
        },
        E::ReasoningDelta {
            text: "Thinking ".into(),
        },
        E::ReasoningDelta {
            text: "hard — ✓".into(),
        },
        E::TextDelta {
            text: "Héllo ".into(),
        },
        E::TextDelta {
            text: "wörld, multi\nline".into(),
        },
        E::ToolCallStart {
            index: 0,
            id: "call_1".into(),
            name: "read".into(),
            signature: None,
        },
        E::ToolCallArgs {
            index: 0,
            fragment: "{\"path\": \"/a".into(),
        },
        E::ToolCallArgs {
            index: 0,
            fragment: "/b.txt\"}".into(),
        },
        E::ToolCallStart {
            index: 1,
            id: "call_2".into(),
            name: "ls".into(),
            signature: None,
        },
        E::ToolCallArgs {
            index: 1,
            fragment: "{\"dir\": \"/\"}".into(),
        },
        E::Usage {
            usage: Usage {
                input_tokens: Some(11),
                output_tokens: Some(22),
                ..Default::default()
            },
        },
        E::Finish {
            reason: FinishReason::ToolCalls,
        },
    ];
    let mut enc = codec(format).stream_encoder(
        "m",
        &EncoderOptions {
            include_usage: true,
            json_array: false,
        },
    );
    let mut out = BytesMut::new();
    for e in &events {
        enc.push(e, &mut out);
    }
    enc.finish(&StreamEnd::Complete, &mut out);
    out.to_vec()
}

/// Remove what legitimately differs between two runs (generated ids, timestamps).
fn normalize(s: &str) -> String {
    let mut v: Vec<String> = Vec::new();
    for line in s.replace("\r\n", "\n").lines() {
        let Some(data) = line.strip_prefix("data: ") else {
            v.push(line.to_string());
            continue;
        };
        match serde_json::from_str::<Value>(data) {
            Ok(mut j) => {
                scrub(&mut j);
                v.push(j.to_string());
            }
            Err(_) => v.push(line.to_string()),
        }
    }
    v.join("\n")
}

fn scrub(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if matches!(
                    k.as_str(),
                    "id" | "created" | "created_at" | "item_id" | "responseId"
                ) {
                    *x = Value::Null;
                } else {
                    scrub(x);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(scrub),
        _ => {}
    }
}

fn translate(up: ApiFormat, client: ApiFormat, chunks: &[&[u8]]) -> String {
    let mut tr = StreamTranslator::new(
        up,
        client,
        "client-model",
        &EncoderOptions {
            include_usage: true,
            json_array: false,
        },
    );
    let mut out = BytesMut::new();
    for c in chunks {
        tr.push(c, &mut out).unwrap();
    }
    tr.finish(StreamEnd::Complete, &mut out);
    String::from_utf8(out.to_vec()).unwrap()
}

#[test]
fn stream_translation_does_not_depend_on_chunk_boundaries() {
    for up in ALL {
        let raw = upstream_stream(up);
        for client in ALL {
            let whole = normalize(&translate(up, client, &[&raw]));
            assert!(whole.len() > 100, "{up}->{client}: {whole}");
            // every single split point, plus byte by byte
            for i in (0..raw.len()).step_by(3) {
                let split = normalize(&translate(up, client, &[&raw[..i], &raw[i..]]));
                assert_eq!(split, whole, "{up}->{client} split at {i}");
            }
            let bytes: Vec<&[u8]> = raw.chunks(1).collect();
            assert_eq!(
                normalize(&translate(up, client, &bytes)),
                whole,
                "{up}->{client} byte by byte"
            );
        }
    }
}

#[test]
fn an_aborted_stream_never_looks_complete() {
    for up in ALL {
        let raw = upstream_stream(up);
        let cut = &raw[..raw.len() / 2];
        for client in ALL {
            let mut tr = StreamTranslator::new(up, client, "m", &EncoderOptions::default());
            let mut out = BytesMut::new();
            let _ = tr.push(cut, &mut out);
            tr.finish(StreamEnd::Aborted("cut".into()), &mut out);
            let s = String::from_utf8(out.to_vec()).unwrap();
            assert!(
                s.contains("cut"),
                "{up}->{client}: the error must reach the client: {s}"
            );
            assert!(
                !s.contains("response.completed") && !s.contains("message_stop"),
                "{up}->{client}: {s}"
            );
        }
    }
}

#[test]
fn anthropic_thinking_signatures_survive_a_responses_client_round_trip() {
    use omniroute_translate::ir::{FinishReason, StreamEvent as E};
    // an Anthropic upstream streams signed thinking, then text
    let mut enc = codec(ApiFormat::Anthropic).stream_encoder("m", &EncoderOptions::default());
    let mut raw = BytesMut::new();
    for e in [
        E::Start {
            id: Some("msg_1".into()),
            model: Some("m".into()),
        },
        E::ReasoningDelta {
            text: "Let me think.".into(),
        },
        E::ReasoningSignature {
            signature: "EqQBsig==".into(),
        },
        E::TextDelta {
            text: "Answer.".into(),
        },
        E::Finish {
            reason: FinishReason::Stop,
        },
    ] {
        enc.push(&e, &mut raw);
    }
    enc.finish(&StreamEnd::Complete, &mut raw);
    // a Responses client (Codex) receives it
    let out = translate(ApiFormat::Anthropic, ApiFormat::Responses, &[&raw]);
    let item = out
        .replace("\r\n", "\n")
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .find(|v| v["type"] == "response.output_item.done" && v["item"]["type"] == "reasoning")
        .map(|v| v["item"].clone())
        .expect("a reasoning item");
    assert!(
        item["encrypted_content"]
            .as_str()
            .unwrap()
            .ends_with("EqQBsig=="),
        "{item}"
    );
    // and echoes it in its next request, as Codex does
    let next = serde_json::json!({
        "model": "m",
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "q"}]},
            item,
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Answer."}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "more"}]}
        ]
    });
    let mut ir = decode_request(
        ApiFormat::Responses,
        &serde_json::to_vec(&next).unwrap(),
        None,
    )
    .unwrap();
    let (body, _) = encode_request(ApiFormat::Anthropic, &mut ir, "claude-sonnet-4-5").unwrap();
    let thinking = &body["messages"][1]["content"][0];
    assert_eq!(thinking["type"], "thinking", "{body}");
    assert_eq!(thinking["signature"], "EqQBsig==");
    assert_eq!(thinking["thinking"], "Let me think.");
    // a real Responses upstream never sees the marker
    let mut ir = decode_request(
        ApiFormat::Responses,
        &serde_json::to_vec(&next).unwrap(),
        None,
    )
    .unwrap();
    let (body, _) = encode_request(ApiFormat::Responses, &mut ir, "gpt-5").unwrap();
    assert!(!body.to_string().contains("omniroute-sig"), "{body}");
}
