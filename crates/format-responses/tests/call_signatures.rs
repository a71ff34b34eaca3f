//! Signatures of function calls (Gemini `thoughtSignature` on a `functionCall` part) for
//! Responses clients: carried in a reasoning item just before the call, tagged so that the
//! request decoder gives them back to the call when the client replays its history; plain
//! reasoning signatures keep their meaning; a tagged item without a call is dropped.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bytes::BytesMut;
use common::{check_lifecycle, events_json};
use omniroute_format_responses::ResponsesCodec;
use omniroute_ir::{
    ChatRequest, ChatResponse, Codec, EncoderOptions, FinishReason, Part, Role, StreamEnd,
    StreamEvent, Usage,
};
use serde_json::{json, Value};

const CALL_SIG: &str = "Q2FsbFNpZ25hdHVyZQ==";
const REASONING_SIG: &str = "UmVhc29uaW5nU2ln";

/// A Codex-like replay of `output`: the first user message, the items verbatim, a
/// `function_call_output` for every call, then a new user message.
fn replay(output: &[Value]) -> ChatRequest {
    let mut input = vec![json!({"type": "message", "role": "user",
                                "content": [{"type": "input_text", "text": "go"}]})];
    input.extend(output.iter().cloned());
    for item in output {
        if item["type"] == "function_call" {
            input.push(
                json!({"type": "function_call_output", "call_id": item["call_id"],
                              "output": "ok"}),
            );
        }
    }
    input.push(json!({"type": "message", "role": "user",
                      "content": [{"type": "input_text", "text": "next"}]}));
    decode(json!({"model": "m", "input": input, "include": ["reasoning.encrypted_content"]}))
}

fn decode(body: Value) -> ChatRequest {
    ResponsesCodec
        .decode_request(&serde_json::to_vec(&body).unwrap())
        .unwrap()
}

/// The parts of the assistant turn of a replayed request.
fn assistant_parts(req: &ChatRequest) -> Vec<Part> {
    let turns: Vec<_> = req
        .messages
        .iter()
        .filter(|m| m.role == Role::Assistant)
        .collect();
    assert_eq!(turns.len(), 1, "{:#?}", req.messages);
    turns[0].content.clone()
}

fn no_signature_warnings(req: &ChatRequest) {
    assert!(
        req.warnings.iter().all(|w| !w.contains("signature")),
        "{:?}",
        req.warnings
    );
}

/// The assistant turn of the replay is: signed reasoning, text, the signed call, the plain call.
fn check_replayed_turn(req: &ChatRequest) {
    no_signature_warnings(req);
    let parts = assistant_parts(req);
    assert_eq!(parts.len(), 4, "{parts:#?}");
    assert!(
        matches!(&parts[0], Part::Reasoning { text, signature: Some(s), encrypted: None, .. }
            if text == "thinking" && s == REASONING_SIG),
        "{:?}",
        parts[0]
    );
    assert_eq!(
        parts[1],
        Part::Text {
            text: "Let me look.".into()
        }
    );
    assert!(
        matches!(&parts[2], Part::ToolCall { id, signature: Some(s), arguments, .. }
            if id == "call_1" && s == CALL_SIG && arguments == "{\"path\":\"/a\"}"),
        "{:?}",
        parts[2]
    );
    assert!(
        matches!(&parts[3], Part::ToolCall { id, signature: None, .. } if id == "call_2"),
        "{:?}",
        parts[3]
    );
    // Nothing marked is ever sent to a Responses upstream.
    let upstream = ResponsesCodec.encode_request(req, "gpt-5").unwrap();
    assert!(
        !upstream.to_string().contains("omniroute-sig"),
        "{upstream}"
    );
}

/// The output items: reasoning (plain signature), message, reasoning (call signature), call,
/// call.
fn check_output(output: &[Value]) {
    let types: Vec<&str> = output.iter().map(|i| i["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "reasoning",
            "message",
            "reasoning",
            "function_call",
            "function_call"
        ]
    );
    assert_eq!(
        output[0]["encrypted_content"],
        format!("omniroute-sig:v1:{REASONING_SIG}")
    );
    assert_eq!(output[2]["summary"], json!([]));
    assert_eq!(
        output[2]["encrypted_content"],
        format!("omniroute-sig:v1:call:{CALL_SIG}")
    );
    assert!(output[2]["id"].as_str().unwrap().starts_with("rs_"));
    assert_eq!(output[3]["call_id"], "call_1");
    assert!(output[4].get("encrypted_content").is_none());
}

