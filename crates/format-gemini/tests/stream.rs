//! Streams: the decoder on realistic and recorded Gemini SSE (and at every split of the raw
//! bytes), the encoder in SSE and JSON-array framing, and decode → encode → decode.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bytes::BytesMut;
use common::{decode_stream, fixture_files, load, short_name, sse_events};
use omniroute_format_gemini::GeminiCodec;
use omniroute_ir::{Codec, EncoderOptions, FinishReason, StreamEnd, StreamEvent, Usage};
use serde_json::{json, Value};

/// A realistic Gemini 2.5 stream: thoughts, a signed answer chunk, a signed function call
/// with the finish reason and usage. CRLF framing as Google sends it, plus a keep-alive.
const STREAM: &[u8] = b"data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"**Reading** the file first.\",\"thought\": true}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 50,\"totalTokenCount\": 50},\"modelVersion\": \"gemini-2.5-pro\",\"responseId\": \"abc123\"}\r\n\r\n\
: keep-alive\r\n\r\n\
data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"I'll read \\u00e9 it.\",\"thoughtSignature\": \"c2lnLXRleHQ=\"}],\"role\": \"model\"},\"index\": 0}],\"modelVersion\": \"gemini-2.5-pro\",\"responseId\": \"abc123\"}\r\n\r\n\
data: {\"candidates\": [{\"content\": {\"parts\": [{\"functionCall\": {\"name\": \"read_file\",\"args\": {\"file_path\": \"/tmp/a b.txt\",\"limit\": 10}},\"thoughtSignature\": \"c2lnLWNhbGw=\"}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 50,\"candidatesTokenCount\": 12,\"totalTokenCount\": 92,\"thoughtsTokenCount\": 30},\"modelVersion\": \"gemini-2.5-pro\",\"responseId\": \"abc123\"}\r\n\r\n";

fn decoder_events(chunks: &[&[u8]]) -> Vec<StreamEvent> {
    decode_stream(GeminiCodec.stream_decoder(), chunks)
}

#[test]
fn decodes_a_realistic_stream() {
    let ev = decoder_events(&[STREAM]);
    let call_id = match &ev[5] {
        StreamEvent::ToolCallStart { id, .. } => id.clone(),
        other => panic!("{other:?}"),
    };
    assert!(call_id.starts_with("call_"));
    assert_eq!(
        ev,
        vec![
            StreamEvent::Start {
                id: Some("abc123".into()),
                model: Some("gemini-2.5-pro".into())
            },
            StreamEvent::ReasoningDelta {
                text: "**Reading** the file first.".into()
            },
            StreamEvent::Usage {
                usage: Usage {
                    input_tokens: Some(50),
                    ..Default::default()
                }
            },
            StreamEvent::ReasoningSignature {
                signature: "c2lnLXRleHQ=".into()
            },
            StreamEvent::TextDelta {
                text: "I'll read é it.".into()
            },
            StreamEvent::ToolCallStart {
                index: 0,
                id: call_id,
                name: "read_file".into(),
                signature: Some("c2lnLWNhbGw=".into())
            },
            StreamEvent::ToolCallArgs {
                index: 0,
                fragment: r#"{"file_path":"/tmp/a b.txt","limit":10}"#.into()
            },
            StreamEvent::Usage {
                usage: Usage {
                    input_tokens: Some(50),
                    output_tokens: Some(42),
                    reasoning_tokens: Some(30),
                    ..Default::default()
                }
            },
            StreamEvent::Finish {
                reason: FinishReason::ToolCalls
            },
        ]
    );
}

#[test]
fn every_split_of_the_raw_bytes_gives_the_same_events() {
    let whole = decoder_events(&[STREAM]);
    for i in 0..=STREAM.len() {
        let got = decoder_events(&[&STREAM[..i], &STREAM[i..]]);
        assert_eq!(got, whole, "split at {i}");
    }
    // And byte by byte.
    let bytes: Vec<&[u8]> = STREAM.chunks(1).collect();
    assert_eq!(decoder_events(&bytes), whole);
}

