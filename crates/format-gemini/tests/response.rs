//! Non-stream responses: decoding upstream Gemini bodies, encoding client bodies, round trips.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{fixture_files, load, short_name};
use omniroute_format_gemini::GeminiCodec;
use omniroute_ir::{ChatResponse, Codec, FinishReason, Part, Usage};
use serde_json::{json, Value};

fn decode(v: &Value) -> ChatResponse {
    GeminiCodec
        .decode_response(&serde_json::to_vec(v).unwrap())
        .unwrap()
}

fn realistic() -> Value {
    json!({
        "candidates": [{
            "content": {"role": "model", "parts": [
                {"text": "**Planning** I should read the file.", "thought": true},
                {"text": "Let me read it.", "thoughtSignature": "U0lHMQ=="},
                {"functionCall": {"name": "read_file", "args": {"file_path": "/a.txt"}},
                 "thoughtSignature": "U0lHMg=="},
                {"functionCall": {"name": "read_file", "args": {"file_path": "/b.txt"}, "id": "given-2"}}
            ]},
            "finishReason": "STOP",
            "index": 0,
            "safetyRatings": []
        }],
        "usageMetadata": {"promptTokenCount": 100, "candidatesTokenCount": 20,
                          "thoughtsTokenCount": 30, "cachedContentTokenCount": 40,
                          "totalTokenCount": 150},
        "modelVersion": "gemini-2.5-pro",
        "responseId": "resp-1"
    })
}

#[test]
fn decodes_text_thoughts_signatures_calls_and_usage() {
    let r = decode(&realistic());
    assert_eq!(r.id, "resp-1");
    assert_eq!(r.model, "gemini-2.5-pro");
    assert_eq!(r.finish, FinishReason::ToolCalls);
    assert_eq!(
        r.usage,
        Usage {
            input_tokens: Some(100),
            output_tokens: Some(50),
            cached_tokens: Some(40),
            cache_creation_tokens: None,
            reasoning_tokens: Some(30),
        }
    );
    assert!(r.created > 0);
    assert_eq!(r.content.len(), 5, "{:?}", r.content);
    assert!(
        matches!(&r.content[0], Part::Reasoning { text, signature: None, .. } if text.starts_with("**Planning**"))
    );
    assert!(
        matches!(&r.content[1], Part::Reasoning { text, signature: Some(s), .. } if text.is_empty() && s == "U0lHMQ==")
    );
    assert_eq!(
        r.content[2],
        Part::Text {
            text: "Let me read it.".into()
        }
    );
    match (&r.content[3], &r.content[4]) {
        (
            Part::ToolCall {
                id: a,
                name,
                arguments,
                signature: Some(s),
            },
            Part::ToolCall {
                id: b,
                signature: None,
                ..
            },
        ) => {
            assert!(a.starts_with("call_") && a.len() == 29, "{a}");
            assert_eq!(name, "read_file");
            assert_eq!(
                serde_json::from_str::<Value>(arguments).unwrap(),
                json!({"file_path": "/a.txt"})
            );
            assert_eq!(s, "U0lHMg==");
            assert_eq!(b, "given-2");
        }
        other => panic!("{other:?}"),
    }
    // Deterministic ids.
    assert_eq!(decode(&realistic()).content, r.content);
}

#[test]
fn finish_reasons_usage_and_errors() {
    let with = |reason: &str| {
        decode(
            &json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "x"}]},
                                       "finishReason": reason}]}),
        )
        .finish
    };
    assert_eq!(with("STOP"), FinishReason::Stop);
    assert_eq!(with("MAX_TOKENS"), FinishReason::Length);
    for r in [
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
    ] {
        assert_eq!(with(r), FinishReason::ContentFilter, "{r}");
    }
    assert_eq!(
        with("MALFORMED_FUNCTION_CALL"),
        FinishReason::Other("MALFORMED_FUNCTION_CALL".into())
    );
    assert_eq!(with("OTHER"), FinishReason::Other("OTHER".into()));

    let blocked = decode(&json!({"promptFeedback": {"blockReason": "SAFETY"},
                                 "usageMetadata": {"promptTokenCount": 7, "totalTokenCount": 7}}));
    assert_eq!(blocked.finish, FinishReason::ContentFilter);
    assert!(blocked.content.is_empty());
    assert_eq!(blocked.usage.input_tokens, Some(7));
    assert_eq!(blocked.usage.output_tokens, None, "never invented");

    let err = GeminiCodec
        .decode_response(br#"{"error": {"code": 429, "message": "Resource exhausted", "status": "RESOURCE_EXHAUSTED"}}"#)
        .unwrap_err();
    assert!(err.0.contains("Resource exhausted"), "{err}");
    assert!(GeminiCodec.decode_response(b"[1,2]").is_err());
    assert!(GeminiCodec.decode_response(b"nope").is_err());
    assert!(GeminiCodec.decode_response(b"{}").is_err());
}

