//! Micro-benchmark of a full non-stream translation, as the server does it per request:
//! client body → IR → upstream request bytes, then upstream response body → IR → client bytes.
//!
//! `cargo run --release -p omniroute-translate --example nonstream_bench [iterations]`
//!
//! The pairs and bodies are those of `bench/run.py`'s "translated vs pass-through" cases (the
//! upstream bodies are what `mock-upstream` answers). Each figure is the best of several runs.
//!
//! `before` is the code before the direct paths (the reference `Value` decoders, `to_vec` of
//! the `Value` encoders), `after` what the server runs: `encode_request_bytes` and
//! `translate_response_bytes`. `decode req` (the client request decode, the same in both) is
//! part of `request`, and `total` is `request` + `response` measured together.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use omniroute_protocol::ApiFormat;
use omniroute_translate::ir::ChatResponse;
use omniroute_translate::{
    codec, decode_request, encode_request, encode_request_bytes, translate_response_bytes,
};
use std::hint::black_box;
use std::time::Instant;

const RUNS: usize = 7;

struct Case {
    name: &'static str,
    client: ApiFormat,
    upstream: ApiFormat,
    request: &'static [u8],
    response: &'static [u8],
}

const CASES: [Case; 3] = [
    Case {
        name: "openai->anthropic",
        client: ApiFormat::Openai,
        upstream: ApiFormat::Anthropic,
        request: br#"{"model": "up-anthropic/mock-small", "messages": [{"role": "user", "content": "Write a haiku about latency."}]}"#,
        response: br#"{"id":"msg_mock_42","type":"message","role":"assistant","model":"mock-small","content":[{"type":"text","text":"Packets cross the wire,\nmicroseconds fall like rain\nthe gateway waits."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":12,"output_tokens":20,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}"#,
    },
    Case {
        name: "anthropic->gemini",
        client: ApiFormat::Anthropic,
        upstream: ApiFormat::Gemini,
        request: br#"{"model": "up-gemini/mock-small", "max_tokens": 256, "messages": [{"role": "user", "content": "Write a haiku about latency."}]}"#,
        response: br#"{"candidates":[{"content":{"role":"model","parts":[{"text":"Packets cross the wire,\nmicroseconds fall like rain\nthe gateway waits."}]},"index":0,"finishReason":"STOP"}],"modelVersion":"mock-small","responseId":"mock-42","usageMetadata":{"promptTokenCount":12,"candidatesTokenCount":20,"totalTokenCount":32}}"#,
    },
    Case {
        name: "responses->openai",
        client: ApiFormat::Responses,
        upstream: ApiFormat::Openai,
        request: br#"{"model": "up-openai/mock-small", "input": "Write a haiku about latency."}"#,
        response: br#"{"id":"chatcmpl-mock-42","object":"chat.completion","created":1700000000,"model":"mock-small","system_fingerprint":"fp_mock","choices":[{"index":0,"message":{"role":"assistant","content":"Packets cross the wire,\nmicroseconds fall like rain\nthe gateway waits.","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":20,"total_tokens":32}}"#,
    },
];

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

/// The request half: decode the client body, encode for the upstream, serialize.
fn request(c: &Case, direct: bool) -> Vec<u8> {
    let mut ir = decode_request(c.client, c.request, Some("client-model")).unwrap();
    if direct {
        let (bytes, w) = encode_request_bytes(c.upstream, &mut ir, "mock-small").unwrap();
        black_box(w);
        bytes
    } else {
        let (v, w) = encode_request(c.upstream, &mut ir, "mock-small").unwrap();
        black_box(w);
        serde_json::to_vec(&v).unwrap()
    }
}

/// The upstream codec's reference `Value` decoder (the code before the typed decoders).
fn decode_value(f: ApiFormat, body: &[u8]) -> ChatResponse {
    match f {
        ApiFormat::Openai => omniroute_format_openai::response::decode_value(body),
        ApiFormat::Anthropic => omniroute_format_anthropic::decode_response_value(body),
        ApiFormat::Gemini => omniroute_format_gemini::decode_response_value(body),
        ApiFormat::Responses => codec(f).decode_response(body),
    }
    .unwrap()
}

/// The response half: decode the upstream body, encode for the client. `direct: false` is the
/// code before the typed paths: `Value` decoding, and `serde_json::to_vec` of
/// `encode_response`'s `Value` except for Responses clients, whose direct writer came earlier.
fn response(c: &Case, direct: bool) -> Vec<u8> {
    if direct {
        let (bytes, usage) =
            translate_response_bytes(c.upstream, c.client, c.response, "client-model").unwrap();
        black_box(usage);
        bytes
    } else {
        let resp = decode_value(c.upstream, c.response);
        black_box(resp.usage);
        let client = codec(c.client);
        if c.client == ApiFormat::Responses {
            client.encode_response_bytes(&resp, "client-model")
        } else {
            serde_json::to_vec(&client.encode_response(&resp, "client-model")).unwrap()
        }
    }
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    // Optional: keep only the cases whose name contains the second argument, and run only the
    // `before` or `after` code (third argument), for profilers and instruction counters.
    let only = std::env::args().nth(2).unwrap_or_default();
    let mode = std::env::args().nth(3).unwrap_or_default();
    let modes: &[(&str, bool)] = match mode.as_str() {
        "before" | "before-total" => &[("before", false)],
        "after" | "after-total" => &[("after", true)],
        _ => &[("before", false), ("after", true)],
    };
    if mode.ends_with("-total") {
        // Only the full translation, `n` times (for `perf stat -e instructions`: divide by n).
        for c in CASES.iter().filter(|c| c.name.contains(only.as_str())) {
            let direct = modes[0].1;
            for _ in 0..n {
                black_box(request(black_box(c), direct));
                black_box(response(black_box(c), direct));
            }
        }
        return;
    }
    println!(
        "{:<20} {:<7} {:>10} {:>10} {:>10} {:>10}",
        "ns per call", "code", "decode req", "request", "response", "total"
    );
    for c in CASES.iter().filter(|c| c.name.contains(only.as_str())) {
        let dec = per_call(n, || {
            black_box(decode_request(c.client, black_box(c.request), Some("m")).unwrap());
        });
        for &(label, direct) in modes {
            let req = per_call(n, || {
                black_box(request(black_box(c), direct));
            });
            let resp = per_call(n, || {
                black_box(response(black_box(c), direct));
            });
            let total = per_call(n, || {
                black_box(request(black_box(c), direct));
                black_box(response(black_box(c), direct));
            });
            println!(
                "{:<20} {label:<7} {dec:>10.1} {req:>10.1} {resp:>10.1} {total:>10.1}",
                c.name
            );
        }
    }
}
