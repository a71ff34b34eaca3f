//! Request decoding against the real client fixtures (Codex, OpenCode), encoding for an
//! upstream, and the round trip between the two.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{fixture, responses_fixtures};
use omniroute_format_responses::common::client_tool_name;
use omniroute_format_responses::ResponsesCodec;
use omniroute_ir::{
    ChatRequest, Codec, ImageSource, Message, Part, Reasoning, ResponseFormat, Role, Tool,
    ToolChoice,
};
use serde_json::{json, Value};

fn decode(body: &Value) -> ChatRequest {
    ResponsesCodec
        .decode_request(&serde_json::to_vec(body).unwrap())
        .unwrap()
}

fn decode_err(body: &Value) -> String {
    ResponsesCodec
        .decode_request(&serde_json::to_vec(body).unwrap())
        .unwrap_err()
        .0
}

fn texts(m: &Message) -> Vec<&str> {
    m.content
        .iter()
        .filter_map(|p| match p {
            Part::Text { text } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn every_fixture_decodes_and_survives_a_round_trip() {
    let all = responses_fixtures();
    assert_eq!(
        all.len(),
        6,
        "fixtures found: {:?}",
        all.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for (name, rec) in &all {
        let body = &rec["body"];
        let req = decode(body);
        assert_eq!(req.model, body["model"].as_str().unwrap(), "{name}");
        assert!(req.stream, "{name}");
        assert!(!req.system.is_empty(), "{name}: developer message → system");
        assert!(!req.messages.is_empty(), "{name}");
        assert_eq!(
            req.reasoning.as_ref().unwrap().include_thoughts,
            Some(true),
            "{name}"
        );

        // encode → decode keeps the conversation and the tools exactly.
        let up = ResponsesCodec
            .encode_request(&req, "upstream-model")
            .unwrap();
        assert_eq!(up["model"], "upstream-model");
        assert_eq!(up["store"], false);
        assert_eq!(up["include"], json!(["reasoning.encrypted_content"]));
        let again = decode(&up);
        assert_eq!(again.messages, req.messages, "{name}");
        assert_eq!(again.tools, req.tools, "{name}");
        assert_eq!(again.system.join("\n\n"), req.system.join("\n\n"), "{name}");
        assert_eq!(again.tool_choice, req.tool_choice, "{name}");
        assert_eq!(again.max_tokens, req.max_tokens, "{name}");
        assert_eq!(again.reasoning, req.reasoning, "{name}");
        assert_eq!(again.parallel_tool_calls, req.parallel_tool_calls, "{name}");

        // Every input item is accounted for: kept, or merged, or moved to system.
        let items = body["input"].as_array().unwrap();
        let kept: usize = req.messages.iter().map(|m| m.content.len()).sum();
        let dev = items
            .iter()
            .filter(|i| matches!(i["role"].as_str(), Some("developer" | "system")))
            .count();
        assert!(kept + dev >= items.len(), "{name}: an item was lost");
    }
}

#[test]
fn codex_hello() {
    let req = decode(&fixture("codex/hello/001-openai_responses.json")["body"]);
    assert_eq!(req.model, "gpt-5-codex");
    // Two developer messages, the second with two parts: one system block per part, in order.
    assert_eq!(req.system.len(), 3);
    assert!(req.system[0].starts_with("You are a coding agent running in the Codex CLI"));
    assert!(req.system[1].starts_with("<skills_instructions>"));
    assert!(req.system[2].starts_with("<permissions instructions>"));
    // The two user items merge into one user message.
    assert_eq!(req.messages.len(), 1);
    assert_eq!(req.messages[0].role, Role::User);
    let t = texts(&req.messages[0]);
    assert_eq!(t.len(), 2);
    assert!(t[0].starts_with("<environment_context>"));
    assert_eq!(t[1], "Say hello");

    // 7 plain functions + 5 from the namespace; web_search dropped.
    let names: Vec<&str> = req.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(req.tools.len(), 12, "{names:?}");
    for n in [
        "exec_command",
        "write_stdin",
        "view_image",
        "get_goal",
        "update_goal",
    ] {
        assert!(names.contains(&n), "{n}");
    }
    for n in [
        "close_agent",
        "resume_agent",
        "send_input",
        "spawn_agent",
        "wait_agent",
    ] {
        let flat = format!("multi_agent_v1__{n}");
        assert!(names.contains(&flat.as_str()), "{flat}");
        // The flat name maps back to the namespace for the client.
        assert_eq!(
            client_tool_name(&flat),
            (Some("multi_agent_v1".to_string()), n.to_string())
        );
    }
    assert!(!names.iter().any(|n| n.contains("web_search")));
    let exec = req.tools.iter().find(|t| t.name == "exec_command").unwrap();
    assert_eq!(exec.strict, Some(false));
    assert_eq!(exec.parameters["type"], "object");
    assert!(exec
        .description
        .as_deref()
        .unwrap()
        .starts_with("Runs a command"));
    assert!(req
        .warnings
        .iter()
        .any(|w| w.contains("namespace `multi_agent_v1`")));
    assert!(req
        .warnings
        .iter()
        .any(|w| w.contains("`web_search` tool dropped")));

    assert_eq!(req.tool_choice, Some(ToolChoice::Auto));
    assert_eq!(req.parallel_tool_calls, Some(true));
    assert_eq!(
        req.reasoning,
        Some(Reasoning {
            effort: Some("medium".into()),
            summary: Some("auto".into()),
            include_thoughts: Some(true),
            ..Default::default()
        })
    );
    assert!(req.stream);
    assert_eq!(req.max_tokens, None);
}

#[test]
fn codex_tool_round_trip_history() {
    let body = &fixture("codex/tool-read/002-openai_responses.json")["body"];
    let req = decode(body);
    assert_eq!(req.messages.len(), 3);
    let (u, a, r) = (&req.messages[0], &req.messages[1], &req.messages[2]);
    assert_eq!(u.role, Role::User);
    assert_eq!(a.role, Role::Assistant);
    assert_eq!(r.role, Role::User);
    assert_eq!(
        a.content[0],
        Part::Reasoning {
            text: "Reading the requested file.".into(),
            signature: None,
            redacted: None,
            encrypted: Some("cmVjb3JkZXItZW5jcnlwdGVkLT/fyBnoHE3jj5NDb0X1lTY=".into()),
            id: Some("rs_rec3087be3eeb8849d1a6a14f54".into()),
        }
    );
    assert_eq!(
        a.content[1],
        Part::ToolCall {
            id: "call_rec80417de5fbdb473ba27eda0c".into(),
            name: "exec_command".into(),
            arguments: "{\"cmd\": \"cat /home/user/project/fixture.txt\"}".into(),
            signature: None,
        }
    );
    match &r.content[0] {
        Part::ToolResult {
            call_id,
            name,
            content,
            is_error,
        } => {
            assert_eq!(call_id, "call_rec80417de5fbdb473ba27eda0c");
            assert_eq!(name.as_deref(), Some("exec_command"));
            assert!(!is_error);
            match &content[0] {
                Part::Text { text } => assert!(text.contains("PINEAPPLE-42")),
                other => panic!("{other:?}"),
            }
        }
        other => panic!("{other:?}"),
    }

    // Upstream body: the items and their ids come back out unchanged.
    let up = ResponsesCodec.encode_request(&req, "gpt-5").unwrap();
    assert!(up["instructions"]
        .as_str()
        .unwrap()
        .starts_with("You are a coding agent"));
    let input = up["input"].as_array().unwrap();
    assert_eq!(input.len(), 4, "{input:#?}");
    assert_eq!(input[0]["type"], "message");
    assert_eq!(input[0]["role"], "user");
    assert_eq!(input[0]["content"][1]["type"], "input_text");
    let orig = body["input"].as_array().unwrap();
    assert_eq!(input[1]["type"], "reasoning");
    assert_eq!(input[1]["id"], orig[4]["id"]);
    assert_eq!(input[1]["encrypted_content"], orig[4]["encrypted_content"]);
    assert_eq!(input[1]["summary"], orig[4]["summary"]);
    assert_eq!(input[2]["type"], "function_call");
    for k in ["call_id", "name", "arguments"] {
        assert_eq!(input[2][k], orig[5][k], "{k}");
    }
    assert_eq!(input[3]["type"], "function_call_output");
    assert_eq!(input[3]["call_id"], orig[6]["call_id"]);
    assert_eq!(input[3]["output"], orig[6]["output"]);
    // Function tools with explicit strictness; the namespace is flat upstream.
    let tools = up["tools"].as_array().unwrap();
    assert!(tools
        .iter()
        .all(|t| t["type"] == "function" && t["strict"] == false));
    assert!(tools
        .iter()
        .any(|t| t["name"] == "multi_agent_v1__spawn_agent"));
    assert_eq!(
        up["reasoning"],
        json!({"effort": "medium", "summary": "auto"})
    );
    assert_eq!(up["tool_choice"], "auto");
    assert_eq!(up["parallel_tool_calls"], true);
    assert_eq!(up["stream"], true);
}

#[test]
fn opencode_title_and_reasoning_without_id() {
    let title = decode(&fixture("opencode/tool-read-responses/001-openai_responses.json")["body"]);
    assert!(title.system[0].starts_with("You are a title generator"));
    assert_eq!(title.max_tokens, Some(32000));
    assert_eq!(title.messages.len(), 1);
    assert_eq!(texts(&title.messages[0]).len(), 2);
    // No reasoning object, but include asks for encrypted reasoning.
    assert_eq!(
        title.reasoning,
        Some(Reasoning {
            include_thoughts: Some(true),
            ..Default::default()
        })
    );
    assert_eq!(title.tools, Vec::<Tool>::new());

    let body = &fixture("opencode/tool-read-responses/003-openai_responses.json")["body"];
    let req = decode(body);
    assert_eq!(req.tools.len(), 9);
    assert!(req.warnings.is_empty(), "{:?}", req.warnings);
    let a = &req.messages[1];
    assert_eq!(a.role, Role::Assistant);
    match &a.content[0] {
        Part::Reasoning {
            id,
            encrypted,
            text,
            ..
        } => {
            assert_eq!(id, &None);
            assert_eq!(
                encrypted.as_deref(),
                Some("cmVjb3JkZXItZW5jcnlwdGVkLds2vvjxQUEti2VmTeE5tiQ=")
            );
            assert_eq!(text, "Reading the requested file.");
        }
        other => panic!("{other:?}"),
    }
    match &a.content[1] {
        Part::ToolCall { id, name, .. } => {
            assert_eq!(id, "call_rec93c06a0f64f9484286b327c3");
            assert_eq!(name, "read");
        }
        other => panic!("{other:?}"),
    }
    let up = ResponsesCodec.encode_request(&req, "gpt-5").unwrap();
    let reasoning = &up["input"][1];
    assert_eq!(reasoning["type"], "reasoning");
    assert!(reasoning.get("id").is_none(), "no invented id: {reasoning}");
    assert_eq!(up["max_output_tokens"], 32000);
}

#[test]
fn string_input_instructions_and_options() {
    let req = decode(&json!({
        "model": "gpt-4.1",
        "instructions": "Be brief.",
        "input": "Hi",
        "max_output_tokens": 100,
        "temperature": 0.5,
        "top_p": 0.9,
        "tool_choice": {"type": "function", "name": "get_weather"},
        "text": {"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}, "strict": true}},
        "store": true, "truncation": "auto", "service_tier": "auto", "metadata": {"a": "b"},
        "prompt_cache_key": "k", "user": "u-1", "previous_response_id": null,
    }));
    assert_eq!(req.system, vec!["Be brief."]);
    assert_eq!(
        req.messages,
        vec![Message {
            role: Role::User,
            content: vec![Part::Text { text: "Hi".into() }]
        }]
    );
    assert_eq!(req.max_tokens, Some(100));
    assert_eq!(req.temperature, Some(0.5));
    assert_eq!(req.top_p, Some(0.9));
    assert_eq!(
        req.tool_choice,
        Some(ToolChoice::Tool {
            name: "get_weather".into()
        })
    );
    assert_eq!(
        req.response_format,
        Some(ResponseFormat::JsonSchema {
            name: "out".into(),
            schema: json!({"type": "object"}),
            strict: Some(true)
        })
    );
    assert_eq!(req.user.as_deref(), Some("u-1"));
    assert!(!req.stream);
    assert!(req.reasoning.is_none());

    let up = ResponsesCodec.encode_request(&req, "m").unwrap();
    assert_eq!(up["instructions"], "Be brief.");
    assert_eq!(
        up["tool_choice"],
        json!({"type": "function", "name": "get_weather"})
    );
    assert_eq!(
        up["text"],
        json!({"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}, "strict": true}})
    );
    assert!(up.get("include").is_none(), "no reasoning asked");
    assert!(up.get("reasoning").is_none());
    assert_eq!(up["temperature"], 0.5);
}

#[test]
fn images_files_and_unsupported_items() {
    let req = decode(&json!({
        "model": "m",
        "input": [
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "look"},
                {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "high"},
                {"type": "input_image", "file_id": "file-1"},
                {"type": "input_file", "file_id": "file-2"},
            ]},
            {"type": "web_search_call", "id": "ws_1", "status": "completed"},
            {"type": "item_reference", "id": "msg_1"},
            {"type": "custom_tool_call", "call_id": "c1", "name": "apply_patch", "input": "x"},
            {"role": "assistant", "content": "Sure."},
            {"type": "function_call", "call_id": "c2", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c2", "output": [
                {"type": "input_text", "text": "done"},
                {"type": "input_image", "image_url": "https://x/y.png"},
            ]},
        ],
        "tools": [
            {"type": "function", "name": "f", "parameters": null},
            {"type": "file_search"}, {"type": "code_interpreter"}, {"type": "image_generation"},
            {"type": "local_shell"}, {"type": "computer_use_preview"}, {"type": "mcp"},
            {"type": "custom", "name": "apply_patch"},
        ],
    }));
    assert_eq!(req.messages.len(), 3);
    assert_eq!(
        req.messages[0].content[1],
        Part::Image {
            source: ImageSource::Url {
                url: "data:image/png;base64,AAAA".into(),
                detail: Some("high".into())
            }
        }
    );
    assert_eq!(req.messages[0].content.len(), 2);
    // Assistant text and its call merge.
    assert_eq!(req.messages[1].role, Role::Assistant);
    assert_eq!(req.messages[1].content.len(), 2);
    match &req.messages[2].content[0] {
        Part::ToolResult { name, content, .. } => {
            assert_eq!(name.as_deref(), Some("f"));
            assert_eq!(content.len(), 2);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(req.tools.len(), 1);
    assert_eq!(
        req.tools[0].parameters,
        json!({"type": "object", "properties": {}})
    );
    for w in [
        "file_id",
        "input_file",
        "web_search_call",
        "item_reference",
        "custom_tool_call",
        "file_search",
        "code_interpreter",
        "image_generation",
        "local_shell",
        "computer_use_preview",
        "`mcp`",
        "`custom`",
    ] {
        assert!(
            req.warnings.iter().any(|x| x.contains(w)),
            "warning for {w}: {:?}",
            req.warnings
        );
    }

    let up = ResponsesCodec.encode_request(&req, "m").unwrap();
    assert_eq!(
        up["input"][0]["content"][1]["image_url"],
        "data:image/png;base64,AAAA"
    );
    // A tool result with an image keeps it as input parts.
    let out = &up["input"][3]["output"];
    assert_eq!(out[0], json!({"type": "input_text", "text": "done"}));
    assert_eq!(out[1]["type"], "input_image");
}

#[test]
fn base64_images_budgets_and_namespaced_history() {
    let req = ChatRequest {
        model: "x".into(),
        messages: vec![
            Message {
                role: Role::User,
                content: vec![Part::Image {
                    source: ImageSource::Base64 {
                        media_type: "image/jpeg".into(),
                        data: "QUJD".into(),
                    },
                }],
            },
            Message {
                role: Role::Assistant,
                content: vec![
                    // Reasoning without encrypted content cannot go to a Responses upstream.
                    Part::Reasoning {
                        text: "hmm".into(),
                        signature: Some("sig".into()),
                        redacted: None,
                        encrypted: None,
                        id: None,
                    },
                    Part::Text { text: "ok".into() },
                ],
            },
        ],
        reasoning: Some(Reasoning {
            budget_tokens: Some(3000),
            ..Default::default()
        }),
        ..Default::default()
    };
    let up = ResponsesCodec.encode_request(&req, "m").unwrap();
    assert_eq!(
        up["input"][0]["content"][0]["image_url"],
        "data:image/jpeg;base64,QUJD"
    );
    assert_eq!(
        up["input"][1],
        json!({"type": "message", "role": "assistant",
        "content": [{"type": "output_text", "text": "ok"}]})
    );
    assert_eq!(up["reasoning"], json!({"effort": "medium"}));
    assert_eq!(up["include"], json!(["reasoning.encrypted_content"]));

    let off = ChatRequest {
        reasoning: Some(Reasoning {
            disabled: true,
            ..Default::default()
        }),
        ..Default::default()
    };
    let up = ResponsesCodec.encode_request(&off, "m").unwrap();
    assert!(up.get("reasoning").is_none() && up.get("include").is_none());

    // A history call made inside a namespace gets the flat name the tools list uses.
    let req = decode(&json!({
        "model": "m",
        "input": [
            {"type": "function_call", "call_id": "c9", "name": "js", "namespace": "mcp__node_repl", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c9", "output": "1"},
        ],
        "tools": [{"type": "namespace", "name": "mcp__node_repl", "description": "d",
                   "tools": [{"type": "function", "name": "js", "parameters": {"type": "object"}}]}],
        "reasoning": {"effort": "none"},
    }));
    assert_eq!(req.tools[0].name, "mcp__node_repl__js");
    match &req.messages[0].content[0] {
        Part::ToolCall { name, .. } => assert_eq!(name, "mcp__node_repl__js"),
        other => panic!("{other:?}"),
    }
    assert!(req.reasoning.as_ref().unwrap().disabled);
}

#[test]
fn malformed_bodies_name_the_field() {
    let e = ResponsesCodec.decode_request(b"[1,2]").unwrap_err().0;
    assert!(e.contains("object"), "{e}");
    let e = ResponsesCodec.decode_request(b"not json").unwrap_err().0;
    assert!(e.contains("JSON"), "{e}");
    assert!(decode_err(&json!({"model": "m"})).contains("input"));
    assert!(decode_err(&json!({"model": "m", "input": 5})).contains("input"));
    assert!(
        decode_err(&json!({"model": "m", "input": [{"type": "message", "content": "x"}]}))
            .contains("input[0].role")
    );
    assert!(decode_err(&json!({"model": "m", "input": [7]})).contains("input[0]"));
    assert!(decode_err(&json!({"model": "m", "input": "x", "tools": {}})).contains("tools"));
    assert!(decode_err(
        &json!({"model": "m", "input": [{"type": "function_call_output", "output": "x"}]})
    )
    .contains("call_id"));
    let e = decode_err(&json!({"model": "m", "input": "x", "previous_response_id": "resp_1"}));
    assert_eq!(
        e,
        "previous_response_id is not supported: send the full input"
    );
}
