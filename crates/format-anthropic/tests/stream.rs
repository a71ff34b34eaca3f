//! Streams: the decoder on realistic Anthropic streams (and on every split of their bytes), the
//! encoder's lifecycle in every ending, and encoder → decoder round trips.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::BytesMut;
use omniroute_format_anthropic::AnthropicCodec;
use omniroute_ir::{Codec, EncoderOptions, FinishReason, StreamEnd, StreamEvent, Usage};
use omniroute_protocol::sse::{SseEvent, SseParser};
use serde_json::{json, Value};

// ------------------------------------------------------------------------------ helpers

fn sse(events: &[Value]) -> String {
    let mut s = String::new();
    for e in events {
        s.push_str(&format!(
            "event: {}\ndata: {}\n\n",
            e["type"].as_str().unwrap(),
            e
        ));
    }
    s
}

/// Decode raw SSE bytes fed in the given chunks.
fn decode_chunks(chunks: &[&[u8]]) -> Vec<StreamEvent> {
    let mut parser = SseParser::default();
    let mut dec = AnthropicCodec.stream_decoder();
    let mut out = Vec::new();
    for c in chunks {
        parser
            .push(c, |ev| dec.push(&ev, &mut out).unwrap())
            .unwrap();
    }
    parser.finish(|ev| dec.push(&ev, &mut out).unwrap());
    dec.finish(&mut out);
    out
}

fn decode(raw: &str) -> Vec<StreamEvent> {
    decode_chunks(&[raw.as_bytes()])
}

fn start(id: &str) -> Value {
    json!({"type": "message_start", "message": {
        "id": id, "type": "message", "role": "assistant", "model": "claude-opus-4-8",
        "content": [], "stop_reason": null, "stop_sequence": null,
        "usage": {"input_tokens": 25, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 10, "output_tokens": 1},
    }})
}

fn block_start(index: u64, block: Value) -> Value {
    json!({"type": "content_block_start", "index": index, "content_block": block})
}

fn delta(index: u64, delta: Value) -> Value {
    json!({"type": "content_block_delta", "index": index, "delta": delta})
}

fn block_stop(index: u64) -> Value {
    json!({"type": "content_block_stop", "index": index})
}

fn message_delta(reason: &str, output: u64) -> Value {
    json!({"type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": null},
        "usage": {"output_tokens": output}})
}

/// Thinking with a signature, text, two tool calls with fragmented arguments, a server tool
/// block in between, pings, usage.
fn rich_stream() -> String {
    sse(&[
        start("msg_rich"),
        json!({"type": "ping"}),
        block_start(
            0,
            json!({"type": "thinking", "thinking": "", "signature": ""}),
        ),
        delta(0, json!({"type": "thinking_delta", "thinking": "Let me "})),
        delta(0, json!({"type": "thinking_delta", "thinking": "think."})),
        delta(
            0,
            json!({"type": "signature_delta", "signature": "EqQBCgIYAhIM"}),
        ),
        block_stop(0),
        block_start(1, json!({"type": "text", "text": ""})),
        delta(1, json!({"type": "text_delta", "text": "Héllo "})),
        delta(1, json!({"type": "text_delta", "text": "wörld ✓"})),
        block_stop(1),
        block_start(
            2,
            json!({"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}),
        ),
        delta(
            2,
            json!({"type": "input_json_delta", "partial_json": "{\"query\":\"x\"}"}),
        ),
        block_stop(2),
        block_start(
            3,
            json!({"type": "tool_use", "id": "toolu_A", "name": "Read", "input": {}}),
        ),
        delta(3, json!({"type": "input_json_delta", "partial_json": ""})),
        delta(
            3,
            json!({"type": "input_json_delta", "partial_json": "{\"file_path\": \"/a/"}),
        ),
        delta(
            3,
            json!({"type": "input_json_delta", "partial_json": "b.txt\"}"}),
        ),
        block_stop(3),
        json!({"type": "ping"}),
        block_start(
            4,
            json!({"type": "tool_use", "id": "toolu_B", "name": "Ls", "input": {}}),
        ),
        delta(
            4,
            json!({"type": "input_json_delta", "partial_json": "{\"path\""}),
        ),
        delta(
            4,
            json!({"type": "input_json_delta", "partial_json": ": \"/\"}"}),
        ),
        block_stop(4),
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null},
            "usage": {"input_tokens": 25, "cache_read_input_tokens": 10, "output_tokens": 87}}),
        json!({"type": "message_stop"}),
    ])
}