#[test]
fn decodes_the_recorded_fixture_streams() {
    for f in fixture_files(Some("gemini_streamGenerateContent")) {
        let name = short_name(&f);
        let fx = load(&f);
        let raw = fx["response"]["body"].as_str().unwrap().as_bytes().to_vec();
        let ev = decoder_events(&[&raw]);
        assert!(
            matches!(
                ev.first(),
                Some(StreamEvent::Start {
                    id: Some(_),
                    model: Some(_)
                })
            ),
            "{name}"
        );
        let finishes: Vec<&StreamEvent> = ev
            .iter()
            .filter(|e| matches!(e, StreamEvent::Finish { .. }))
            .collect();
        assert_eq!(finishes.len(), 1, "{name}");
        assert!(
            matches!(ev.last(), Some(StreamEvent::Finish { .. })),
            "{name}"
        );
        let plan = &fx["response"]["plan"];
        match plan["kind"].as_str().unwrap() {
            "text" => {
                let text: String = ev
                    .iter()
                    .filter_map(|e| match e {
                        StreamEvent::TextDelta { text } => Some(text.as_str()),
                        _ => None,
                    })
                    .collect();
                assert_eq!(text, plan["text"].as_str().unwrap(), "{name}");
                assert_eq!(
                    finishes[0],
                    &StreamEvent::Finish {
                        reason: FinishReason::Stop
                    }
                );
            }
            "tool" => {
                let (name_, sig) = ev
                    .iter()
                    .find_map(|e| match e {
                        StreamEvent::ToolCallStart {
                            name, signature, ..
                        } => Some((name.clone(), signature.clone())),
                        _ => None,
                    })
                    .unwrap();
                assert_eq!(name_, plan["name"].as_str().unwrap());
                assert!(sig.is_some(), "{name}: signature on the call");
                let args: String = ev
                    .iter()
                    .filter_map(|e| match e {
                        StreamEvent::ToolCallArgs { fragment, .. } => Some(fragment.as_str()),
                        _ => None,
                    })
                    .collect();
                assert_eq!(serde_json::from_str::<Value>(&args).unwrap(), plan["args"]);
                assert_eq!(
                    finishes[0],
                    &StreamEvent::Finish {
                        reason: FinishReason::ToolCalls
                    }
                );
            }
            other => panic!("{other}"),
        }
        let usage = ev.iter().rev().find_map(|e| match e {
            StreamEvent::Usage { usage } => Some(*usage),
            _ => None,
        });
        assert_eq!(usage.unwrap().output_tokens, Some(12), "{name}");
    }
}

#[test]
fn decoder_errors_blocks_and_synthesized_finish() {
    let ev = decoder_events(&[b"data: {\"error\": {\"code\": 500, \"message\": \"Internal\", \"status\": \"INTERNAL\"}}\n\n"]);
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert!(matches!(&ev[1], StreamEvent::Error { message } if message.contains("Internal")));

    let ev = decoder_events(&[
        b"data: {\"promptFeedback\": {\"blockReason\": \"SAFETY\"}, \"responseId\": \"r\"}\n\n",
    ]);
    assert_eq!(
        ev.last(),
        Some(&StreamEvent::Finish {
            reason: FinishReason::ContentFilter
        })
    );

    // No finishReason: synthesized at the end (ToolCalls when calls were seen).
    let ev = decoder_events(&[b"data: {\"candidates\": [{\"content\": {\"parts\": [{\"functionCall\": {\"name\": \"f\", \"args\": {}}}, {\"functionCall\": {\"name\": \"g\"}}]}}]}\n\n"]);
    assert_eq!(
        ev.last(),
        Some(&StreamEvent::Finish {
            reason: FinishReason::ToolCalls
        })
    );
    let starts: Vec<usize> = ev
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ToolCallStart { index, .. } => Some(*index),
            _ => None,
        })
        .collect();
    assert_eq!(starts, vec![0, 1]);
    let ev = decoder_events(&[
        b"data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"hi\"}]}}]}\n\n",
    ]);
    assert_eq!(
        ev.last(),
        Some(&StreamEvent::Finish {
            reason: FinishReason::Stop
        })
    );

    let mut dec = GeminiCodec.stream_decoder();
    let mut out = Vec::new();
    let bad = sse_events(&[b"data: {not json\n\n"]);
    assert!(dec.push(&bad[0], &mut out).is_err());
}

