//! IR events → client chunk streams: lifecycles (text, reasoning, parallel tools, abort,
//! complete without Finish, upstream error), include_usage on/off, stable id/created, and
//! tool arguments that reassemble into the JSON that went in.

use std::collections::BTreeMap;

use omniroute_ir::{FinishReason, StreamEnd, StreamEvent, Usage};
use serde_json::{json, Value};

use crate::support::{decode_stream, encode_events, payloads, sse_events};

fn start() -> StreamEvent {
    StreamEvent::Start {
        id: Some("up-123".into()),
        model: Some("up-model".into()),
    }
}

fn text(t: &str) -> StreamEvent {
    StreamEvent::TextDelta { text: t.into() }
}

fn finish(reason: FinishReason) -> StreamEvent {
    StreamEvent::Finish { reason }
}

fn usage() -> StreamEvent {
    StreamEvent::Usage {
        usage: Usage {
            input_tokens: Some(11),
            output_tokens: Some(7),
            cached_tokens: Some(3),
            cache_creation_tokens: None,
            reasoning_tokens: None,
        },
    }
}

/// Checks shared by every well-formed output: each payload is a chunk with the same
/// id/created/model (or the error object), the raw text ends with `[DONE]`, and returns the
/// chunks.
fn check(raw: &str) -> Vec<Value> {
    assert!(raw.ends_with("data: [DONE]\n\n"), "{raw}");
    assert_eq!(sse_events(raw).iter().filter(|e| e.is_done()).count(), 1);
    let p = payloads(raw);
    let chunks: Vec<Value> = p
        .iter()
        .filter(|v| v.get("object").is_some())
        .cloned()
        .collect();
    let first = &chunks[0];
    assert!(first["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(first["model"], "client-model");
    assert_eq!(
        first["choices"][0]["delta"],
        json!({"role":"assistant","content":""})
    );
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["id"], first["id"]);
        assert_eq!(c["created"], first["created"]);
        assert_eq!(c["model"], "client-model");
        let keys: Vec<&str> = c.as_object().unwrap().keys().map(String::as_str).collect();
        if c.get("usage").is_some() {
            assert_eq!(
                keys,
                ["id", "object", "created", "model", "choices", "usage"]
            );
            assert_eq!(c["choices"], json!([]));
        } else {
            assert_eq!(keys, ["id", "object", "created", "model", "choices"]);
            let choice = c["choices"][0].as_object().unwrap();
            let ck: Vec<&str> = choice.keys().map(String::as_str).collect();
            assert_eq!(ck, ["index", "delta", "finish_reason"]);
        }
    }
    chunks
}

fn finish_reasons(chunks: &[Value]) -> Vec<String> {
    chunks
        .iter()
        .filter_map(|c| {
            c["choices"].get(0)?["finish_reason"]
                .as_str()
                .map(str::to_string)
        })
        .collect()
}