fn rich_expected() -> Vec<StreamEvent> {
    vec![
        StreamEvent::Start {
            id: Some("msg_rich".into()),
            model: Some("claude-opus-4-8".into()),
        },
        StreamEvent::Usage {
            usage: Usage {
                input_tokens: Some(35), // 25 + 10 cache reads
                output_tokens: Some(1),
                cached_tokens: Some(10),
                cache_creation_tokens: Some(0),
                reasoning_tokens: None,
            },
        },
        StreamEvent::ReasoningDelta {
            text: "Let me ".into(),
        },
        StreamEvent::ReasoningDelta {
            text: "think.".into(),
        },
        StreamEvent::ReasoningSignature {
            signature: "EqQBCgIYAhIM".into(),
        },
        StreamEvent::TextDelta {
            text: "Héllo ".into(),
        },
        StreamEvent::TextDelta {
            text: "wörld ✓".into(),
        },
        StreamEvent::ToolCallStart {
            index: 0,
            id: "toolu_A".into(),
            name: "Read".into(),
            signature: None,
        },
        StreamEvent::ToolCallArgs {
            index: 0,
            fragment: "{\"file_path\": \"/a/".into(),
        },
        StreamEvent::ToolCallArgs {
            index: 0,
            fragment: "b.txt\"}".into(),
        },
        StreamEvent::ToolCallStart {
            index: 1,
            id: "toolu_B".into(),
            name: "Ls".into(),
            signature: None,
        },
        StreamEvent::ToolCallArgs {
            index: 1,
            fragment: "{\"path\"".into(),
        },
        StreamEvent::ToolCallArgs {
            index: 1,
            fragment: ": \"/\"}".into(),
        },
        StreamEvent::Usage {
            usage: Usage {
                input_tokens: Some(35), // 25 + 10 cache reads
                output_tokens: Some(87),
                cached_tokens: Some(10),
                ..Default::default()
            },
        },
        StreamEvent::Finish {
            reason: FinishReason::ToolCalls,
        },
    ]
}

// ------------------------------------------------------------------------------ decoder

#[test]
fn decodes_a_rich_stream() {
    assert_eq!(decode(&rich_stream()), rich_expected());
}

#[test]
fn any_split_of_the_bytes_gives_the_same_events() {
    // CRLF line ends too, as some proxies send them.
    for raw in [rich_stream(), rich_stream().replace('\n', "\r\n")] {
        let bytes = raw.as_bytes();
        let whole = decode_chunks(&[bytes]);
        assert_eq!(whole, rich_expected());
        for i in 0..=bytes.len() {
            assert_eq!(
                decode_chunks(&[&bytes[..i], &bytes[i..]]),
                whole,
                "split at {i}"
            );
        }
        // And byte by byte.
        let chunks: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(decode_chunks(&chunks), whole);
    }
}

#[test]
fn decodes_a_text_stream() {
    let raw = sse(&[
        start("msg_t"),
        block_start(0, json!({"type": "text", "text": ""})),
        delta(0, json!({"type": "text_delta", "text": "Hi"})),
        block_stop(0),
        message_delta("end_turn", 3),
        json!({"type": "message_stop"}),
    ]);
    let ev = decode(&raw);
    assert_eq!(ev.len(), 5);
    assert_eq!(ev[2], StreamEvent::TextDelta { text: "Hi".into() });
    assert_eq!(
        ev[3],
        StreamEvent::Usage {
            usage: Usage {
                output_tokens: Some(3),
                ..Default::default()
            }
        }
    );
    assert_eq!(
        ev[4],
        StreamEvent::Finish {
            reason: FinishReason::Stop
        }
    );
}