// =============================================================================== encoder

fn encode(events: &[StreamEvent], end: StreamEnd, json_array: bool) -> Vec<u8> {
    let mut enc = GeminiCodec.stream_encoder(
        "client-model",
        &EncoderOptions {
            json_array,
            ..Default::default()
        },
    );
    let mut out = BytesMut::new();
    for e in events {
        enc.push(e, &mut out);
    }
    enc.finish(&end, &mut out);
    out.to_vec()
}

/// The JSON objects of an encoded stream, checking the framing.
fn chunks(bytes: &[u8], json_array: bool) -> Vec<Value> {
    if json_array {
        assert_eq!(bytes.first(), Some(&b'['));
        assert_eq!(bytes.last(), Some(&b']'));
        let v: Value = serde_json::from_slice(bytes).unwrap();
        v.as_array().unwrap().clone()
    } else {
        let text = std::str::from_utf8(bytes).unwrap();
        assert!(text.ends_with("\r\n\r\n"));
        for block in text.split_terminator("\r\n\r\n") {
            assert!(block.starts_with("data: {"), "{block:?}");
            assert!(!block.contains('\n'));
        }
        sse_events(&[bytes])
            .iter()
            .map(|e| serde_json::from_str(&e.data).unwrap())
            .collect()
    }
}

