//! Every client format × every upstream format, end to end through the real binary against the
//! mock upstream: text (stream and non-stream), tool calls, errors in the client's format.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use mock_upstream::MockUpstream;
use serde_json::{json, Value};

const FORMATS: [&str; 4] = ["openai", "anthropic", "gemini", "responses"];

async fn setup() -> (tempfile::TempDir, MockUpstream, Gateway) {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let mut cfg = String::new();
    for f in FORMATS {
        let base = if f == "gemini" {
            format!("{}/v1beta", mock.url())
        } else {
            format!("{}/v1", mock.url())
        };
        cfg.push_str(&format!(
            "[[nodes]]\nid = \"up-{f}\"\nformat = \"{f}\"\nbase_url = \"{base}\"\napi_key = \"{UPSTREAM_SECRET}\"\nmodels = [\"mock-small\"]\n\n"
        ));
    }
    // these tests provoke upstream failures on purpose, many per provider: keep circuits closed
    cfg.push_str("[settings]\nbreaker_failure_threshold = 0\n");
    let path = dir.path().join("omniroute.toml");
    std::fs::write(&path, cfg).unwrap();
    let gw = Launch::new(dir.path())
        .arg("--config")
        .arg(path.to_str().unwrap())
        .start()
        .await;
    (dir, mock, gw)
}

fn weather_tool_openai() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}}])
}

