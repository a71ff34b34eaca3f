//! The direct (no `Value`) non-stream paths equal the `Value` ones byte for byte:
//! `encode_response_bytes` vs `serde_json::to_vec(&encode_response(..))` for every client
//! format, `encode_request_bytes` vs `serde_json::to_vec(&encode_request(..))` for every
//! upstream format, and the typed `decode_response` vs each codec's reference `Value` decoder,
//! over the golden fixtures and over randomized responses and (mutated) upstream bodies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use omniroute_protocol::ApiFormat;
use omniroute_translate::ir::{ChatResponse, CodecError, FinishReason, Part, Usage};
use omniroute_translate::{codec, decode_request, encode_request, encode_request_bytes};
use serde_json::{json, Map, Value};
use std::path::PathBuf;

const ALL: [ApiFormat; 4] = [
    ApiFormat::Openai,
    ApiFormat::Anthropic,
    ApiFormat::Gemini,
    ApiFormat::Responses,
];

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
    fn string(&mut self) -> String {
        const PIECES: [&str; 14] = [
            "", "a", "hello", " ", "\n", "\"q\"", "\\", "é", "日本", "🦀", "\u{1}", "</think>",
            "<think>", "x_y",
        ];
        (0..self.below(4)).map(|_| *self.pick(&PIECES)).collect()
    }
    fn opt_string(&mut self) -> Option<String> {
        match self.below(4) {
            0 => None,
            1 => Some(String::new()),
            _ => Some(self.string()),
        }
    }
    fn opt_u64(&mut self) -> Option<u64> {
        self.chance(60).then(|| self.below(100_000))
    }
    fn arguments(&mut self) -> String {
        match self.below(9) {
            0 => String::new(),
            1 => "not json".into(),
            2 => "[1,2]".into(),
            3 => "  {\"a\" : 1.50, \"b\": [true, null], \"a\": 2}  ".into(),
            4 => {
                "{\"u\":\"\\u00e9\\n\",\"n\":-0,\"f\":1e3,\"big\":123456789012345678901234}".into()
            }
            5 => "\"just a string\"".into(),
            6 => "{}".into(),
            _ => json!({"path": self.string(), "n": self.below(10)}).to_string(),
        }
    }
}

fn random_part(r: &mut Rng) -> Part {
    match r.below(6) {
        0 | 1 => Part::Text { text: r.string() },
        2 => Part::Reasoning {
            text: r.string(),
            signature: r.opt_string(),
            redacted: if r.chance(20) { r.opt_string() } else { None },
            encrypted: if r.chance(20) { r.opt_string() } else { None },
            id: if r.chance(20) { r.opt_string() } else { None },
        },
        3 | 4 => Part::ToolCall {
            id: if r.chance(15) {
                String::new()
            } else {
                format!("call_{}", r.below(1000))
            },
            name: r.string(),
            arguments: r.arguments(),
            signature: r.opt_string(),
        },
        _ => Part::ToolResult {
            call_id: "c".into(),
            name: None,
            content: vec![Part::Text { text: r.string() }],
            is_error: false,
        },
    }
}

fn random_finish(r: &mut Rng) -> FinishReason {
    match r.below(6) {
        0 => FinishReason::Stop,
        1 => FinishReason::Length,
        2 => FinishReason::ToolCalls,
        3 => FinishReason::ContentFilter,
        _ => FinishReason::Other(
            r.pick(&[
                "pause_turn",
                "MALFORMED_FUNCTION_CALL",
                "weird",
                "",
                "refusal",
            ])
            .to_string(),
        ),
    }
}

/// A random response with a non-empty id and a set `created` (an empty id or `created` 0 get a
/// fresh id or the current time, which two calls cannot share; tested apart).
fn random_response(r: &mut Rng) -> ChatResponse {
    ChatResponse {
        id: r
            .pick(&["resp-1", "chatcmpl-x", "msg_01", "a b"])
            .to_string(),
        model: r.string(),
        content: (0..r.below(6)).map(|_| random_part(r)).collect(),
        finish: random_finish(r),
        usage: Usage {
            input_tokens: r.opt_u64(),
            output_tokens: r.opt_u64(),
            cached_tokens: r.opt_u64().map(|n| n % 50),
            cache_creation_tokens: r.opt_u64().map(|n| n % 50),
            reasoning_tokens: r.opt_u64().map(|n| n % 50),
        },
        created: 1 + r.below(2_000_000_000) as i64,
    }
}