fn parts(chunk: &Value) -> Vec<Value> {
    chunk["candidates"][0]["content"]["parts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn text_stream() -> Vec<StreamEvent> {
    vec![
        StreamEvent::Start {
            id: Some("resp-9".into()),
            model: Some("upstream".into()),
        },
        StreamEvent::TextDelta { text: "Hel".into() },
        StreamEvent::TextDelta {
            text: String::new(),
        },
        StreamEvent::TextDelta { text: "lo".into() },
        StreamEvent::Finish {
            reason: FinishReason::Stop,
        },
        StreamEvent::Usage {
            usage: Usage {
                input_tokens: Some(5),
                output_tokens: Some(2),
                ..Default::default()
            },
        },
    ]
}

#[test]
fn encodes_text_in_both_framings() {
    for json_array in [false, true] {
        let bytes = encode(&text_stream(), StreamEnd::Complete, json_array);
        let c = chunks(&bytes, json_array);
        assert_eq!(c.len(), 3, "{c:?}");
        assert_eq!(parts(&c[0]), vec![json!({"text": "Hel"})]);
        assert_eq!(parts(&c[1]), vec![json!({"text": "lo"})]);
        for ch in &c {
            assert_eq!(ch["modelVersion"], "client-model");
            assert_eq!(ch["responseId"], "resp-9");
            assert_eq!(ch["candidates"][0]["content"]["role"], "model");
        }
        assert_eq!(c[2]["candidates"][0]["finishReason"], "STOP");
        assert_eq!(
            c[2]["usageMetadata"],
            json!({"promptTokenCount": 5, "candidatesTokenCount": 2, "totalTokenCount": 7})
        );
        if json_array {
            let s = std::str::from_utf8(&bytes).unwrap();
            assert!(s.starts_with("[{"));
            assert_eq!(s.matches(",\r\n{").count(), 2);
        }
    }
}

#[test]
fn encodes_reasoning_and_signatures() {
    let events = vec![
        StreamEvent::Start {
            id: None,
            model: None,
        },
        StreamEvent::ReasoningDelta { text: "hmm".into() },
        StreamEvent::ReasoningSignature {
            signature: "SIG".into(),
        },
        StreamEvent::TextDelta {
            text: "answer".into(),
        },
        StreamEvent::Finish {
            reason: FinishReason::Stop,
        },
    ];
    let c = chunks(&encode(&events, StreamEnd::Complete, false), false);
    assert_eq!(parts(&c[0]), vec![json!({"text": "hmm", "thought": true})]);
    assert_eq!(
        parts(&c[1]),
        vec![json!({"text": "answer", "thoughtSignature": "SIG"})]
    );
    assert!(c[0].get("responseId").is_none());

    // A trailing signature with nothing after it rides on the final chunk.
    let events = vec![
        StreamEvent::ReasoningDelta { text: "hmm".into() },
        StreamEvent::ReasoningSignature {
            signature: "SIG".into(),
        },
    ];
    let c = chunks(&encode(&events, StreamEnd::Complete, false), false);
    assert_eq!(
        parts(c.last().unwrap()),
        vec![json!({"thoughtSignature": "SIG"})]
    );
    assert_eq!(c.last().unwrap()["candidates"][0]["finishReason"], "STOP");
}

fn two_calls() -> Vec<StreamEvent> {
    vec![
        StreamEvent::Start {
            id: Some("r".into()),
            model: None,
        },
        StreamEvent::TextDelta {
            text: "Reading both.".into(),
        },
        StreamEvent::ToolCallStart {
            index: 0,
            id: "call_a".into(),
            name: "read".into(),
            signature: Some("S0".into()),
        },
        StreamEvent::ToolCallArgs {
            index: 0,
            fragment: "{\"pa".into(),
        },
        StreamEvent::ToolCallArgs {
            index: 0,
            fragment: "th\": \"/a\"".into(),
        },
        StreamEvent::ToolCallArgs {
            index: 0,
            fragment: "}".into(),
        },
        StreamEvent::ToolCallStart {
            index: 1,
            id: "call_b".into(),
            name: "grep".into(),
            signature: None,
        },
        StreamEvent::ToolCallArgs {
            index: 1,
            fragment: "{\"q\": [1,".into(),
        },
        StreamEvent::ToolCallArgs {
            index: 1,
            fragment: " 2], \"x\": {\"y\": null}}".into(),
        },
        StreamEvent::Usage {
            usage: Usage {
                input_tokens: Some(10),
                output_tokens: Some(8),
                reasoning_tokens: Some(3),
                ..Default::default()
            },
        },
        StreamEvent::Finish {
            reason: FinishReason::ToolCalls,
        },
    ]
}

#[test]
fn buffers_fragmented_tool_calls_into_whole_function_calls() {
    for json_array in [false, true] {
        let c = chunks(
            &encode(&two_calls(), StreamEnd::Complete, json_array),
            json_array,
        );
        assert_eq!(c.len(), 2, "{c:?}");
        assert_eq!(parts(&c[0]), vec![json!({"text": "Reading both."})]);
        let last = &c[1];
        assert_eq!(
            parts(last),
            vec![
                json!({"functionCall": {"name": "read", "args": {"path": "/a"}, "id": "call_a"},
                       "thoughtSignature": "S0"}),
                json!({"functionCall": {"name": "grep", "args": {"q": [1, 2], "x": {"y": null}}, "id": "call_b"}}),
            ]
        );
        assert_eq!(last["candidates"][0]["finishReason"], "STOP");
        assert_eq!(
            last["usageMetadata"],
            json!({"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 18,
                   "thoughtsTokenCount": 3})
        );
    }

    // A call is flushed as soon as another kind of content follows.
    let events = vec![
        StreamEvent::ToolCallStart {
            index: 0,
            id: "c".into(),
            name: "f".into(),
            signature: None,
        },
        StreamEvent::ToolCallArgs {
            index: 0,
            fragment: "{\"a\":1}".into(),
        },
        StreamEvent::TextDelta {
            text: "after".into(),
        },
    ];
    let c = chunks(&encode(&events, StreamEnd::Complete, false), false);
    assert_eq!(c.len(), 3);
    assert_eq!(parts(&c[0])[0]["functionCall"]["args"], json!({"a": 1}));
    assert_eq!(parts(&c[1]), vec![json!({"text": "after"})]);
}

#[test]
fn abort_ends_with_the_error_element() {
    let events = vec![
        StreamEvent::Start {
            id: Some("r".into()),
            model: None,
        },
        StreamEvent::TextDelta {
            text: "partial".into(),
        },
        StreamEvent::ToolCallStart {
            index: 0,
            id: "c".into(),
            name: "f".into(),
            signature: None,
        },
        StreamEvent::ToolCallArgs {
            index: 0,
            fragment: "{\"a\":".into(),
        },
    ];
    for json_array in [false, true] {
        let bytes = encode(
            &events,
            StreamEnd::Aborted("upstream reset".into()),
            json_array,
        );
        let c = chunks(&bytes, json_array);
        assert_eq!(c.len(), 2, "the half call is not sent: {c:?}");
        assert_eq!(parts(&c[0]), vec![json!({"text": "partial"})]);
        assert_eq!(
            c[1],
            json!({"error": {"code": 502, "message": "upstream reset", "status": "UNAVAILABLE"}})
        );
        assert!(c
            .iter()
            .all(|ch| ch["candidates"][0].get("finishReason").is_none()));
    }

    // Nothing at all before the abort: still a well-formed array.
    let bytes = encode(&[], StreamEnd::Aborted("x".into()), true);
    assert_eq!(chunks(&bytes, true).len(), 1);

    // An upstream error event mid-stream ends the stream without a fake finish.
    let events = vec![
        StreamEvent::TextDelta { text: "a".into() },
        StreamEvent::Error {
            message: "overloaded".into(),
        },
    ];
    let c = chunks(&encode(&events, StreamEnd::Complete, true), true);
    assert_eq!(c.len(), 2);
    assert_eq!(c[1]["error"]["message"], "overloaded");
}

#[test]
fn complete_without_finish_ends_with_stop() {
    let events = vec![StreamEvent::TextDelta { text: "a".into() }];
    for json_array in [false, true] {
        let c = chunks(
            &encode(&events, StreamEnd::Complete, json_array),
            json_array,
        );
        assert_eq!(c.len(), 2);
        assert_eq!(c[1]["candidates"][0]["finishReason"], "STOP");
        assert!(c[1].get("usageMetadata").is_none());
    }
    // Empty stream: one final chunk.
    let c = chunks(&encode(&[], StreamEnd::Complete, true), true);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0]["candidates"][0]["finishReason"], "STOP");
    // Finish then finish() twice: no double terminator.
    let mut enc = GeminiCodec.stream_encoder(
        "m",
        &EncoderOptions {
            json_array: true,
            ..Default::default()
        },
    );
    let mut out = BytesMut::new();
    enc.finish(&StreamEnd::Complete, &mut out);
    enc.finish(&StreamEnd::Complete, &mut out);
    enc.push(
        &StreamEvent::TextDelta {
            text: "late".into(),
        },
        &mut out,
    );
    assert_eq!(chunks(&out, true).len(), 1);
}

