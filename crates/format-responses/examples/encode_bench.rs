//! Micro-benchmark of the Responses stream codec: ns per event for the hot per-delta paths.
//!
//! `cargo run --release -p omniroute-format-responses --example encode_bench [events]`
//!
//! - encode text: `TextDelta` → `response.output_text.delta` (one long message, then completed);
//! - encode reasoning: `ReasoningDelta` → `response.reasoning_summary_text.delta`;
//! - encode tool args: `ToolCallArgs` → `response.function_call_arguments.delta`;
//! - decode text: `response.output_text.delta` SSE events → `TextDelta` (and the SSE parser
//!   alone, which is `omniroute-protocol`'s).
//!
//! - non-stream: `decode_request` of the benchmark's Responses body, `encode_response` of a
//!   one-message response (the `Value`, then serialized as the server does) and
//!   `encode_response_bytes`.
//!
//! Each figure is the best of several runs; the output buffer is drained every 64 events (like a
//! server flushing chunks), so its size stays small.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::BytesMut;
use omniroute_format_responses::decoder::ResponsesStreamDecoder;
use omniroute_format_responses::encoder::ResponsesStreamEncoder;
use omniroute_ir::{
    ChatResponse, FinishReason, Part, StreamDecoder, StreamEncoder, StreamEnd, StreamEvent, Usage,
};
use omniroute_protocol::sse::SseParser;
use std::hint::black_box;
use std::time::Instant;

const RUNS: usize = 7;
const DELTAS: [&str; 4] = ["Hello", " world", ", this is", " a \"quoted\" token\n"];

fn encode(events: &[StreamEvent]) -> (f64, usize) {
    let mut best = f64::MAX;
    let mut bytes = 0;
    for _ in 0..RUNS {
        let start = Instant::now();
        let mut enc = ResponsesStreamEncoder::new("bench-model");
        let mut out = BytesMut::with_capacity(64 * 1024);
        let mut total = 0;
        for (i, e) in events.iter().enumerate() {
            enc.push(e, &mut out);
            if i % 64 == 63 {
                total += out.len();
                black_box(out.split());
            }
        }
        enc.finish(&StreamEnd::Complete, &mut out);
        total += out.len();
        black_box(out.split());
        let ns = start.elapsed().as_nanos() as f64 / events.len() as f64;
        best = best.min(ns);
        bytes = total;
    }
    (best, bytes)
}

