//! Every recorded OpenAI chat client request decodes with the facts intact, survives a
//! decode → encode → decode round trip, and every recorded response stream decodes.

use std::collections::HashSet;

use omniroute_format_openai::OpenAiCodec;
use omniroute_ir::{Codec, FinishReason, Part, Role, StreamEnd, StreamEvent, ToolChoice};
use serde_json::Value;

use crate::support::{decode_stream, encode_events, fixture, openai_chat_fixtures, texts};

fn decode(v: &Value) -> omniroute_ir::ChatRequest {
    OpenAiCodec
        .decode_request(serde_json::to_vec(&v["body"]).unwrap().as_slice())
        .unwrap()
}

#[test]
fn there_are_fixtures() {
    let all = openai_chat_fixtures();
    assert!(all.len() >= 10, "found {} fixtures", all.len());
}

#[test]
fn every_fixture_request_decodes_with_its_facts() {
    for (name, v) in openai_chat_fixtures() {
        let body = &v["body"];
        let req = decode(&v);
        assert!(req.warnings.is_empty(), "{name}: {:?}", req.warnings);
        assert_eq!(req.model, body["model"].as_str().unwrap(), "{name}");
        assert_eq!(
            req.stream,
            body["stream"].as_bool().unwrap_or(false),
            "{name}"
        );
        assert_eq!(req.max_tokens, body["max_tokens"].as_u64(), "{name}");

        // system text present, in order
        let msgs = body["messages"].as_array().unwrap();
        let systems: Vec<&str> = msgs
            .iter()
            .filter(|m| m["role"] == "system" || m["role"] == "developer")
            .map(|m| m["content"].as_str().unwrap())
            .collect();
        assert!(!systems.is_empty(), "{name}");
        assert_eq!(req.system, systems, "{name}");

        // tools: all function tools kept with their schemas
        let tools = body["tools"].as_array().cloned().unwrap_or_default();
        assert_eq!(req.tools.len(), tools.len(), "{name}");
        for (t, w) in req.tools.iter().zip(&tools) {
            assert_eq!(t.name, w["function"]["name"].as_str().unwrap());
            assert_eq!(
                t.parameters, w["function"]["parameters"],
                "{name} {}",
                t.name
            );
            assert_eq!(
                t.description.as_deref(),
                w["function"]["description"].as_str()
            );
        }
        if body.get("tool_choice").is_some() {
            assert_eq!(req.tool_choice, Some(ToolChoice::Auto), "{name}");
        }

        // every tool result answers an earlier call, by id, with the call's name
        let mut calls = std::collections::HashMap::new();
        let mut results = 0;
        for m in &req.messages {
            for p in &m.content {
                match p {
                    Part::ToolCall { id, name, .. } => {
                        assert_eq!(m.role, Role::Assistant);
                        calls.insert(id.clone(), name.clone());
                    }
                    Part::ToolResult { call_id, name, .. } => {
                        assert_eq!(m.role, Role::User);
                        assert_eq!(calls.get(call_id), name.as_ref(), "{name:?} {call_id}");
                        results += 1;
                    }
                    _ => {}
                }
            }
        }
        let wire_results = msgs.iter().filter(|m| m["role"] == "tool").count();
        assert_eq!(results, wire_results, "{name}");
        for m in msgs.iter().filter(|m| m["role"] == "tool") {
            assert!(
                calls.contains_key(m["tool_call_id"].as_str().unwrap()),
                "{name}"
            );
        }
        // one IR message per non-system wire message (no consecutive tool messages here)
        assert_eq!(req.messages.len(), msgs.len() - systems.len(), "{name}");
    }
}

#[test]
fn opencode_tool_call_with_empty_content() {
    let req = decode(&fixture(
        "opencode/tool-read-openai-compatible/003-openai_chat.json",
    ));
    assert_eq!(req.messages.len(), 3);
    let assistant = &req.messages[1];
    assert_eq!(assistant.role, Role::Assistant);
    // content "" adds no empty text part
    assert_eq!(
        assistant.content,
        vec![Part::ToolCall {
            id: "call_reca8f1b1350cde44f29e32f861".into(),
            name: "read".into(),
            arguments: r#"{"filePath":"/home/user/project/fixture.txt"}"#.into(),
            signature: None,
        }]
    );
    let Part::ToolResult {
        call_id,
        name,
        content,
        is_error,
    } = &req.messages[2].content[0]
    else {
        panic!("expected a tool result: {:?}", req.messages[2]);
    };
    assert_eq!(call_id, "call_reca8f1b1350cde44f29e32f861");
    assert_eq!(name.as_deref(), Some("read"));
    assert!(!is_error);
    let [Part::Text { text }] = content.as_slice() else {
        panic!("{content:?}")
    };
    assert!(text.contains("The secret word is PINEAPPLE-42"));
    assert!(req.system[0].starts_with("You are opencode"));
}

#[test]
fn qwen_tool_result_as_array_of_text_parts() {
    let req = decode(&fixture("qwen-code/tool-read-openai/002-openai_chat.json"));
    let last = req.messages.last().unwrap();
    assert_eq!(last.role, Role::User);
    assert_eq!(
        last.content,
        vec![Part::ToolResult {
            call_id: "call_rec5c14fd4a8fc04cbdb0b09827".into(),
            name: Some("read_file".into()),
            content: vec![Part::Text {
                text: "The secret word is PINEAPPLE-42. Second line.\n".into()
            }],
            is_error: false,
        }]
    );
    // content: null on the tool-call message
    let call = &req.messages[req.messages.len() - 2];
    assert_eq!(call.role, Role::Assistant);
    assert!(matches!(&call.content[..], [Part::ToolCall { name, .. }] if name == "read_file"));
    // user content arrays of text parts are text
    assert!(
        matches!(&req.messages[0].content[..], [Part::Text { text }] if text.starts_with("This is the Qwen Code"))
    );
}

