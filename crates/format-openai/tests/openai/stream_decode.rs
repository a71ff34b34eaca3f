//! Upstream chunk streams → IR events: text, reasoning_content, `<think>` content, parallel
//! fragmented tool calls (and the odd ways providers send them), usage chunks, errors, `[DONE]`;
//! and the same events whatever the byte or chunk boundaries.

use omniroute_format_openai::OpenAiCodec;
use omniroute_ir::{Codec, FinishReason, StreamEvent, Usage};
use omniroute_protocol::sse::SseEvent;

use crate::support::{decode_chunks, decode_stream, sse, texts};

const HEAD: &str = r#""id":"chatcmpl-up1","object":"chat.completion.chunk","created":1700000000,"model":"up-model""#;

fn chunk(delta: &str, finish: Option<&str>) -> String {
    let finish = finish.map_or("null".to_string(), |f| format!("\"{f}\""));
    format!(
        r#"{{{HEAD},"choices":[{{"index":0,"delta":{delta},"logprobs":null,"finish_reason":{finish}}}]}}"#
    )
}

fn usage_chunk(usage: &str) -> String {
    format!(r#"{{{HEAD},"choices":[],"usage":{usage}}}"#)
}

fn stream_of(chunks: &[String]) -> String {
    let refs: Vec<&str> = chunks.iter().map(String::as_str).collect();
    sse(&refs)
}

fn start() -> StreamEvent {
    StreamEvent::Start {
        id: Some("chatcmpl-up1".into()),
        model: Some("up-model".into()),
    }
}

fn text_stream() -> String {
    stream_of(&[
        chunk(r#"{"role":"assistant","content":""}"#, None),
        chunk(r#"{"content":"Hello"}"#, None),
        chunk(r#"{"content":", world"}"#, None),
        chunk("{}", Some("stop")),
        usage_chunk(
            r#"{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":0}}"#,
        ),
    ])
}

fn reasoning_stream() -> String {
    stream_of(&[
        chunk(
            r#"{"role":"assistant","content":null,"reasoning_content":""}"#,
            None,
        ),
        chunk(r#"{"reasoning_content":"Let me "}"#, None),
        chunk(r#"{"reasoning_content":"think."}"#, None),
        chunk(r#"{"content":"Answer: 4"}"#, None),
        chunk("{}", Some("length")),
    ])
}

fn think_stream() -> String {
    stream_of(&[
        chunk(r#"{"role":"assistant","content":""}"#, None),
        chunk(r#"{"content":"<thi"}"#, None),
        chunk(r#"{"content":"nk>\n2+2"}"#, None),
        chunk(r#"{"content":" is 4\n</th"}"#, None),
        chunk(r#"{"content":"ink>\n\nThe answer"}"#, None),
        chunk(r#"{"content":" is 4."}"#, None),
        chunk("{}", Some("stop")),
    ])
}

/// Two parallel calls, ids and names first, then interleaved argument fragments.
fn parallel_tools_stream() -> String {
    stream_of(&[
        chunk(r#"{"role":"assistant","content":null}"#, None),
        chunk(
            r#"{"tool_calls":[{"index":0,"id":"call_A","type":"function","function":{"name":"read","arguments":""}}]}"#,
            None,
        ),
        chunk(
            r#"{"tool_calls":[{"index":0,"function":{"arguments":"{\"pa"}}]}"#,
            None,
        ),
        chunk(
            r#"{"tool_calls":[{"index":1,"id":"call_B","type":"function","function":{"name":"grep","arguments":"{\"pat"}}]}"#,
            None,
        ),
        chunk(
            r#"{"tool_calls":[{"index":0,"function":{"arguments":"th\":\"a.txt\"}"}}]}"#,
            None,
        ),
        chunk(
            r#"{"tool_calls":[{"index":1,"function":{"arguments":"tern\":\"x\\\"y\"}"}}]}"#,
            None,
        ),
        chunk("{}", Some("tool_calls")),
        usage_chunk(r#"{"prompt_tokens":50,"completion_tokens":20,"total_tokens":70}"#),
    ])
}

fn error_stream() -> String {
    stream_of(&[
        chunk(r#"{"role":"assistant","content":""}"#, None),
        chunk(r#"{"content":"partial"}"#, None),
        r#"{"error":{"message":"overloaded","type":"server_error","code":"503"}}"#.to_string(),
    ])
}

fn calls(events: &[StreamEvent]) -> Vec<(usize, String, String, String)> {
    let mut out: Vec<(usize, String, String, String)> = Vec::new();
    for e in events {
        match e {
            StreamEvent::ToolCallStart {
                index, id, name, ..
            } => {
                assert_eq!(*index, out.len(), "indexes count from 0 in order");
                out.push((*index, id.clone(), name.clone(), String::new()));
            }
            StreamEvent::ToolCallArgs { index, fragment } => out[*index].3.push_str(fragment),
            _ => {}
        }
    }
    out
}

fn finish_of(events: &[StreamEvent]) -> Option<FinishReason> {
    let finishes: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Finish { reason } => Some(reason.clone()),
            _ => None,
        })
        .collect();
    assert!(finishes.len() <= 1, "{events:?}");
    finishes.into_iter().next()
}

#[test]
fn text_stream_with_usage_chunk() {
    let ev = decode_stream(&text_stream());
    assert_eq!(
        ev,
        vec![
            start(),
            StreamEvent::TextDelta {
                text: "Hello".into()
            },
            StreamEvent::TextDelta {
                text: ", world".into()
            },
            StreamEvent::Finish {
                reason: FinishReason::Stop
            },
            StreamEvent::Usage {
                usage: Usage {
                    input_tokens: Some(12),
                    output_tokens: Some(3),
                    cached_tokens: Some(4),
                    cache_creation_tokens: None,
                    reasoning_tokens: Some(0)
                }
            },
        ]
    );
}

#[test]
fn reasoning_content_stream() {
    let ev = decode_stream(&reasoning_stream());
    assert_eq!(ev[0], start());
    assert_eq!(texts(&ev), ("Let me think.".into(), "Answer: 4".into()));
    assert_eq!(finish_of(&ev), Some(FinishReason::Length));
    // reasoning comes before the text
    let first_text = ev
        .iter()
        .position(|e| matches!(e, StreamEvent::TextDelta { .. }))
        .unwrap();
    assert!(ev[..first_text]
        .iter()
        .any(|e| matches!(e, StreamEvent::ReasoningDelta { .. })));
    // OpenRouter `reasoning` deltas
    let ev = decode_stream(&stream_of(&[
        chunk(r#"{"reasoning":"r1"}"#, None),
        chunk(r#"{"content":"t"}"#, Some("stop")),
    ]));
    assert_eq!(texts(&ev), ("r1".into(), "t".into()));
}

#[test]
fn think_content_moves_to_reasoning() {
    let ev = decode_stream(&think_stream());
    assert_eq!(
        texts(&ev),
        ("\n2+2 is 4\n".into(), "The answer is 4.".into())
    );
    assert_eq!(finish_of(&ev), Some(FinishReason::Stop));
}

#[test]
fn think_split_at_every_content_position() {
    let whole = "<think>\nstep one\n</think>\n\nFinal answer.";
    let expect = ("\nstep one\n".to_string(), "Final answer.".to_string());
    for i in 0..=whole.len() {
        let content = |s: &str| serde_json::json!({ "content": s }).to_string();
        let raw = stream_of(&[
            chunk(&content(&whole[..i]), None),
            chunk(&content(&whole[i..]), None),
            chunk("{}", Some("stop")),
        ]);
        let ev = decode_stream(&raw);
        assert_eq!(texts(&ev), expect, "split at {i}");
        assert_eq!(
            ev.last(),
            Some(&StreamEvent::Finish {
                reason: FinishReason::Stop
            })
        );
    }
}

#[test]
fn parallel_tool_calls_with_fragmented_arguments() {
    let ev = decode_stream(&parallel_tools_stream());
    let c = calls(&ev);
    assert_eq!(c.len(), 2);
    assert_eq!((c[0].1.as_str(), c[0].2.as_str()), ("call_A", "read"));
    assert_eq!((c[1].1.as_str(), c[1].2.as_str()), ("call_B", "grep"));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&c[0].3).unwrap(),
        serde_json::json!({"path":"a.txt"})
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&c[1].3).unwrap(),
        serde_json::json!({"pattern":"x\"y"})
    );
    assert_eq!(finish_of(&ev), Some(FinishReason::ToolCalls));
    assert!(
        matches!(ev.last(), Some(StreamEvent::Usage { usage }) if usage.input_tokens == Some(50))
    );
}

#[test]
fn tool_call_shapes_of_other_providers() {
    // whole call in one chunk, no finish_reason, no [DONE]
    let raw = format!(
        "data: {}\n\n",
        chunk(
            r#"{"tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]}"#,
            None
        )
    );
    let ev = decode_stream(&raw);
    assert_eq!(
        calls(&ev),
        vec![(0, "c1".into(), "f".into(), "{\"a\":1}".into())]
    );
    assert_eq!(finish_of(&ev), Some(FinishReason::ToolCalls), "synthesized");

    // id (and name) repeated in every fragment: one start
    let ev = decode_stream(&stream_of(&[
        chunk(
            r#"{"tool_calls":[{"index":0,"id":"c1","function":{"name":"f","arguments":"{\"a\""}}]}"#,
            None,
        ),
        chunk(
            r#"{"tool_calls":[{"index":0,"id":"c1","function":{"name":"f","arguments":":2}"}}]}"#,
            None,
        ),
        chunk("{}", Some("tool_calls")),
    ]));
    assert_eq!(
        calls(&ev),
        vec![(0, "c1".into(), "f".into(), "{\"a\":2}".into())]
    );

    // the id comes after the first fragment
    let ev = decode_stream(&stream_of(&[
        chunk(
            r#"{"tool_calls":[{"index":0,"function":{"name":"f","arguments":"{\"b\""}}]}"#,
            None,
        ),
        chunk(
            r#"{"tool_calls":[{"index":0,"id":"late","function":{"arguments":":3}"}}]}"#,
            None,
        ),
        chunk("{}", Some("tool_calls")),
    ]));
    assert_eq!(
        calls(&ev),
        vec![(0, "late".into(), "f".into(), "{\"b\":3}".into())]
    );

    // the id never comes: one is made up (deterministically), args kept
    let raw = stream_of(&[
        chunk(
            r#"{"tool_calls":[{"index":0,"function":{"name":"f","arguments":"{}"}}]}"#,
            None,
        ),
        chunk(
            r#"{"tool_calls":[{"index":1,"function":{"name":"g","arguments":"{\"z\":0}"}}]}"#,
            None,
        ),
        chunk("{}", Some("stop")),
    ]);
    let ev = decode_stream(&raw);
    let c = calls(&ev);
    assert_eq!(c.len(), 2);
    assert!(c[0].1.starts_with("call_") && c[1].1.starts_with("call_") && c[0].1 != c[1].1);
    assert_eq!((c[0].2.as_str(), c[0].3.as_str()), ("f", "{}"));
    assert_eq!((c[1].2.as_str(), c[1].3.as_str()), ("g", "{\"z\":0}"));
    assert_eq!(
        finish_of(&ev),
        Some(FinishReason::ToolCalls),
        "stop with tool calls"
    );
    assert_eq!(decode_stream(&raw), ev);

    // every call sent as index 0 with its own id
    let ev = decode_stream(&stream_of(&[
        chunk(
            r#"{"tool_calls":[{"index":0,"id":"x1","function":{"name":"f","arguments":"{}"}}]}"#,
            None,
        ),
        chunk(
            r#"{"tool_calls":[{"index":0,"id":"x2","function":{"name":"g","arguments":"{"}}]}"#,
            None,
        ),
        chunk(
            r#"{"tool_calls":[{"index":0,"function":{"arguments":"}"}}]}"#,
            None,
        ),
    ]));
    assert_eq!(
        calls(&ev),
        vec![
            (0, "x1".into(), "f".into(), "{}".into()),
            (1, "x2".into(), "g".into(), "{}".into())
        ]
    );

    // no index at all
    let ev = decode_stream(&stream_of(&[
        chunk(
            r#"{"tool_calls":[{"id":"n1","function":{"name":"f","arguments":"{\"q\":"}}]}"#,
            None,
        ),
        chunk(r#"{"tool_calls":[{"function":{"arguments":"1}"}}]}"#, None),
    ]));
    assert_eq!(
        calls(&ev),
        vec![(0, "n1".into(), "f".into(), "{\"q\":1}".into())]
    );

    // legacy function_call deltas
    let ev = decode_stream(&stream_of(&[
        chunk(r#"{"function_call":{"name":"f","arguments":""}}"#, None),
        chunk(r#"{"function_call":{"arguments":"{}"}}"#, None),
        chunk("{}", Some("function_call")),
    ]));
    let c = calls(&ev);
    assert_eq!((c.len(), c[0].2.as_str(), c[0].3.as_str()), (1, "f", "{}"));
    assert_eq!(finish_of(&ev), Some(FinishReason::ToolCalls));
}

#[test]
fn error_event_ends_the_stream() {
    let ev = decode_stream(&error_stream());
    assert_eq!(
        ev,
        vec![
            start(),
            StreamEvent::TextDelta {
                text: "partial".into()
            },
            StreamEvent::Error {
                message: "overloaded".into()
            },
        ]
    );
    // an error before anything: Start first
    let ev = decode_stream("data: {\"error\":{\"message\":\"bad key\"}}\n\n");
    assert_eq!(
        ev,
        vec![
            StreamEvent::Start {
                id: None,
                model: None
            },
            StreamEvent::Error {
                message: "bad key".into()
            }
        ]
    );
    // `event: error` with a plain text payload
    let ev = decode_stream("event: error\ndata: upstream exploded\n\n");
    assert_eq!(
        ev[1],
        StreamEvent::Error {
            message: "upstream exploded".into()
        }
    );
    let ev = decode_stream("event: error\ndata: {\"message\":\"quota\"}\n\n");
    assert_eq!(
        ev[1],
        StreamEvent::Error {
            message: "quota".into()
        }
    );
}

#[test]
fn done_ends_and_unknown_events_are_skipped_but_bad_json_is_an_error() {
    let raw = format!(
        ": keep-alive\n\nevent: ping\ndata: 42\n\ndata: {}\n\ndata: [DONE]\n\ndata: {}\n\n",
        chunk(r#"{"content":"a"}"#, Some("stop")),
        chunk(r#"{"content":"after done"}"#, None)
    );
    let ev = decode_stream(&raw);
    assert_eq!(texts(&ev).1, "a");

    let mut dec = OpenAiCodec.stream_decoder();
    let mut out = Vec::new();
    let bad = SseEvent {
        data: "{\"choices\":[".into(),
        ..Default::default()
    };
    assert!(dec.push(&bad, &mut out).is_err());

    // nothing at all: still a well-formed lifecycle
    assert_eq!(
        decode_stream(""),
        vec![
            StreamEvent::Start {
                id: None,
                model: None
            },
            StreamEvent::Finish {
                reason: FinishReason::Stop
            }
        ]
    );
    // usage in every chunk (cumulative) is reported when it changes only
    let ev = decode_stream(&stream_of(&[
        format!(
            r#"{{{HEAD},"choices":[{{"index":0,"delta":{{"content":"x"}}}}],"usage":{{"prompt_tokens":1,"completion_tokens":1}}}}"#
        ),
        format!(
            r#"{{{HEAD},"choices":[{{"index":0,"delta":{{}},"finish_reason":"stop"}}],"usage":{{"prompt_tokens":1,"completion_tokens":1}}}}"#
        ),
        format!(r#"{{{HEAD},"choices":[],"usage":{{"prompt_tokens":1,"completion_tokens":2}}}}"#),
    ]));
    assert_eq!(
        ev.iter()
            .filter(|e| matches!(e, StreamEvent::Usage { .. }))
            .count(),
        2
    );
}

#[test]
fn every_byte_split_gives_the_same_events() {
    for raw in [
        text_stream(),
        reasoning_stream(),
        think_stream(),
        parallel_tools_stream(),
        error_stream(),
    ] {
        let bytes = raw.as_bytes();
        let whole = decode_chunks(&[bytes]);
        for i in 0..=bytes.len() {
            assert_eq!(
                decode_chunks(&[&bytes[..i], &bytes[i..]]),
                whole,
                "split at {i}"
            );
        }
        let ones: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(decode_chunks(&ones), whole, "byte by byte");
        // pairs of splits, strided to keep the test fast
        for i in (0..=bytes.len()).step_by(7) {
            for j in (i..=bytes.len()).step_by(13) {
                assert_eq!(
                    decode_chunks(&[&bytes[..i], &bytes[i..j], &bytes[j..]]),
                    whole,
                    "split at {i},{j}"
                );
            }
        }
        // CRLF line endings too
        let crlf = raw.replace('\n', "\r\n");
        assert_eq!(decode_chunks(&[crlf.as_bytes()]), whole);
    }
}

#[test]
fn empty_finish_reason_is_no_finish() {
    let ev = decode_stream(&stream_of(&[
        chunk(r#"{"content":"a"}"#, Some("")),
        chunk("{}", Some("stop")),
    ]));
    assert_eq!(
        ev.iter()
            .filter(|e| matches!(e, StreamEvent::Finish { .. }))
            .count(),
        1
    );
    assert_eq!(texts(&ev).1, "a");
}
