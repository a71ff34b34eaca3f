//! Non-stream responses: upstream message → IR (blocks, stop reasons, usage, error bodies) and
//! IR → client message, and the round trip.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use omniroute_format_anthropic::AnthropicCodec;
use omniroute_ir::{ChatResponse, Codec, FinishReason, Part, Usage};
use serde_json::{json, Value};

fn decode(v: &Value) -> ChatResponse {
    AnthropicCodec
        .decode_response(&serde_json::to_vec(v).unwrap())
        .unwrap()
}

fn message() -> Value {
    json!({
        "id": "msg_01abc",
        "type": "message",
        "role": "assistant",
        "model": "claude-opus-4-8",
        "content": [
            {"type": "thinking", "thinking": "let me see", "signature": "EqQBCgIYAh"},
            {"type": "redacted_thinking", "data": "EmwKAhgB"},
            {"type": "text", "text": "Reading it.", "citations": null},
            {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "x"}},
            {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
            {"type": "tool_use", "id": "toolu_01", "name": "Read", "input": {"file_path": "/a"}},
            {"type": "tool_use", "id": "toolu_02", "name": "Ls", "input": {}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": null,
        "usage": {
            "input_tokens": 120,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 900,
            "output_tokens": 45,
            "service_tier": "standard",
        },
    })
}

#[test]
fn decodes_a_message() {
    let r = decode(&message());
    assert_eq!(r.id, "msg_01abc");
    assert_eq!(r.model, "claude-opus-4-8");
    assert_eq!(r.finish, FinishReason::ToolCalls);
    assert_eq!(
        r.usage,
        Usage {
            input_tokens: Some(1020), // 120 + 900 cache reads + 0 writes: the IR counts every prompt token
            output_tokens: Some(45),
            cached_tokens: Some(900),
            cache_creation_tokens: Some(0),
            reasoning_tokens: None,
        }
    );
    assert_eq!(r.content.len(), 5);
    assert!(
        matches!(&r.content[0], Part::Reasoning { text, signature: Some(s), .. } if text == "let me see" && s == "EqQBCgIYAh")
    );
    assert!(matches!(&r.content[1], Part::Reasoning { redacted: Some(d), .. } if d == "EmwKAhgB"));
    assert_eq!(
        r.content[2],
        Part::Text {
            text: "Reading it.".into()
        }
    );
    assert!(
        matches!(&r.content[3], Part::ToolCall { id, name, arguments, .. }
        if id == "toolu_01" && name == "Read" && arguments == r#"{"file_path":"/a"}"#)
    );
    assert!(matches!(&r.content[4], Part::ToolCall { arguments, .. } if arguments == "{}"));
}

#[test]
fn stop_reasons() {
    for (s, want) in [
        ("end_turn", FinishReason::Stop),
        ("stop_sequence", FinishReason::Stop),
        ("max_tokens", FinishReason::Length),
        ("tool_use", FinishReason::ToolCalls),
        ("refusal", FinishReason::ContentFilter),
        ("pause_turn", FinishReason::Other("pause_turn".into())),
    ] {
        let mut m = message();
        m["stop_reason"] = json!(s);
        assert_eq!(decode(&m).finish, want, "{s}");
    }
    let mut m = message();
    m["stop_reason"] = Value::Null;
    assert_eq!(decode(&m).finish, FinishReason::ToolCalls);
}

#[test]
fn error_bodies_are_errors() {
    let body =
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}});
    let err = AnthropicCodec
        .decode_response(&serde_json::to_vec(&body).unwrap())
        .unwrap_err();
    assert!(err.0.contains("Overloaded"), "{err}");
    assert!(err.0.contains("overloaded_error"), "{err}");
    assert!(AnthropicCodec.decode_response(b"[]").is_err());
    assert!(AnthropicCodec.decode_response(b"{oops").is_err());
}

#[test]
fn encodes_a_client_message() {
    let resp = ChatResponse {
        id: "chatcmpl-9".into(),
        model: "gpt-x".into(),
        content: vec![
            Part::Reasoning {
                text: "unsigned thought".into(),
                signature: None,
                redacted: None,
                encrypted: None,
                id: None,
            },
            Part::Reasoning {
                text: String::new(),
                signature: None,
                redacted: None,
                encrypted: Some("enc".into()),
                id: Some("rs_1".into()),
            },
            Part::Text { text: "Hi".into() },
            Part::ToolCall {
                id: "call_1".into(),
                name: "f".into(),
                arguments: r#"{"a":1}"#.into(),
                signature: Some("gem-sig".into()),
            },
        ],
        finish: FinishReason::ToolCalls,
        usage: Usage {
            output_tokens: Some(9),
            cached_tokens: Some(3),
            ..Default::default()
        },
        created: 0,
    };
    let v = AnthropicCodec.encode_response(&resp, "claude-client-name");
    assert_eq!(
        v,
        json!({
            "id": "msg_chatcmpl-9",
            "type": "message",
            "role": "assistant",
            "model": "claude-client-name",
            "content": [
                {"type": "thinking", "thinking": "unsigned thought", "signature": ""},
                {"type": "text", "text": "Hi"},
                {"type": "thinking", "thinking": "", "signature": "gem-sig"},
                {"type": "tool_use", "id": "call_1", "name": "f", "input": {"a": 1}},
            ],
            "stop_reason": "tool_use",
            "stop_sequence": null,
            // input_tokens was not reported: 0, as the schema requires a number.
            "usage": {"input_tokens": 0, "cache_read_input_tokens": 3, "output_tokens": 9},
        })
    );
}

#[test]
fn round_trip() {
    let r = decode(&message());
    let v = AnthropicCodec.encode_response(&r, "claude-opus-4-8");
    assert_eq!(v["id"], "msg_01abc");
    let mut again = decode(&v);
    again.created = r.created;
    assert_eq!(again, r);
    // Every field is one of Anthropic's.
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "id",
            "type",
            "role",
            "model",
            "content",
            "stop_reason",
            "stop_sequence",
            "usage"
        ]
    );
}