/// Send `text` as `client` to `model`; returns (status, body text).
async fn send(
    gw: &Gateway,
    client: &str,
    model: &str,
    text: &str,
    stream: bool,
    tools: bool,
) -> (u16, String) {
    let schema = json!({"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]});
    let (url, body) = match client {
        "openai" => {
            let mut b = json!({"model": model, "stream": stream, "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}]});
            if tools {
                b["tools"] = weather_tool_openai();
            }
            (gw.v1("/chat/completions"), b)
        }
        "anthropic" => {
            let mut b = json!({"model": model, "max_tokens": 256, "stream": stream, "system": "be brief", "messages": [{"role": "user", "content": text}]});
            if tools {
                b["tools"] = json!([{"name": "get_weather", "description": "Weather", "input_schema": schema}]);
            }
            (gw.v1("/messages"), b)
        }
        "responses" => {
            let mut b = json!({"model": model, "stream": stream, "instructions": "be brief", "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}]});
            if tools {
                b["tools"] = json!([{"type": "function", "name": "get_weather", "description": "Weather", "parameters": schema}]);
            }
            (gw.v1("/responses"), b)
        }
        "gemini" => {
            let method = if stream {
                "streamGenerateContent?alt=sse"
            } else {
                "generateContent"
            };
            let mut b = json!({"systemInstruction": {"parts": [{"text": "be brief"}]}, "contents": [{"role": "user", "parts": [{"text": text}]}]});
            if tools {
                b["tools"] = json!([{"functionDeclarations": [{"name": "get_weather", "description": "Weather", "parametersJsonSchema": schema}]}]);
            }
            (format!("{}/v1beta/models/{model}:{method}", gw.url), b)
        }
        _ => unreachable!(),
    };
    let r = gw.http.post(url).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

/// The visible text of a response in `client` format (stream or not).
fn text_of(client: &str, body: &str, stream: bool) -> String {
    if !stream {
        let v: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}"));
        return match client {
            "openai" => v["choices"][0]["message"]["content"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            "anthropic" => v["content"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|b| b["type"] == "text")
                .map(|b| b["text"].as_str().unwrap())
                .collect(),
            "responses" => v["output"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|i| i["type"] == "message")
                .flat_map(|i| {
                    i["content"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|c| c["text"].as_str().unwrap_or("").to_string())
                })
                .collect(),
            "gemini" => v["candidates"][0]["content"]["parts"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["thought"] != true)
                .filter_map(|p| p["text"].as_str())
                .collect(),
            _ => unreachable!(),
        };
    }
    let events: Vec<Value> = sse_data(body)
        .iter()
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect();
    match client {
        "openai" => events
            .iter()
            .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
            .collect(),
        "anthropic" => events
            .iter()
            .filter(|e| e["type"] == "content_block_delta" && e["delta"]["type"] == "text_delta")
            .map(|e| e["delta"]["text"].as_str().unwrap().to_string())
            .collect(),
        "responses" => events
            .iter()
            .filter(|e| e["type"] == "response.output_text.delta")
            .map(|e| e["delta"].as_str().unwrap().to_string())
            .collect(),
        "gemini" => events
            .iter()
            .flat_map(|e| {
                e["candidates"][0]["content"]["parts"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter(|p| p["thought"] != true)
            .filter_map(|p| p["text"].as_str().map(str::to_string))
            .collect(),
        _ => unreachable!(),
    }
}

/// `(name, arguments JSON)` of tool calls in a response in `client` format.
fn tool_calls_of(client: &str, body: &str, stream: bool) -> Vec<(String, Value)> {
    if !stream {
        let v: Value = serde_json::from_str(body).unwrap();
        return match client {
            "openai" => v["choices"][0]["message"]["tool_calls"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|c| {
                    (
                        c["function"]["name"].as_str().unwrap().to_string(),
                        serde_json::from_str(c["function"]["arguments"].as_str().unwrap()).unwrap(),
                    )
                })
                .collect(),
            "anthropic" => v["content"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|b| b["type"] == "tool_use")
                .map(|b| (b["name"].as_str().unwrap().to_string(), b["input"].clone()))
                .collect(),
            "responses" => v["output"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|i| i["type"] == "function_call")
                .map(|i| {
                    (
                        i["name"].as_str().unwrap().to_string(),
                        serde_json::from_str(i["arguments"].as_str().unwrap()).unwrap(),
                    )
                })
                .collect(),
            "gemini" => v["candidates"][0]["content"]["parts"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p.get("functionCall").is_some())
                .map(|p| {
                    (
                        p["functionCall"]["name"].as_str().unwrap().to_string(),
                        p["functionCall"]["args"].clone(),
                    )
                })
                .collect(),
            _ => unreachable!(),
        };
    }
    let events: Vec<Value> = sse_data(body)
        .iter()
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect();
    match client {
        "openai" => {
            let mut calls: Vec<(String, String)> = Vec::new();
            for e in &events {
                for tc in e["choices"][0]["delta"]["tool_calls"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                {
                    let i = tc["index"].as_u64().unwrap() as usize;
                    if calls.len() <= i {
                        calls.resize(i + 1, (String::new(), String::new()));
                    }
                    if let Some(n) = tc["function"]["name"].as_str() {
                        calls[i].0.push_str(n);
                    }
                    if let Some(a) = tc["function"]["arguments"].as_str() {
                        calls[i].1.push_str(a);
                    }
                }
            }
            calls
                .into_iter()
                .map(|(n, a)| (n, serde_json::from_str(&a).unwrap()))
                .collect()
        }
        "anthropic" => {
            let mut calls: Vec<(String, String)> = Vec::new();
            for e in &events {
                if e["type"] == "content_block_start" && e["content_block"]["type"] == "tool_use" {
                    calls.push((
                        e["content_block"]["name"].as_str().unwrap().to_string(),
                        String::new(),
                    ));
                }
                if e["type"] == "content_block_delta" && e["delta"]["type"] == "input_json_delta" {
                    calls
                        .last_mut()
                        .unwrap()
                        .1
                        .push_str(e["delta"]["partial_json"].as_str().unwrap());
                }
            }
            calls
                .into_iter()
                .map(|(n, a)| (n, serde_json::from_str(&a).unwrap()))
                .collect()
        }
        "responses" => events
            .iter()
            .filter(|e| {
                e["type"] == "response.output_item.done" && e["item"]["type"] == "function_call"
            })
            .map(|e| {
                (
                    e["item"]["name"].as_str().unwrap().to_string(),
                    serde_json::from_str(e["item"]["arguments"].as_str().unwrap()).unwrap(),
                )
            })
            .collect(),
        "gemini" => events
            .iter()
            .flat_map(|e| {
                e["candidates"][0]["content"]["parts"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter(|p| p.get("functionCall").is_some())
            .map(|p| {
                (
                    p["functionCall"]["name"].as_str().unwrap().to_string(),
                    p["functionCall"]["args"].clone(),
                )
            })
            .collect(),
        _ => unreachable!(),
    }
}

/// The last event shows a well-formed ending in the client's format.
fn assert_well_terminated(client: &str, body: &str) {
    let data = sse_data(body);
    match client {
        "openai" => {
            assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{body}");
            assert!(
                data.iter().any(|d| d.contains("\"finish_reason\":\"")),
                "no finish_reason: {body}"
            );
        }
        "anthropic" => {
            assert!(
                body.contains("event: message_delta")
                    && body.trim_end().ends_with("}")
                    && body.contains("event: message_stop"),
                "{body}"
            );
        }
        "responses" => assert!(body.contains("event: response.completed"), "{body}"),
        "gemini" => assert!(
            data.last().is_some_and(|d| d.contains("finishReason")),
            "{body}"
        ),
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_through_every_format_pair() {
    let (_d, mock, gw) = setup().await;
    for client in FORMATS {
        for upstream in FORMATS {
            for stream in [false, true] {
                mock.clear();
                let model = format!("up-{upstream}/mock-small");
                let prompt = format!("hello from {client} to {upstream}");
                let (status, body) = send(&gw, client, &model, &prompt, stream, false).await;
                assert_eq!(status, 200, "{client}->{upstream} stream={stream}: {body}");
                assert_eq!(
                    text_of(client, &body, stream),
                    format!("echo: {prompt}"),
                    "{client}->{upstream} stream={stream}: {body}"
                );
                if stream {
                    assert_well_terminated(client, &body);
                }
                let rec = mock.last_request().unwrap();
                let expect_path = match upstream {
                    "openai" => "/v1/chat/completions".to_string(),
                    "anthropic" => "/v1/messages".to_string(),
                    "responses" => "/v1/responses".to_string(),
                    _ => format!(
                        "/v1beta/models/mock-small:{}",
                        if stream {
                            "streamGenerateContent"
                        } else {
                            "generateContent"
                        }
                    ),
                };
                assert_eq!(rec.path, expect_path, "{client}->{upstream}");
                let sent = rec.json().unwrap();
                let sent_text = sent.to_string();
                assert!(
                    sent_text.contains("be brief"),
                    "system prompt lost {client}->{upstream}: {sent_text}"
                );
                assert!(!sent_text.contains(UPSTREAM_SECRET));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_calls_through_every_format_pair() {
    let (_d, _mock, gw) = setup().await;
    for client in FORMATS {
        for upstream in FORMATS {
            for stream in [false, true] {
                let model = format!("up-{upstream}/mock-small");
                let (status, body) =
                    send(&gw, client, &model, "[[mock:tools]] weather?", stream, true).await;
                assert_eq!(status, 200, "{client}->{upstream} stream={stream}: {body}");
                let calls = tool_calls_of(client, &body, stream);
                assert_eq!(
                    calls.len(),
                    1,
                    "exactly one call {client}->{upstream} stream={stream}: {body}"
                );
                assert_eq!(calls[0].0, "get_weather");
                assert_eq!(
                    calls[0].1,
                    json!({"location": "Paris"}),
                    "{client}->{upstream} stream={stream}"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_arrive_in_the_client_format() {
    let (_d, _mock, gw) = setup().await;
    for client in FORMATS {
        for upstream in FORMATS {
            for stream in [false, true] {
                let model = format!("up-{upstream}/mock-small");
                let (status, body) =
                    send(&gw, client, &model, "[[mock:status=429]] hi", stream, false).await;
                assert_eq!(status, 429, "{client}->{upstream} stream={stream}: {body}");
                let v: Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("{body}"));
                match client {
                    "anthropic" => assert_eq!(v["type"], "error", "{body}"),
                    "gemini" => assert_eq!(v["error"]["status"], "RESOURCE_EXHAUSTED", "{body}"),
                    _ => assert_eq!(v["error"]["type"], "rate_limit_error", "{body}"),
                }
                // an HTTP 200 whose stream starts with an error is an HTTP error for the client
                let (status, body) = send(
                    &gw,
                    client,
                    &model,
                    "[[mock:error-event]] hi",
                    stream,
                    false,
                )
                .await;
                assert!(
                    status >= 500,
                    "{client}->{upstream} stream={stream}: {status} {body}"
                );
            }
        }
        let (status, body) = send(&gw, client, "nope/x", "hi", false, false).await;
        assert_eq!(status, 404, "{client}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abruptly_ended_stream_is_closed_in_the_client_format() {
    let (_d, _mock, gw) = setup().await;
    for client in FORMATS {
        for upstream in FORMATS {
            let model = format!("up-{upstream}/mock-small");
            let (status, body) = send(
                &gw,
                client,
                &model,
                "[[mock:chunks=6;cut=2]] one two three four five six",
                true,
                false,
            )
            .await;
            assert_eq!(status, 200, "{client}->{upstream}: {body}");
            let data = sse_data(&body);
            match client {
                "openai" => {
                    assert!(
                        data.iter().any(|d| d.contains("\"error\"")),
                        "{client}->{upstream}: {body}"
                    );
                    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
                }
                "anthropic" => assert!(
                    body.contains("event: error"),
                    "{client}->{upstream}: {body}"
                ),
                "responses" => assert!(
                    body.contains("response.failed") || body.contains("event: error"),
                    "{client}->{upstream}: {body}"
                ),
                "gemini" => assert!(
                    data.last().is_some_and(|d| d.contains("\"error\"")),
                    "{client}->{upstream}: {body}"
                ),
                _ => unreachable!(),
            }
            assert!(
                !body.contains("response.completed"),
                "a cut stream must not look complete: {body}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_lists_in_each_client_shape() {
    let (_d, _mock, gw) = setup().await;
    let v: Value = gw
        .http
        .get(gw.v1("/models"))
        .header("anthropic-version", "2023-06-01")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["data"][0]["type"], "model", "{v}");
    assert_eq!(v["has_more"], false);
    let v: Value = gw
        .http
        .get(format!("{}/v1beta/models", gw.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = v["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"models/up-gemini/mock-small"), "{names:?}");
    let r = gw.http.post(gw.v1("/messages/count_tokens")).json(&json!({"model": "up-openai/mock-small", "messages": [{"role": "user", "content": "count these words please"}]})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.json::<Value>().await.unwrap()["input_tokens"]
            .as_u64()
            .unwrap()
            >= 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn normalized_providers_are_sanitized_even_in_the_same_format() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let cfg = format!(
        "[providers.groq]\nbase_url = \"{}/v1\"\n\n[[connections]]\nprovider = \"groq\"\nname = \"k\"\napi_key = \"{UPSTREAM_SECRET}\"\n",
        mock.url()
    );
    let path = dir.path().join("omniroute.toml");
    std::fs::write(&path, cfg).unwrap();
    let gw = Launch::new(dir.path())
        .arg("--config")
        .arg(path.to_str().unwrap())
        .start()
        .await;
    let (status, body) = send(&gw, "openai", "groq/llama-x", "hi there", false, false).await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "echo: hi there");
    assert!(
        v.get("system_fingerprint").is_none(),
        "non-standard fields are stripped: {body}"
    );
    assert_eq!(
        v["model"], "groq/llama-x",
        "the client's model name is reported"
    );
    let (status, body) = send(
        &gw,
        "openai",
        "groq/llama-x",
        "[[mock:reasoning]] think first",
        true,
        false,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(text_of("openai", &body, true), "echo: think first");
    assert!(body.contains("reasoning_content"), "{body}");
    assert_well_terminated("openai", &body);
    // the request went out as a clean OpenAI body with the upstream model id
    let sent = mock.last_request().unwrap().json().unwrap();
    assert_eq!(sent["model"], "llama-x");
    assert_eq!(sent["stream_options"]["include_usage"], true);
}