#[test]
fn qwen_empty_tool_result_has_no_content() {
    let req = decode(&fixture(
        "qwen-code/hello-openai-with-auto-memory/003-openai_chat.json",
    ));
    let last = req.messages.last().unwrap();
    assert!(matches!(
        &last.content[..],
        [Part::ToolResult { call_id, content, .. }] if call_id == "call_rec6e426828382b4725bbfedac2" && content.is_empty()
    ));
}

#[test]
fn every_fixture_round_trips_through_encode_request() {
    for (name, v) in openai_chat_fixtures() {
        let req = decode(&v);
        let (body, warnings) = OpenAiCodec
            .encode_request_with_warnings(&req, "gpt-4.1")
            .unwrap();
        assert!(warnings.is_empty(), "{name}: {warnings:?}");
        assert_eq!(body["model"], "gpt-4.1");
        assert_eq!(body["stream"], true, "{name}");
        assert_eq!(body["stream_options"]["include_usage"], true, "{name}");
        assert_eq!(body["max_tokens"], v["body"]["max_tokens"], "{name}");
        assert_eq!(body["messages"][0]["role"], "system");
        let wire_tools = v["body"].get("tools").cloned().unwrap_or(Value::Null);
        if wire_tools.as_array().is_some_and(|t| !t.is_empty()) {
            assert_eq!(
                body["tools"], wire_tools,
                "{name}: tools re-encode verbatim"
            );
        }
        // tool messages keep their call ids
        let ids = |msgs: &Value| -> Vec<String> {
            msgs.as_array()
                .unwrap()
                .iter()
                .filter(|m| m["role"] == "tool")
                .map(|m| m["tool_call_id"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(
            ids(&body["messages"]),
            ids(&v["body"]["messages"]),
            "{name}"
        );

        let again = OpenAiCodec
            .decode_request(&serde_json::to_vec(&body).unwrap())
            .unwrap();
        assert_eq!(again.system.join("\n\n"), req.system.join("\n\n"), "{name}");
        assert_eq!(again.messages, req.messages, "{name}");
        assert_eq!(again.tools, req.tools, "{name}");
        assert_eq!(again.tool_choice, req.tool_choice, "{name}");
        assert_eq!(again.max_tokens, req.max_tokens, "{name}");
        assert_eq!(again.stream, req.stream, "{name}");
    }
}

#[test]
fn every_fixture_response_stream_decodes_and_reencodes() {
    for (name, v) in openai_chat_fixtures() {
        let resp = &v["response"];
        assert_eq!(resp["stream"], true, "{name}");
        let events = decode_stream(resp["body"].as_str().unwrap());
        assert!(
            matches!(&events[0], StreamEvent::Start { id: Some(id), model: Some(_) } if id.starts_with("chatcmpl-")),
            "{name}"
        );
        let starts = events
            .iter()
            .filter(|e| matches!(e, StreamEvent::Start { .. }))
            .count();
        assert_eq!(starts, 1);
        let plan = &resp["plan"];
        let finish = events.iter().find_map(|e| match e {
            StreamEvent::Finish { reason } => Some(reason.clone()),
            _ => None,
        });
        match plan["kind"].as_str().unwrap() {
            "text" => {
                // the recorded body (the plan's text was rewritten on the way)
                let mut expect = String::new();
                for line in resp["body"].as_str().unwrap().lines() {
                    let Some(data) = line.strip_prefix("data: ") else {
                        continue;
                    };
                    if let Ok(c) = serde_json::from_str::<Value>(data) {
                        if let Some(t) = c
                            .pointer("/choices/0/delta/content")
                            .and_then(Value::as_str)
                        {
                            expect.push_str(t);
                        }
                    }
                }
                assert!(expect.starts_with("RECORDER_"), "{name}");
                assert_eq!(texts(&events).1, expect, "{name}");
                assert_eq!(finish, Some(FinishReason::Stop), "{name}");
            }
            "tool" => {
                let (mut call_name, mut args) = (String::new(), String::new());
                for e in &events {
                    match e {
                        StreamEvent::ToolCallStart { index: 0, name, .. } => {
                            call_name = name.clone()
                        }
                        StreamEvent::ToolCallArgs { index: 0, fragment } => args.push_str(fragment),
                        _ => {}
                    }
                }
                assert_eq!(call_name, plan["name"].as_str().unwrap(), "{name}");
                let args: Value = serde_json::from_str(&args).unwrap();
                assert_eq!(
                    args.as_object().unwrap().len(),
                    plan["args"].as_object().unwrap().len()
                );
                assert_eq!(finish, Some(FinishReason::ToolCalls), "{name}");
            }
            other => panic!("{name}: plan {other}"),
        }
        assert!(events.iter().any(|e| matches!(e, StreamEvent::Usage { usage } if usage.input_tokens.is_some() && usage.output_tokens.is_some())));

        // IR → client stream → IR keeps every event but the ids
        let wire = encode_events(&events, true, StreamEnd::Complete);
        let again = decode_stream(&wire);
        let strip = |evs: &[StreamEvent]| -> Vec<StreamEvent> {
            evs.iter()
                .filter(|e| !matches!(e, StreamEvent::Start { .. }))
                .cloned()
                .collect()
        };
        assert_eq!(strip(&again), strip(&events), "{name}");
        let mut seen = HashSet::new();
        assert!(again.iter().all(
            |e| !matches!(e, StreamEvent::ToolCallStart { index, .. } if !seen.insert(*index))
        ));
    }
}