#[test]
fn error_event_and_no_synthesized_finish_after_it() {
    let raw = sse(&[
        start("msg_e"),
        block_start(0, json!({"type": "text", "text": ""})),
        delta(0, json!({"type": "text_delta", "text": "partial"})),
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    ]);
    let ev = decode(&raw);
    assert_eq!(
        ev.last().unwrap(),
        &StreamEvent::Error {
            message: "overloaded_error: Overloaded".into()
        }
    );
    assert!(!ev.iter().any(|e| matches!(e, StreamEvent::Finish { .. })));

    // An error as the very first event still comes after a Start.
    let ev = decode(&sse(&[
        json!({"type": "error", "error": {"type": "api_error", "message": "boom"}}),
    ]));
    assert!(matches!(ev[0], StreamEvent::Start { id: None, .. }));
    assert!(matches!(&ev[1], StreamEvent::Error { message } if message == "api_error: boom"));
}

#[test]
fn finish_is_synthesized_when_missing() {
    let raw = sse(&[
        start("msg_f"),
        block_start(
            0,
            json!({"type": "tool_use", "id": "t", "name": "f", "input": {}}),
        ),
        delta(0, json!({"type": "input_json_delta", "partial_json": "{}"})),
        block_stop(0),
    ]);
    assert_eq!(
        decode(&raw).last().unwrap(),
        &StreamEvent::Finish {
            reason: FinishReason::ToolCalls
        }
    );
    // An empty body still gives a well-formed stream.
    let ev = decode("");
    assert_eq!(ev.len(), 2);
    assert!(matches!(ev[0], StreamEvent::Start { .. }));
    assert_eq!(
        ev[1],
        StreamEvent::Finish {
            reason: FinishReason::Stop
        }
    );
}

#[test]
fn redacted_thinking_full_tool_input_and_malformed_json() {
    let raw = sse(&[
        start("msg_r"),
        block_start(0, json!({"type": "redacted_thinking", "data": "opaque"})),
        block_stop(0),
        block_start(
            1,
            json!({"type": "tool_use", "id": "t", "name": "f", "input": {"a": 1}}),
        ),
        block_stop(1),
        message_delta("tool_use", 5),
    ]);
    let ev = decode(&raw);
    assert_eq!(
        ev[2],
        StreamEvent::RedactedReasoning {
            data: "opaque".into()
        }
    );
    assert_eq!(
        ev[4],
        StreamEvent::ToolCallArgs {
            index: 0,
            fragment: r#"{"a":1}"#.into()
        }
    );

    let mut dec = AnthropicCodec.stream_decoder();
    let mut out = Vec::new();
    let bad = SseEvent {
        event: Some("content_block_delta".into()),
        data: "{not json".into(),
        id: None,
    };
    assert!(dec.push(&bad, &mut out).is_err());
}

// ------------------------------------------------------------------------------ encoder

#[derive(Debug, Default)]
struct Block {
    kind: String,
    start: Value,
    text: String,
    thinking: String,
    signature: String,
    json: String,
}

#[derive(Debug)]
enum Ending {
    Stop { delta: Value },
    Error(Value),
}

#[derive(Debug)]
struct Parsed {
    start: Option<Value>,
    blocks: Vec<Block>,
    ending: Ending,
}

