//! Agent loops: `call=NAME[:{args}]` picks a declared tool (args given or synthesized from its
//! schema), a tool result as the last message ends the loop with `done: ...`, and directives
//! come from the most recent user text of the whole conversation.

use serde_json::{json, Value};

use super::{parse_json, post, post_h, start, Resp};

const FORMATS: [&str; 4] = ["openai", "anthropic", "gemini", "responses"];

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "file_path": {"type": "string"},
            "limit": {"type": "integer"},
            "verbose": {"type": ["boolean", "null"]},
            "mode": {"type": "string", "enum": ["fast", "slow"]},
            "pattern": {"type": "string"},
            "offset": {"type": "number"},
        },
        "required": ["file_path", "limit", "verbose", "mode", "pattern"],
    })
}

/// (path, body) of a request in `format` with two tools (`Bash`, `Read`) and `messages`
/// given as (role, text) where role `tool` is a tool result.
fn request(format: &str, stream: bool, turns: &[(&str, &str)]) -> (String, Value) {
    let s = schema();
    let bash = json!({"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]});
    match format {
        "openai" => {
            let messages: Vec<Value> = turns
                .iter()
                .map(|(role, text)| match *role {
                    "tool" => json!({"role": "tool", "tool_call_id": "c1", "content": text}),
                    "assistant" => json!({"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "Read", "arguments": "{}"}}]}),
                    r => json!({"role": r, "content": text}),
                })
                .collect();
            (
                "/v1/chat/completions".into(),
                json!({"model": "m", "stream": stream, "messages": messages, "tools": [
                    {"type": "function", "function": {"name": "Bash", "parameters": bash}},
                    {"type": "function", "function": {"name": "Read", "parameters": s}},
                ]}),
            )
        }
        "anthropic" => {
            let messages: Vec<Value> = turns
                .iter()
                .map(|(role, text)| match *role {
                    "tool" => json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": text}]}]}),
                    "assistant" => json!({"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Read", "input": {}}]}),
                    r => json!({"role": r, "content": [{"type": "text", "text": "<system-reminder>x</system-reminder>"}, {"type": "text", "text": text}]}),
                })
                .collect();
            (
                "/v1/messages".into(),
                json!({"model": "m", "max_tokens": 100, "stream": stream, "messages": messages, "tools": [
                    {"name": "Bash", "input_schema": bash},
                    {"name": "Read", "input_schema": s},
                ]}),
            )
        }
        "gemini" => {
            let contents: Vec<Value> = turns
                .iter()
                .map(|(role, text)| match *role {
                    "tool" => json!({"role": "user", "parts": [{"functionResponse": {"name": "Read", "response": {"output": text}}}]}),
                    "assistant" => json!({"role": "model", "parts": [{"functionCall": {"name": "Read", "args": {}}}]}),
                    _ => json!({"role": "user", "parts": [{"text": "<session_context/>"}, {"text": text}]}),
                })
                .collect();
            let method = if stream {
                "streamGenerateContent?alt=sse"
            } else {
                "generateContent"
            };
            (
                format!("/v1beta/models/g:{method}"),
                json!({"contents": contents, "tools": [{"functionDeclarations": [
                    {"name": "Bash", "parametersJsonSchema": bash},
                    {"name": "Read", "parametersJsonSchema": s},
                ]}]}),
            )
        }
        "responses" => {
            let input: Vec<Value> = turns
                .iter()
                .map(|(role, text)| match *role {
                    "tool" => json!({"type": "function_call_output", "call_id": "c1", "output": text}),
                    "assistant" => json!({"type": "function_call", "call_id": "c1", "name": "Read", "arguments": "{}"}),
                    r => json!({"type": "message", "role": r, "content": [{"type": "input_text", "text": text}]}),
                })
                .collect();
            (
                "/v1/responses".into(),
                json!({"model": "m", "stream": stream, "input": input, "tools": [
                    {"type": "namespace", "name": "ns", "tools": [{"type": "function", "name": "Inner", "parameters": bash}]},
                    {"type": "function", "name": "Bash", "parameters": bash},
                    {"type": "function", "name": "Read", "parameters": s},
                ]}),
            )
        }
        _ => unreachable!(),
    }
}

/// (visible text, tool calls as (name, args)) of a response in `format`.
fn answer(format: &str, stream: bool, r: &Resp) -> (String, Vec<(String, Value)>) {
    assert_eq!(r.status, 200, "{}", r.text());
    let mut text = String::new();
    let mut calls: Vec<(String, Value)> = Vec::new();
    if !stream {
        let v = r.json();
        match format {
            "openai" => {
                let m = &v["choices"][0]["message"];
                text = m["content"].as_str().unwrap_or("").into();
                for c in m["tool_calls"].as_array().into_iter().flatten() {
                    calls.push((
                        c["function"]["name"].as_str().unwrap().into(),
                        parse_json(c["function"]["arguments"].as_str().unwrap()),
                    ));
                }
            }
            "anthropic" => {
                for b in v["content"].as_array().unwrap() {
                    match b["type"].as_str().unwrap() {
                        "text" => text.push_str(b["text"].as_str().unwrap()),
                        "tool_use" => {
                            calls.push((b["name"].as_str().unwrap().into(), b["input"].clone()));
                        }
                        _ => {}
                    }
                }
            }
            "gemini" => {
                for p in v["candidates"][0]["content"]["parts"].as_array().unwrap() {
                    if let Some(t) = p["text"].as_str() {
                        text.push_str(t);
                    }
                    if let Some(c) = p.get("functionCall") {
                        calls.push((c["name"].as_str().unwrap().into(), c["args"].clone()));
                    }
                }
            }
            "responses" => {
                for i in v["output"].as_array().unwrap() {
                    match i["type"].as_str().unwrap() {
                        "message" => text.push_str(i["content"][0]["text"].as_str().unwrap()),
                        "function_call" => calls.push((
                            i["name"].as_str().unwrap().into(),
                            parse_json(i["arguments"].as_str().unwrap()),
                        )),
                        _ => {}
                    }
                }
            }
            _ => unreachable!(),
        }
        return (text, calls);
    }
    let events: Vec<Value> = r
        .events()
        .iter()
        .filter(|e| e.data != "[DONE]")
        .map(super::Event::json)
        .collect();
    let mut args = String::new();
    let mut name: Option<String> = None;
    for e in &events {
        match format {
            "openai" => {
                let d = &e["choices"][0]["delta"];
                if let Some(t) = d["content"].as_str() {
                    text.push_str(t);
                }
                for c in d["tool_calls"].as_array().into_iter().flatten() {
                    if let Some(n) = c["function"]["name"].as_str() {
                        name = Some(n.into());
                    }
                    args.push_str(c["function"]["arguments"].as_str().unwrap_or(""));
                }
            }
            "anthropic" => match e["type"].as_str().unwrap() {
                "content_block_start" if e["content_block"]["type"] == "tool_use" => {
                    name = Some(e["content_block"]["name"].as_str().unwrap().into());
                }
                "content_block_delta" => {
                    let d = &e["delta"];
                    text.push_str(d["text"].as_str().unwrap_or(""));
                    args.push_str(d["partial_json"].as_str().unwrap_or(""));
                }
                _ => {}
            },
            "gemini" => {
                for p in e["candidates"][0]["content"]["parts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    text.push_str(p["text"].as_str().unwrap_or(""));
                    if let Some(c) = p.get("functionCall") {
                        calls.push((c["name"].as_str().unwrap().into(), c["args"].clone()));
                    }
                }
            }
            "responses" => match e["type"].as_str().unwrap() {
                "response.output_text.delta" => text.push_str(e["delta"].as_str().unwrap()),
                "response.function_call_arguments.delta" => {
                    args.push_str(e["delta"].as_str().unwrap());
                }
                "response.output_item.done" if e["item"]["type"] == "function_call" => {
                    name = Some(e["item"]["name"].as_str().unwrap().into());
                    assert_eq!(
                        parse_json(e["item"]["arguments"].as_str().unwrap()),
                        parse_json(&args)
                    );
                }
                _ => {}
            },
            _ => unreachable!(),
        }
    }
    if let Some(n) = name {
        calls.push((n, parse_json(&args)));
    }
    (text, calls)
}

async fn run(format: &str, stream: bool, turns: &[(&str, &str)]) -> (String, Vec<(String, Value)>) {
    let mock = start().await;
    let (path, body) = request(format, stream, turns);
    let r = post(&mock, &path, &body).await;
    answer(format, stream, &r)
}

#[tokio::test]
async fn call_synthesizes_args_from_schema() {
    let synthesized = json!({
        "file_path": "/tmp/omniroute-cli-e2e/hello.txt",
        "limit": 1,
        "verbose": false,
        "mode": "fast",
        "pattern": "hello",
    });
    for format in FORMATS {
        for stream in [false, true] {
            let (text, calls) = run(
                format,
                stream,
                &[(
                    "user",
                    "[[mock:call=Read]] read /tmp/omniroute-cli-e2e/hello.txt",
                )],
            )
            .await;
            assert_eq!(text, "", "{format} {stream}");
            assert_eq!(
                calls,
                [("Read".to_owned(), synthesized.clone())],
                "{format} {stream}"
            );
        }
    }
}

#[tokio::test]
async fn call_with_explicit_args_anywhere_in_text() {
    for format in FORMATS {
        for stream in [false, true] {
            let (text, calls) = run(
                format,
                stream,
                &[(
                    "user",
                    r#"please run it [[mock:call=Bash:{"command":"cat a, b; c"}]] now"#,
                )],
            )
            .await;
            assert_eq!(text, "", "{format} {stream}");
            assert_eq!(
                calls,
                [("Bash".to_owned(), json!({"command": "cat a, b; c"}))],
                "{format} {stream}"
            );
        }
    }
}

#[tokio::test]
async fn call_of_undeclared_tool_falls_back_to_text() {
    for format in FORMATS {
        for stream in [false, true] {
            let (text, calls) = run(format, stream, &[("user", "hi [[mock:call=Nope]]")]).await;
            assert!(calls.is_empty(), "{format} {stream}");
            // Anthropic and Gemini user turns carry a context part before the prompt.
            assert!(
                text.starts_with("echo: ") && text.ends_with("hi"),
                "{format} {stream}: {text}"
            );
        }
    }
}

#[tokio::test]
async fn namespaced_responses_tool_is_found() {
    let (_, calls) = run("responses", false, &[("user", "[[mock:call=Inner]]")]).await;
    assert_eq!(calls, [("Inner".to_owned(), json!({"command": "hello"}))]);
}

#[tokio::test]
async fn tool_result_last_answers_done() {
    let result = "1\tThe secret word is PINEAPPLE-42. Second line that is long enough to be cut off after eighty characters.";
    let expected: String = format!("done: {}", result.chars().take(80).collect::<String>());
    for format in FORMATS {
        for stream in [false, true] {
            let (text, calls) = run(
                format,
                stream,
                &[
                    ("user", "[[mock:call=Read]] read it"),
                    ("assistant", ""),
                    ("tool", result),
                ],
            )
            .await;
            assert!(calls.is_empty(), "{format} {stream}: called again");
            assert_eq!(text, expected, "{format} {stream}");
        }
    }
}

#[tokio::test]
async fn directives_come_from_the_most_recent_user_text() {
    let mock = start().await;
    for format in FORMATS {
        let turns = [
            ("user", "[[mock:status=500]] first"),
            ("user", "[[mock:chunks=2;usage=3,4]] second"),
            ("assistant", ""),
            ("tool", "ok"),
        ];
        let (path, body) = request(format, true, &turns);
        let r = post(&mock, &path, &body).await;
        let (text, _) = answer(format, true, &r);
        assert_eq!(text, "done: ok", "{format}");
        // A later user text wins over the earlier marker.
        let (path, body) = request(format, false, &turns[..2]);
        let r = post(&mock, &path, &body).await;
        let text = answer(format, false, &r).0;
        assert!(
            text.starts_with("echo: ") && text.ends_with("second"),
            "{format}: {text}"
        );
    }
}

#[tokio::test]
async fn header_call_and_tools_yield_to_a_tool_result() {
    let mock = start().await;
    for format in FORMATS {
        let turns = [("user", "go"), ("assistant", ""), ("tool", "result")];
        let (path, body) = request(format, false, &turns);
        for h in ["tools", "call=Read"] {
            let r = post_h(&mock, &path, &[("x-mock", h)], &body).await;
            let (text, calls) = answer(format, false, &r);
            assert!(calls.is_empty(), "{format} {h}");
            assert_eq!(text, "done: result", "{format} {h}");
        }
        // With user text last, the header's call applies.
        let (path, body) = request(format, false, &turns[..1]);
        let r = post_h(&mock, &path, &[("x-mock", "call=Bash")], &body).await;
        let (_, calls) = answer(format, false, &r);
        assert_eq!(
            calls,
            [("Bash".to_owned(), json!({"command": "hello"}))],
            "{format}"
        );
    }
}

#[tokio::test]
async fn structured_output_is_synthesized_json() {
    let mock = start().await;
    let schema = json!({
        "type": "object",
        "properties": {"reason": {"type": "string"}, "score": {"type": "integer"}},
        "required": ["reason", "score"],
    });
    let gemini_schema = json!({
        "type": "OBJECT",
        "properties": {"reason": {"type": "STRING"}, "score": {"type": "INTEGER"}},
        "required": ["reason", "score"],
    });
    let user = json!([{"role": "user", "content": "classify [[mock:call=Read]]"}]);
    let cases = [
        (
            "openai",
            json!({"model": "m", "messages": user, "response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": schema}}}),
        ),
        (
            "openai",
            json!({"model": "m", "messages": user, "response_format": {"type": "json_object"}}),
        ),
        (
            "anthropic",
            json!({"model": "m", "max_tokens": 9, "messages": user, "output_config": {"format": {"type": "json_schema", "schema": schema}}}),
        ),
        (
            "anthropic",
            json!({"model": "m", "max_tokens": 9, "messages": user, "output_format": {"type": "json_schema", "schema": schema}}),
        ),
        (
            "responses",
            json!({"model": "m", "input": "classify", "text": {"format": {"type": "json_schema", "name": "r", "schema": schema}}}),
        ),
        (
            "gemini",
            json!({"contents": [{"role": "user", "parts": [{"text": "classify"}]}], "generationConfig": {"responseMimeType": "application/json", "responseJsonSchema": gemini_schema}}),
        ),
        (
            "gemini",
            json!({"contents": [{"role": "user", "parts": [{"text": "classify"}]}], "generationConfig": {"responseMimeType": "application/json", "responseSchema": gemini_schema}}),
        ),
    ];
    for (format, body) in cases {
        let plain = body
            .get("response_format")
            .is_some_and(|f| f["type"] == "json_object");
        let expected = if plain {
            json!({})
        } else {
            json!({"reason": "hello", "score": 1})
        };
        for stream in [false, true] {
            let mut b = body.clone();
            let path = match format {
                "openai" => "/v1/chat/completions".to_owned(),
                "anthropic" => "/v1/messages".to_owned(),
                "responses" => "/v1/responses".to_owned(),
                _ if stream => "/v1beta/models/g:streamGenerateContent?alt=sse".to_owned(),
                _ => "/v1beta/models/g:generateContent".to_owned(),
            };
            if format != "gemini" {
                b["stream"] = json!(stream);
            }
            let r = post(&mock, &path, &b).await;
            let (text, calls) = answer(format, stream, &r);
            assert!(calls.is_empty(), "{format} {stream}");
            assert_eq!(parse_json(&text), expected, "{format} {stream}: {text}");
        }
    }
    // Without a JSON request the same prompt echoes.
    let b = json!({"model": "m", "messages": [{"role": "user", "content": "classify"}], "response_format": {"type": "text"}});
    let r = post(&mock, "/v1/chat/completions", &b).await;
    assert_eq!(answer("openai", false, &r).0, "echo: classify");
}

