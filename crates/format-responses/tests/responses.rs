//! Non-stream responses: decoding an upstream's response object and encoding one for a client.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use omniroute_format_responses::common::remember_namespaced;
use omniroute_format_responses::ResponsesCodec;
use omniroute_ir::{ChatResponse, Codec, FinishReason, Part, Usage};
use serde_json::{json, Value};

fn decode(v: &Value) -> ChatResponse {
    ResponsesCodec
        .decode_response(&serde_json::to_vec(v).unwrap())
        .unwrap()
}

fn upstream() -> Value {
    json!({
        "id": "resp_abc", "object": "response", "created_at": 1700000000, "status": "completed",
        "model": "gpt-5", "error": null, "incomplete_details": null,
        "output": [
            {"id": "rs_1", "type": "reasoning", "summary": [
                {"type": "summary_text", "text": "First."}, {"type": "summary_text", "text": "Second."}],
             "encrypted_content": "ENC"},
            {"id": "msg_1", "type": "message", "status": "completed", "role": "assistant",
             "content": [{"type": "output_text", "text": "Let me check.", "annotations": []}]},
            {"id": "fc_1", "type": "function_call", "status": "completed", "call_id": "call_1",
             "name": "read", "arguments": "{\"path\":\"a\"}"},
            {"id": "fc_2", "type": "function_call", "status": "completed", "call_id": "call_2",
             "name": "js", "namespace": "mcp__repl", "arguments": "{}"},
            {"id": "ws_1", "type": "web_search_call", "status": "completed"},
        ],
        "usage": {"input_tokens": 100, "input_tokens_details": {"cached_tokens": 40},
                  "output_tokens": 30, "output_tokens_details": {"reasoning_tokens": 12},
                  "total_tokens": 130},
    })
}

#[test]
fn decodes_items_usage_and_finish() {
    let r = decode(&upstream());
    assert_eq!(r.id, "resp_abc");
    assert_eq!(r.model, "gpt-5");
    assert_eq!(r.created, 1700000000);
    assert_eq!(r.finish, FinishReason::ToolCalls);
    assert_eq!(
        r.usage,
        Usage {
            input_tokens: Some(100),
            output_tokens: Some(30),
            cached_tokens: Some(40),
            cache_creation_tokens: None,
            reasoning_tokens: Some(12),
        }
    );
    assert_eq!(
        r.content,
        vec![
            Part::Reasoning {
                text: "First.\n\nSecond.".into(),
                signature: None,
                redacted: None,
                encrypted: Some("ENC".into()),
                id: Some("rs_1".into()),
            },
            Part::Text {
                text: "Let me check.".into()
            },
            Part::ToolCall {
                id: "call_1".into(),
                name: "read".into(),
                arguments: "{\"path\":\"a\"}".into(),
                signature: None,
            },
            Part::ToolCall {
                id: "call_2".into(),
                name: "mcp__repl__js".into(),
                arguments: "{}".into(),
                signature: None,
            },
        ]
    );
}

