//! The client stream encoder: the event lifecycle Codex and the SDKs need, for text, reasoning,
//! parallel tool calls, aborted streams and streams that end without a `Finish`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bytes::BytesMut;
use common::{check_lifecycle, events_json, parse_sse};
use omniroute_format_responses::common::remember_namespaced;
use omniroute_format_responses::ResponsesCodec;
use omniroute_ir::{Codec, EncoderOptions, FinishReason, StreamEnd, StreamEvent, Usage};
use serde_json::{json, Value};

fn encode(events: &[StreamEvent], end: StreamEnd) -> Vec<Value> {
    let mut enc = ResponsesCodec.stream_encoder("client-model", &EncoderOptions::default());
    let mut out = BytesMut::new();
    for e in events {
        enc.push(e, &mut out);
    }
    enc.finish(&end, &mut out);
    // Nothing after the end.
    let len = out.len();
    enc.push(
        &StreamEvent::TextDelta {
            text: "late".into(),
        },
        &mut out,
    );
    enc.finish(&StreamEnd::Complete, &mut out);
    assert_eq!(out.len(), len, "output after finish");
    events_json(&out)
}

fn start() -> StreamEvent {
    StreamEvent::Start {
        id: Some("chatcmpl-1".into()),
        model: Some("up".into()),
    }
}

