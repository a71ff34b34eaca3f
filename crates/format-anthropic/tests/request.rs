//! Request decoding edge cases and the rules of the upstream encoder (roles, ids, thinking,
//! sampling, tools, structured output).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use omniroute_format_anthropic::AnthropicCodec;
use omniroute_ir::{
    ChatRequest, Codec, ImageSource, Message, Part, Reasoning, ResponseFormat, Role, Tool,
    ToolChoice,
};
use serde_json::{json, Value};

fn decode(v: Value) -> ChatRequest {
    AnthropicCodec
        .decode_request(&serde_json::to_vec(&v).unwrap())
        .unwrap()
}

fn decode_err(body: &[u8]) -> String {
    AnthropicCodec.decode_request(body).unwrap_err().0
}

fn encode(req: &ChatRequest, model: &str) -> (Value, Vec<String>) {
    AnthropicCodec
        .encode_request_with_warnings(req, model)
        .unwrap()
}

fn text(t: &str) -> Part {
    Part::Text { text: t.into() }
}

fn user(parts: Vec<Part>) -> Message {
    Message {
        role: Role::User,
        content: parts,
    }
}

fn assistant(parts: Vec<Part>) -> Message {
    Message {
        role: Role::Assistant,
        content: parts,
    }
}

fn call(id: &str, name: &str, args: &str) -> Part {
    Part::ToolCall {
        id: id.into(),
        name: name.into(),
        arguments: args.into(),
        signature: None,
    }
}

fn result(id: &str, content: Vec<Part>) -> Part {
    Part::ToolResult {
        call_id: id.into(),
        name: None,
        content,
        is_error: false,
    }
}

fn reasoning(t: &str, sig: Option<&str>) -> Part {
    Part::Reasoning {
        text: t.into(),
        signature: sig.map(str::to_string),
        redacted: None,
        encrypted: None,
        id: None,
    }
}

fn hello() -> ChatRequest {
    ChatRequest {
        messages: vec![user(vec![text("hi")])],
        ..Default::default()
    }
}

fn with_reasoning(r: Reasoning) -> ChatRequest {
    ChatRequest {
        reasoning: Some(r),
        ..hello()
    }
}

// ------------------------------------------------------------------------------ decoding