fn canonical_response() -> ChatResponse {
    ChatResponse {
        id: "resp-1".into(),
        model: "m".into(),
        content: vec![
            Part::Text {
                text: "Reading it.".into(),
            },
            Part::ToolCall {
                id: "call_9".into(),
                name: "read".into(),
                arguments: "{\"path\":\"/b.txt\"}".into(),
                signature: None,
            },
        ],
        finish: FinishReason::ToolCalls,
        usage: Usage {
            input_tokens: Some(11),
            output_tokens: Some(22),
            ..Default::default()
        },
        created: 1_700_000_000,
    }
}

fn assert_same_bytes(client: ApiFormat, resp: &ChatResponse, what: &str) {
    let c = codec(client);
    let want = serde_json::to_vec(&c.encode_response(resp, "client-model")).unwrap();
    let got = c.encode_response_bytes(resp, "client-model");
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&want),
        "{client}: {what}: {resp:?}"
    );
}

fn golden_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden"))
}

#[test]
fn encode_response_bytes_equals_the_value_path() {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    for client in ALL {
        assert_same_bytes(client, &canonical_response(), "canonical");
        for i in 0..3000 {
            assert_same_bytes(client, &random_response(&mut r), &format!("random #{i}"));
        }
    }
}

#[test]
fn encode_response_bytes_equals_the_value_path_for_decoded_goldens() {
    // Every golden response body, decoded by its format's codec, encoded for every client.
    for entry in std::fs::read_dir(golden_dir().join("response")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        let format = match name.rsplit('_').next().unwrap() {
            "openai" => ApiFormat::Openai,
            "anthropic" => ApiFormat::Anthropic,
            "gemini" => ApiFormat::Gemini,
            _ => ApiFormat::Responses,
        };
        let body = std::fs::read(&path).unwrap();
        let resp = codec(format).decode_response(&body).unwrap();
        for client in ALL {
            assert_same_bytes(client, &resp, &name);
        }
    }
}

/// `created` 0 and empty ids: the generated parts (time, fresh ids) masked.
#[test]
fn encode_response_bytes_equals_the_value_path_with_generated_fields() {
    fn masked(mut v: Value) -> Value {
        if let Value::Object(m) = &mut v {
            for k in ["id", "created", "created_at"] {
                if m.contains_key(k) {
                    m.insert(k.into(), json!("<masked>"));
                }
            }
        }
        v
    }
    let mut resp = canonical_response();
    resp.id = String::new();
    resp.created = 0;
    // (Responses derives its item ids from the fresh response id: not comparable this way.)
    for client in [ApiFormat::Openai, ApiFormat::Anthropic, ApiFormat::Gemini] {
        let c = codec(client);
        let want = masked(c.encode_response(&resp, "m"));
        let got = masked(serde_json::from_slice(&c.encode_response_bytes(&resp, "m")).unwrap());
        // Key order is part of the comparison (preserve_order).
        assert_eq!(got.to_string(), want.to_string(), "{client}");
    }
}

fn reference_decode(format: ApiFormat, body: &[u8]) -> Result<ChatResponse, CodecError> {
    match format {
        ApiFormat::Openai => omniroute_format_openai::response::decode_value(body),
        ApiFormat::Anthropic => omniroute_format_anthropic::decode_response_value(body),
        ApiFormat::Gemini => omniroute_format_gemini::decode_response_value(body),
        ApiFormat::Responses => codec(format).decode_response(body),
    }
}

/// The typed decoder and the reference agree (`created` is the decode time for Anthropic and
/// Gemini, so it is compared only for OpenAI).
fn assert_same_decode(format: ApiFormat, body: &[u8], what: &str) {
    let mut got = codec(format).decode_response(body);
    let mut want = reference_decode(format, body);
    if format != ApiFormat::Openai {
        for r in [&mut got, &mut want].into_iter().flatten() {
            r.created = 0;
        }
    }
    assert_eq!(
        got,
        want,
        "{format}: {what}: {}",
        String::from_utf8_lossy(body)
    );
}

#[test]
fn decode_response_equals_the_value_decoder_on_goldens() {
    for entry in std::fs::read_dir(golden_dir().join("response")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        let body = std::fs::read(&path).unwrap();
        for format in [ApiFormat::Openai, ApiFormat::Anthropic, ApiFormat::Gemini] {
            assert_same_decode(format, &body, &name);
        }
    }
}

