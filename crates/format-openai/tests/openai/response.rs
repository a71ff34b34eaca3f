//! Non-stream responses: decoding upstream completions (reasoning fields, `<think>`, tool
//! calls, usage details, errors) and the strict client encoding, both ways.

use omniroute_format_openai::OpenAiCodec;
use omniroute_ir::{ChatResponse, Codec, FinishReason, Part, Usage};
use serde_json::{json, Value};

fn dec(v: Value) -> ChatResponse {
    OpenAiCodec
        .decode_response(&serde_json::to_vec(&v).unwrap())
        .unwrap()
}

fn reasoning(t: &str) -> Part {
    Part::Reasoning {
        text: t.into(),
        signature: None,
        redacted: None,
        encrypted: None,
        id: None,
    }
}

#[test]
fn decodes_reasoning_tool_calls_and_usage() {
    let r = dec(json!({
        "id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"up-model",
        "system_fingerprint":"fp","service_tier":"default",
        "choices":[{"index":0,"message":{"role":"assistant","content":"Let me check.",
            "reasoning_content":"User wants weather.",
            "tool_calls":[{"id":"call_1","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Paris\"}"}}]},
            "finish_reason":"tool_calls","logprobs":null}],
        "usage":{"prompt_tokens":100,"completion_tokens":50,"total_tokens":150,
            "prompt_tokens_details":{"cached_tokens":80},"completion_tokens_details":{"reasoning_tokens":20}}
    }));
    assert_eq!(r.id, "chatcmpl-1");
    assert_eq!(r.model, "up-model");
    assert_eq!(r.created, 1700000000);
    assert_eq!(r.finish, FinishReason::ToolCalls);
    assert_eq!(
        r.content,
        vec![
            reasoning("User wants weather."),
            Part::Text {
                text: "Let me check.".into()
            },
            Part::ToolCall {
                id: "call_1".into(),
                name: "weather".into(),
                arguments: "{\"city\":\"Paris\"}".into(),
                signature: None
            },
        ]
    );
    assert_eq!(
        r.usage,
        Usage {
            input_tokens: Some(100),
            output_tokens: Some(50),
            cached_tokens: Some(80),
            cache_creation_tokens: None,
            reasoning_tokens: Some(20)
        }
    );
}

#[test]
fn think_tags_move_to_reasoning_and_missing_usage_stays_unknown() {
    let r = dec(
        json!({"id":"x","model":"deepseek-r1","choices":[{"message":{"role":"assistant",
        "content":"<think>\nhmm\n</think>\n\nAnswer."},"finish_reason":"stop"}]}),
    );
    assert_eq!(
        r.content,
        vec![
            reasoning("\nhmm\n"),
            Part::Text {
                text: "Answer.".into()
            }
        ]
    );
    assert_eq!(r.finish, FinishReason::Stop);
    assert!(r.usage.is_empty());
    // only present numbers are taken
    let r = dec(
        json!({"choices":[{"message":{"content":"a"},"finish_reason":"length"}],"usage":{"prompt_tokens":3}}),
    );
    assert_eq!(
        r.usage,
        Usage {
            input_tokens: Some(3),
            ..Default::default()
        }
    );
    assert_eq!(r.finish, FinishReason::Length);
    // OpenRouter `reasoning`, refusal, content filter
    let r = dec(
        json!({"choices":[{"message":{"content":null,"reasoning":"r","refusal":"I can't."},"finish_reason":"content_filter"}]}),
    );
    assert_eq!(
        r.content,
        vec![
            reasoning("r"),
            Part::Text {
                text: "I can't.".into()
            }
        ]
    );
    assert_eq!(r.finish, FinishReason::ContentFilter);
    // a provider saying "stop" with tool calls: tool calls
    let r = dec(
        json!({"choices":[{"message":{"tool_calls":[{"function":{"name":"f","arguments":"{}"}}]},"finish_reason":"stop"}]}),
    );
    assert_eq!(r.finish, FinishReason::ToolCalls);
    assert!(matches!(&r.content[0], Part::ToolCall { id, .. } if id.starts_with("call_")));
}