/// The last non-usage chunk carries the finish reason.
fn last_finish(chunks: &[Value]) -> String {
    let c = chunks
        .iter()
        .rev()
        .find(|c| c.get("usage").is_none())
        .unwrap();
    assert_eq!(c["choices"][0]["delta"], json!({}));
    c["choices"][0]["finish_reason"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn text_lifecycle() {
    let raw = encode_events(
        &[
            start(),
            text("Hel"),
            text(""),
            text("lo"),
            finish(FinishReason::Stop),
            usage(),
        ],
        false,
        StreamEnd::Complete,
    );
    let chunks = check(&raw);
    assert_eq!(chunks[0]["id"], "chatcmpl-up-123");
    let contents: Vec<&str> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(contents, ["", "Hel", "lo"]);
    assert_eq!(finish_reasons(&chunks), ["stop"]);
    assert_eq!(last_finish(&chunks), "stop");
    assert!(
        chunks.iter().all(|c| c.get("usage").is_none()),
        "include_usage off"
    );
    assert_eq!(chunks.len(), 4);
}

#[test]
fn reasoning_then_text() {
    let ev = [
        start(),
        StreamEvent::ReasoningDelta {
            text: "Think".into(),
        },
        StreamEvent::ReasoningDelta { text: "ing".into() },
        StreamEvent::ReasoningSignature {
            signature: "sig".into(),
        },
        StreamEvent::RedactedReasoning { data: "xx".into() },
        StreamEvent::ReasoningEncrypted {
            id: None,
            encrypted: "enc".into(),
        },
        text("Answer"),
        finish(FinishReason::Length),
    ];
    let chunks = check(&encode_events(&ev, true, StreamEnd::Complete));
    let deltas: Vec<&Value> = chunks.iter().map(|c| &c["choices"][0]["delta"]).collect();
    assert_eq!(deltas[1], &json!({"reasoning_content":"Think"}));
    assert_eq!(deltas[2], &json!({"reasoning_content":"ing"}));
    assert_eq!(deltas[3], &json!({"content":"Answer"}));
    assert_eq!(chunks.len(), 5);
    assert_eq!(last_finish(&chunks), "length");
}

#[test]
fn parallel_tool_calls_reassemble() {
    let a = json!({"path": "src/main.rs", "lines": [1, 2, 3]});
    let b = json!({"pattern": "fn \"main\"", "nested": {"x": null}});
    let (sa, sb) = (a.to_string(), b.to_string());
    let mut ev = vec![
        start(),
        text("Reading both."),
        StreamEvent::ToolCallStart {
            index: 0,
            id: "call_0".into(),
            name: "read".into(),
            signature: None,
        },
        StreamEvent::ToolCallStart {
            index: 1,
            id: "toolu_1".into(),
            name: "grep".into(),
            signature: Some("s".into()),
        },
    ];
    // interleave 5-byte fragments of both
    let (ca, cb): (Vec<char>, Vec<char>) = (sa.chars().collect(), sb.chars().collect());
    for k in 0..ca.len().max(cb.len()).div_ceil(5) {
        for (index, chars) in [(0usize, &ca), (1usize, &cb)] {
            let frag: String = chars.iter().skip(k * 5).take(5).collect();
            if frag.is_empty() {
                continue;
            }
            ev.push(StreamEvent::ToolCallArgs {
                index,
                fragment: frag,
            });
        }
    }
    ev.push(finish(FinishReason::ToolCalls));
    ev.push(usage());
    let raw = encode_events(&ev, true, StreamEnd::Complete);
    let chunks = check(&raw);

    let mut args: BTreeMap<u64, String> = BTreeMap::new();
    let mut starts = Vec::new();
    for c in &chunks {
        let Some(calls) = c["choices"]
            .get(0)
            .and_then(|ch| ch["delta"]["tool_calls"].as_array())
        else {
            continue;
        };
        assert_eq!(calls.len(), 1);
        let call = &calls[0];
        let index = call["index"].as_u64().unwrap();
        if call.get("id").is_some() {
            assert_eq!(call["type"], "function");
            assert_eq!(call["function"]["arguments"], "");
            starts.push((
                index,
                call["id"].as_str().unwrap().to_string(),
                call["function"]["name"].as_str().unwrap().to_string(),
            ));
        } else {
            assert!(call.get("type").is_none() && call["function"].get("name").is_none());
        }
        args.entry(index)
            .or_default()
            .push_str(call["function"]["arguments"].as_str().unwrap());
    }
    assert_eq!(
        starts,
        [
            (0, "call_0".into(), "read".into()),
            (1, "toolu_1".into(), "grep".into())
        ]
    );
    assert_eq!(serde_json::from_str::<Value>(&args[&0]).unwrap(), a);
    assert_eq!(serde_json::from_str::<Value>(&args[&1]).unwrap(), b);
    assert_eq!(last_finish(&chunks), "tool_calls");
    let u = chunks.last().unwrap();
    assert_eq!(
        u["usage"],
        json!({"prompt_tokens":11,"completion_tokens":7,"total_tokens":18,"prompt_tokens_details":{"cached_tokens":3}})
    );

    // decoding our own output gives back the events (minus the Start ids and the signature)
    let back = decode_stream(&raw);
    let norm = |e: &StreamEvent| match e {
        StreamEvent::ToolCallStart {
            index, id, name, ..
        } => StreamEvent::ToolCallStart {
            index: *index,
            id: id.clone(),
            name: name.clone(),
            signature: None,
        },
        e => e.clone(),
    };
    let merged =
        |evs: &[StreamEvent]| -> Vec<StreamEvent> { evs.iter().skip(1).map(norm).collect() };
    assert_eq!(merged(&back), merged(&ev));
}

#[test]
fn abort_mid_text_ends_with_the_error_event() {
    let raw = encode_events(
        &[start(), text("partial an"), usage()],
        true,
        StreamEnd::Aborted("upstream idle for 60s".into()),
    );
    let chunks = check(&raw);
    assert!(finish_reasons(&chunks).is_empty(), "no fake success");
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));
    let p = payloads(&raw);
    assert_eq!(
        p[p.len() - 2],
        json!({"error":{"message":"upstream idle for 60s","type":"upstream_error","code":"upstream_stream_error"}})
    );
    assert_eq!(p[p.len() - 1], "[DONE]");
}