#[test]
fn decode_errors_name_the_field() {
    assert!(decode_err(b"[1]").contains("JSON object"));
    assert!(decode_err(b"not json").contains("not valid JSON"));
    assert!(decode_err(br#"{"model":"m"}"#).contains("`messages`"));
    assert!(decode_err(br#"{"messages":{}}"#).contains("`messages`"));
    assert!(
        decode_err(br#"{"messages":[{"role":"tool","content":"x"}]}"#).contains("messages[0].role")
    );
    assert!(decode_err(br#"{"messages":[{"role":"user","content":5}]}"#)
        .contains("messages[0].content"));
    assert!(
        decode_err(br#"{"messages":[{"role":"user","content":[{"type":"text"}]}]}"#)
            .contains("messages[0].content[0].text")
    );
    assert!(decode_err(br#"{"messages":[],"max_tokens":"x"}"#).contains("max_tokens"));
    assert!(
        decode_err(br#"{"messages":[],"tools":[{"input_schema":{}}]}"#).contains("tools[0].name")
    );
    // max_tokens may be missing (count_tokens bodies, lenient clients).
    let req = decode(json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}));
    assert_eq!(req.max_tokens, None);
}

#[test]
fn decodes_every_block_kind() {
    let req = decode(json!({
        "model": "claude-x",
        "max_tokens": 100,
        "system": "be brief",
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "look"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAA"}},
                {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
                {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "doc"}},
            ]},
            {"role": "assistant", "content": [
                {"type": "redacted_thinking", "data": "opaque"},
                {"type": "thinking", "thinking": "hmm", "signature": ""},
                {"type": "tool_use", "id": "toolu_1", "name": "shot", "input": {"n": 1}},
                {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": true, "content": [
                    {"type": "text", "text": "failed"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "BBB"}},
                    {"type": "search_result", "source": "s", "title": "t", "content": []},
                ]},
            ]},
        ],
        "tools": [
            {"name": "shot", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}},
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
            {"type": "bash_20250124", "name": "bash"},
            {"name": "plain"},
        ],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
        "thinking": {"type": "enabled", "budget_tokens": 2000},
        "output_format": {"type": "json_schema", "schema": {"type": "object"}},
        "top_k": 5, "top_p": 0.9, "temperature": 0.5,
        "stop_sequences": ["END"],
        "metadata": {"user_id": "u-1"},
        "container": "c", "mcp_servers": [],
    }));
    assert_eq!(req.system, vec!["be brief"]);
    let u = &req.messages[0].content;
    assert_eq!(u.len(), 3);
    assert_eq!(
        u[1],
        Part::Image {
            source: ImageSource::Base64 {
                media_type: "image/png".into(),
                data: "AAA".into()
            }
        }
    );
    assert!(
        matches!(&u[2], Part::Image { source: ImageSource::Url { url, .. } } if url == "https://x/y.png")
    );
    let a = &req.messages[1].content;
    assert_eq!(a.len(), 3);
    assert!(matches!(&a[0], Part::Reasoning { redacted: Some(d), .. } if d == "opaque"));
    // An empty signature is no signature.
    assert_eq!(a[1], reasoning("hmm", None));
    assert_eq!(a[2], call("toolu_1", "shot", r#"{"n":1}"#));
    match &req.messages[2].content[0] {
        Part::ToolResult {
            name,
            content,
            is_error,
            ..
        } => {
            assert_eq!(name.as_deref(), Some("shot"));
            assert!(is_error);
            assert_eq!(content.len(), 2);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(req.tools.len(), 2);
    assert_eq!(
        req.tools[1].parameters,
        json!({"type": "object", "properties": {}})
    );
    assert_eq!(req.tool_choice, Some(ToolChoice::Required));
    assert_eq!(req.parallel_tool_calls, Some(false));
    assert_eq!(req.reasoning.as_ref().unwrap().budget_tokens, Some(2000));
    assert!(matches!(
        req.response_format,
        Some(ResponseFormat::JsonSchema { .. })
    ));
    assert_eq!(
        (req.top_k, req.top_p, req.temperature),
        (Some(5), Some(0.9), Some(0.5))
    );
    assert_eq!(req.stop, vec!["END"]);
    assert_eq!(req.user.as_deref(), Some("u-1"));
    let w = req.warnings.join("\n");
    for needle in [
        "document",
        "server_tool_use",
        "search_result",
        "web_search_20250305",
        "bash_20250124",
        "container",
        "mcp_servers",
    ] {
        assert!(w.contains(needle), "no warning about {needle}: {w}");
    }
}

// ------------------------------------------------------------------------------ encoding

#[test]
fn roles_alternate_and_tool_results_lead_user_turns() {
    let req = ChatRequest {
        messages: vec![
            user(vec![text("a")]),
            user(vec![text("b")]),
            assistant(vec![text("calling"), call("c1", "f", r#"{"x":1}"#)]),
            user(vec![text("also this"), result("c1", vec![text("ok")])]),
            assistant(vec![text(""), text("   ")]), // nothing left: dropped
            user(vec![text("thanks")]),
        ],
        ..Default::default()
    };
    let (enc, _) = encode(&req, "claude-sonnet-4-5");
    assert_eq!(
        enc["messages"],
        json!([
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
            {"role": "assistant", "content": [
                {"type": "text", "text": "calling"},
                {"type": "tool_use", "id": "c1", "name": "f", "input": {"x": 1}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "c1", "content": "ok"},
                {"type": "text", "text": "also this"},
                {"type": "text", "text": "thanks"},
            ]},
        ])
    );
    assert_eq!(enc["max_tokens"], 8192);
    assert!(enc.get("stream").is_none());
}

#[test]
fn leading_assistant_gets_a_continue_user_turn() {
    let req = ChatRequest {
        messages: vec![
            assistant(vec![text("I said this")]),
            user(vec![text("and?")]),
        ],
        ..Default::default()
    };
    let (enc, w) = encode(&req, "m");
    assert_eq!(
        enc["messages"][0],
        json!({"role": "user", "content": [{"type": "text", "text": "(continue)"}]})
    );
    assert_eq!(enc["messages"][1]["role"], "assistant");
    assert!(w.iter().any(|w| w.contains("(continue)")));
}

#[test]
fn no_messages_is_an_error() {
    let req = ChatRequest {
        system: vec!["s".into()],
        messages: vec![user(vec![text("")])],
        ..Default::default()
    };
    assert!(AnthropicCodec.encode_request(&req, "m").is_err());
}

#[test]
fn tool_ids_are_sanitized_the_same_way_in_calls_and_results() {
    let req = ChatRequest {
        messages: vec![
            user(vec![text("go")]),
            assistant(vec![
                call("call.1|fc:abc", "f", ""),
                call("ok_id-2", "g", "{bad"),
            ]),
            user(vec![
                result("ok_id-2", vec![]),
                result("call.1|fc:abc", vec![text("one"), text("two")]),
            ]),
        ],
        ..Default::default()
    };
    let (enc, _) = encode(&req, "m");
    let a = &enc["messages"][1]["content"];
    let u = &enc["messages"][2]["content"];
    let id = a[0]["id"].as_str().unwrap();
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
        "{id}"
    );
    assert_eq!(a[0]["input"], json!({}));
    assert_eq!(a[1]["id"], "ok_id-2");
    assert_eq!(a[1]["input"], json!({"_raw": "{bad"}));
    assert_eq!(
        u[0],
        json!({"type": "tool_result", "tool_use_id": "ok_id-2"})
    );
    assert_eq!(u[1]["tool_use_id"], id);
    assert_eq!(
        u[1]["content"],
        json!([{"type": "text", "text": "one"}, {"type": "text", "text": "two"}])
    );
}

#[test]
fn reasoning_keeps_signed_and_redacted_drops_unsigned_and_leads() {
    let req = ChatRequest {
        messages: vec![
            user(vec![text("q")]),
            assistant(vec![
                text("answer"),
                reasoning("signed thought", Some("sig-1")),
                reasoning("unsigned thought", None),
                Part::Reasoning {
                    text: String::new(),
                    signature: None,
                    redacted: Some("opaque".into()),
                    encrypted: None,
                    id: None,
                },
            ]),
            user(vec![text("more")]),
        ],
        ..Default::default()
    };
    let (enc, w) = encode(&req, "m");
    assert_eq!(
        enc["messages"][1]["content"],
        json!([
            {"type": "thinking", "thinking": "signed thought", "signature": "sig-1"},
            {"type": "redacted_thinking", "data": "opaque"},
            {"type": "text", "text": "answer"},
        ])
    );
    assert!(w
        .iter()
        .any(|w| w.contains("without an Anthropic signature")));
}

#[test]
fn images_and_tool_result_content() {
    let req = ChatRequest {
        messages: vec![
            user(vec![
                Part::Image {
                    source: ImageSource::Url {
                        url: "data:image/png;base64,iVBOR".into(),
                        detail: Some("high".into()),
                    },
                },
                Part::Image {
                    source: ImageSource::Url {
                        url: "https://example.com/a.jpg".into(),
                        detail: None,
                    },
                },
                Part::Image {
                    source: ImageSource::Url {
                        url: "data:nonsense".into(),
                        detail: None,
                    },
                },
            ]),
            assistant(vec![call("t1", "snap", "{}")]),
            user(vec![Part::ToolResult {
                call_id: "t1".into(),
                name: Some("snap".into()),
                content: vec![
                    text("here"),
                    Part::Image {
                        source: ImageSource::Base64 {
                            media_type: "image/gif".into(),
                            data: "R0lG".into(),
                        },
                    },
                ],
                is_error: true,
            }]),
        ],
        ..Default::default()
    };
    let (enc, w) = encode(&req, "m");
    let u = &enc["messages"][0]["content"];
    assert_eq!(
        u[0]["source"],
        json!({"type": "base64", "media_type": "image/png", "data": "iVBOR"})
    );
    assert_eq!(
        u[1]["source"],
        json!({"type": "url", "url": "https://example.com/a.jpg"})
    );
    assert_eq!(u.as_array().unwrap().len(), 2);
    assert!(w.iter().any(|w| w.contains("image")));
    let tr = &enc["messages"][2]["content"][0];
    assert_eq!(tr["is_error"], true);
    assert_eq!(tr["content"][1]["source"]["media_type"], "image/gif");
}

#[test]
fn system_json_object_and_schema() {
    let mut req = hello();
    req.system = vec!["one".into()];
    let (enc, _) = encode(&req, "m");
    assert_eq!(enc["system"], "one");

    req.system = vec!["one".into(), "two".into()];
    req.response_format = Some(ResponseFormat::JsonObject);
    let (enc, _) = encode(&req, "m");
    let sys = enc["system"].as_array().unwrap();
    assert_eq!(sys.len(), 3);
    assert_eq!(sys[0], json!({"type": "text", "text": "one"}));
    assert!(sys[2]["text"].as_str().unwrap().contains("JSON object"));

    req.response_format = Some(ResponseFormat::JsonSchema {
        name: "x".into(),
        schema: json!({"type": "object", "properties": {"a": {"type": "string"}}}),
        strict: Some(true),
    });
    let (enc, _) = encode(&req, "m");
    assert_eq!(
        enc["output_config"]["format"],
        json!({"type": "json_schema", "schema": {"type": "object", "properties": {"a": {"type": "string"}}}})
    );
    assert_eq!(enc["system"].as_array().unwrap().len(), 2);
}

#[test]
fn tools_and_tool_choice() {
    let mut req = hello();
    req.tools = vec![
        Tool {
            name: "f".into(),
            description: Some("does f".into()),
            parameters: json!({"properties": {"a": {"type": "string"}}}),
            strict: Some(true),
        },
        Tool {
            name: "g".into(),
            description: None,
            parameters: json!({}),
            strict: Some(false),
        },
    ];
    req.parallel_tool_calls = Some(false);
    let (enc, _) = encode(&req, "m");
    assert_eq!(
        enc["tools"],
        json!([
            {"name": "f", "description": "does f", "input_schema": {"properties": {"a": {"type": "string"}}, "type": "object"}, "strict": true},
            {"name": "g", "input_schema": {"type": "object", "properties": {}}},
        ])
    );
    assert_eq!(
        enc["tool_choice"],
        json!({"type": "auto", "disable_parallel_tool_use": true})
    );
    for (choice, want) in [
        (
            ToolChoice::Required,
            json!({"type": "any", "disable_parallel_tool_use": true}),
        ),
        (
            ToolChoice::Tool { name: "f".into() },
            json!({"type": "tool", "name": "f", "disable_parallel_tool_use": true}),
        ),
        (ToolChoice::None, json!({"type": "none"})),
    ] {
        req.tool_choice = Some(choice);
        assert_eq!(encode(&req, "m").0["tool_choice"], want);
    }
    // No tools: no tool_choice (a forcing one is reported).
    req.tools.clear();
    req.tool_choice = Some(ToolChoice::Required);
    let (enc, w) = encode(&req, "m");
    assert!(enc.get("tool_choice").is_none());
    assert!(enc.get("tools").is_none());
    assert!(w.iter().any(|w| w.contains("tool_choice")));
}

#[test]
fn thinking_budget_from_effort_and_clamps() {
    // Effort on a model without `effort`: a budget, the effort itself dropped.
    let mut req = with_reasoning(Reasoning {
        effort: Some("low".into()),
        ..Default::default()
    });
    req.max_tokens = Some(4000);
    let (enc, w) = encode(&req, "claude-sonnet-4-5-20250929");
    assert_eq!(
        enc["thinking"],
        json!({"type": "enabled", "budget_tokens": 2048})
    );
    assert!(enc.get("output_config").is_none());
    assert!(w.iter().any(|w| w.contains("effort")));

    // Unknown (non-Claude) model: both, and max_tokens grows to make room for the answer.
    let req = with_reasoning(Reasoning {
        effort: Some("medium".into()),
        ..Default::default()
    });
    let (enc, _) = encode(&req, "my-model");
    assert_eq!(
        enc["thinking"],
        json!({"type": "enabled", "budget_tokens": 8192})
    );
    assert_eq!(enc["output_config"], json!({"effort": "medium"}));
    assert_eq!(enc["max_tokens"], 16384);

    // Budgets below the minimum are raised; above max_tokens lowered.
    let mut req = with_reasoning(Reasoning {
        budget_tokens: Some(100),
        ..Default::default()
    });
    req.max_tokens = Some(5000);
    assert_eq!(encode(&req, "m").0["thinking"]["budget_tokens"], 1024);
    req.reasoning.as_mut().unwrap().budget_tokens = Some(9000);
    assert_eq!(encode(&req, "m").0["thinking"]["budget_tokens"], 4999);

    // No room at all: thinking omitted.
    req.max_tokens = Some(1024);
    let (enc, w) = encode(&req, "m");
    assert!(enc.get("thinking").is_none());
    assert!(w.iter().any(|w| w.contains("thinking omitted")));

    // Disabled.
    let req = with_reasoning(Reasoning {
        disabled: true,
        ..Default::default()
    });
    assert_eq!(encode(&req, "m").0["thinking"], json!({"type": "disabled"}));
}

#[test]
fn thinking_shape_follows_the_model() {
    let adaptive = with_reasoning(Reasoning {
        adaptive: true,
        effort: Some("high".into()),
        ..Default::default()
    });
    let (enc, _) = encode(&adaptive, "claude-opus-4-6");
    assert_eq!(enc["thinking"], json!({"type": "adaptive"}));
    assert_eq!(enc["output_config"], json!({"effort": "high"}));
    assert_eq!(enc["max_tokens"], 32000);

    // Older models have no adaptive thinking.
    let (enc, w) = encode(&adaptive, "claude-sonnet-4-5");
    assert_eq!(
        enc["thinking"],
        json!({"type": "enabled", "budget_tokens": 16384})
    );
    assert!(w.iter().any(|w| w.contains("adaptive")));

    // Newest models have nothing but adaptive thinking, and no sampling parameters.
    let mut budget = with_reasoning(Reasoning {
        budget_tokens: Some(3000),
        ..Default::default()
    });
    budget.temperature = Some(0.2);
    budget.top_k = Some(3);
    let (enc, w) = encode(&budget, "claude-opus-4-8");
    assert_eq!(enc["thinking"], json!({"type": "adaptive"}));
    assert_eq!(enc["output_config"], json!({"effort": "medium"}));
    assert!(enc.get("temperature").is_none() && enc.get("top_k").is_none());
    assert!(w.iter().any(|w| w.contains("temperature")));

    // Effort levels a model lacks are lowered.
    let xhigh = with_reasoning(Reasoning {
        effort: Some("xhigh".into()),
        adaptive: true,
        ..Default::default()
    });
    assert_eq!(
        encode(&xhigh, "claude-opus-4-6").0["output_config"]["effort"],
        "high"
    );
    assert_eq!(
        encode(&xhigh, "claude-opus-4-8").0["output_config"]["effort"],
        "xhigh"
    );
    let minimal = with_reasoning(Reasoning {
        effort: Some("minimal".into()),
        ..Default::default()
    });
    assert_eq!(encode(&minimal, "m").0["output_config"]["effort"], "low");
}

#[test]
fn sampling_rules() {
    let mut req = with_reasoning(Reasoning {
        budget_tokens: Some(2000),
        ..Default::default()
    });
    req.temperature = Some(0.7);
    req.top_k = Some(40);
    req.top_p = Some(0.5);
    let (enc, w) = encode(&req, "m");
    assert!(enc.get("temperature").is_none());
    assert!(enc.get("top_k").is_none());
    assert!(enc.get("top_p").is_none());
    assert_eq!(w.len(), 3, "{w:?}");

    // Without thinking everything passes, except temperature + top_p on 4.x models.
    let mut req = hello();
    req.temperature = Some(0.7);
    req.top_p = Some(0.9);
    req.top_k = Some(40);
    let (enc, _) = encode(&req, "m");
    assert_eq!(
        (
            enc["temperature"].clone(),
            enc["top_p"].clone(),
            enc["top_k"].clone()
        ),
        (json!(0.7), json!(0.9), json!(40))
    );
    let (enc, w) = encode(&req, "claude-sonnet-4-5");
    assert_eq!(enc["temperature"], 0.7);
    assert!(enc.get("top_p").is_none());
    assert!(w.iter().any(|w| w.contains("top_p")));

    req.seed = Some(1);
    req.frequency_penalty = Some(0.1);
    let (_, w) = encode(&req, "m");
    assert!(w.iter().any(|w| w.contains("seed")));
    assert!(w.iter().any(|w| w.contains("frequency_penalty")));
}

#[test]
fn thinking_off_where_anthropic_would_reject_it() {
    // Forced tool choice.
    let mut req = with_reasoning(Reasoning {
        budget_tokens: Some(2000),
        ..Default::default()
    });
    req.tools = vec![Tool {
        name: "f".into(),
        description: None,
        parameters: json!({"type": "object"}),
        strict: None,
    }];
    req.tool_choice = Some(ToolChoice::Required);
    let (enc, w) = encode(&req, "m");
    assert!(enc.get("thinking").is_none());
    assert_eq!(enc["tool_choice"]["type"], "any");
    assert!(w.iter().any(|w| w.contains("forced tool choice")));

    // A tool loop whose assistant turn has no signed thinking (history from another format).
    req.tool_choice = None;
    req.messages = vec![
        user(vec![text("go")]),
        assistant(vec![reasoning("unsigned", None), call("c", "f", "{}")]),
        user(vec![result("c", vec![text("done")])]),
    ];
    let (enc, w) = encode(&req, "m");
    assert!(enc.get("thinking").is_none());
    assert!(w.iter().any(|w| w.contains("thinking omitted")));

    // With the signature kept, thinking stays.
    req.messages[1] = assistant(vec![reasoning("signed", Some("s")), call("c", "f", "{}")]);
    let (enc, _) = encode(&req, "m");
    assert_eq!(enc["thinking"]["type"], "enabled");
}

#[test]
fn stop_metadata_stream_and_prefill_trim() {
    let mut req = hello();
    req.messages.push(assistant(vec![text("Sure:  \n")]));
    req.stop = vec!["END".into()];
    req.user = Some("u".into());
    req.stream = true;
    req.max_tokens = Some(77);
    let (enc, _) = encode(&req, "claude-haiku-4-5");
    assert_eq!(enc["model"], "claude-haiku-4-5");
    assert_eq!(enc["max_tokens"], 77);
    assert_eq!(enc["stop_sequences"], json!(["END"]));
    assert_eq!(enc["metadata"], json!({"user_id": "u"}));
    assert_eq!(enc["stream"], true);
    assert_eq!(enc["messages"][1]["content"][0]["text"], "Sure:");
}