#[tokio::test]
async fn gemini_call_signature_and_strict() {
    let mock = start().await;
    let (path, body) = request("gemini", false, &[("user", "go")]);
    let h = [("x-mock", "call=Bash;reasoning;call-signature")];
    let v = post_h(&mock, &path, &h, &body).await.json();
    let parts = v["candidates"][0]["content"]["parts"].as_array().unwrap();
    assert_eq!(parts[0]["thought"], true);
    assert!(parts[0].get("thoughtSignature").is_none());
    assert_eq!(parts[1]["functionCall"]["name"], "Bash");
    assert_eq!(parts[1]["thoughtSignature"], "bW9jay1zaWduYXR1cmU=");

    let strict = [("x-mock", "strict")];
    let turns = [("user", "go"), ("assistant", ""), ("tool", "out")];
    let (path, mut body) = request("gemini", false, &turns);
    // Only Gemini 3+ models check signatures.
    let r = post_h(&mock, &path, &strict, &body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let path = path.replace("/models/g:", "/models/gemini-3-pro-preview:");
    let r = post_h(&mock, &path, &strict, &body).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["error"]["status"], "INVALID_ARGUMENT");
    assert!(r.text().contains("thought_signature"));
    body["contents"][1]["parts"][0]["thoughtSignature"] = json!("bW9jay1zaWduYXR1cmU=");
    let r = post_h(&mock, &path, &strict, &body).await;
    assert_eq!(answer("gemini", false, &r).0, "done: out");
    // Unsigned calls before the last user text are history, not the current turn.
    let (path, body) = request(
        "gemini",
        false,
        &[turns[0], turns[1], turns[2], ("user", "again")],
    );
    let path = path.replace("/models/g:", "/models/gemini-3.5-flash:");
    let r = post_h(&mock, &path, &strict, &body).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn anthropic_strict_thinking() {
    let mock = start().await;
    let strict = [("x-mock", "strict")];
    let turns = [("user", "go"), ("assistant", ""), ("tool", "out")];
    let (path, mut body) = request("anthropic", false, &turns);
    // Thinking off: a bare tool_use is fine.
    let r = post_h(&mock, &path, &strict, &body).await;
    assert_eq!(answer("anthropic", false, &r).0, "done: out");
    body["thinking"] = json!({"type": "enabled", "budget_tokens": 1024});
    let r = post_h(&mock, &path, &strict, &body).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");
    assert!(
        r.text().contains("must start with a thinking block"),
        "{}",
        r.text()
    );
    let blocks = body["messages"][1]["content"].as_array_mut().unwrap();
    blocks.insert(
        0,
        json!({"type": "thinking", "thinking": "t", "signature": "forged"}),
    );
    let r = post_h(&mock, &path, &strict, &body).await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("Invalid `signature`"), "{}", r.text());
    body["messages"][1]["content"][0]["signature"] = json!("bW9jay1zaWduYXR1cmU=");
    let r = post_h(&mock, &path, &strict, &body).await;
    assert_eq!(answer("anthropic", false, &r).0, "done: out");
}