fn deltas(n: usize, make: impl Fn(String) -> StreamEvent) -> Vec<StreamEvent> {
    (0..n)
        .map(|i| make(DELTAS[i % DELTAS.len()].to_string()))
        .collect()
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let start = StreamEvent::Start {
        id: Some("chatcmpl-bench".into()),
        model: Some("m".into()),
    };
    let finish = StreamEvent::Finish {
        reason: FinishReason::Stop,
    };

    let mut text = vec![start.clone()];
    text.extend(deltas(n, |text| StreamEvent::TextDelta { text }));
    text.push(finish.clone());
    let (ns, bytes) = encode(&text);
    println!("encode text      : {ns:7.1} ns/event ({n} deltas, {bytes} bytes out)");

    let mut reasoning = vec![start.clone()];
    reasoning.extend(deltas(n, |text| StreamEvent::ReasoningDelta { text }));
    reasoning.push(finish.clone());
    let (ns, _) = encode(&reasoning);
    println!("encode reasoning : {ns:7.1} ns/event");

    let mut tool = vec![
        start.clone(),
        StreamEvent::ToolCallStart {
            index: 0,
            id: "call_1".into(),
            name: "shell".into(),
            signature: None,
        },
    ];
    tool.extend(deltas(n, |fragment| StreamEvent::ToolCallArgs {
        index: 0,
        fragment,
    }));
    tool.push(StreamEvent::Finish {
        reason: FinishReason::ToolCalls,
    });
    let (ns, _) = encode(&tool);
    println!("encode tool args : {ns:7.1} ns/event");

    // Short streams: per-stream overhead (created/in_progress/completed) amortized over 20 deltas.
    let mut short = vec![start];
    short.extend(deltas(20, |text| StreamEvent::TextDelta { text }));
    short.push(finish);
    let reps = (n / 20).max(1);
    let mut best = f64::MAX;
    for _ in 0..RUNS {
        let t = Instant::now();
        for _ in 0..reps {
            let mut enc = ResponsesStreamEncoder::new("bench-model");
            let mut out = BytesMut::new();
            for e in &short {
                enc.push(e, &mut out);
            }
            enc.finish(&StreamEnd::Complete, &mut out);
            black_box(out);
        }
        best = best.min(t.elapsed().as_nanos() as f64 / (reps * short.len()) as f64);
    }
    println!("encode short     : {best:7.1} ns/event (streams of 20 deltas, lifecycle included)");

    // Decoder: the encoder's own output for the text stream, parsed and decoded.
    let mut enc = ResponsesStreamEncoder::new("bench-model");
    let mut sse = BytesMut::new();
    for e in &text {
        enc.push(e, &mut sse);
    }
    enc.finish(&StreamEnd::Complete, &mut sse);
    let sse = sse.freeze();
    let mut best = f64::MAX;
    let mut count = 0;
    for _ in 0..RUNS {
        let t = Instant::now();
        let mut parser = SseParser::default();
        let mut dec = ResponsesStreamDecoder::default();
        let mut events = Vec::new();
        count = 0;
        for chunk in sse.chunks(16 * 1024) {
            parser
                .push(chunk, |ev| {
                    count += 1;
                    dec.push(&ev, &mut events).unwrap();
                })
                .unwrap();
            black_box(events.drain(..).count());
        }
        parser.finish(|ev| {
            count += 1;
            dec.push(&ev, &mut events).unwrap();
        });
        dec.finish(&mut events);
        black_box(events.drain(..).count());
        best = best.min(t.elapsed().as_nanos() as f64 / count as f64);
    }
    println!("decode text      : {best:7.1} ns/event (SSE parse + decode, {count} events)");

    // The SSE parser alone (omniroute-protocol), to tell the decoder's share.
    let mut best = f64::MAX;
    for _ in 0..RUNS {
        let t = Instant::now();
        let mut parser = SseParser::default();
        let mut count = 0usize;
        for chunk in sse.chunks(16 * 1024) {
            parser
                .push(chunk, |ev| {
                    count += 1;
                    black_box(ev);
                })
                .unwrap();
        }
        parser.finish(|ev| {
            count += 1;
            black_box(ev);
        });
        best = best.min(t.elapsed().as_nanos() as f64 / count as f64);
    }
    println!("  of which SSE parse: {best:7.1} ns/event");

    non_stream(n);
}

fn per_call(n: usize, mut f: impl FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..RUNS {
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        best = best.min(t.elapsed().as_nanos() as f64 / n as f64);
    }
    best
}

/// The non-stream path of `bench/run.py`'s "Responses → OpenAI chat" throughput case.
fn non_stream(n: usize) {
    use omniroute_format_responses::{request, response};
    let body = br#"{"model": "up-openai/mock-small", "input": "Write a haiku about latency."}"#;
    let resp = ChatResponse {
        id: "chatcmpl-abc123".into(),
        model: "mock-small".into(),
        content: vec![Part::Text {
            text: "Packets cross the wire,\nmicroseconds fall like rain\nthe gateway waits.".into(),
        }],
        finish: FinishReason::Stop,
        usage: Usage {
            input_tokens: Some(12),
            output_tokens: Some(20),
            ..Default::default()
        },
        created: 1_700_000_000,
    };
    let ns = per_call(n, || {
        black_box(request::decode_request(black_box(body)).unwrap());
    });
    println!("non-stream decode_request          : {ns:7.1} ns");
    let ns = per_call(n, || {
        black_box(response::encode_response(black_box(&resp), "m"));
    });
    println!("non-stream encode_response (Value) : {ns:7.1} ns");
    let ns = per_call(n, || {
        let v = response::encode_response(black_box(&resp), "m");
        black_box(serde_json::to_vec(&v).unwrap());
    });
    println!("  + serde_json::to_vec             : {ns:7.1} ns");
    let ns = per_call(n, || {
        black_box(response::encode_response_bytes(black_box(&resp), "m"));
    });
    println!("non-stream encode_response_bytes   : {ns:7.1} ns");
}
