//! Test helpers: fixture loading, SSE → IR decoding and IR → SSE encoding.

use std::path::{Path, PathBuf};

use bytes::BytesMut;
use omniroute_format_openai::OpenAiCodec;
use omniroute_ir::{Codec, EncoderOptions, StreamEnd, StreamEvent};
use omniroute_protocol::sse::{SseEvent, SseParser};
use serde_json::Value;

pub const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/fixtures/clients"
);

/// Every OpenAI chat fixture: (path relative to the fixtures folder, whole recorded exchange).
pub fn openai_chat_fixtures() -> Vec<(String, Value)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.contains("openai_chat") && n.ends_with(".json"))
            {
                out.push(path);
            }
        }
    }
    let root = Path::new(FIXTURES);
    let mut paths = Vec::new();
    walk(root, &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            (rel, v)
        })
        .collect()
}

pub fn fixture(rel: &str) -> Value {
    openai_chat_fixtures()
        .into_iter()
        .find(|(p, _)| p == rel)
        .unwrap_or_else(|| panic!("fixture {rel} not found"))
        .1
}

/// Feed byte chunks through the SSE parser and the codec's stream decoder.
pub fn decode_chunks(chunks: &[&[u8]]) -> Vec<StreamEvent> {
    let mut parser = SseParser::default();
    let mut dec = OpenAiCodec.stream_decoder();
    let mut sse = Vec::new();
    for c in chunks {
        parser.push(c, |e| sse.push(e)).unwrap();
    }
    parser.finish(|e| sse.push(e));
    let mut out = Vec::new();
    for e in &sse {
        dec.push(e, &mut out).unwrap();
    }
    dec.finish(&mut out);
    out
}

pub fn decode_stream(raw: &str) -> Vec<StreamEvent> {
    decode_chunks(&[raw.as_bytes()])
}

/// Events through the codec's stream encoder, then `finish(end)`.
pub fn encode_events(events: &[StreamEvent], include_usage: bool, end: StreamEnd) -> String {
    let opts = EncoderOptions {
        include_usage,
        ..Default::default()
    };
    let mut enc = OpenAiCodec.stream_encoder("client-model", &opts);
    let mut out = BytesMut::new();
    for e in events {
        enc.push(e, &mut out);
    }
    enc.finish(&end, &mut out);
    String::from_utf8(out.to_vec()).unwrap()
}

/// The SSE events of an encoded stream.
pub fn sse_events(raw: &str) -> Vec<SseEvent> {
    let mut parser = SseParser::default();
    let mut out = Vec::new();
    parser.push(raw.as_bytes(), |e| out.push(e)).unwrap();
    parser.finish(|e| out.push(e));
    out
}

/// `data:` payloads of an encoded stream as JSON (`[DONE]` as the string "[DONE]").
pub fn payloads(raw: &str) -> Vec<Value> {
    sse_events(raw)
        .iter()
        .map(|e| {
            if e.is_done() {
                Value::String("[DONE]".into())
            } else {
                serde_json::from_str(&e.data).unwrap()
            }
        })
        .collect()
}

/// Concatenated (reasoning, text) of a list of events.
pub fn texts(events: &[StreamEvent]) -> (String, String) {
    let (mut r, mut t) = (String::new(), String::new());
    for e in events {
        match e {
            StreamEvent::ReasoningDelta { text } => r.push_str(text),
            StreamEvent::TextDelta { text } => t.push_str(text),
            _ => {}
        }
    }
    (r, t)
}

/// Build an SSE stream of `chat.completion.chunk` payloads (each a JSON text), then `[DONE]`.
pub fn sse(payloads: &[&str]) -> String {
    let mut s = String::new();
    for p in payloads {
        s.push_str("data: ");
        s.push_str(p);
        s.push_str("\n\n");
    }
    s.push_str("data: [DONE]\n\n");
    s
}
