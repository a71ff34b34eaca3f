//! Golden fixtures for every format pair: a canonical request in each client format translated
//! for each upstream format, a canonical response and a canonical stream of each upstream format
//! translated for each client format, compared with the files in `tests/golden/`. Generated
//! ids and timestamps are masked. `UPDATE_GOLDEN=1 cargo test -p omniroute-translate --test
//! golden` rewrites the files; review the diff before committing it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::BytesMut;
use omniroute_protocol::ApiFormat;
use omniroute_translate::ir::{
    ChatResponse, EncoderOptions, FinishReason, Part, StreamEnd, StreamEvent as E, Usage,
};
use omniroute_translate::{
    codec, decode_request, encode_request, translate_response, StreamTranslator,
};
use serde_json::{json, Value};
use std::path::PathBuf;

const ALL: [ApiFormat; 4] = [
    ApiFormat::Openai,
    ApiFormat::Anthropic,
    ApiFormat::Gemini,
    ApiFormat::Responses,
];

/// One conversation in each client format: system prompt, an image, a tool definition, a tool
/// call and its result, then a follow-up question.
fn canonical_request(f: ApiFormat) -> Value {
    let schema =
        json!({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]});
    let png = "iVBORw0KGgo=";
    match f {
        ApiFormat::Openai => json!({
            "model": "m", "max_tokens": 512, "temperature": 0.2, "stream": true,
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": [{"type": "text", "text": "Read /a.txt"}, {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{png}")}}]},
                {"role": "assistant", "content": "", "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "read", "arguments": "{\"path\":\"/a.txt\"}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "hello"},
                {"role": "user", "content": "Summarize."}
            ],
            "tools": [{"type": "function", "function": {"name": "read", "description": "Read a file", "parameters": schema}}]
        }),
        ApiFormat::Anthropic => json!({
            "model": "m", "max_tokens": 512, "temperature": 0.2, "stream": true,
            "system": "You are terse.",
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Read /a.txt"}, {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}}]},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "read", "input": {"path": "/a.txt"}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "hello"}, {"type": "text", "text": "Summarize."}]}
            ],
            "tools": [{"name": "read", "description": "Read a file", "input_schema": schema}]
        }),
        ApiFormat::Gemini => json!({
            "systemInstruction": {"parts": [{"text": "You are terse."}]},
            "contents": [
                {"role": "user", "parts": [{"text": "Read /a.txt"}, {"inlineData": {"mimeType": "image/png", "data": png}}]},
                {"role": "model", "parts": [{"functionCall": {"id": "fc_1", "name": "read", "args": {"path": "/a.txt"}}}]},
                {"role": "user", "parts": [{"functionResponse": {"id": "fc_1", "name": "read", "response": {"result": "hello"}}}, {"text": "Summarize."}]}
            ],
            "tools": [{"functionDeclarations": [{"name": "read", "description": "Read a file", "parametersJsonSchema": schema}]}],
            "generationConfig": {"maxOutputTokens": 512, "temperature": 0.2}
        }),
        ApiFormat::Responses => json!({
            "model": "m", "max_output_tokens": 512, "temperature": 0.2, "stream": true,
            "instructions": "You are terse.",
            "input": [
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Read /a.txt"}, {"type": "input_image", "image_url": format!("data:image/png;base64,{png}")}]},
                {"type": "function_call", "call_id": "call_1", "name": "read", "arguments": "{\"path\":\"/a.txt\"}"},
                {"type": "function_call_output", "call_id": "call_1", "output": "hello"},
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Summarize."}]}
            ],
            "tools": [{"type": "function", "name": "read", "description": "Read a file", "parameters": schema}]
        }),
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

fn canonical_stream() -> Vec<E> {
    vec![
        E::Start {
            id: Some("up-1".into()),
            model: Some("m".into()),
        },
        E::TextDelta {
            text: "Reading ".into(),
        },
        E::TextDelta { text: "it.".into() },
        E::ToolCallStart {
            index: 0,
            id: "call_9".into(),
            name: "read".into(),
            signature: None,
        },
        E::ToolCallArgs {
            index: 0,
            fragment: "{\"path\":".into(),
        },
        E::ToolCallArgs {
            index: 0,
            fragment: "\"/b.txt\"}".into(),
        },
        E::Usage {
            usage: Usage {
                input_tokens: Some(11),
                output_tokens: Some(22),
                ..Default::default()
            },
        },
        E::Finish {
            reason: FinishReason::ToolCalls,
        },
    ]
}

fn mask(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if matches!(
                    k.as_str(),
                    "id" | "created" | "created_at" | "item_id" | "responseId"
                ) && !x.is_null()
                {
                    *x = json!("<masked>");
                } else {
                    mask(x);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(mask),
        _ => {}
    }
}

fn masked_sse(bytes: &[u8]) -> String {
    let text = String::from_utf8(bytes.to_vec())
        .unwrap()
        .replace("\r\n", "\n");
    text.lines()
        .map(|line| {
            match line
                .strip_prefix("data: ")
                .map(serde_json::from_str::<Value>)
            {
                Some(Ok(mut v)) => {
                    mask(&mut v);
                    format!("data: {v}")
                }
                _ => line.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn check(name: &str, got: String) -> Option<String> {
    let path = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden")).join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &got).unwrap();
        return None;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing golden file {name}: run with UPDATE_GOLDEN=1"));
    (want != got).then(|| format!("{name} differs from its golden file"))
}

#[test]
fn golden_requests_responses_and_streams_for_every_pair() {
    let mut diffs = Vec::new();
    for client in ALL {
        for up in ALL {
            // request: client format → upstream format
            let body = serde_json::to_vec(&canonical_request(client)).unwrap();
            let mut ir = decode_request(client, &body, Some("client-model")).unwrap();
            // requests are deterministic: ids are not masked (their preservation is the point)
            let (v, _) = encode_request(up, &mut ir, "upstream-model").unwrap();
            diffs.extend(check(
                &format!("request/{client}_to_{up}.json"),
                serde_json::to_string_pretty(&v).unwrap(),
            ));

            // non-stream response: upstream format → client format
            let upstream_body = codec(up).encode_response(&canonical_response(), "upstream-model");
            let (mut v, usage) = translate_response(
                up,
                client,
                &serde_json::to_vec(&upstream_body).unwrap(),
                "client-model",
            )
            .unwrap();
            assert_eq!(
                (usage.input_tokens, usage.output_tokens),
                (Some(11), Some(22)),
                "{up}->{client}"
            );
            mask(&mut v);
            diffs.extend(check(
                &format!("response/{up}_to_{client}.json"),
                serde_json::to_string_pretty(&v).unwrap(),
            ));

            // stream: upstream format → client format
            let opts = EncoderOptions {
                include_usage: true,
                json_array: false,
            };
            let mut enc = codec(up).stream_encoder("upstream-model", &opts);
            let mut raw = BytesMut::new();
            for e in &canonical_stream() {
                enc.push(e, &mut raw);
            }
            enc.finish(&StreamEnd::Complete, &mut raw);
            let mut tr = StreamTranslator::new(up, client, "client-model", &opts);
            let mut out = BytesMut::new();
            tr.push(&raw, &mut out).unwrap();
            tr.finish(StreamEnd::Complete, &mut out);
            diffs.extend(check(
                &format!("stream/{up}_to_{client}.sse"),
                masked_sse(&out),
            ));
        }
    }
    assert!(diffs.is_empty(), "{diffs:#?}");
}