/// Hand-written upstream bodies with the fields the decoders read, in the shapes real
/// upstreams send.
fn seed_bodies(format: ApiFormat) -> Vec<Value> {
    match format {
        ApiFormat::Openai => vec![
            json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": "gpt",
                   "system_fingerprint": "fp", "choices": [{"index": 0, "message": {"role": "assistant",
                   "content": "<think>hm</think>Hi", "refusal": null, "reasoning_content": "r",
                   "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}},
                                  {"type": "function", "function": {"name": "g"}}],
                   "function_call": {"name": "old", "arguments": "{}"}},
                   "logprobs": null, "finish_reason": "stop"}],
                   "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7,
                             "prompt_tokens_details": {"cached_tokens": 1, "audio_tokens": 0},
                             "completion_tokens_details": {"reasoning_tokens": 2}, "prompt_cache_hit_tokens": 9}}),
            json!({"id": "", "choices": [{"message": {"content": "", "refusal": "no", "reasoning": "why"},
                   "finish_reason": ""}], "usage": {"prompt_cache_hit_tokens": 5}}),
            json!({"choices": [{"message": {"content": [{"type": "text", "text": "a"}, "b", {"text": 3}]},
                   "finish_reason": "length"}, {"message": null}], "created": 1.5}),
            json!({"error": {"message": "bad"}}),
        ],
        ApiFormat::Anthropic => vec![
            json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude",
                   "content": [{"type": "thinking", "thinking": "t", "signature": "sig"},
                               {"type": "redacted_thinking", "data": "d"},
                               {"type": "text", "text": "Hi", "citations": [{"x": 1}]},
                               {"type": "server_tool_use", "id": "srv", "name": "web", "input": {"q": 1}},
                               {"type": "web_search_tool_result", "tool_use_id": "srv", "content": [{"type": "x"}]},
                               {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"b": [1, 2.5, "\u{e9}"], "a": null}},
                               {"type": "tool_use", "id": "toolu_2", "name": "g", "input": null}],
                   "stop_reason": "tool_use", "stop_sequence": null,
                   "usage": {"input_tokens": 5, "output_tokens": 6, "cache_creation_input_tokens": 2,
                             "cache_read_input_tokens": 3, "service_tier": "standard"}}),
            json!({"content": [{"type": "thinking", "thinking": "", "signature": ""}], "stop_reason": null}),
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}),
            json!({"content": [], "error": null}),
        ],
        _ => vec![
            json!({"candidates": [{"content": {"role": "model", "parts": [
                       {"text": "plan", "thought": true},
                       {"text": " more", "thought": true, "thoughtSignature": "s1"},
                       {"text": "Hi"}, {"text": " there", "thoughtSignature": "s2"},
                       {"functionCall": {"name": "f", "args": {"x": 1.0, "y": "\u{e9}"}}, "thoughtSignature": "s3"},
                       {"functionCall": {"id": "fc_1", "name": "g"}},
                       {"thoughtSignature": "s4"}, {"inlineData": {"mimeType": "image/png", "data": "AA"}},
                       {"executableCode": {"code": "1"}}]},
                   "finishReason": "STOP", "index": 0, "safetyRatings": []}],
                   "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 5, "thoughtsTokenCount": 6,
                                     "cachedContentTokenCount": 1, "totalTokenCount": 15},
                   "modelVersion": "gemini-2.5", "responseId": "r1"}),
            json!({"candidates": [{"content": {"parts": [{"text": "a"}]}, "finish_reason": "MAX_TOKENS"}],
                   "usage_metadata": {"prompt_token_count": 1}, "model_version": "g", "response_id": "r"}),
            json!({"candidates": [{"content": {"parts": [{"text": "", "thoughtSignature": ""},
                       {"text": "", "thought": true, "thoughtSignature": "s"},
                       {"functionCall": {"id": "", "name": "f", "args": null}, "thoughtSignature": ""}]}}]}),
            json!({"promptFeedback": {"blockReason": "SAFETY"}}),
            json!({"usageMetadata": {"promptTokenCount": "12"}}),
            json!({}),
            json!([{"candidates": [{"content": {"parts": [{"text": "a"}]}}], "responseId": "x"},
                   {"candidates": [{"content": {"parts": [{"text": "b"}]}, "finishReason": "STOP"}]}]),
        ],
    }
}

fn random_scalar(r: &mut Rng) -> Value {
    match r.below(9) {
        0 => Value::Null,
        1 => json!(true),
        2 => json!(-3),
        3 => json!(2.0),
        4 => json!("12"),
        5 => json!(""),
        6 => json!([]),
        7 => json!({}),
        _ => json!(r.string()),
    }
}