/// Parse an encoder's output and check the Anthropic lifecycle: `message_start`, `ping`,
/// (`content_block_start`, deltas, `content_block_stop`)* with indexes from 0, then
/// `message_delta` + `message_stop`, or `error` last.
fn parse_lifecycle(bytes: &[u8]) -> Parsed {
    let mut events = Vec::new();
    let mut p = SseParser::default();
    p.push(bytes, |e| events.push(e)).unwrap();
    p.finish(|e| events.push(e));
    let mut it = events.into_iter().map(|e| {
        let v: Value = serde_json::from_str(&e.data).unwrap();
        let name = e.event.unwrap();
        assert_eq!(v["type"], name.as_str(), "event name matches data type");
        (name, v)
    });
    let mut parsed = Parsed {
        start: None,
        blocks: Vec::new(),
        ending: Ending::Error(Value::Null),
    };
    let (name, v) = it.next().expect("empty stream");
    if name == "error" {
        assert!(it.next().is_none(), "nothing after error");
        parsed.ending = Ending::Error(v);
        return parsed;
    }
    assert_eq!(name, "message_start");
    let msg = &v["message"];
    assert_eq!(msg["type"], "message");
    assert_eq!(msg["role"], "assistant");
    assert_eq!(msg["content"], json!([]));
    assert!(msg["stop_reason"].is_null());
    assert!(msg["usage"]["input_tokens"].is_u64());
    assert_eq!(msg["usage"]["output_tokens"], 0);
    parsed.start = Some(v);
    let (name, _) = it.next().unwrap();
    assert_eq!(name, "ping");
    let mut open: Option<Block> = None;
    for (name, v) in it.by_ref() {
        match name.as_str() {
            "content_block_start" => {
                assert!(open.is_none(), "block opened while another is open");
                assert_eq!(v["index"], parsed.blocks.len(), "indexes increase from 0");
                let cb = v["content_block"].clone();
                open = Some(Block {
                    kind: cb["type"].as_str().unwrap().to_string(),
                    start: cb,
                    ..Default::default()
                });
            }
            "content_block_delta" => {
                let b = open.as_mut().expect("delta outside a block");
                assert_eq!(v["index"], parsed.blocks.len());
                let d = &v["delta"];
                let s = |k: &str| d[k].as_str().unwrap().to_string();
                match (d["type"].as_str().unwrap(), b.kind.as_str()) {
                    ("text_delta", "text") => b.text += &s("text"),
                    ("thinking_delta", "thinking") => b.thinking += &s("thinking"),
                    ("signature_delta", "thinking") => {
                        assert!(b.signature.is_empty(), "one signature per block");
                        b.signature += &s("signature")
                    }
                    ("input_json_delta", "tool_use") => b.json += &s("partial_json"),
                    (d, k) => panic!("{d} in a {k} block"),
                }
            }
            "content_block_stop" => {
                assert_eq!(v["index"], parsed.blocks.len());
                parsed.blocks.push(open.take().expect("stop without start"));
            }
            "ping" => {}
            "message_delta" => {
                assert!(open.is_none(), "message_delta with a block open");
                let (n, stop) = it.next().expect("message_stop after message_delta");
                assert_eq!(n, "message_stop");
                assert_eq!(stop, json!({"type": "message_stop"}));
                parsed.ending = Ending::Stop { delta: v };
                assert!(it.next().is_none(), "nothing after message_stop");
                return parsed;
            }
            "error" => {
                assert!(open.is_none(), "error with a block open");
                assert!(it.next().is_none(), "nothing after error");
                parsed.ending = Ending::Error(v);
                return parsed;
            }
            other => panic!("unexpected event {other}"),
        }
    }
    panic!("stream ended without message_stop or error")
}

fn encode(events: &[StreamEvent], end: StreamEnd) -> BytesMut {
    let mut enc = AnthropicCodec.stream_encoder("client-model", &EncoderOptions::default());
    let mut out = BytesMut::new();
    for e in events {
        enc.push(e, &mut out);
    }
    enc.finish(&end, &mut out);
    // finish is idempotent.
    let len = out.len();
    enc.finish(&end, &mut out);
    assert_eq!(out.len(), len);
    out
}

fn text(t: &str) -> StreamEvent {
    StreamEvent::TextDelta { text: t.into() }
}

fn think(t: &str) -> StreamEvent {
    StreamEvent::ReasoningDelta { text: t.into() }
}

fn start_ev() -> StreamEvent {
    StreamEvent::Start {
        id: Some("chatcmpl-1".into()),
        model: Some("upstream-model".into()),
    }
}

fn tool_start(index: usize, id: &str, name: &str) -> StreamEvent {
    StreamEvent::ToolCallStart {
        index,
        id: id.into(),
        name: name.into(),
        signature: None,
    }
}

fn args(index: usize, f: &str) -> StreamEvent {
    StreamEvent::ToolCallArgs {
        index,
        fragment: f.into(),
    }
}

fn finish(reason: FinishReason) -> StreamEvent {
    StreamEvent::Finish { reason }
}

