//! Real Gemini client requests (Gemini CLI, Qwen Code in Gemini mode): decoded facts and
//! encode(decode(x)) keeping contents, signatures and ids.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashSet;

use common::{fixture_files, load, model_of, short_name};
use omniroute_format_gemini::GeminiCodec;
use omniroute_ir::{ChatRequest, Codec, Part, ResponseFormat, Role, ToolChoice};
use serde_json::{json, Value};

fn gemini_fixtures() -> Vec<(String, Value)> {
    let files = fixture_files(Some("gemini"));
    assert!(
        files.len() >= 6,
        "expected the Gemini fixtures, found {files:?}"
    );
    files.iter().map(|f| (short_name(f), load(f))).collect()
}

fn decode(fixture: &Value) -> ChatRequest {
    let body = serde_json::to_vec(&fixture["body"]).unwrap();
    GeminiCodec.decode_request(&body).unwrap()
}

fn fixture(name: &str) -> Value {
    gemini_fixtures()
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("fixture {name} missing"))
        .1
}

fn all_parts(req: &ChatRequest) -> Vec<&Part> {
    req.messages.iter().flat_map(|m| m.content.iter()).collect()
}

#[test]
fn every_gemini_fixture_decodes_consistently() {
    for (name, fx) in gemini_fixtures() {
        let req = decode(&fx);
        assert_eq!(req.model, "", "{name}: model comes from the URL");
        assert!(!req.system.is_empty(), "{name}: systemInstruction");
        assert!(!req.messages.is_empty(), "{name}: contents");
        assert_eq!(req.messages[0].role, Role::User, "{name}");
        let reasoning = req.reasoning.as_ref().expect("thinkingConfig");
        assert_eq!(reasoning.include_thoughts, Some(true), "{name}");
        assert_eq!(req.temperature, Some(1.0), "{name}");
        assert_eq!(req.top_p, Some(0.95), "{name}");
        assert_eq!(req.top_k, Some(64), "{name}");

        // Every tool result answers an earlier call, by id.
        let mut seen: Vec<(String, String)> = Vec::new();
        for p in all_parts(&req) {
            match p {
                Part::ToolCall {
                    id,
                    name: n,
                    arguments,
                    ..
                } => {
                    assert!(!id.is_empty());
                    assert!(serde_json::from_str::<Value>(arguments)
                        .unwrap()
                        .is_object());
                    seen.push((id.clone(), n.clone()));
                }
                Part::ToolResult {
                    call_id, name: n, ..
                } => {
                    let call = seen.iter().find(|(id, _)| id == call_id);
                    assert!(call.is_some(), "{name}: result {call_id} answers no call");
                    assert_eq!(n.as_deref(), Some(call.unwrap().1.as_str()));
                }
                _ => {}
            }
        }

        // Tool declarations: Gemini CLI sends parametersJsonSchema.
        let decls: Vec<&Value> = fx["body"]["tools"]
            .as_array()
            .map(|t| {
                t.iter()
                    .flat_map(|t| t["functionDeclarations"].as_array().unwrap().iter())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(req.tools.len(), decls.len(), "{name}");
        for (t, d) in req.tools.iter().zip(&decls) {
            assert_eq!(t.name, d["name"].as_str().unwrap());
            assert_eq!(t.description.as_deref(), d["description"].as_str());
            assert_eq!(
                t.parameters, d["parametersJsonSchema"],
                "{name}: {}",
                t.name
            );
        }
        assert!(
            req.warnings.is_empty(),
            "{name}: unexpected warnings {:?}",
            req.warnings
        );
    }
}

#[test]
fn gemini_cli_router_call_is_structured_output_with_thinking_level() {
    let req = decode(&fixture(
        "gemini-cli/hello-auto-router/001-gemini_generateContent.json",
    ));
    let r = req.reasoning.as_ref().unwrap();
    assert_eq!(r.effort.as_deref(), Some("high"));
    assert_eq!(r.budget_tokens, None);
    match &req.response_format {
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            // Gemini's upper-case type names are lifted to JSON Schema.
            assert_eq!(schema["type"], "object");
            assert_eq!(schema["properties"]["complexity_score"]["type"], "integer");
            assert_eq!(
                schema["required"],
                json!(["complexity_reasoning", "complexity_score"])
            );
        }
        other => panic!("response_format {other:?}"),
    }
    assert_eq!(req.messages.len(), 2);
    assert!(req.tools.is_empty());
    assert_eq!(
        all_parts(&req).last(),
        Some(&&Part::Text {
            text: "Say hello".into()
        })
    );
}

#[test]
fn gemini_cli_thinking_budget_and_tool_round_trip_with_ids_and_signature() {
    let first = decode(&fixture(
        "gemini-cli/tool-read/001-gemini_streamGenerateContent.json",
    ));
    assert_eq!(first.reasoning.as_ref().unwrap().budget_tokens, Some(8192));
    assert_eq!(first.reasoning.as_ref().unwrap().effort, None);
    assert_eq!(first.tools.len(), 8);
    assert_eq!(first.tool_choice, None);

    let req = decode(&fixture(
        "gemini-cli/tool-read/002-gemini_streamGenerateContent.json",
    ));
    assert_eq!(req.messages.len(), 3);
    assert_eq!(req.messages[1].role, Role::Assistant);
    match &req.messages[1].content[..] {
        [Part::ToolCall {
            id,
            name,
            arguments,
            signature,
        }] => {
            assert_eq!(id, "read_file_1795293822100_0");
            assert_eq!(name, "read_file");
            assert_eq!(
                serde_json::from_str::<Value>(arguments).unwrap(),
                json!({"file_path": "/home/user/project/fixture.txt"})
            );
            assert_eq!(
                signature.as_deref(),
                Some("cmVjb3JkZXItdGhvdWdodC3ItJQMfmxJSY6DJc9J3mlM")
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(req.messages[2].role, Role::User);
    match &req.messages[2].content[..] {
        [Part::ToolResult {
            call_id,
            name,
            content,
            is_error,
        }] => {
            assert_eq!(call_id, "read_file_1795293822100_0");
            assert_eq!(name.as_deref(), Some("read_file"));
            assert!(!is_error);
            assert_eq!(
                content,
                &vec![Part::Text {
                    text: "The secret word is PINEAPPLE-42. Second line.\n".into()
                }]
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn qwen_code_call_without_id_takes_the_response_id() {
    let first = decode(&fixture(
        "qwen-code/tool-read-gemini/001-gemini_streamGenerateContent.json",
    ));
    let r = first.reasoning.as_ref().unwrap();
    assert_eq!(r.effort, None, "THINKING_LEVEL_UNSPECIFIED is no effort");
    assert_eq!(first.tools.len(), 11);
    assert_eq!(first.messages.len(), 3);
    assert_eq!(first.messages[1].role, Role::Assistant);

    let req = decode(&fixture(
        "qwen-code/tool-read-gemini/002-gemini_streamGenerateContent.json",
    ));
    let parts = all_parts(&req);
    let call = parts
        .iter()
        .find_map(|p| match p {
            Part::ToolCall { id, signature, .. } => Some((id.clone(), signature.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(call.0, "read_file-1795293848683-aeb9e1d860d87");
    assert_eq!(
        call.1.as_deref(),
        Some("cmVjb3JkZXItdGhvdWdodC0rX2OqujNHlIxunAWRlPRY")
    );
    let result = parts
        .iter()
        .find_map(|p| match p {
            Part::ToolResult { call_id, .. } => Some(call_id.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(result, call.0);
}

/// Flatten the Gemini contents of a body: (role, part) with text parts of one role merged.
fn content_facts(body: &Value) -> (Vec<String>, Vec<Value>, Vec<Value>, Vec<String>) {
    let mut texts = Vec::new();
    let mut calls = Vec::new();
    let mut responses = Vec::new();
    let mut sigs = Vec::new();
    for c in body["contents"].as_array().unwrap() {
        for p in c["parts"].as_array().unwrap() {
            if let Some(t) = p["text"].as_str() {
                texts.push(format!("{}:{t}", c["role"].as_str().unwrap()));
            }
            if p.get("functionCall").is_some() {
                let mut fc = p["functionCall"].clone();
                fc.as_object_mut().unwrap().remove("id");
                calls.push(fc);
            }
            if let Some(fr) = p.get("functionResponse") {
                responses.push(json!({"name": fr["name"], "id": fr["id"]}));
            }
            if let Some(s) = p["thoughtSignature"].as_str() {
                sigs.push(s.to_string());
            }
        }
    }
    (texts, calls, responses, sigs)
}

#[test]
fn encode_of_decode_keeps_contents_signatures_and_ids() {
    for (name, fx) in gemini_fixtures() {
        let mut req = decode(&fx);
        req.model = model_of(&fx);
        let out = GeminiCodec.encode_request(&req, "ignored").unwrap();
        let body = &fx["body"];

        let (t0, c0, r0, s0) = content_facts(body);
        let (t1, c1, r1, s1) = content_facts(&out);
        assert_eq!(t1, t0, "{name}: texts");
        assert_eq!(c1, c0, "{name}: calls");
        assert_eq!(s1, s0, "{name}: signatures");
        assert_eq!(r1.len(), r0.len(), "{name}: responses");
        for (a, b) in r1.iter().zip(&r0) {
            assert_eq!(a["name"], b["name"], "{name}");
            assert_eq!(a["id"], b["id"], "{name}: response id kept");
        }
        // Call ids: Gemini CLI's kept; Qwen's absent one becomes its response's id.
        let out_call_ids: Vec<&str> = out["contents"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| c["parts"].as_array().unwrap())
            .filter_map(|p| p["functionCall"]["id"].as_str())
            .collect();
        let out_resp_ids: Vec<&str> = r1.iter().filter_map(|r| r["id"].as_str()).collect();
        assert_eq!(
            out_call_ids, out_resp_ids,
            "{name}: calls and responses pair up"
        );

        // Roles alternate after merging, user first.
        let roles: Vec<&str> = out["contents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["role"].as_str().unwrap())
            .collect();
        assert_eq!(roles[0], "user");
        assert!(roles.windows(2).all(|w| w[0] != w[1]), "{name}: {roles:?}");

        assert_eq!(
            out["systemInstruction"]["parts"][0]["text"],
            body["systemInstruction"]["parts"][0]["text"],
            "{name}"
        );
        let gc = &out["generationConfig"];
        assert_eq!(gc["temperature"], 1.0);
        assert_eq!(gc["topK"], 64);
        let tc = &gc["thinkingConfig"];
        assert_eq!(tc["includeThoughts"], true, "{name}");
        let src_tc = &body["generationConfig"]["thinkingConfig"];
        if src_tc["thinkingBudget"].is_number() {
            assert_eq!(tc["thinkingBudget"], src_tc["thinkingBudget"], "{name}");
        }
        if src_tc["thinkingLevel"] == "HIGH" {
            assert_eq!(tc["thinkingLevel"], "high", "{name}");
            assert!(tc.get("thinkingBudget").is_none());
        }
        if body["generationConfig"]["responseMimeType"] == "application/json" {
            assert_eq!(gc["responseMimeType"], "application/json");
            assert_eq!(gc["responseSchema"]["type"], "object");
            assert_eq!(
                gc["responseSchema"]["properties"]["complexity_score"]["type"],
                "integer"
            );
        }

        // Tools: same names, normalized parameters.
        let names: Vec<&str> = req.tools.iter().map(|t| t.name.as_str()).collect();
        let out_names: Vec<&str> = out["tools"][0]["functionDeclarations"]
            .as_array()
            .map(|d| d.iter().map(|d| d["name"].as_str().unwrap()).collect())
            .unwrap_or_default();
        assert_eq!(out_names, names, "{name}");
        for d in out["tools"][0]["functionDeclarations"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let p = &d["parameters"];
            assert_eq!(p["type"], "object");
            let text = p.to_string();
            for bad in ["\"$schema\"", "\"additionalProperties\"", "\"default\":"] {
                assert!(!text.contains(bad), "{name}: {bad} in {text}");
            }
        }

        // decode(encode(decode(x))) has the same conversation.
        let again = GeminiCodec
            .decode_request(&serde_json::to_vec(&out).unwrap())
            .unwrap();
        let a: Vec<&Part> = all_parts(&again);
        let b: Vec<&Part> = all_parts(&req);
        assert_eq!(a, b, "{name}: conversation survives a round trip");
        assert_eq!(again.system, req.system);
        assert_eq!(
            again.reasoning.as_ref().map(|r| r.include_thoughts),
            Some(Some(true))
        );
    }
}

#[test]
fn decodes_every_part_kind_and_config() {
    let body = json!({
        "systemInstruction": "be brief",
        "contents": [
            {"role": "user", "parts": [
                {"text": "look"},
                {"inlineData": {"mimeType": "image/png", "data": "AAAA"}},
                {"file_data": {"file_uri": "https://x.test/cat.jpg"}},
                {"fileData": {"fileUri": "gs://b/doc.pdf", "mimeType": "application/pdf"}},
                {"inlineData": {"mimeType": "audio/wav", "data": "BBBB"}}
            ]},
            {"role": "model", "parts": [
                {"text": "hmm", "thought": true, "thoughtSignature": "S1"},
                {"text": "calling", "thoughtSignature": "S2"},
                {"functionCall": {"name": "get", "args": {"q": 1}}, "thoughtSignature": "S3"},
                {"functionCall": {"name": "get", "args": {"q": 2}}},
                {"executableCode": {"language": "PYTHON", "code": "1"}}
            ]},
            {"role": "function", "parts": [
                {"functionResponse": {"name": "get", "response": {"result": "one"}}},
                {"functionResponse": {"name": "get", "response": {"error": "bad"}}}
            ]},
            {"role": "user", "parts": [{"text": "thanks"}]}
        ],
        "tools": [
            {"functionDeclarations": [
                {"name": "get", "description": "d", "parameters": {"type": "OBJECT",
                  "properties": {"q": {"type": "INTEGER", "nullable": true}}}},
                {"name": "noargs"}
            ]},
            {"googleSearch": {}},
            {"codeExecution": {}}
        ],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get"]}},
        "generationConfig": {
            "maxOutputTokens": 1000, "stopSequences": ["END"], "seed": 7,
            "responseMimeType": "application/json",
            "thinkingConfig": {"thinkingBudget": 0}
        }
    });
    let req = GeminiCodec
        .decode_request(&serde_json::to_vec(&body).unwrap())
        .unwrap();
    assert_eq!(req.system, vec!["be brief".to_string()]);
    assert_eq!(req.max_tokens, Some(1000));
    assert_eq!(req.stop, vec!["END".to_string()]);
    assert_eq!(req.seed, Some(7));
    assert_eq!(req.response_format, Some(ResponseFormat::JsonObject));
    assert!(req.reasoning.as_ref().unwrap().disabled);
    assert_eq!(
        req.tool_choice,
        Some(ToolChoice::Tool { name: "get".into() })
    );
    assert_eq!(req.tools.len(), 2);
    assert_eq!(
        req.tools[0].parameters,
        json!({"type": "object", "properties": {"q": {"type": ["integer", "null"]}}})
    );
    assert_eq!(
        req.tools[1].parameters,
        json!({"type": "object", "properties": {}})
    );

    let user = &req.messages[0].content;
    assert_eq!(user.len(), 3, "{user:?}");
    assert!(
        matches!(&user[1], Part::Image { source: omniroute_ir::ImageSource::Base64 { media_type, .. } } if media_type == "image/png")
    );
    assert!(
        matches!(&user[2], Part::Image { source: omniroute_ir::ImageSource::Url { url, .. } } if url == "https://x.test/cat.jpg")
    );

    let model = &req.messages[1].content;
    let ids: Vec<String> = model
        .iter()
        .filter_map(|p| match p {
            Part::ToolCall { id, .. } => Some(id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
    assert!(ids[0].starts_with("call_"));
    assert_eq!(
        model[0],
        Part::Reasoning {
            text: "hmm".into(),
            signature: Some("S1".into()),
            redacted: None,
            encrypted: None,
            id: None
        }
    );
    assert!(
        matches!(&model[1], Part::Reasoning { text, signature: Some(s), .. } if text.is_empty() && s == "S2")
    );
    assert_eq!(
        model[2],
        Part::Text {
            text: "calling".into()
        }
    );
    assert!(matches!(&model[3], Part::ToolCall { signature: Some(s), .. } if s == "S3"));
    assert!(matches!(
        &model[4],
        Part::ToolCall {
            signature: None,
            ..
        }
    ));

    // Responses without ids pair with the calls by name, in order.
    let results = &req.messages[2].content;
    assert_eq!(req.messages[2].role, Role::User);
    match &results[..] {
        [Part::ToolResult {
            call_id: a,
            content: ca,
            is_error: ea,
            ..
        }, Part::ToolResult {
            call_id: b,
            content: cb,
            is_error: eb,
            ..
        }] => {
            assert_eq!(a, &ids[0]);
            assert_eq!(b, &ids[1]);
            assert_eq!(ca, &vec![Part::Text { text: "one".into() }]);
            assert!(!ea);
            assert_eq!(cb, &vec![Part::Text { text: "bad".into() }]);
            assert!(eb);
        }
        other => panic!("{other:?}"),
    }

    // Same ids every time the same history is decoded.
    let again = GeminiCodec
        .decode_request(&serde_json::to_vec(&body).unwrap())
        .unwrap();
    assert_eq!(again.messages, req.messages);

    let warnings = req.warnings.join("\n");
    for w in [
        "application/pdf",
        "audio/wav",
        "code execution",
        "googleSearch",
        "codeExecution",
    ] {
        assert!(warnings.contains(w), "missing warning {w}: {warnings}");
    }
}

#[test]
fn rejects_what_is_not_a_gemini_request() {
    let cases: Vec<(&[u8], &str)> = vec![
        (b"[]", "object"),
        (b"not json", "JSON"),
        (br#"{"messages": []}"#, "contents"),
        (br#"{"contents": {}}"#, "contents"),
        (br#"{"contents": [5]}"#, "contents[0]"),
        (
            br#"{"contents": [{"role": "user", "parts": "hi"}]}"#,
            "contents[0].parts",
        ),
        (
            br#"{"contents": [], "generationConfig": {"candidateCount": 2}}"#,
            "candidateCount",
        ),
    ];
    for (body, field) in cases {
        let err = GeminiCodec.decode_request(body).unwrap_err();
        assert!(err.0.contains(field), "{err} should name {field}");
    }
}

#[test]
fn encodes_an_ir_conversation_for_gemini() {
    use omniroute_ir::{ImageSource, Message, Reasoning, Tool};
    let req = ChatRequest {
        model: "gemini-2.5-flash".into(),
        system: vec!["sys a".into(), "sys b".into()],
        messages: vec![
            Message {
                role: Role::User,
                content: vec![
                    Part::Text { text: "hi".into() },
                    Part::Image {
                        source: ImageSource::Url {
                            url: "data:image/png;base64,QUJD".into(),
                            detail: None,
                        },
                    },
                    Part::Image {
                        source: ImageSource::Url {
                            url: "https://x.test/a.webp?x=1".into(),
                            detail: None,
                        },
                    },
                ],
            },
            Message {
                role: Role::Assistant,
                content: vec![
                    Part::Reasoning {
                        text: "thinking".into(),
                        signature: Some("SIG".into()),
                        redacted: None,
                        encrypted: None,
                        id: None,
                    },
                    Part::ToolCall {
                        id: "call_1".into(),
                        name: "lookup".into(),
                        arguments: r#"{"k":"v"}"#.into(),
                        signature: None,
                    },
                    Part::ToolCall {
                        id: "call_2".into(),
                        name: "lookup".into(),
                        arguments: String::new(),
                        signature: None,
                    },
                ],
            },
            Message {
                role: Role::User,
                content: vec![
                    Part::ToolResult {
                        call_id: "call_1".into(),
                        name: None,
                        content: vec![Part::Text {
                            text: r#"{"found": true}"#.into(),
                        }],
                        is_error: false,
                    },
                    Part::ToolResult {
                        call_id: "call_2".into(),
                        name: None,
                        content: vec![Part::Text {
                            text: "nope".into(),
                        }],
                        is_error: true,
                    },
                ],
            },
            Message {
                role: Role::User,
                content: vec![Part::Text {
                    text: "and?".into(),
                }],
            },
        ],
        tools: vec![Tool {
            name: "lookup".into(),
            description: Some("find".into()),
            parameters: json!({"$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object", "properties": {"k": {"type": "string", "default": "x"}},
                "additionalProperties": false}),
            strict: Some(true),
        }],
        tool_choice: Some(ToolChoice::Required),
        max_tokens: Some(4096),
        temperature: Some(0.2),
        stop: vec!["X".into()],
        response_format: Some(ResponseFormat::JsonSchema {
            name: "r".into(),
            schema: json!({"type": "object", "properties": {"a": {"type": ["string", "null"]}},
                "required": ["a", "zzz"], "additionalProperties": false}),
            strict: Some(true),
        }),
        reasoning: Some(Reasoning {
            budget_tokens: Some(10_000),
            ..Default::default()
        }),
        ..Default::default()
    };
    let (out, warnings) = GeminiCodec.encode_request_warned(&req, "whatever").unwrap();
    assert_eq!(out, GeminiCodec.encode_request(&req, "whatever").unwrap());
    let w = warnings.join("\n");
    assert!(w.contains("fileData"), "{w}");
    assert!(w.contains("clamped to 4095"), "{w}");
    assert_eq!(warnings.len(), 2, "{w}");
    assert_eq!(
        out["systemInstruction"],
        json!({"parts": [{"text": "sys a"}, {"text": "sys b"}]})
    );
    let contents = out["contents"].as_array().unwrap();
    assert_eq!(contents.len(), 3, "the two user turns after the call merge");
    assert_eq!(
        contents[0]["parts"],
        json!([
            {"text": "hi"},
            {"inlineData": {"mimeType": "image/png", "data": "QUJD"}},
            {"fileData": {"mimeType": "image/webp", "fileUri": "https://x.test/a.webp?x=1"}}
        ])
    );
    assert_eq!(
        contents[1],
        json!({"role": "model", "parts": [
            {"functionCall": {"name": "lookup", "args": {"k": "v"}, "id": "call_1"},
             "thoughtSignature": "SIG"},
            {"functionCall": {"name": "lookup", "args": {}, "id": "call_2"}}
        ]})
    );
    assert_eq!(
        contents[2],
        json!({"role": "user", "parts": [
            {"functionResponse": {"name": "lookup", "id": "call_1", "response": {"found": true}}},
            {"functionResponse": {"name": "lookup", "id": "call_2", "response": {"error": "nope"}}},
            {"text": "and?"}
        ]})
    );
    assert_eq!(
        out["tools"],
        json!([{"functionDeclarations": [{"name": "lookup", "description": "find",
            "parameters": {"type": "object", "properties": {"k": {"type": "string", "description": "default: x"}}}}]}])
    );
    assert_eq!(
        out["toolConfig"],
        json!({"functionCallingConfig": {"mode": "ANY"}})
    );
    let gc = &out["generationConfig"];
    assert_eq!(gc["maxOutputTokens"], 4096);
    assert_eq!(gc["stopSequences"], json!(["X"]));
    assert_eq!(gc["responseMimeType"], "application/json");
    assert_eq!(
        gc["responseSchema"],
        json!({"type": "object", "properties": {"a": {"type": "string", "nullable": true}},
            "required": ["a"]})
    );
    // Budget clamped below maxOutputTokens.
    assert_eq!(
        gc["thinkingConfig"],
        json!({"thinkingBudget": 4095, "includeThoughts": true})
    );
}

#[test]
fn thinking_config_per_model_family() {
    use omniroute_ir::Reasoning;
    let enc = |model: &str, r: Reasoning| {
        let req = ChatRequest {
            model: model.into(),
            messages: vec![omniroute_ir::Message {
                role: Role::User,
                content: vec![Part::Text { text: "x".into() }],
            }],
            reasoning: Some(r),
            ..Default::default()
        };
        GeminiCodec.encode_request(&req, "").unwrap()["generationConfig"]["thinkingConfig"].clone()
    };
    let effort = |e: &str| Reasoning {
        effort: Some(e.into()),
        ..Default::default()
    };
    assert_eq!(
        enc("gemini-3-pro-preview", effort("low")),
        json!({"thinkingLevel": "low", "includeThoughts": true})
    );
    assert_eq!(
        enc("gemini-3-pro-preview", effort("xhigh")),
        json!({"thinkingLevel": "high", "includeThoughts": true})
    );
    assert_eq!(
        enc("gemini-2.5-flash", effort("medium")),
        json!({"thinkingBudget": 8192, "includeThoughts": true})
    );
    assert_eq!(
        enc(
            "gemini-2.5-flash",
            Reasoning {
                adaptive: true,
                ..Default::default()
            }
        ),
        json!({"thinkingBudget": -1, "includeThoughts": true})
    );
    assert_eq!(
        enc(
            "gemini-2.5-flash",
            Reasoning {
                disabled: true,
                ..Default::default()
            }
        ),
        json!({"thinkingBudget": 0})
    );
    assert_eq!(
        enc(
            "gemini-2.5-pro",
            Reasoning {
                disabled: true,
                ..Default::default()
            }
        ),
        Value::Null,
        "2.5 Pro cannot disable thinking"
    );
    assert_eq!(
        enc(
            "gemini-3-flash",
            Reasoning {
                disabled: true,
                ..Default::default()
            }
        ),
        json!({"thinkingLevel": "low"})
    );
}

#[test]
fn gemini3_replayed_calls_without_signature_get_the_documented_bypass() {
    let history = |model: &str| ChatRequest {
        model: model.into(),
        messages: vec![
            omniroute_ir::Message {
                role: Role::User,
                content: vec![Part::Text { text: "x".into() }],
            },
            omniroute_ir::Message {
                role: Role::Assistant,
                content: vec![
                    Part::ToolCall {
                        id: "a".into(),
                        name: "f".into(),
                        arguments: "{}".into(),
                        signature: None,
                    },
                    Part::ToolCall {
                        id: "b".into(),
                        name: "f".into(),
                        arguments: "{}".into(),
                        signature: None,
                    },
                ],
            },
        ],
        ..Default::default()
    };
    let (g3, warnings) = GeminiCodec
        .encode_request_warned(&history("gemini-3-pro-preview"), "")
        .unwrap();
    assert!(
        warnings[0].contains("skip_thought_signature_validator"),
        "{warnings:?}"
    );
    let parts = &g3["contents"][1]["parts"];
    assert_eq!(
        parts[0]["thoughtSignature"],
        "skip_thought_signature_validator"
    );
    assert!(parts[1].get("thoughtSignature").is_none());
    let g25 = GeminiCodec
        .encode_request(&history("gemini-2.5-pro"), "")
        .unwrap();
    let seen: HashSet<bool> = g25["contents"][1]["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.get("thoughtSignature").is_some())
        .collect();
    assert_eq!(seen, HashSet::from([false]));
}

#[test]
fn encoder_reports_what_it_drops() {
    let req = ChatRequest {
        model: "gemini-2.5-pro".into(),
        messages: vec![
            omniroute_ir::Message {
                role: Role::Assistant,
                content: vec![Part::Reasoning {
                    text: "only thoughts".into(),
                    signature: Some("lonely".into()),
                    redacted: None,
                    encrypted: None,
                    id: None,
                }],
            },
            omniroute_ir::Message {
                role: Role::User,
                content: vec![Part::ToolResult {
                    call_id: "ghost".into(),
                    name: None,
                    content: vec![Part::Text { text: "42".into() }],
                    is_error: false,
                }],
            },
        ],
        presence_penalty: Some(0.5),
        reasoning: Some(omniroute_ir::Reasoning {
            disabled: true,
            ..Default::default()
        }),
        ..Default::default()
    };
    let (out, warnings) = GeminiCodec.encode_request_warned(&req, "").unwrap();
    let w = warnings.join("\n");
    for needle in ["signature", "unknown_tool", "penalty", "cannot be disabled"] {
        assert!(w.contains(needle), "{needle} missing: {w}");
    }
    // The reasoning-only model turn has nothing Gemini can carry: it is left out.
    assert_eq!(out["contents"].as_array().unwrap().len(), 1);
    assert_eq!(
        out["contents"][0]["parts"][0]["functionResponse"],
        json!({"name": "unknown_tool", "id": "ghost", "response": {"result": "42"}})
    );
    assert!(out.get("generationConfig").is_none());
}