fn snake(k: &str) -> String {
    let mut s = String::new();
    for c in k.chars() {
        if c.is_ascii_uppercase() {
            s.push('_');
            s.push(c.to_ascii_lowercase());
        } else {
            s.push(c);
        }
    }
    s
}

/// Random local damage: fields removed, nulled, retyped, renamed to snake_case, unknown fields
/// added, numbers made floats or strings, objects turned into arrays.
fn mutate(r: &mut Rng, v: &mut Value, depth: usize) {
    match v {
        Value::Object(m) => {
            let keys: Vec<String> = m.keys().cloned().collect();
            let mut out = Map::new();
            for k in keys {
                let mut x = m.remove(&k).unwrap();
                match r.below(40) {
                    0 => continue,
                    1 => x = Value::Null,
                    2 => x = random_scalar(r),
                    3 => {
                        out.insert(snake(&k), x);
                        continue;
                    }
                    4 => {
                        // both spellings
                        out.insert(snake(&k), random_scalar(r));
                    }
                    _ => mutate(r, &mut x, depth + 1),
                }
                out.insert(k, x);
            }
            if r.chance(5) {
                out.insert("unknown".into(), random_scalar(r));
            }
            if depth > 0 && r.chance(2) {
                *v = Value::Array(out.into_iter().map(|(_, x)| x).collect());
                return;
            }
            *m = out;
        }
        Value::Array(a) => {
            for x in a.iter_mut() {
                mutate(r, x, depth + 1);
            }
            if r.chance(4) {
                a.push(random_scalar(r));
            }
            if r.chance(3) && !a.is_empty() {
                a.remove(0);
            }
        }
        Value::Number(n) => match r.below(12) {
            0 => *v = json!(n.as_f64().unwrap_or(0.0)),
            1 => *v = json!(n.to_string()),
            2 => *v = json!(-1),
            3 => *v = json!(1u64 << 40),
            _ => {}
        },
        Value::String(s) if r.chance(10) => s.clear(),
        _ => {}
    }
}

/// A serialized body, sometimes with a duplicated key (the typed path must not take those).
fn text_of(r: &mut Rng, v: &Value) -> Vec<u8> {
    let s = v.to_string();
    if r.chance(5) {
        if let Some(Value::Object(m)) = Some(v) {
            if let Some((k, _)) = m.iter().next() {
                let dup = format!("{{{}:{},", json!(k), random_scalar(r));
                return s.replacen('{', &dup, 1).into_bytes();
            }
        }
    }
    s.into_bytes()
}

#[test]
fn decode_response_equals_the_value_decoder_on_random_bodies() {
    let mut r = Rng(0x2545_f491_4f6c_dd1d);
    for format in [ApiFormat::Openai, ApiFormat::Anthropic, ApiFormat::Gemini] {
        let mut seeds = seed_bodies(format);
        for _ in 0..200 {
            let mut resp = random_response(&mut r);
            if r.chance(30) {
                resp.id = String::new();
            }
            seeds.push(codec(format).encode_response(&resp, "m"));
        }
        for (i, seed) in seeds.iter().enumerate() {
            let body = text_of(&mut r, seed);
            assert_same_decode(format, &body, &format!("seed #{i}"));
            for j in 0..30 {
                let mut v = seed.clone();
                mutate(&mut r, &mut v, 0);
                let body = text_of(&mut r, &v);
                assert_same_decode(format, &body, &format!("seed #{i} mutation #{j}"));
            }
        }
    }
}

#[test]
fn encode_request_bytes_equals_the_value_path() {
    let dir = golden_dir().join("request");
    for entry in std::fs::read_dir(&dir).unwrap() {
        // The golden requests are upstream-format bodies: decode each as its own format's client
        // request, encode for every upstream.
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        let format = match name.rsplit('_').next().unwrap() {
            "openai" => ApiFormat::Openai,
            "anthropic" => ApiFormat::Anthropic,
            "gemini" => ApiFormat::Gemini,
            _ => ApiFormat::Responses,
        };
        let body = std::fs::read(&path).unwrap();
        let Ok(ir) = decode_request(format, &body, Some("client-model")) else {
            continue;
        };
        for up in ALL {
            let (want, want_w) = encode_request(up, &mut ir.clone(), "up-model").unwrap();
            let (got, got_w) = encode_request_bytes(up, &mut ir.clone(), "up-model").unwrap();
            assert_eq!(
                String::from_utf8_lossy(&got),
                serde_json::to_string(&want).unwrap(),
                "{name} -> {up}"
            );
            assert_eq!(got_w, want_w, "{name} -> {up}");
        }
    }
}