fn text(t: &str) -> StreamEvent {
    StreamEvent::TextDelta { text: t.into() }
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

#[test]
fn text_lifecycle() {
    let ev = encode(
        &[
            start(),
            text("Hello"),
            text(", world"),
            StreamEvent::Finish {
                reason: FinishReason::Stop,
            },
            StreamEvent::Usage {
                usage: Usage {
                    input_tokens: Some(9),
                    output_tokens: Some(3),
                    ..Default::default()
                },
            },
        ],
        StreamEnd::Complete,
    );
    assert_eq!(
        types(&ev),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert_eq!(ev[0]["sequence_number"], 0);
    assert_eq!(ev[0]["response"]["status"], "in_progress");
    assert_eq!(ev[0]["response"]["output"], json!([]));
    assert_eq!(ev[0]["response"]["model"], "client-model");
    assert_eq!(ev[2]["item"]["status"], "in_progress");
    assert_eq!(ev[2]["item"]["role"], "assistant");
    assert_eq!(
        ev[3]["part"],
        json!({"type": "output_text", "text": "", "annotations": []})
    );
    assert_eq!(ev[4]["content_index"], 0);
    assert_eq!(ev[4]["logprobs"], json!([]));
    let last = check_lifecycle(&ev);
    let resp = &last["response"];
    assert_eq!(resp["status"], "completed");
    assert_eq!(resp["model"], "client-model");
    assert_eq!(resp["output"][0]["content"][0]["text"], "Hello, world");
    assert_eq!(resp["output"][0]["status"], "completed");
    assert_eq!(resp["usage"]["input_tokens"], 9);
    assert_eq!(resp["usage"]["total_tokens"], 12);
    assert_eq!(
        resp["usage"]["input_tokens_details"],
        json!({"cached_tokens": 0})
    );
    for k in [
        "parallel_tool_calls",
        "tool_choice",
        "tools",
        "created_at",
        "error",
        "incomplete_details",
    ] {
        assert!(resp.get(k).is_some(), "{k}");
    }
}

#[test]
fn reasoning_then_text() {
    let ev = encode(
        &[
            start(),
            StreamEvent::ReasoningDelta {
                text: "Let me ".into(),
            },
            StreamEvent::ReasoningDelta {
                text: "think.".into(),
            },
            StreamEvent::ReasoningEncrypted {
                id: Some("rs_up".into()),
                encrypted: "ENC==".into(),
            },
            text("Answer."),
            StreamEvent::Finish {
                reason: FinishReason::Stop,
            },
        ],
        StreamEnd::Complete,
    );
    assert_eq!(
        types(&ev)[2..9],
        [
            "response.output_item.added",
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.done",
            "response.reasoning_summary_part.done",
            "response.output_item.done",
        ]
    );
    assert_eq!(ev[2]["item"]["summary"], json!([]));
    assert_eq!(ev[8]["item"]["encrypted_content"], "ENC==");
    assert_eq!(
        ev[8]["item"]["summary"],
        json!([{"type": "summary_text", "text": "Let me think."}])
    );
    let last = check_lifecycle(&ev);
    let out = last["response"]["output"].as_array().unwrap();
    assert_eq!(out.len(), 2);
    assert_eq!(out[0]["type"], "reasoning");
    assert_eq!(out[1]["type"], "message");
    assert_eq!(ev[9]["output_index"], 1, "the message is output 1");

    // Encrypted reasoning alone (no summary) is one item, with the upstream id.
    let ev = encode(
        &[
            StreamEvent::ReasoningEncrypted {
                id: Some("rs_only".into()),
                encrypted: "E".into(),
            },
            text("x"),
        ],
        StreamEnd::Complete,
    );
    let last = check_lifecycle(&ev);
    assert_eq!(
        last["response"]["output"][0],
        json!({"id": "rs_only", "type": "reasoning", "summary": [], "encrypted_content": "E"})
    );
    // Another format's signature travels, marked, in encrypted_content (restored when echoed).
    let ev = encode(
        &[
            StreamEvent::ReasoningDelta { text: "t".into() },
            StreamEvent::ReasoningSignature {
                signature: "sig".into(),
            },
            StreamEvent::RedactedReasoning { data: "r".into() },
        ],
        StreamEnd::Complete,
    );
    let last = check_lifecycle(&ev);
    assert_eq!(
        last["response"]["output"][0]["encrypted_content"],
        "omniroute-sig:v1:sig"
    );
    assert_eq!(last["response"]["output"][0]["summary"][0]["text"], "t");
}

#[test]
fn parallel_tool_calls() {
    let flat = remember_namespaced("mcp__enc_test", "js");
    let ev = encode(
        &[
            start(),
            text("Reading both."),
            StreamEvent::ToolCallStart {
                index: 0,
                id: "call_A".into(),
                name: "read".into(),
                signature: None,
            },
            StreamEvent::ToolCallArgs {
                index: 0,
                fragment: "{\"path\":".into(),
            },
            StreamEvent::ToolCallStart {
                index: 1,
                id: "call_B".into(),
                name: flat,
                signature: None,
            },
            StreamEvent::ToolCallArgs {
                index: 1,
                fragment: "{\"code\":\"1+1\"}".into(),
            },
            StreamEvent::ToolCallArgs {
                index: 0,
                fragment: "\"a\"}".into(),
            },
            StreamEvent::Usage {
                usage: Usage {
                    input_tokens: Some(1),
                    ..Default::default()
                },
            },
            StreamEvent::Finish {
                reason: FinishReason::ToolCalls,
            },
            StreamEvent::Usage {
                usage: Usage {
                    output_tokens: Some(2),
                    reasoning_tokens: Some(1),
                    ..Default::default()
                },
            },
        ],
        StreamEnd::Complete,
    );
    let last = check_lifecycle(&ev);
    let resp = &last["response"];
    assert_eq!(resp["status"], "completed");
    let out = resp["output"].as_array().unwrap();
    assert_eq!(out.len(), 3);
    assert_eq!(out[0]["type"], "message");
    assert_eq!(
        out[1],
        json!({"type": "function_call", "id": out[1]["id"], "call_id": "call_A", "name": "read",
               "arguments": "{\"path\":\"a\"}", "status": "completed"})
    );
    assert!(out[1]["id"].as_str().unwrap().starts_with("fc_"));
    assert_eq!(out[2]["name"], "js");
    assert_eq!(out[2]["namespace"], "mcp__enc_test");
    assert_eq!(out[2]["arguments"], "{\"code\":\"1+1\"}");
    // Usage merged across events, before and after the finish.
    assert_eq!(resp["usage"]["input_tokens"], 1);
    assert_eq!(resp["usage"]["output_tokens"], 2);
    assert_eq!(
        resp["usage"]["output_tokens_details"]["reasoning_tokens"],
        1
    );
    // The added items carry the namespace and empty arguments.
    let added: Vec<&Value> = ev
        .iter()
        .filter(|e| e["type"] == "response.output_item.added")
        .collect();
    assert_eq!(added[1]["item"]["arguments"], "");
    assert_eq!(added[1]["item"]["status"], "in_progress");
    assert_eq!(added[2]["item"]["namespace"], "mcp__enc_test");
    // The message was closed before the first call opened.
    let pos = |t: &str, oi: u64| {
        ev.iter()
            .position(|e| e["type"] == t && e["output_index"] == oi)
            .unwrap()
    };
    assert!(pos("response.output_item.done", 0) < pos("response.output_item.added", 1));
}

#[test]
fn abort_mid_text() {
    let ev = encode(
        &[start(), text("Half an ans")],
        StreamEnd::Aborted("upstream stalled".into()),
    );
    let last = check_lifecycle(&ev);
    assert_eq!(last["type"], "response.failed");
    let resp = &last["response"];
    assert_eq!(resp["status"], "failed");
    assert_eq!(
        resp["error"],
        json!({"code": "upstream_error", "message": "upstream stalled"})
    );
    assert_eq!(resp["output"][0]["content"][0]["text"], "Half an ans");
    assert_eq!(resp["output"][0]["status"], "incomplete");

    // An upstream error event wins, even when the stream then ends "cleanly".
    let ev = encode(
        &[
            StreamEvent::ToolCallStart {
                index: 0,
                id: "c".into(),
                name: "f".into(),
                signature: None,
            },
            StreamEvent::ToolCallArgs {
                index: 0,
                fragment: "{\"a\"".into(),
            },
            StreamEvent::Error {
                message: "overloaded".into(),
            },
        ],
        StreamEnd::Complete,
    );
    let last = check_lifecycle(&ev);
    assert_eq!(last["type"], "response.failed");
    assert_eq!(last["response"]["error"]["message"], "overloaded");
    assert_eq!(last["response"]["output"][0]["arguments"], "{\"a\"");

    // Aborted before anything: created, in_progress, failed.
    let ev = encode(&[], StreamEnd::Aborted("connect failed".into()));
    assert_eq!(
        types(&ev),
        [
            "response.created",
            "response.in_progress",
            "response.failed"
        ]
    );
    check_lifecycle(&ev);
}

#[test]
fn complete_without_finish_and_incomplete() {
    let ev = encode(&[text("ok")], StreamEnd::Complete);
    let last = check_lifecycle(&ev);
    assert_eq!(last["type"], "response.completed");
    assert_eq!(last["response"]["status"], "completed");
    assert_eq!(last["response"]["usage"], Value::Null, "no invented usage");

    let ev = encode(
        &[
            text("trunc"),
            StreamEvent::Finish {
                reason: FinishReason::Length,
            },
        ],
        StreamEnd::Complete,
    );
    let last = check_lifecycle(&ev);
    assert_eq!(last["type"], "response.incomplete");
    assert_eq!(last["response"]["status"], "incomplete");
    assert_eq!(
        last["response"]["incomplete_details"],
        json!({"reason": "max_output_tokens"})
    );

    let ev = encode(
        &[StreamEvent::Finish {
            reason: FinishReason::ContentFilter,
        }],
        StreamEnd::Complete,
    );
    let last = check_lifecycle(&ev);
    assert_eq!(last["type"], "response.incomplete");
    assert_eq!(
        last["response"]["incomplete_details"],
        json!({"reason": "content_filter"})
    );
}

#[test]
fn kind_switches_and_stray_events() {
    let ev = encode(
        &[
            text("a"),
            StreamEvent::ReasoningDelta { text: "r".into() },
            text("b"),
            StreamEvent::ToolCallArgs {
                index: 7,
                fragment: "{}".into(),
            }, // never started: dropped
            StreamEvent::ToolCallStart {
                index: 0,
                id: "c".into(),
                name: "f".into(),
                signature: None,
            },
            StreamEvent::ToolCallStart {
                index: 0,
                id: "c".into(),
                name: "f".into(),
                signature: None,
            }, // duplicate
            text(""),
            StreamEvent::ReasoningDelta { text: "r2".into() },
        ],
        StreamEnd::Complete,
    );
    let last = check_lifecycle(&ev);
    let kinds: Vec<&str> = last["response"]["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "message",
            "reasoning",
            "message",
            "function_call",
            "reasoning"
        ]
    );
}

#[test]
fn encoded_stream_decodes_back() {
    // IR → client stream → (same format as an upstream) → IR.
    let input = vec![
        StreamEvent::Start {
            id: None,
            model: None,
        },
        StreamEvent::ReasoningDelta {
            text: "plan".into(),
        },
        StreamEvent::ReasoningEncrypted {
            id: None,
            encrypted: "X".into(),
        },
        text("Hi "),
        text("there"),
        StreamEvent::ToolCallStart {
            index: 0,
            id: "call_1".into(),
            name: "read".into(),
            signature: None,
        },
        StreamEvent::ToolCallArgs {
            index: 0,
            fragment: "{}".into(),
        },
        StreamEvent::Finish {
            reason: FinishReason::ToolCalls,
        },
        StreamEvent::Usage {
            usage: Usage {
                input_tokens: Some(4),
                output_tokens: Some(6),
                ..Default::default()
            },
        },
    ];
    let mut enc = ResponsesCodec.stream_encoder("m", &EncoderOptions::default());
    let mut out = BytesMut::new();
    for e in &input {
        enc.push(e, &mut out);
    }
    enc.finish(&StreamEnd::Complete, &mut out);
    let mut dec = ResponsesCodec.stream_decoder();
    let mut got = Vec::new();
    for e in parse_sse(&[&out]) {
        dec.push(&e, &mut got).unwrap();
    }
    dec.finish(&mut got);
    assert!(matches!(got[0], StreamEvent::Start { .. }));
    let rest: Vec<StreamEvent> = got[1..]
        .iter()
        .map(|e| match e {
            StreamEvent::ReasoningEncrypted { encrypted, .. } => StreamEvent::ReasoningEncrypted {
                id: None,
                encrypted: encrypted.clone(),
            },
            other => other.clone(),
        })
        .collect();
    assert_eq!(
        rest,
        vec![
            StreamEvent::ReasoningDelta {
                text: "plan".into()
            },
            StreamEvent::ReasoningEncrypted {
                id: None,
                encrypted: "X".into()
            },
            text("Hi "),
            text("there"),
            StreamEvent::ToolCallStart {
                index: 0,
                id: "call_1".into(),
                name: "read".into(),
                signature: None
            },
            StreamEvent::ToolCallArgs {
                index: 0,
                fragment: "{}".into()
            },
            StreamEvent::Usage {
                usage: Usage {
                    input_tokens: Some(4),
                    output_tokens: Some(6),
                    cached_tokens: Some(0),
                    reasoning_tokens: Some(0),
                    ..Default::default()
                }
            },
            StreamEvent::Finish {
                reason: FinishReason::ToolCalls
            },
        ]
    );
}