#[test]
fn length_and_filter_finishes() {
    for (reason, want) in [
        (FinishReason::Length, "MAX_TOKENS"),
        (FinishReason::ContentFilter, "SAFETY"),
        (FinishReason::Other("weird".into()), "OTHER"),
    ] {
        let events = vec![StreamEvent::Finish { reason }];
        let c = chunks(&encode(&events, StreamEnd::Complete, false), false);
        assert_eq!(c.last().unwrap()["candidates"][0]["finishReason"], want);
    }
}

#[test]
fn decode_encode_decode_keeps_the_events() {
    let first = decoder_events(&[STREAM]);
    let bytes = encode(&first, StreamEnd::Complete, false);
    let second = decoder_events(&[&bytes]);
    let strip = |ev: &[StreamEvent]| -> Vec<StreamEvent> {
        ev.iter()
            .filter(|e| !matches!(e, StreamEvent::Usage { .. } | StreamEvent::Start { .. }))
            .cloned()
            .collect()
    };
    assert_eq!(strip(&second), strip(&first));
    assert_eq!(
        second.first(),
        Some(&StreamEvent::Start {
            id: Some("abc123".into()),
            model: Some("client-model".into())
        })
    );
    let last_usage = second.iter().rev().find_map(|e| match e {
        StreamEvent::Usage { usage } => Some(*usage),
        _ => None,
    });
    assert_eq!(last_usage.unwrap().output_tokens, Some(42));
}
