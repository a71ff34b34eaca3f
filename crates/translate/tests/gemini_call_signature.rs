//! A Gemini 3 upstream's `thoughtSignature` on a function call survives a Responses client (Codex)
//! replaying its history: the next Gemini request carries the real signature on the call, not
//! the `skip_thought_signature_validator` placeholder. Stream and non-stream.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::BytesMut;
use omniroute_protocol::sse::SseParser;
use omniroute_protocol::ApiFormat;
use omniroute_translate::ir::{EncoderOptions, StreamEnd};
use omniroute_translate::{decode_request, encode_request, translate_response, StreamTranslator};
use serde_json::{json, Value};

const SIG: &str = "R2VtaW5pVGhvdWdodFNpZ25hdHVyZQ==";
const MODEL: &str = "gemini-3-pro-preview";

fn gemini_response() -> Value {
    json!({
        "candidates": [{
            "content": {"role": "model", "parts": [
                {"text": "Let me read it."},
                {"functionCall": {"name": "read", "args": {"path": "/a.txt"}}, "thoughtSignature": SIG},
                {"functionCall": {"name": "read", "args": {"path": "/b.txt"}}}
            ]},
            "finishReason": "STOP"
        }],
        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15},
        "responseId": "gem-1"
    })
}

/// What Codex sends next: the history with the output items verbatim and the tool outputs.
fn next_gemini_request(output: &[Value]) -> (Value, Vec<String>) {
    let mut input = vec![json!({"type": "message", "role": "user",
                                "content": [{"type": "input_text", "text": "read both"}]})];
    input.extend(output.iter().cloned());
    for item in output {
        if item["type"] == "function_call" {
            input.push(
                json!({"type": "function_call_output", "call_id": item["call_id"],
                              "output": "contents"}),
            );
        }
    }
    let body = json!({
        "model": "client-model", "stream": true, "input": input,
        "include": ["reasoning.encrypted_content"], "reasoning": {"effort": "high"},
        "tools": [{"type": "function", "name": "read", "parameters": {"type": "object",
                   "properties": {"path": {"type": "string"}}}}]
    });
    let mut ir = decode_request(
        ApiFormat::Responses,
        &serde_json::to_vec(&body).unwrap(),
        None,
    )
    .unwrap();
    let (v, mut warnings) = encode_request(ApiFormat::Gemini, &mut ir, MODEL).unwrap();
    warnings.extend(ir.warnings.iter().cloned());
    (v, warnings)
}

fn check_gemini_request(v: &Value, warnings: &[String]) {
    let model_turns: Vec<&Value> = v["contents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["role"] == "model")
        .collect();
    assert_eq!(model_turns.len(), 1, "{v:#}");
    let calls: Vec<&Value> = model_turns[0]["parts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p.get("functionCall").is_some())
        .collect();
    assert_eq!(calls.len(), 2, "{v:#}");
    assert_eq!(calls[0]["functionCall"]["args"]["path"], "/a.txt");
    assert_eq!(calls[0]["thoughtSignature"], SIG, "{v:#}");
    assert!(calls[1].get("thoughtSignature").is_none(), "{v:#}");
    assert!(
        !v.to_string().contains("skip_thought_signature_validator"),
        "{v:#}"
    );
    assert!(!v.to_string().contains("omniroute-sig"), "{v:#}");
    assert!(
        warnings.iter().all(|w| !w.contains("signature")),
        "{warnings:?}"
    );
}

#[test]
fn non_stream_gemini_call_signature_survives_a_responses_client() {
    let (resp, _) = translate_response(
        ApiFormat::Gemini,
        ApiFormat::Responses,
        &serde_json::to_vec(&gemini_response()).unwrap(),
        "client-model",
    )
    .unwrap();
    let output = resp["output"].as_array().unwrap();
    let (v, warnings) = next_gemini_request(output);
    check_gemini_request(&v, &warnings);
}

#[test]
fn stream_gemini_call_signature_survives_a_responses_client() {
    let upstream = format!("data: {}\r\n\r\n", gemini_response());
    let opts = EncoderOptions::default();
    let mut tr = StreamTranslator::new(
        ApiFormat::Gemini,
        ApiFormat::Responses,
        "client-model",
        &opts,
    );
    let mut out = BytesMut::new();
    tr.push(upstream.as_bytes(), &mut out).unwrap();
    tr.finish(StreamEnd::Complete, &mut out);

    let mut events = Vec::new();
    let mut parser = SseParser::default();
    parser
        .push(&out, |e| {
            events.push(serde_json::from_str::<Value>(&e.data).unwrap())
        })
        .unwrap();
    let terminal = events.last().unwrap();
    assert_eq!(terminal["type"], "response.completed", "{terminal:#}");
    // Codex keeps the `output_item.done` items.
    let done: Vec<Value> = events
        .iter()
        .filter(|e| e["type"] == "response.output_item.done")
        .map(|e| e["item"].clone())
        .collect();
    assert_eq!(&Value::Array(done.clone()), &terminal["response"]["output"]);
    let (v, warnings) = next_gemini_request(&done);
    check_gemini_request(&v, &warnings);
}