#[test]
fn upstream_error_event_then_complete() {
    let raw = encode_events(
        &[
            start(),
            text("x"),
            StreamEvent::Error {
                message: "overloaded".into(),
            },
            text("ignored"),
        ],
        true,
        StreamEnd::Complete,
    );
    let p = payloads(&raw);
    assert_eq!(p.len(), 4, "{raw}");
    assert_eq!(p[2]["error"]["message"], "overloaded");
    assert_eq!(p[2]["error"]["code"], "upstream_stream_error");
    assert_eq!(p[3], "[DONE]");
}

#[test]
fn complete_without_finish_synthesizes_one() {
    let chunks = check(&encode_events(
        &[start(), text("hi")],
        true,
        StreamEnd::Complete,
    ));
    assert_eq!(last_finish(&chunks), "stop");
    let ev = [
        start(),
        StreamEvent::ToolCallStart {
            index: 0,
            id: "c".into(),
            name: "f".into(),
            signature: None,
        },
        StreamEvent::ToolCallArgs {
            index: 0,
            fragment: "{}".into(),
        },
    ];
    let chunks = check(&encode_events(&ev, false, StreamEnd::Complete));
    assert_eq!(last_finish(&chunks), "tool_calls");
    // no events at all, not even Start
    let chunks = check(&encode_events(&[], true, StreamEnd::Complete));
    assert_eq!(chunks.len(), 2);
    assert_eq!(last_finish(&chunks), "stop");
    // a Stop finish after tool calls is reported as tool_calls (clients run tools only then)
    let mut ev = ev.to_vec();
    ev.push(finish(FinishReason::Stop));
    assert_eq!(
        last_finish(&check(&encode_events(&ev, false, StreamEnd::Complete))),
        "tool_calls"
    );
    // nothing after the finish chunk, a second Finish ignored
    let chunks = check(&encode_events(
        &[
            start(),
            finish(FinishReason::ContentFilter),
            text("late"),
            finish(FinishReason::Stop),
        ],
        false,
        StreamEnd::Complete,
    ));
    assert_eq!(finish_reasons(&chunks), ["content_filter"]);
    assert_eq!(chunks.len(), 2);
}

#[test]
fn include_usage_on_and_off() {
    let ev = [
        start(),
        text("a"),
        finish(FinishReason::Stop),
        usage(),
        StreamEvent::Usage {
            usage: Usage {
                output_tokens: Some(9),
                reasoning_tokens: Some(2),
                ..Default::default()
            },
        },
    ];
    let on = check(&encode_events(&ev, true, StreamEnd::Complete));
    assert_eq!(last_finish(&on), "stop");
    let u = on.last().unwrap();
    assert_eq!(
        u["usage"],
        json!({"prompt_tokens":11,"completion_tokens":9,"total_tokens":20,"prompt_tokens_details":{"cached_tokens":3},"completion_tokens_details":{"reasoning_tokens":2}})
    );
    let off = check(&encode_events(&ev, false, StreamEnd::Complete));
    assert!(off.iter().all(|c| c.get("usage").is_none()));
    assert_eq!(off.len(), on.len() - 1);
    // usage with an unknown input count is not invented
    let partial = [
        start(),
        text("a"),
        StreamEvent::Usage {
            usage: Usage {
                output_tokens: Some(1),
                ..Default::default()
            },
        },
    ];
    let chunks = check(&encode_events(&partial, true, StreamEnd::Complete));
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));
}

#[test]
fn id_is_made_when_upstream_has_none_and_finish_is_idempotent() {
    use bytes::BytesMut;
    use omniroute_format_openai::OpenAiCodec;
    use omniroute_ir::{Codec, EncoderOptions};
    let mut enc = OpenAiCodec.stream_encoder("m", &EncoderOptions::default());
    let mut out = BytesMut::new();
    enc.push(
        &StreamEvent::Start {
            id: None,
            model: None,
        },
        &mut out,
    );
    enc.push(&text("x"), &mut out);
    enc.finish(&StreamEnd::Complete, &mut out);
    let len = out.len();
    enc.finish(&StreamEnd::Aborted("again".into()), &mut out);
    enc.push(&text("y"), &mut out);
    assert_eq!(out.len(), len);
    let raw = String::from_utf8(out.to_vec()).unwrap();
    let p = payloads(&raw);
    assert!(p[0]["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert!(raw.ends_with("data: [DONE]\n\n"));
}
