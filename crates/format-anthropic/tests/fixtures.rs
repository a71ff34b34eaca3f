//! Real client requests (`shared/fixtures/clients/*/*/*anthropic_messages*.json`): every one
//! decodes, the facts each client relies on survive decoding, and encode(decode(x)) keeps the
//! conversation, tools and thinking signatures. The recorded (streamed) answers feed the stream
//! decoder.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use omniroute_format_anthropic::AnthropicCodec;
use omniroute_ir::{
    ChatRequest, Codec, FinishReason, Part, ResponseFormat, Role, StreamEvent, ToolChoice,
};
use omniroute_protocol::sse::SseParser;
use serde_json::{json, Value};

const CLIENTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/fixtures/clients"
);

fn fixture_paths() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for client in std::fs::read_dir(CLIENTS).unwrap() {
        let client = client.unwrap().path();
        if !client.is_dir() {
            continue;
        }
        for scenario in std::fs::read_dir(&client).unwrap() {
            let scenario = scenario.unwrap().path();
            if !scenario.is_dir() {
                continue;
            }
            for f in std::fs::read_dir(&scenario).unwrap() {
                let f = f.unwrap().path();
                let name = f.file_name().unwrap().to_string_lossy().into_owned();
                if name.contains("anthropic_messages") && name.ends_with(".json") {
                    out.push(f);
                }
            }
        }
    }
    out.sort();
    out
}

fn load(rel: &str) -> Value {
    let p = Path::new(CLIENTS).join(rel);
    serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap()
}

fn body_bytes(fixture: &Value) -> Vec<u8> {
    serde_json::to_vec(&fixture["body"]).unwrap()
}

fn decode(rel: &str) -> (Value, ChatRequest) {
    let f = load(rel);
    let req = AnthropicCodec.decode_request(&body_bytes(&f)).unwrap();
    (f, req)
}

fn decode_stream(body: &[u8]) -> Vec<StreamEvent> {
    decode_stream_chunks(&[body])
}

fn decode_stream_chunks(chunks: &[&[u8]]) -> Vec<StreamEvent> {
    let mut parser = SseParser::default();
    let mut dec = AnthropicCodec.stream_decoder();
    let mut out = Vec::new();
    for c in chunks {
        parser
            .push(c, |ev| dec.push(&ev, &mut out).unwrap())
            .unwrap();
    }
    parser.finish(|ev| dec.push(&ev, &mut out).unwrap());
    dec.finish(&mut out);
    out
}

#[test]
fn every_anthropic_fixture_decodes() {
    let paths = fixture_paths();
    assert!(paths.len() >= 14, "found {} fixtures", paths.len());
    for p in &paths {
        let f: Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
        let req = AnthropicCodec
            .decode_request(&body_bytes(&f))
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let body = &f["body"];
        assert_eq!(req.model, body["model"].as_str().unwrap());
        assert_eq!(req.max_tokens, body["max_tokens"].as_u64());
        assert_eq!(req.stream, body["stream"].as_bool().unwrap_or(false));
        let custom_tools = body["tools"]
            .as_array()
            .map_or(0, |t| t.iter().filter(|t| t.get("type").is_none()).count());
        assert_eq!(req.tools.len(), custom_tools, "{}", p.display());
        assert!(!req.messages.is_empty());
        assert_eq!(req.messages[0].role, Role::User);
    }
}