#[test]
fn non_stream_call_signature_round_trip() {
    let resp = ChatResponse {
        id: "up-1".into(),
        model: "gemini-3-pro-preview".into(),
        content: vec![
            Part::Reasoning {
                text: "thinking".into(),
                signature: Some(REASONING_SIG.into()),
                redacted: None,
                encrypted: None,
                id: None,
            },
            Part::Text {
                text: "Let me look.".into(),
            },
            Part::ToolCall {
                id: "call_1".into(),
                name: "read".into(),
                arguments: "{\"path\":\"/a\"}".into(),
                signature: Some(CALL_SIG.into()),
            },
            Part::ToolCall {
                id: "call_2".into(),
                name: "read".into(),
                arguments: "{\"path\":\"/b\"}".into(),
                signature: None,
            },
        ],
        finish: FinishReason::ToolCalls,
        usage: Usage::default(),
        created: 1,
    };
    let v = ResponsesCodec.encode_response(&resp, "client-model");
    let output = v["output"].as_array().unwrap();
    check_output(output);
    // Item ids are distinct.
    let mut ids: Vec<&str> = output.iter().map(|i| i["id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), output.len());
    check_replayed_turn(&replay(output));
}

fn signed_stream() -> Vec<StreamEvent> {
    vec![
        StreamEvent::Start {
            id: Some("up-1".into()),
            model: None,
        },
        StreamEvent::ReasoningDelta {
            text: "thinking".into(),
        },
        StreamEvent::ReasoningSignature {
            signature: REASONING_SIG.into(),
        },
        StreamEvent::TextDelta {
            text: "Let me look.".into(),
        },
        StreamEvent::ToolCallStart {
            index: 0,
            id: "call_1".into(),
            name: "read".into(),
            signature: Some(CALL_SIG.into()),
        },
        StreamEvent::ToolCallArgs {
            index: 0,
            fragment: "{\"path\":".into(),
        },
        StreamEvent::ToolCallStart {
            index: 1,
            id: "call_2".into(),
            name: "read".into(),
            signature: None,
        },
        StreamEvent::ToolCallArgs {
            index: 0,
            fragment: "\"/a\"}".into(),
        },
        StreamEvent::ToolCallArgs {
            index: 1,
            fragment: "{\"path\":\"/b\"}".into(),
        },
        StreamEvent::Finish {
            reason: FinishReason::ToolCalls,
        },
    ]
}

fn encode(events: &[StreamEvent], end: StreamEnd) -> Vec<Value> {
    let mut enc = ResponsesCodec.stream_encoder("client-model", &EncoderOptions::default());
    let mut out = BytesMut::new();
    for e in events {
        enc.push(e, &mut out);
    }
    enc.finish(&end, &mut out);
    events_json(&out)
}

#[test]
fn stream_call_signature_round_trip() {
    let events = encode(&signed_stream(), StreamEnd::Complete);
    let terminal = check_lifecycle(&events);
    assert_eq!(terminal["type"], "response.completed");
    let output = terminal["response"]["output"].as_array().unwrap();
    check_output(output);

    // The carrier item is opened and closed before the call, at the output index before it.
    let added: Vec<(u64, &str)> = events
        .iter()
        .filter(|e| e["type"] == "response.output_item.added")
        .map(|e| {
            (
                e["output_index"].as_u64().unwrap(),
                e["item"]["type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        added,
        [
            (0, "reasoning"),
            (1, "message"),
            (2, "reasoning"),
            (3, "function_call"),
            (4, "function_call")
        ]
    );
    let pos = |ty: &str, oi: u64| {
        events
            .iter()
            .position(|e| e["type"] == ty && e["output_index"] == oi)
            .unwrap()
    };
    assert!(pos("response.output_item.done", 2) < pos("response.output_item.added", 3));
    let carrier_done = &events[pos("response.output_item.done", 2)]["item"];
    assert_eq!(carrier_done, &output[2]);

    // Codex keeps the `output_item.done` items; the final output holds the same.
    let done_items: Vec<Value> = events
        .iter()
        .filter(|e| e["type"] == "response.output_item.done")
        .map(|e| e["item"].clone())
        .collect();
    check_replayed_turn(&replay(&done_items));
    check_replayed_turn(&replay(output));
}

#[test]
fn aborted_stream_keeps_the_carrier_well_formed() {
    let mut events = signed_stream();
    events.truncate(6); // up to the first argument fragment of the signed call
    let out = encode(&events, StreamEnd::Aborted("cut".into()));
    let terminal = check_lifecycle(&out);
    assert_eq!(terminal["type"], "response.failed");
    let output = terminal["response"]["output"].as_array().unwrap();
    let types: Vec<&str> = output.iter().map(|i| i["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        ["reasoning", "message", "reasoning", "function_call"]
    );
    assert_eq!(output[3]["status"], "incomplete");
}

#[test]
fn empty_call_signature_adds_no_item() {
    let events = encode(
        &[
            StreamEvent::ToolCallStart {
                index: 0,
                id: "call_1".into(),
                name: "read".into(),
                signature: Some(String::new()),
            },
            StreamEvent::Finish {
                reason: FinishReason::ToolCalls,
            },
        ],
        StreamEnd::Complete,
    );
    let terminal = check_lifecycle(&events);
    let output = terminal["response"]["output"].as_array().unwrap();
    assert_eq!(output.len(), 1);
    assert_eq!(output[0]["type"], "function_call");
}

#[test]
fn plain_reasoning_signature_is_unaffected() {
    let req = decode(json!({"model": "m", "input": [
        {"type": "message", "role": "user", "content": "go"},
        {"type": "reasoning", "id": "rs_1", "summary": [],
         "encrypted_content": format!("omniroute-sig:v1:{REASONING_SIG}")},
        {"type": "function_call", "call_id": "call_1", "name": "read", "arguments": "{}"},
    ]}));
    no_signature_warnings(&req);
    let parts = assistant_parts(&req);
    assert_eq!(parts.len(), 2, "{parts:#?}");
    assert!(
        matches!(&parts[0], Part::Reasoning { signature: Some(s), encrypted: None, .. }
            if s == REASONING_SIG)
    );
    assert!(matches!(
        &parts[1],
        Part::ToolCall {
            signature: None,
            ..
        }
    ));

    // Real encrypted reasoning (from a Responses upstream) stays encrypted content.
    let req = decode(json!({"model": "m", "input": [
        {"type": "message", "role": "user", "content": "go"},
        {"type": "reasoning", "summary": [], "encrypted_content": "gAAAAB-opaque"},
        {"type": "function_call", "call_id": "call_1", "name": "read", "arguments": "{}"},
    ]}));
    let parts = assistant_parts(&req);
    assert!(
        matches!(&parts[0], Part::Reasoning { signature: None, encrypted: Some(e), .. }
            if e == "gAAAAB-opaque")
    );
    assert!(matches!(
        &parts[1],
        Part::ToolCall {
            signature: None,
            ..
        }
    ));
}

fn carrier(sig: &str) -> Value {
    json!({"type": "reasoning", "id": "rs_c", "summary": [],
           "encrypted_content": format!("omniroute-sig:v1:call:{sig}")})
}

fn user(text: &str) -> Value {
    json!({"type": "message", "role": "user", "content": text})
}

fn call(id: &str) -> Value {
    json!({"type": "function_call", "call_id": id, "name": "read", "arguments": "{}"})
}

/// No part of the request carries `sig`, and nothing signed at all is left.
fn assert_unsigned(req: &ChatRequest) {
    for m in &req.messages {
        for p in &m.content {
            match p {
                Part::Reasoning {
                    signature,
                    encrypted,
                    ..
                } => panic!("reasoning part left: {signature:?} {encrypted:?}"),
                Part::ToolCall { signature, .. } => assert_eq!(signature, &None),
                _ => {}
            }
        }
    }
}

fn dropped_warnings(req: &ChatRequest) -> Vec<&String> {
    req.warnings
        .iter()
        .filter(|w| w.contains("function call signature"))
        .collect()
}

#[test]
fn carrier_without_a_following_call_is_dropped_with_a_warning() {
    // The turn ends with text, then the user speaks.
    let req = decode(json!({"model": "m", "input": [
        user("go"), carrier("A"),
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "hi"}]},
        user("next"), call("call_late"),
    ]}));
    assert_unsigned(&req);
    let w = dropped_warnings(&req);
    assert_eq!(w.len(), 1, "{:?}", req.warnings);
    assert!(w[0].contains("input[1]"), "{w:?}");

    // The carrier is the last item.
    let req = decode(json!({"model": "m", "input": [user("go"), carrier("A")]}));
    assert_unsigned(&req);
    assert_eq!(dropped_warnings(&req).len(), 1, "{:?}", req.warnings);

    // A tool output (a user turn) comes between the carrier and the next call.
    let req = decode(json!({"model": "m", "input": [
        user("go"), call("call_1"), carrier("A"),
        {"type": "function_call_output", "call_id": "call_1", "output": "ok"},
        call("call_2"),
    ]}));
    assert_unsigned(&req);
    assert_eq!(dropped_warnings(&req).len(), 1, "{:?}", req.warnings);

    // An empty tagged signature.
    let req = decode(json!({"model": "m", "input": [user("go"), carrier(""), call("call_1")]}));
    assert_unsigned(&req);
    assert_eq!(dropped_warnings(&req).len(), 1, "{:?}", req.warnings);
}

#[test]
fn two_carriers_in_a_row_keep_the_later_one() {
    let req = decode(json!({"model": "m", "input": [
        user("go"), carrier("A"), carrier("B"), call("call_1"), call("call_2"),
    ]}));
    let parts = assistant_parts(&req);
    assert_eq!(parts.len(), 2, "{parts:#?}");
    assert!(matches!(&parts[0], Part::ToolCall { signature: Some(s), .. } if s == "B"));
    assert!(matches!(
        &parts[1],
        Part::ToolCall {
            signature: None,
            ..
        }
    ));
    let w = dropped_warnings(&req);
    assert_eq!(w.len(), 1, "{:?}", req.warnings);
    assert!(w[0].contains("input[1]"), "{w:?}");
}