#[test]
fn error_bodies_are_errors() {
    let e = OpenAiCodec
        .decode_response(br#"{"error":{"message":"Rate limit reached","type":"rate_limit"}}"#)
        .unwrap_err();
    assert!(e.0.contains("Rate limit reached"), "{e}");
    assert!(OpenAiCodec
        .decode_response(b"{\"id\":\"x\"}")
        .unwrap_err()
        .0
        .contains("choices"));
    assert!(OpenAiCodec
        .decode_response(b"{\"choices\":[]}")
        .unwrap_err()
        .0
        .contains("choices"));
    assert!(OpenAiCodec.decode_response(b"nope").is_err());
}

fn response(content: Vec<Part>, finish: FinishReason, usage: Usage) -> ChatResponse {
    ChatResponse {
        id: "msg_123".into(),
        model: "upstream".into(),
        content,
        finish,
        usage,
        created: 1700000001,
    }
}

#[test]
fn encodes_a_strict_chat_completion() {
    let r = response(
        vec![
            reasoning("think"),
            Part::Text {
                text: "Hello".into(),
            },
        ],
        FinishReason::Stop,
        Usage {
            input_tokens: Some(10),
            output_tokens: Some(5),
            cached_tokens: Some(2),
            cache_creation_tokens: Some(7),
            reasoning_tokens: None,
        },
    );
    let v = OpenAiCodec.encode_response(&r, "client-model");
    assert_eq!(
        v,
        json!({
            "id":"chatcmpl-msg_123","object":"chat.completion","created":1700000001,"model":"client-model",
            "choices":[{"index":0,"message":{"role":"assistant","content":"Hello","reasoning_content":"think"},
                "finish_reason":"stop","logprobs":null}],
            "usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":2}}
        })
    );
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["id", "object", "created", "model", "choices", "usage"]
    );
}

#[test]
fn tool_calls_only_have_null_content_and_unknown_usage_is_omitted() {
    let r = response(
        vec![
            reasoning(""),
            Part::ToolCall {
                id: "toolu_9".into(),
                name: "f".into(),
                arguments: "{\"x\":1}".into(),
                signature: Some("s".into()),
            },
        ],
        FinishReason::ToolCalls,
        Usage {
            output_tokens: Some(3),
            ..Default::default()
        },
    );
    let v = OpenAiCodec.encode_response(&r, "m");
    assert_eq!(
        v["choices"][0]["message"],
        json!({"role":"assistant","content":null,"tool_calls":[{"id":"toolu_9","type":"function","function":{"name":"f","arguments":"{\"x\":1}"}}]})
    );
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    assert!(v.get("usage").is_none());
    // an id that already is a chat completion id is kept
    let mut r = r;
    r.id = "chatcmpl-abc".into();
    assert_eq!(OpenAiCodec.encode_response(&r, "m")["id"], "chatcmpl-abc");
    r.id = String::new();
    assert!(OpenAiCodec.encode_response(&r, "m")["id"]
        .as_str()
        .unwrap()
        .starts_with("chatcmpl-"));
}

#[test]
fn encode_then_decode_round_trips() {
    for (content, finish) in [
        (
            vec![Part::Text {
                text: "plain".into(),
            }],
            FinishReason::Stop,
        ),
        (
            vec![reasoning("r"), Part::Text { text: "t".into() }],
            FinishReason::Length,
        ),
        (
            vec![
                Part::Text {
                    text: "calling".into(),
                },
                Part::ToolCall {
                    id: "call_a".into(),
                    name: "a".into(),
                    arguments: "{}".into(),
                    signature: None,
                },
                Part::ToolCall {
                    id: "call_b".into(),
                    name: "b".into(),
                    arguments: "{\"k\":[1]}".into(),
                    signature: None,
                },
            ],
            FinishReason::ToolCalls,
        ),
        (
            vec![Part::Text { text: "no".into() }],
            FinishReason::ContentFilter,
        ),
    ] {
        let usage = Usage {
            input_tokens: Some(9),
            output_tokens: Some(4),
            cached_tokens: None,
            cache_creation_tokens: None,
            reasoning_tokens: Some(1),
        };
        let r = ChatResponse {
            id: "chatcmpl-z".into(),
            model: "m".into(),
            content,
            finish,
            usage,
            created: 5,
        };
        let wire = OpenAiCodec.encode_response(&r, "m");
        let back = OpenAiCodec
            .decode_response(&serde_json::to_vec(&wire).unwrap())
            .unwrap();
        assert_eq!(back, r);
    }
}