#[test]
fn claude_code_hello_facts() {
    let (f, req) = decode("claude-code/hello/001-anthropic_messages.json");
    let body = &f["body"];
    // The billing header block stays first in the system prompt; the other two follow, then
    // the mid-conversation `role: system` message.
    assert!(req.system[0].starts_with("x-anthropic-billing-header:"));
    assert_eq!(req.system[1], body["system"][1]["text"].as_str().unwrap());
    assert_eq!(req.system.len(), 4);
    assert!(req.system[3].starts_with("Available agent types"));
    assert!(req.warnings.iter().any(|w| w.contains("messages[1]")));
    assert!(req
        .warnings
        .iter()
        .any(|w| w.contains("context_management")));

    let r = req.reasoning.as_ref().unwrap();
    assert!(r.adaptive);
    assert_eq!(r.effort.as_deref(), Some("high"));
    assert_eq!(req.max_tokens, Some(64000));
    assert!(req.user.as_deref().unwrap().starts_with("{\"device_id\""));

    // Tool schemas are kept verbatim ($schema, exclusiveMinimum, propertyNames ...).
    for (tool, raw) in req.tools.iter().zip(body["tools"].as_array().unwrap()) {
        assert_eq!(tool.name, raw["name"].as_str().unwrap());
        assert_eq!(tool.parameters, raw["input_schema"]);
        assert_eq!(tool.description.as_deref(), raw["description"].as_str());
    }
    let read = req.tools.iter().find(|t| t.name == "Read").unwrap();
    assert_eq!(
        read.parameters["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(
        read.parameters["properties"]["limit"]["exclusiveMinimum"],
        0
    );

    // Two user text blocks (system reminder + prompt) in one message.
    assert_eq!(req.messages.len(), 1);
    assert_eq!(req.messages[0].content.len(), 2);
}

#[test]
fn claude_code_tool_read_keeps_signatures_and_results() {
    let (f, req) = decode("claude-code/tool-read/002-anthropic_messages.json");
    let body = &f["body"];
    let raw_assistant = &body["messages"][2]["content"];
    let assistant = &req.messages[1];
    assert_eq!(assistant.role, Role::Assistant);
    match &assistant.content[0] {
        Part::Reasoning {
            text, signature, ..
        } => {
            assert_eq!(text, "I should read the file.");
            assert_eq!(signature.as_deref(), raw_assistant[0]["signature"].as_str());
        }
        other => panic!("expected reasoning, got {other:?}"),
    }
    let call_id = match &assistant.content[1] {
        Part::ToolCall {
            id,
            name,
            arguments,
            ..
        } => {
            assert_eq!(name, "Read");
            let args: Value = serde_json::from_str(arguments).unwrap();
            assert_eq!(args, raw_assistant[1]["input"]);
            id.clone()
        }
        other => panic!("expected tool call, got {other:?}"),
    };
    // The tool result carries cache_control in the request; it is ignored.
    match &req.messages[2].content[0] {
        Part::ToolResult {
            call_id: c,
            name,
            content,
            is_error,
        } => {
            assert_eq!(c, &call_id);
            assert_eq!(name.as_deref(), Some("Read"));
            assert!(!is_error);
            assert_eq!(
                content,
                &vec![Part::Text {
                    text: "1\tThe secret word is PINEAPPLE-42. Second line.\n2\t".into()
                }]
            );
        }
        other => panic!("expected tool result, got {other:?}"),
    }

    // Upstream body: the signed thinking block goes back first and unchanged, the ids match.
    let (enc, _) = AnthropicCodec
        .encode_request_with_warnings(&req, "claude-opus-4-8")
        .unwrap();
    let msgs = enc["messages"].as_array().unwrap();
    assert_eq!(msgs[1]["content"][0], raw_assistant[0]);
    assert_eq!(msgs[1]["content"][1]["id"], raw_assistant[1]["id"]);
    assert_eq!(msgs[2]["content"][0]["tool_use_id"], raw_assistant[1]["id"]);
    assert_eq!(enc["thinking"], json!({"type": "adaptive"}));
    assert_eq!(enc["output_config"], json!({"effort": "high"}));
}

#[test]
fn claude_code_title_request_structured_output_and_disabled_thinking() {
    let (f, req) = decode("claude-code/interactive-tmux/001-anthropic_messages.json");
    let r = req.reasoning.as_ref().unwrap();
    assert!(r.disabled);
    assert_eq!(r.effort.as_deref(), Some("high"));
    match &req.response_format {
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            assert_eq!(schema, &f["body"]["output_config"]["format"]["schema"]);
        }
        other => panic!("expected a json schema, got {other:?}"),
    }
    let enc = AnthropicCodec
        .encode_request(&req, "claude-opus-4-8")
        .unwrap();
    assert_eq!(enc["thinking"], json!({"type": "disabled"}));
    assert_eq!(enc["output_config"], f["body"]["output_config"]);
}

#[test]
fn opencode_eager_input_streaming_and_cache_control_are_ignored() {
    let (f, req) = decode("opencode/tool-read-anthropic/002-anthropic_messages.json");
    assert!(f["body"]["tools"][0]["eager_input_streaming"]
        .as_bool()
        .unwrap());
    assert_eq!(req.tools.len(), 10);
    assert!(req.warnings.is_empty(), "{:?}", req.warnings);
    assert_eq!(req.tool_choice, Some(ToolChoice::Auto));
    let enc = AnthropicCodec
        .encode_request(&req, "claude-sonnet-4-5")
        .unwrap();
    assert!(enc["tools"][0].get("eager_input_streaming").is_none());
    assert_eq!(enc["tool_choice"], json!({"type": "auto"}));

    let (_, req) = decode("opencode/tool-read-anthropic/003-anthropic_messages.json");
    assert!(matches!(
        &req.messages[1].content[0],
        Part::ToolCall { name, .. } if name == "read"
    ));
    assert!(matches!(
        &req.messages[2].content[0],
        Part::ToolResult { name: Some(n), .. } if n == "read"
    ));
}

