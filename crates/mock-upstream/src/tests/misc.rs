//! Model lists, embeddings, recording, the disconnect flag, unknown routes.

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{build_request, get, post, post_h, start};
use crate::{MockState, MockUpstream};

#[tokio::test]
async fn model_lists() {
    let mock = start().await;
    let v = get(&mock, "/v1/models", &[]).await.json();
    assert_eq!(v["object"], "list");
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["mock-small", "mock-large", "mock-embed"]);
    assert_eq!(v["data"][0]["object"], "model");
    assert_eq!(v["data"][0]["owned_by"], "mock");

    let v = get(&mock, "/v1/models", &[("anthropic-version", "2023-06-01")])
        .await
        .json();
    assert_eq!(v["data"][0]["type"], "model");
    assert_eq!(v["data"][0]["display_name"], "Mock Small");
    assert!(v["data"][0]["created_at"].is_string());
    assert_eq!(v["has_more"], false);
    assert_eq!(v["first_id"], "mock-small");
    assert_eq!(v["last_id"], "mock-embed");

    let v = get(&mock, "/v1beta/models", &[]).await.json();
    assert_eq!(v["models"][0]["name"], "models/mock-small");
    assert!(v["models"][0]["supportedGenerationMethods"]
        .as_array()
        .unwrap()
        .contains(&json!("generateContent")));

    let v = get(&mock, "/models", &[]).await.json();
    assert_eq!(v["object"], "list");
    let v = get(&mock, "/v1/models/mock-large", &[]).await.json();
    assert_eq!(v["id"], "mock-large");
    let r = get(&mock, "/v1/models/nope", &[]).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn embeddings() {
    let mock = start().await;
    let v = post(
        &mock,
        "/v1/embeddings",
        &json!({"model": "mock-embed", "input": "hello"}),
    )
    .await
    .json();
    assert_eq!(v["object"], "list");
    assert_eq!(v["model"], "mock-embed");
    let e1 = v["data"][0]["embedding"].as_array().unwrap().clone();
    assert_eq!(e1.len(), 64);
    assert_eq!(v["data"][0]["object"], "embedding");
    assert_eq!(v["usage"]["prompt_tokens"], 1);

    let v = post(
        &mock,
        "/v1/embeddings",
        &json!({"model": "e", "input": ["x y", "hello"]}),
    )
    .await
    .json();
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    assert_eq!(v["data"][1]["index"], 1);
    assert_eq!(v["data"][1]["embedding"].as_array().unwrap(), &e1);
    assert_ne!(v["data"][0]["embedding"].as_array().unwrap(), &e1);
    assert_eq!(v["usage"]["total_tokens"], 3);

    let v = post(
        &mock,
        "/v1/embeddings",
        &json!({"input": "hello", "encoding_format": "base64"}),
    )
    .await
    .json();
    let b64 = v["data"][0]["embedding"].as_str().unwrap();
    assert_eq!(b64.len(), 344); // 256 bytes

    let v = post(
        &mock,
        "/v1beta/models/mock-embed:embedContent",
        &json!({"content": {"parts": [{"text": "hello"}]}}),
    )
    .await
    .json();
    assert_eq!(v["embedding"]["values"].as_array().unwrap(), &e1);
}

#[tokio::test]
async fn recording() {
    let mock = start().await;
    let b = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    post_h(
        &mock,
        "/v1/chat/completions?x=1",
        &[("X-Custom", "Yes")],
        &b,
    )
    .await;
    get(&mock, "/v1/models", &[]).await;
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 2);
    let r = &reqs[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/v1/chat/completions");
    assert_eq!(r.query.as_deref(), Some("x=1"));
    assert_eq!(r.header("x-custom"), Some("Yes"));
    assert!(r.headers.iter().any(|(k, _)| k == "x-custom"));
    assert_eq!(r.json(), Some(b));
    assert!(!r.was_disconnected());
    assert_eq!(reqs[1].path, "/v1/models");
    assert_eq!(mock.last_request().unwrap().method, "GET");
    mock.clear();
    assert!(mock.requests().is_empty());

    let quiet = MockUpstream::start_with(MockState::new(false))
        .await
        .unwrap();
    let r = get(&quiet, "/v1/models", &[]).await;
    assert_eq!(r.status, 200);
    assert!(quiet.requests().is_empty());
}

#[tokio::test]
async fn disconnect_sets_flag() {
    let mock = start().await;
    let b =
        json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "hello"}]});
    let req = build_request(
        "POST",
        "/v1/chat/completions",
        &[("x-mock", "delay=100")],
        Some(&b),
    );
    let mut tcp = TcpStream::connect(mock.addr()).await.unwrap();
    tcp.write_all(&req).await.unwrap();
    let mut buf = [0u8; 1024];
    let n = tcp.read(&mut buf).await.unwrap();
    assert!(n > 0);
    drop(tcp);
    let mut flagged = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if mock.requests()[0].was_disconnected() {
            flagged = true;
            break;
        }
    }
    assert!(flagged, "disconnect flag not set");

    // A stream read to its end is not a disconnect.
    mock.clear();
    let r = post(&mock, "/v1/chat/completions", &b).await;
    assert!(r.complete);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!mock.requests()[0].was_disconnected());
}

#[tokio::test]
async fn unknown_route_and_drop() {
    let mock = start().await;
    let r = post(&mock, "/v1/nothing", &json!({})).await;
    assert_eq!(r.status, 404);
    assert!(r.json()["error"]["message"].is_string());
    assert_eq!(get(&mock, "/health", &[]).await.status, 200);
    let addr = mock.addr();
    assert_eq!(mock.url(), format!("http://{addr}"));
    drop(mock);
    let mut refused = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        if TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
    }
    assert!(refused, "server still accepting after drop");
}

#[tokio::test]
async fn recorder_endpoint_lists_and_clears() {
    let mock = super::start().await;
    let b = serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    super::post_h(&mock, "/v1/chat/completions?x=1", &[("x-a", "b")], &b).await;
    let v = super::get(&mock, "/__mock/requests", &[]).await.json();
    let reqs = v["requests"].as_array().unwrap();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0]["method"], "POST");
    assert_eq!(reqs[0]["path"], "/v1/chat/completions");
    assert_eq!(reqs[0]["query"], "x=1");
    assert_eq!(reqs[0]["headers"]["x-a"], "b");
    assert_eq!(reqs[0]["body"], b);
    assert_eq!(reqs[0]["disconnected"], false);
    let r = super::request(&mock, "DELETE", "/__mock/requests", &[], None).await;
    assert_eq!(r.status, 200);
    assert!(mock.requests().is_empty());
}
