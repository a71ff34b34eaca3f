//! Request decoding of every shape clients send, errors that name the field, and encoding for
//! upstreams (roles, tool messages, images, params, reasoning, token limits).

use omniroute_format_openai::request::{effort_for, uses_max_completion_tokens};
use omniroute_format_openai::OpenAiCodec;
use omniroute_ir::{
    ChatRequest, Codec, ImageSource, Message, Part, Reasoning, ResponseFormat, Role, Tool,
    ToolChoice,
};
use serde_json::{json, Value};

fn dec(v: Value) -> ChatRequest {
    OpenAiCodec
        .decode_request(&serde_json::to_vec(&v).unwrap())
        .unwrap()
}

fn dec_err(body: &[u8]) -> String {
    OpenAiCodec.decode_request(body).unwrap_err().0
}

fn enc(req: &ChatRequest, model: &str) -> (Value, Vec<String>) {
    OpenAiCodec
        .encode_request_with_warnings(req, model)
        .unwrap()
}

fn text(t: &str) -> Part {
    Part::Text { text: t.into() }
}

#[test]
fn errors_name_the_field() {
    assert!(dec_err(b"[1,2]").contains("JSON object"));
    assert!(dec_err(b"{not json").contains("not valid JSON"));
    assert!(dec_err(br#"{"model":"m"}"#).contains("messages"));
    assert!(dec_err(br#"{"model":"m","messages":[]}"#).contains("messages"));
    assert!(dec_err(br#"{"model":"m","messages":"hi"}"#).contains("messages must be an array"));
    assert!(dec_err(br#"{"model":"m","messages":[{"content":"x"}]}"#).contains("messages[0].role"));
    assert!(dec_err(br#"{"model":"m","messages":[3]}"#).contains("messages[0]"));
    assert!(
        dec_err(br#"{"model":"m","messages":[{"role":"user","content":5}]}"#)
            .contains("messages[0].content")
    );
    assert!(
        dec_err(br#"{"model":7,"messages":[{"role":"user","content":"x"}]}"#).contains("model")
    );
    assert!(
        dec_err(br#"{"model":"m","n":2,"messages":[{"role":"user","content":"x"}]}"#)
            .contains("n: 2")
    );
    assert!(
        dec_err(br#"{"model":"m","tools":{},"messages":[{"role":"user","content":"x"}]}"#)
            .contains("tools")
    );
    // n = 1 is fine
    dec(json!({"model":"m","n":1,"messages":[{"role":"user","content":"x"}]}));
}

#[test]
fn system_and_developer_in_order() {
    let req = dec(json!({"model":"m","messages":[
        {"role":"developer","content":"dev rules"},
        {"role":"system","content":[{"type":"text","text":"sys a"},{"type":"text","text":"sys b"}]},
        {"role":"user","content":"hi"},
        {"role":"system","content":"late"}
    ]}));
    assert_eq!(req.system, vec!["dev rules", "sys a", "sys b", "late"]);
    assert_eq!(
        req.messages,
        vec![Message {
            role: Role::User,
            content: vec![text("hi")]
        }]
    );
    assert_eq!(req.warnings.len(), 1, "{:?}", req.warnings);
}

#[test]
fn user_parts_images_and_dropped_parts() {
    let req = dec(json!({"model":"m","messages":[{"role":"user","content":[
        {"type":"text","text":"look"},
        {"type":"image_url","image_url":{"url":"https://x/a.png","detail":"high"}},
        {"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}},
        {"type":"input_audio","input_audio":{"data":"..","format":"wav"}},
        {"type":"file","file":{"file_id":"f1"}}
    ]}]}));
    assert_eq!(
        req.messages[0].content,
        vec![
            text("look"),
            Part::Image {
                source: ImageSource::Url {
                    url: "https://x/a.png".into(),
                    detail: Some("high".into())
                }
            },
            Part::Image {
                source: ImageSource::Url {
                    url: "data:image/png;base64,AAAA".into(),
                    detail: None
                }
            },
        ]
    );
    assert_eq!(req.warnings.len(), 2);
    assert!(req.warnings[0].contains("input_audio"));
    assert!(req.warnings[1].contains("file"));
}

#[test]
fn assistant_reasoning_tool_calls_and_merged_tool_results() {
    let req = dec(json!({"model":"m","messages":[
        {"role":"user","content":"go"},
        {"role":"assistant","reasoning_content":"thinking...","content":"",
         "tool_calls":[
            {"id":"call_a","type":"function","function":{"name":"read","arguments":"{\"p\":1}"}},
            {"id":"call_b","type":"function","function":{"name":"ls","arguments":{"d":"/"}}}
         ]},
        {"role":"tool","tool_call_id":"call_a","content":"A"},
        {"role":"tool","tool_call_id":"call_b","content":[{"type":"text","text":"B1"},{"type":"text","text":"B2"}]},
        {"role":"user","content":"thanks"}
    ]}));
    assert!(req.warnings.is_empty(), "{:?}", req.warnings);
    assert_eq!(req.messages.len(), 4);
    assert_eq!(
        req.messages[1].content,
        vec![
            Part::Reasoning {
                text: "thinking...".into(),
                signature: None,
                redacted: None,
                encrypted: None,
                id: None
            },
            Part::ToolCall {
                id: "call_a".into(),
                name: "read".into(),
                arguments: "{\"p\":1}".into(),
                signature: None
            },
            Part::ToolCall {
                id: "call_b".into(),
                name: "ls".into(),
                arguments: "{\"d\":\"/\"}".into(),
                signature: None
            },
        ]
    );
    assert_eq!(
        req.messages[2],
        Message {
            role: Role::User,
            content: vec![
                Part::ToolResult {
                    call_id: "call_a".into(),
                    name: Some("read".into()),
                    content: vec![text("A")],
                    is_error: false
                },
                Part::ToolResult {
                    call_id: "call_b".into(),
                    name: Some("ls".into()),
                    content: vec![text("B1"), text("B2")],
                    is_error: false
                },
            ]
        }
    );
    assert_eq!(req.messages[3].content, vec![text("thanks")]);
}

#[test]
fn openrouter_reasoning_field_on_assistant() {
    let req = dec(json!({"model":"m","messages":[
        {"role":"user","content":"q"},
        {"role":"assistant","reasoning":"hmm","content":"a"}
    ]}));
    assert!(
        matches!(&req.messages[1].content[..], [Part::Reasoning { text, .. }, Part::Text { text: a }] if text == "hmm" && a == "a")
    );
}

#[test]
fn legacy_functions_and_function_messages() {
    let req = dec(json!({"model":"m",
    "functions":[{"name":"weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}],
    "function_call":{"name":"weather"},
    "messages":[
        {"role":"user","content":"weather?"},
        {"role":"assistant","content":null,"function_call":{"name":"weather","arguments":"{\"city\":\"Oslo\"}"}},
        {"role":"function","name":"weather","content":"rainy"}
    ]}));
    assert_eq!(req.tools.len(), 1);
    assert_eq!(
        req.tool_choice,
        Some(ToolChoice::Tool {
            name: "weather".into()
        })
    );
    let Part::ToolCall { id, .. } = &req.messages[1].content[0] else {
        panic!()
    };
    assert!(id.starts_with("call_"));
    assert!(
        matches!(&req.messages[2].content[..], [Part::ToolResult { call_id, name: Some(n), .. }] if call_id == id && n == "weather")
    );
    // deterministic ids: the same history gives the same id
    let again = dec(json!({"model":"m","messages":[
        {"role":"user","content":"weather?"},
        {"role":"assistant","content":null,"function_call":{"name":"weather","arguments":"{}"}}]}));
    assert!(matches!(&again.messages[1].content[0], Part::ToolCall { id: id2, .. } if id2 == id));
}

#[test]
fn tool_results_without_ids_match_by_name_then_order() {
    let req = dec(json!({"model":"m","messages":[
        {"role":"user","content":"go"},
        {"role":"assistant","tool_calls":[
            {"id":"c1","type":"function","function":{"name":"a","arguments":"{}"}},
            {"id":"c2","type":"function","function":{"name":"b","arguments":"{}"}}]},
        {"role":"tool","name":"b","content":"rb"},
        {"role":"tool","content":"ra"}
    ]}));
    let ids: Vec<&str> = req.messages[2]
        .content
        .iter()
        .map(|p| match p {
            Part::ToolResult { call_id, .. } => call_id.as_str(),
            _ => panic!(),
        })
        .collect();
    assert_eq!(ids, ["c2", "c1"]);
}

#[test]
fn tools_choice_and_params() {
    let req = dec(
        json!({"model":"m","messages":[{"role":"user","content":"x"}],
            "tools":[
                {"type":"function","function":{"name":"f","description":"d","strict":true}},
                {"type":"web_search"},
                {"type":"custom","custom":{"name":"c"}}
            ],
            "tool_choice":"required","parallel_tool_calls":false,
            "max_completion_tokens":100,"max_tokens":50,"temperature":0.5,"top_p":0.9,
            "stop":"END","seed":42,"presence_penalty":0.1,"frequency_penalty":0.2,"user":"u1",
            "response_format":{"type":"json_schema","json_schema":{"name":"out","schema":{"type":"object"},"strict":true}},
            "reasoning_effort":"high","stream":true,"stream_options":{"include_usage":true}
        }),
    );
    assert_eq!(
        req.tools,
        vec![Tool {
            name: "f".into(),
            description: Some("d".into()),
            parameters: json!({"type":"object","properties":{}}),
            strict: Some(true)
        }]
    );
    assert_eq!(req.warnings.len(), 2, "{:?}", req.warnings);
    assert_eq!(req.tool_choice, Some(ToolChoice::Required));
    assert_eq!(req.parallel_tool_calls, Some(false));
    assert_eq!(req.max_tokens, Some(100));
    assert_eq!(req.temperature, Some(0.5));
    assert_eq!(req.top_p, Some(0.9));
    assert_eq!(req.stop, vec!["END"]);
    assert_eq!(req.seed, Some(42));
    assert_eq!(req.presence_penalty, Some(0.1));
    assert_eq!(req.frequency_penalty, Some(0.2));
    assert_eq!(req.user.as_deref(), Some("u1"));
    assert_eq!(
        req.response_format,
        Some(ResponseFormat::JsonSchema {
            name: "out".into(),
            schema: json!({"type":"object"}),
            strict: Some(true)
        })
    );
    assert_eq!(
        req.reasoning.as_ref().unwrap().effort.as_deref(),
        Some("high")
    );
    assert!(req.stream);

    let base = |extra: Value| {
        let mut v = json!({"model":"m","messages":[{"role":"user","content":"x"}]});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        dec(v)
    };
    assert_eq!(
        base(json!({"tool_choice":"none"})).tool_choice,
        Some(ToolChoice::None)
    );
    assert_eq!(
        base(json!({"tool_choice":"auto"})).tool_choice,
        Some(ToolChoice::Auto)
    );
    assert_eq!(
        base(json!({"tool_choice":{"type":"function","function":{"name":"f"}}})).tool_choice,
        Some(ToolChoice::Tool { name: "f".into() })
    );
    assert_eq!(base(json!({"stop":["a","b"]})).stop, vec!["a", "b"]);
    assert_eq!(base(json!({"max_tokens":77})).max_tokens, Some(77));
    assert_eq!(
        base(json!({"response_format":{"type":"json_object"}})).response_format,
        Some(ResponseFormat::JsonObject)
    );
    assert_eq!(
        base(json!({"response_format":{"type":"text"}})).response_format,
        Some(ResponseFormat::Text)
    );
    assert!(
        base(json!({"reasoning_effort":"none"}))
            .reasoning
            .unwrap()
            .disabled
    );
    let r = base(json!({"reasoning":{"effort":"low"}}))
        .reasoning
        .unwrap();
    assert_eq!(r.effort.as_deref(), Some("low"));
    let r = base(json!({"reasoning":{"max_tokens":3000}}))
        .reasoning
        .unwrap();
    assert_eq!(r.budget_tokens, Some(3000));
    assert!(
        base(json!({"reasoning":{"enabled":false}}))
            .reasoning
            .unwrap()
            .disabled
    );
    assert!(!base(json!({})).stream);
}

fn sample_request() -> ChatRequest {
    ChatRequest {
        model: "client".into(),
        system: vec!["be brief".into(), "be kind".into()],
        messages: vec![
            Message {
                role: Role::User,
                content: vec![text("read a and b")],
            },
            Message {
                role: Role::Assistant,
                content: vec![
                    Part::Reasoning {
                        text: "plan".into(),
                        signature: Some("sig".into()),
                        redacted: None,
                        encrypted: None,
                        id: None,
                    },
                    text("Reading."),
                    Part::ToolCall {
                        id: "toolu_1".into(),
                        name: "read".into(),
                        arguments: r#"{"p":"a"}"#.into(),
                        signature: None,
                    },
                    Part::ToolCall {
                        id: "toolu_2".into(),
                        name: "read".into(),
                        arguments: "".into(),
                        signature: None,
                    },
                ],
            },
            Message {
                role: Role::User,
                content: vec![
                    Part::ToolResult {
                        call_id: "toolu_1".into(),
                        name: None,
                        content: vec![text("A1"), text("A2")],
                        is_error: false,
                    },
                    Part::ToolResult {
                        call_id: "toolu_2".into(),
                        name: None,
                        content: vec![Part::Image {
                            source: ImageSource::Base64 {
                                media_type: "image/png".into(),
                                data: "QUJD".into(),
                            },
                        }],
                        is_error: true,
                    },
                    text("now summarize"),
                ],
            },
            Message {
                role: Role::Assistant,
                content: vec![
                    Part::Reasoning {
                        text: "again".into(),
                        signature: None,
                        redacted: None,
                        encrypted: None,
                        id: None,
                    },
                    text("Done"),
                ],
            },
        ],
        tools: vec![Tool {
            name: "read".into(),
            description: None,
            parameters: json!({"type":"object","properties":{"p":{"type":"string"}}}),
            strict: None,
        }],
        tool_choice: Some(ToolChoice::Tool {
            name: "read".into(),
        }),
        parallel_tool_calls: Some(true),
        max_tokens: Some(1000),
        temperature: Some(0.3),
        stop: vec!["x".into()],
        reasoning: Some(Reasoning {
            budget_tokens: Some(5000),
            ..Default::default()
        }),
        stream: true,
        user: Some("u".into()),
        ..Default::default()
    }
}

#[test]
fn encode_messages_for_upstream() {
    let (body, warnings) = enc(&sample_request(), "qwen3-coder-plus");
    let msgs = body["messages"].as_array().unwrap();
    assert_eq!(
        msgs[0],
        json!({"role":"system","content":"be brief\n\nbe kind"})
    );
    assert_eq!(msgs[1], json!({"role":"user","content":"read a and b"}));
    assert_eq!(
        msgs[2],
        json!({"role":"assistant","content":"Reading.","tool_calls":[
            {"id":"toolu_1","type":"function","function":{"name":"read","arguments":"{\"p\":\"a\"}"}},
            {"id":"toolu_2","type":"function","function":{"name":"read","arguments":"{}"}}
        ]})
    );
    assert_eq!(
        msgs[3],
        json!({"role":"tool","tool_call_id":"toolu_1","content":"A1\nA2"})
    );
    assert_eq!(
        msgs[4],
        json!({"role":"tool","tool_call_id":"toolu_2","content":""})
    );
    assert_eq!(
        msgs[5],
        json!({"role":"user","content":[
            {"type":"image_url","image_url":{"url":"data:image/png;base64,QUJD"}},
            {"type":"text","text":"now summarize"}
        ]})
    );
    assert_eq!(msgs[6], json!({"role":"assistant","content":"Done"}));
    assert_eq!(msgs.len(), 7);
    // reasoning warned once, image move warned
    assert_eq!(
        warnings.iter().filter(|w| w.contains("reasoning")).count(),
        1,
        "{warnings:?}"
    );
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings.iter().any(|w| w.contains("image")), "{warnings:?}");

    assert_eq!(
        body["tools"],
        json!([{"type":"function","function":{"name":"read","parameters":{"type":"object","properties":{"p":{"type":"string"}}}}}])
    );
    assert_eq!(
        body["tool_choice"],
        json!({"type":"function","function":{"name":"read"}})
    );
    assert_eq!(body["parallel_tool_calls"], true);
    assert_eq!(body["max_tokens"], 1000);
    assert!(body.get("max_completion_tokens").is_none());
    assert_eq!(body["temperature"], 0.3);
    assert_eq!(body["stop"], json!(["x"]));
    assert_eq!(body["reasoning_effort"], "medium");
    assert_eq!(body["user"], "u");
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
}

#[test]
fn assistant_with_only_tool_calls_has_null_content() {
    let req = ChatRequest {
        messages: vec![
            Message {
                role: Role::User,
                content: vec![text("q")],
            },
            Message {
                role: Role::Assistant,
                content: vec![Part::ToolCall {
                    id: "c".into(),
                    name: "f".into(),
                    arguments: "{}".into(),
                    signature: None,
                }],
            },
        ],
        ..Default::default()
    };
    let (body, _) = enc(&req, "m");
    assert_eq!(body["messages"][1]["content"], Value::Null);
    assert!(body.get("stream").is_none());
    assert!(body.get("stream_options").is_none());
}

#[test]
fn reasoning_models_get_max_completion_tokens() {
    for m in [
        "o1",
        "o3-mini",
        "o4-mini",
        "gpt-5",
        "gpt-5-mini",
        "openai/o3",
    ] {
        assert!(uses_max_completion_tokens(m), "{m}");
    }
    for m in [
        "gpt-4o",
        "gpt-4.1",
        "deepseek-chat",
        "qwen3-coder-plus",
        "omni",
    ] {
        assert!(!uses_max_completion_tokens(m), "{m}");
    }
    let mut req = sample_request();
    req.temperature = Some(0.2);
    let (body, warnings) = enc(&req, "o3");
    assert_eq!(body["max_completion_tokens"], 1000);
    assert!(body.get("max_tokens").is_none());
    assert!(body.get("temperature").is_none());
    assert!(warnings.iter().any(|w| w.contains("temperature")));
    req.temperature = Some(1.0);
    assert_eq!(enc(&req, "gpt-5").0["temperature"], 1.0);
}

#[test]
fn effort_from_reasoning_config() {
    let r = |f: fn(&mut Reasoning)| {
        let mut r = Reasoning::default();
        f(&mut r);
        effort_for(&r)
    };
    assert_eq!(r(|r| r.effort = Some("high".into())), Some("high".into()));
    assert_eq!(r(|r| r.budget_tokens = Some(1024)), Some("low".into()));
    assert_eq!(r(|r| r.budget_tokens = Some(2048)), Some("low".into()));
    assert_eq!(r(|r| r.budget_tokens = Some(2049)), Some("medium".into()));
    assert_eq!(r(|r| r.budget_tokens = Some(8192)), Some("medium".into()));
    assert_eq!(r(|r| r.budget_tokens = Some(8193)), Some("high".into()));
    assert_eq!(r(|r| r.adaptive = true), Some("medium".into()));
    assert_eq!(
        r(|r| {
            r.disabled = true;
            r.effort = Some("high".into())
        }),
        None
    );
    assert_eq!(r(|_| {}), None);

    let mut req = sample_request();
    req.reasoning = Some(Reasoning {
        disabled: true,
        ..Default::default()
    });
    assert!(enc(&req, "o3").0.get("reasoning_effort").is_none());
    // a chat model that rejects reasoning_effort: dropped with a warning
    req.reasoning = Some(Reasoning {
        adaptive: true,
        ..Default::default()
    });
    let (body, warnings) = enc(&req, "gpt-4o");
    assert!(body.get("reasoning_effort").is_none());
    assert!(warnings.iter().any(|w| w.contains("reasoning effort")));
}

#[test]
fn tool_choice_without_tools_is_dropped() {
    let req = ChatRequest {
        messages: vec![Message {
            role: Role::User,
            content: vec![text("q")],
        }],
        tool_choice: Some(ToolChoice::Required),
        parallel_tool_calls: Some(true),
        ..Default::default()
    };
    let (body, warnings) = enc(&req, "m");
    assert!(body.get("tool_choice").is_none());
    assert!(body.get("parallel_tool_calls").is_none());
    assert_eq!(warnings.len(), 1);
    assert!(OpenAiCodec
        .encode_request(&ChatRequest::default(), "m")
        .is_err());
}

#[test]
fn round_trip_keeps_messages_tools_and_params() {
    let original = json!({"model":"m","messages":[
            {"role":"system","content":"sys"},
            {"role":"user","content":[{"type":"text","text":"see"},{"type":"image_url","image_url":{"url":"https://x/i.png","detail":"low"}}]},
            {"role":"assistant","content":"ok","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},
            {"role":"tool","tool_call_id":"c1","content":"r"},
            {"role":"user","content":"more"}
        ],
        "tools":[{"type":"function","function":{"name":"f","description":"d","parameters":{"type":"object","properties":{"a":{"type":"integer"}}},"strict":false}}],
        "tool_choice":"auto","parallel_tool_calls":true,"max_tokens":10,"temperature":0.7,"top_p":0.5,
        "stop":["s"],"seed":1,"presence_penalty":0.5,"frequency_penalty":0.25,"user":"me",
        "response_format":{"type":"json_object"},"reasoning_effort":"low","stream":false});
    let req = dec(original.clone());
    let (body, warnings) = enc(&req, "m");
    assert!(warnings.is_empty(), "{warnings:?}");
    let mut expect = original;
    expect.as_object_mut().unwrap().remove("stream");
    assert_eq!(body, expect);
    let again = dec(body);
    assert_eq!(again, req);
}

#[test]
fn empty_and_unknown_messages_are_dropped_with_warnings() {
    let req = dec(json!({"model":"m","messages":[
        {"role":"user","content":null},
        {"role":"user","content":[{"type":"input_audio","input_audio":{}}]},
        {"role":"critic","content":"x"},
        {"role":"user","content":"real"},
        {"role":"assistant","content":""}
    ]}));
    assert_eq!(
        req.messages,
        vec![Message {
            role: Role::User,
            content: vec![text("real")]
        }]
    );
    assert_eq!(req.warnings.len(), 5, "{:?}", req.warnings);
}