#[test]
fn a_collected_json_array_stream_decodes_as_one_response() {
    let body = json!([
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}}], "responseId": "r"},
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "lo"}]}, "finishReason": "STOP"}],
         "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2}}
    ]);
    let r = decode(&body);
    assert_eq!(
        r.content,
        vec![Part::Text {
            text: "Hello".into()
        }]
    );
    assert_eq!(r.id, "r");
    assert_eq!(r.usage.output_tokens, Some(2));
}

#[test]
fn encodes_the_client_shape() {
    let r = decode(&realistic());
    let out = GeminiCodec.encode_response(&r, "my-model");
    assert_eq!(out["modelVersion"], "my-model");
    assert_eq!(out["responseId"], "resp-1");
    let cand = &out["candidates"][0];
    assert_eq!(cand["index"], 0);
    assert_eq!(cand["finishReason"], "STOP");
    assert_eq!(cand["content"]["role"], "model");
    let parts = cand["content"]["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 4);
    assert_eq!(parts[0]["thought"], true);
    assert_eq!(
        parts[1],
        json!({"text": "Let me read it.", "thoughtSignature": "U0lHMQ=="})
    );
    assert_eq!(parts[2]["functionCall"]["name"], "read_file");
    assert_eq!(
        parts[2]["functionCall"]["args"],
        json!({"file_path": "/a.txt"})
    );
    assert_eq!(parts[2]["thoughtSignature"], "U0lHMg==");
    assert_eq!(parts[3]["functionCall"]["id"], "given-2");
    assert_eq!(
        out["usageMetadata"],
        json!({"promptTokenCount": 100, "candidatesTokenCount": 20, "totalTokenCount": 150,
               "thoughtsTokenCount": 30, "cachedContentTokenCount": 40})
    );

    // Unknown usage is not reported.
    let bare = ChatResponse {
        id: String::new(),
        model: "m".into(),
        content: vec![Part::Text { text: "hi".into() }],
        finish: FinishReason::Length,
        usage: Usage::default(),
        created: 0,
    };
    let out = GeminiCodec.encode_response(&bare, "client");
    assert!(out.get("usageMetadata").is_none());
    assert!(out.get("responseId").is_none());
    assert_eq!(out["candidates"][0]["finishReason"], "MAX_TOKENS");
}

#[test]
fn round_trip_keeps_content_finish_and_usage() {
    let r = decode(&realistic());
    let back = decode(&GeminiCodec.encode_response(&r, "gemini-2.5-pro"));
    assert_eq!(back.content, r.content);
    assert_eq!(back.finish, r.finish);
    assert_eq!(back.usage, r.usage);
    assert_eq!(back.id, r.id);

    // A reasoning block signed at its end (the Anthropic shape) keeps its signature.
    let signed = ChatResponse {
        content: vec![
            Part::Reasoning {
                text: "think".into(),
                signature: Some("sig".into()),
                redacted: None,
                encrypted: None,
                id: None,
            },
            Part::Text {
                text: "answer".into(),
            },
        ],
        ..r
    };
    let out = GeminiCodec.encode_response(&signed, "m");
    assert_eq!(
        out["candidates"][0]["content"]["parts"],
        json!([{"text": "think", "thought": true, "thoughtSignature": "sig"}, {"text": "answer"}])
    );
    assert_eq!(decode(&out).content, signed.content);
}

#[test]
fn fixture_non_stream_response_decodes() {
    for f in fixture_files(Some("gemini_generateContent")) {
        let fx = load(&f);
        let raw = fx["response"]["body"].as_str().unwrap();
        let r = GeminiCodec.decode_response(raw.as_bytes()).unwrap();
        let name = short_name(&f);
        assert_eq!(r.finish, FinishReason::Stop, "{name}");
        assert_eq!(
            r.content,
            vec![Part::Text {
                text: fx["response"]["plan"]["text"].as_str().unwrap().into()
            }],
            "{name}"
        );
        assert_eq!(r.usage.input_tokens, Some(183));
        assert_eq!(r.usage.output_tokens, Some(12));
        assert_eq!(r.usage.reasoning_tokens, None);
    }
}