#[test]
fn finish_reasons_and_errors() {
    let mut v = upstream();
    v["output"] = json!([{"type": "message", "role": "assistant", "content": [
        {"type": "output_text", "text": "partial"}]}]);
    assert_eq!(decode(&v).finish, FinishReason::Stop);
    v["status"] = json!("incomplete");
    v["incomplete_details"] = json!({"reason": "max_output_tokens"});
    assert_eq!(decode(&v).finish, FinishReason::Length);
    v["incomplete_details"] = json!({"reason": "content_filter"});
    assert_eq!(decode(&v).finish, FinishReason::ContentFilter);

    v["status"] = json!("completed");
    v["output"] = json!([{"type": "message", "role": "assistant", "content": [
        {"type": "refusal", "refusal": "I can't help with that."}]}]);
    let r = decode(&v);
    assert_eq!(r.finish, FinishReason::ContentFilter);
    assert_eq!(
        r.content,
        vec![Part::Text {
            text: "I can't help with that.".into()
        }]
    );

    v["usage"] = Value::Null;
    assert_eq!(decode(&v).usage, Usage::default());

    let err = json!({"id": "resp_x", "status": "failed", "output": [],
                     "error": {"code": "server_error", "message": "boom"}});
    let e = ResponsesCodec
        .decode_response(&serde_json::to_vec(&err).unwrap())
        .unwrap_err();
    assert!(e.0.contains("boom"), "{e}");
    let e = ResponsesCodec
        .decode_response(br#"{"error":{"message":"bad key","type":"invalid_request_error"}}"#)
        .unwrap_err();
    assert!(e.0.contains("bad key"));
    assert!(ResponsesCodec.decode_response(b"[]").is_err());
    assert!(ResponsesCodec
        .decode_response(br#"{"id":"x"}"#)
        .unwrap_err()
        .0
        .contains("output"));
}

#[test]
fn encodes_a_client_response_the_sdk_accepts() {
    let flat = remember_namespaced("mcp__resp_test__", "run");
    let resp = ChatResponse {
        id: "chatcmpl-123".into(),
        model: "upstream-model".into(),
        content: vec![
            Part::Reasoning {
                text: "Thinking.".into(),
                signature: None,
                redacted: None,
                encrypted: Some("ENC".into()),
                id: Some("rs_keep".into()),
            },
            Part::Reasoning {
                text: "Claude thought".into(),
                signature: Some("sig".into()),
                redacted: None,
                encrypted: None,
                id: None,
            },
            Part::Text {
                text: "Hello ".into(),
            },
            Part::Text {
                text: "world".into(),
            },
            Part::ToolCall {
                id: "toolu_1".into(),
                name: "read".into(),
                arguments: "{}".into(),
                signature: None,
            },
            Part::ToolCall {
                id: "toolu_2".into(),
                name: flat,
                arguments: "{\"x\":1}".into(),
                signature: None,
            },
        ],
        finish: FinishReason::ToolCalls,
        usage: Usage {
            input_tokens: Some(10),
            output_tokens: Some(5),
            ..Default::default()
        },
        created: 1700000001,
    };
    let v = ResponsesCodec.encode_response(&resp, "client-model");
    // Fields the openai-python `Response` model requires.
    for k in [
        "id",
        "created_at",
        "model",
        "object",
        "output",
        "parallel_tool_calls",
        "tool_choice",
        "tools",
    ] {
        assert!(v.get(k).is_some(), "missing {k}");
    }
    assert!(v["id"].as_str().unwrap().starts_with("resp_"));
    assert_eq!(v["object"], "response");
    assert_eq!(v["model"], "client-model");
    assert_eq!(v["status"], "completed");
    assert_eq!(v["created_at"], 1700000001);
    assert_eq!(v["error"], Value::Null);
    assert_eq!(v["incomplete_details"], Value::Null);
    assert_eq!(v["metadata"], json!({}));
    assert_eq!(
        v["usage"],
        json!({"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0},
               "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 0},
               "total_tokens": 15})
    );
    let out = v["output"].as_array().unwrap();
    assert_eq!(out.len(), 5, "{out:#?}");
    assert_eq!(
        out[0],
        json!({"id": "rs_keep", "type": "reasoning",
               "summary": [{"type": "summary_text", "text": "Thinking."}], "encrypted_content": "ENC"})
    );
    assert_eq!(out[1]["type"], "reasoning");
    assert!(out[1]["id"].as_str().unwrap().starts_with("rs_"));
    // another format's signature travels (marked) in encrypted_content, so that the client's
    // echo of this item gives it back; nothing is invented
    let enc = out[1]["encrypted_content"].as_str().unwrap();
    assert!(enc.starts_with("omniroute-sig:v1:"), "{enc}");
    assert_eq!(out[2]["type"], "message");
    assert!(out[2]["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(out[2]["status"], "completed");
    assert_eq!(out[2]["role"], "assistant");
    assert_eq!(
        out[2]["content"],
        json!([{"type": "output_text", "text": "Hello world", "annotations": []}])
    );
    assert_eq!(out[3]["type"], "function_call");
    assert!(out[3]["id"].as_str().unwrap().starts_with("fc_"));
    assert_eq!(out[3]["call_id"], "toolu_1");
    assert_eq!(out[3]["name"], "read");
    assert!(out[3].get("namespace").is_none());
    assert_eq!(out[3]["status"], "completed");
    assert_eq!(out[4]["name"], "run");
    assert_eq!(out[4]["namespace"], "mcp__resp_test__");
    assert_eq!(out[4]["call_id"], "toolu_2");

    // Length and content filter are `incomplete` with the reason.
    let mut short = resp.clone();
    short.finish = FinishReason::Length;
    short.usage = Usage::default();
    let v = ResponsesCodec.encode_response(&short, "m");
    assert_eq!(v["status"], "incomplete");
    assert_eq!(
        v["incomplete_details"],
        json!({"reason": "max_output_tokens"})
    );
    assert_eq!(v["usage"], Value::Null, "no invented usage");
    short.finish = FinishReason::ContentFilter;
    let v = ResponsesCodec.encode_response(&short, "m");
    assert_eq!(v["incomplete_details"], json!({"reason": "content_filter"}));
}

#[test]
fn response_round_trip() {
    // upstream → IR → client → IR keeps the content, finish and usage.
    let ir = decode(&upstream());
    let client = ResponsesCodec.encode_response(&ir, "gpt-5");
    let back = decode(&client);
    assert_eq!(back.content, ir.content);
    assert_eq!(back.finish, ir.finish);
    assert_eq!(back.usage, ir.usage);
    assert_eq!(back.created, ir.created);
    assert_eq!(back.id, "resp_abc");
    // Deterministic: the same IR gives the same object.
    assert_eq!(ResponsesCodec.encode_response(&ir, "gpt-5"), client);
}

#[test]
fn bytes_form_is_the_value_form_serialized() {
    remember_namespaced("mcp__bytes_srv__", "tool");
    let text = |t: &str| Part::Text { text: t.into() };
    let reasoning = |t: &str, sig: Option<&str>, enc: Option<&str>| Part::Reasoning {
        text: t.into(),
        signature: sig.map(str::to_string),
        redacted: None,
        encrypted: enc.map(str::to_string),
        id: None,
    };
    let call = |id: &str, name: &str, sig: Option<&str>| Part::ToolCall {
        id: id.into(),
        name: name.into(),
        arguments: "{\"a\":\"\\\"q\\\"\"}".into(),
        signature: sig.map(str::to_string),
    };
    let contents = vec![
        vec![],
        vec![text("Hello \"world\"\n✓")],
        vec![
            text("a"),
            text("b"),
            reasoning("r", Some("sig"), None),
            text("c"),
        ],
        vec![
            reasoning("", None, Some("ENC")),
            reasoning("", Some(""), None),
            call("call_1", "mcp__bytes_srv__tool", Some("csig")),
            call("call_2", "read", None),
        ],
    ];
    for (i, content) in contents.into_iter().enumerate() {
        for finish in [
            FinishReason::Stop,
            FinishReason::Length,
            FinishReason::ContentFilter,
        ] {
            let resp = ChatResponse {
                id: format!("up-{i}"),
                model: "m".into(),
                content: content.clone(),
                finish,
                usage: Usage {
                    input_tokens: (i % 2 == 0).then_some(5),
                    output_tokens: Some(7),
                    ..Default::default()
                },
                created: 1_700_000_000,
            };
            let value = omniroute_format_responses::response::encode_response(&resp, "client");
            let bytes =
                omniroute_format_responses::response::encode_response_bytes(&resp, "client");
            assert_eq!(
                String::from_utf8(bytes).unwrap(),
                serde_json::to_string(&value).unwrap()
            );
        }
    }
}