#[test]
fn encodes_text_only() {
    let out = encode(
        &[
            start_ev(),
            StreamEvent::Usage {
                usage: Usage {
                    input_tokens: Some(11),
                    ..Default::default()
                },
            },
            text("Hel"),
            text(""),
            text("lo"),
            finish(FinishReason::Stop),
            StreamEvent::Usage {
                usage: Usage {
                    output_tokens: Some(2),
                    ..Default::default()
                },
            },
        ],
        StreamEnd::Complete,
    );
    let p = parse_lifecycle(&out);
    let msg = &p.start.unwrap()["message"];
    assert_eq!(msg["id"], "msg_chatcmpl-1");
    assert_eq!(msg["model"], "client-model");
    assert_eq!(msg["usage"]["input_tokens"], 11);
    assert_eq!(p.blocks.len(), 1);
    assert_eq!(p.blocks[0].kind, "text");
    assert_eq!(p.blocks[0].start, json!({"type": "text", "text": ""}));
    assert_eq!(p.blocks[0].text, "Hello");
    match p.ending {
        Ending::Stop { delta } => assert_eq!(
            delta,
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                "usage": {"input_tokens": 11, "output_tokens": 2}})
        ),
        other => panic!("{other:?}"),
    }
    // Exact framing.
    assert!(out.starts_with(b"event: message_start\ndata: {"));
    assert!(out.ends_with(b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
}

#[test]
fn encodes_reasoning_with_and_without_signature_then_text() {
    let out = encode(
        &[
            start_ev(),
            think("step 1"),
            think(", step 2"),
            StreamEvent::ReasoningSignature {
                signature: "sig-A".into(),
            },
            // A new thought after a signed one is a new block.
            think("unsigned"),
            text("Answer"),
            StreamEvent::RedactedReasoning {
                data: "opaque".into(),
            },
            finish(FinishReason::Stop),
        ],
        StreamEnd::Complete,
    );
    let p = parse_lifecycle(&out);
    let kinds: Vec<&str> = p.blocks.iter().map(|b| b.kind.as_str()).collect();
    assert_eq!(kinds, ["thinking", "thinking", "text", "redacted_thinking"]);
    assert_eq!(
        p.blocks[0].start,
        json!({"type": "thinking", "thinking": "", "signature": ""})
    );
    assert_eq!(p.blocks[0].thinking, "step 1, step 2");
    assert_eq!(p.blocks[0].signature, "sig-A");
    assert_eq!(p.blocks[1].thinking, "unsigned");
    assert_eq!(p.blocks[1].signature, "");
    assert_eq!(p.blocks[2].text, "Answer");
    assert_eq!(
        p.blocks[3].start,
        json!({"type": "redacted_thinking", "data": "opaque"})
    );
}

#[test]
fn encodes_parallel_tool_calls() {
    let a = r#"{"file_path": "/a/b.txt", "n": [1, 2]}"#;
    let b = r#"{"path": "/"}"#;
    let out = encode(
        &[
            start_ev(),
            text("Calling."),
            tool_start(0, "call_A", "Read"),
            args(0, &a[..7]),
            args(0, ""),
            args(0, &a[7..20]),
            args(0, &a[20..]),
            tool_start(1, "call_B", "Ls"),
            args(1, &b[..3]),
            args(1, &b[3..]),
            finish(FinishReason::ToolCalls),
        ],
        StreamEnd::Complete,
    );
    let p = parse_lifecycle(&out);
    assert_eq!(p.blocks.len(), 3);
    assert_eq!(
        p.blocks[1].start,
        json!({"type": "tool_use", "id": "call_A", "name": "Read", "input": {}})
    );
    assert_eq!(p.blocks[1].json, a);
    assert_eq!(p.blocks[2].start["id"], "call_B");
    assert_eq!(p.blocks[2].json, b);
    assert!(
        matches!(p.ending, Ending::Stop { delta } if delta["delta"]["stop_reason"] == "tool_use")
    );
}

#[test]
fn abort_mid_text() {
    let out = encode(
        &[start_ev(), text("partial ans")],
        StreamEnd::Aborted("upstream stalled".into()),
    );
    let p = parse_lifecycle(&out);
    assert_eq!(p.blocks.len(), 1);
    assert_eq!(p.blocks[0].text, "partial ans");
    match p.ending {
        Ending::Error(e) => assert_eq!(
            e,
            json!({"type": "error", "error": {"type": "api_error", "message": "upstream stalled"}})
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn abort_mid_tool() {
    let out = encode(
        &[
            start_ev(),
            tool_start(0, "call_A", "Read"),
            args(0, "{\"file_pa"),
        ],
        StreamEnd::Aborted("connection reset".into()),
    );
    let p = parse_lifecycle(&out);
    assert_eq!(p.blocks.len(), 1);
    assert_eq!(p.blocks[0].json, "{\"file_pa");
    assert!(matches!(p.ending, Ending::Error(e) if e["error"]["message"] == "connection reset"));
}

#[test]
fn abort_before_anything_is_just_an_error() {
    let out = encode(&[start_ev()], StreamEnd::Aborted("refused".into()));
    let p = parse_lifecycle(&out);
    assert!(p.start.is_none());
    assert!(matches!(p.ending, Ending::Error(e) if e["error"]["message"] == "refused"));
}

#[test]
fn error_event_ends_the_stream() {
    let out = encode(
        &[
            start_ev(),
            text("so far"),
            StreamEvent::Error {
                message: "overloaded".into(),
            },
            text("ignored"),
            finish(FinishReason::Stop),
        ],
        StreamEnd::Aborted("overloaded".into()),
    );
    let p = parse_lifecycle(&out);
    assert_eq!(p.blocks.len(), 1);
    assert_eq!(p.blocks[0].text, "so far");
    assert!(matches!(p.ending, Ending::Error(e) if e["error"]["message"] == "overloaded"));
}

#[test]
fn complete_without_finish_or_start() {
    let out = encode(&[text("no start, no finish")], StreamEnd::Complete);
    let p = parse_lifecycle(&out);
    let msg = &p.start.unwrap()["message"];
    assert!(msg["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(msg["usage"]["input_tokens"], 0);
    assert_eq!(p.blocks[0].text, "no start, no finish");
    match p.ending {
        Ending::Stop { delta } => {
            assert_eq!(delta["delta"]["stop_reason"], "end_turn");
            assert_eq!(delta["usage"], json!({"output_tokens": 0}));
        }
        other => panic!("{other:?}"),
    }
    // Nothing at all: an empty, well-formed message.
    let p = parse_lifecycle(&encode(&[], StreamEnd::Complete));
    assert!(p.blocks.is_empty());
    assert!(matches!(p.ending, Ending::Stop { .. }));
}

#[test]
fn tool_call_signature_rides_in_an_empty_thinking_block() {
    let out = encode(
        &[
            start_ev(),
            StreamEvent::ToolCallStart {
                index: 0,
                id: "fc_1".into(),
                name: "f".into(),
                signature: Some("gemini-sig".into()),
            },
            args(0, "{}"),
            finish(FinishReason::ToolCalls),
        ],
        StreamEnd::Complete,
    );
    let p = parse_lifecycle(&out);
    assert_eq!(p.blocks[0].kind, "thinking");
    assert_eq!(p.blocks[0].signature, "gemini-sig");
    assert_eq!(p.blocks[1].kind, "tool_use");
    assert_eq!(p.blocks[1].json, "{}");
}

#[test]
fn encoder_then_decoder_round_trip() {
    // What the Anthropic decoder makes of the rich stream, re-encoded for an Anthropic client
    // and decoded again, is the same (ids and model aside).
    let events = rich_expected();
    let out = encode(&events, StreamEnd::Complete);
    parse_lifecycle(&out);
    let again = decode_chunks(&[&out]);
    let strip = |evs: &[StreamEvent]| -> Vec<StreamEvent> {
        evs.iter()
            .filter(|e| !matches!(e, StreamEvent::Start { .. } | StreamEvent::Usage { .. }))
            .cloned()
            .collect()
    };
    assert_eq!(strip(&again), strip(&events));
    let last_usage = again
        .iter()
        .rev()
        .find_map(|e| match e {
            StreamEvent::Usage { usage } => Some(*usage),
            _ => None,
        })
        .unwrap();
    assert_eq!(last_usage.output_tokens, Some(87));
    assert_eq!(last_usage.input_tokens, Some(35));
    assert_eq!(last_usage.cached_tokens, Some(10));
}