#[test]
fn qwen_budget_above_max_tokens_is_kept_then_clamped() {
    let (_, req) = decode("qwen-code/tool-read-anthropic/002-anthropic_messages.json");
    let r = req.reasoning.as_ref().unwrap();
    assert_eq!(r.budget_tokens, Some(32000));
    assert_eq!(req.max_tokens, Some(8000));
    assert_eq!(req.temperature, Some(1.0));
    let (enc, warnings) = AnthropicCodec
        .encode_request_with_warnings(&req, "claude-sonnet-4-5")
        .unwrap();
    assert_eq!(enc["max_tokens"], 8000);
    assert_eq!(
        enc["thinking"],
        json!({"type": "enabled", "budget_tokens": 7999})
    );
    // temperature 1 is allowed with thinking.
    assert_eq!(enc["temperature"], 1.0);
    assert!(
        warnings.iter().any(|w| w.contains("clamped")),
        "{warnings:?}"
    );
    // The signed thinking of the tool turn goes back first.
    assert_eq!(enc["messages"][3]["content"][0]["type"], "thinking");
}

#[test]
fn encode_decode_round_trip_keeps_conversation_tools_and_signatures() {
    for p in fixture_paths() {
        let f: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        let req = AnthropicCodec.decode_request(&body_bytes(&f)).unwrap();
        let model = req.model.clone();
        let enc = AnthropicCodec.encode_request(&req, &model).unwrap();
        let again = AnthropicCodec
            .decode_request(&serde_json::to_vec(&enc).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let name = p.display();
        assert_eq!(again.messages, req.messages, "{name}");
        assert_eq!(again.tools, req.tools, "{name}");
        assert_eq!(again.system, req.system, "{name}");
        assert_eq!(again.tool_choice, req.tool_choice, "{name}");
        assert_eq!(again.user, req.user, "{name}");
        assert_eq!(again.response_format, req.response_format, "{name}");
        // Every signature the client echoed is still there.
        let sigs = |r: &ChatRequest| -> Vec<String> {
            r.messages
                .iter()
                .flat_map(|m| &m.content)
                .filter_map(|p| match p {
                    Part::Reasoning { signature, .. } => signature.clone(),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(sigs(&again), sigs(&req), "{name}");
        if req.max_tokens.unwrap_or(0)
            > req
                .reasoning
                .as_ref()
                .and_then(|r| r.budget_tokens)
                .unwrap_or(0)
        {
            assert_eq!(again.reasoning, req.reasoning, "{name}");
        }
    }
}

#[test]
fn recorded_streams_decode() {
    for p in fixture_paths() {
        let f: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        let body = f["response"]["body"].as_str().unwrap();
        let events = decode_stream(body.as_bytes());
        let name = p.display();
        assert!(matches!(events[0], StreamEvent::Start { .. }), "{name}");
        let plan = &f["response"]["plan"];
        let text: String = events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::TextDelta { text } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        let finish = events.iter().find_map(|e| match e {
            StreamEvent::Finish { reason } => Some(reason.clone()),
            _ => None,
        });
        match plan["kind"].as_str().unwrap() {
            "text" => {
                assert!(!text.is_empty(), "{name}");
                assert_eq!(finish, Some(FinishReason::Stop), "{name}");
            }
            "tool" => {
                assert_eq!(finish, Some(FinishReason::ToolCalls), "{name}");
                let start = events.iter().find_map(|e| match e {
                    StreamEvent::ToolCallStart { index, name, .. } => Some((*index, name.clone())),
                    _ => None,
                });
                assert_eq!(
                    start.map(|s| s.1).as_deref(),
                    plan["name"].as_str(),
                    "{name}"
                );
                let args: String = events
                    .iter()
                    .filter_map(|e| match e {
                        StreamEvent::ToolCallArgs { index: 0, fragment } => Some(fragment.as_str()),
                        _ => None,
                    })
                    .collect();
                let args: Value = serde_json::from_str(&args).unwrap();
                assert!(args.is_object(), "{name}");
            }
            other => panic!("{name}: unknown plan {other}"),
        }
        let usage = events.iter().rev().find_map(|e| match e {
            StreamEvent::Usage { usage } => Some(*usage),
            _ => None,
        });
        assert_eq!(usage.unwrap().output_tokens, Some(12), "{name}");
    }
}

#[test]
fn recorded_tool_streams_decode_the_same_at_every_split() {
    for p in fixture_paths() {
        let f: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        if f["response"]["plan"]["kind"] != "tool" {
            continue;
        }
        let bytes = f["response"]["body"].as_str().unwrap().as_bytes();
        let whole = decode_stream(bytes);
        for i in 0..=bytes.len() {
            assert_eq!(
                decode_stream_chunks(&[&bytes[..i], &bytes[i..]]),
                whole,
                "{} split at {i}",
                p.display()
            );
        }
    }
}
