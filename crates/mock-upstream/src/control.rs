//! The control API under `/__mock/`: recorder, rules and stats. Never recorded or counted.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{json, Map, Value};

use crate::handler::{error_response, json_response, Format};
use crate::rules::{ActiveRule, MockRule};
use crate::state::MockState;

/// Prefix of every control path.
pub(crate) const PREFIX: &str = "/__mock/";

/// Serve `/__mock/{rest}`.
pub(crate) fn handle(state: &MockState, method: &Method, rest: &str, body: &[u8]) -> Response {
    let rest = rest.trim_end_matches('/');
    match rest {
        "requests" => recorder(state, method),
        "rules" => rules(state, method, body),
        "stats" => stats(state, method),
        _ => match rest.strip_prefix("rules/") {
            Some(id) => rule(state, method, id),
            None => error_response(
                Format::OpenAi,
                404,
                &format!("mock-upstream: no control endpoint {PREFIX}{rest}"),
                None,
            ),
        },
    }
}

fn not_allowed(allowed: &str) -> Response {
    error_response(
        Format::OpenAi,
        405,
        &format!("mock-upstream: method not allowed (use {allowed})"),
        None,
    )
}

fn bad_request(message: &str) -> Response {
    error_response(
        Format::OpenAi,
        400,
        &format!("mock-upstream: {message}"),
        None,
    )
}

/// `GET` lists the recorded requests (JSON), `DELETE` forgets them.
fn recorder(state: &MockState, method: &Method) -> Response {
    if *method == Method::DELETE {
        state.clear();
        return json_response(StatusCode::OK, &json!({"cleared": true}));
    }
    if *method != Method::GET {
        return not_allowed("GET or DELETE");
    }
    let list: Vec<Value> = state
        .requests()
        .iter()
        .map(|r| {
            let body = r
                .json()
                .unwrap_or_else(|| Value::String(String::from_utf8_lossy(&r.body).into_owned()));
            let headers: Map<String, Value> = r
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            json!({
                "method": r.method,
                "path": r.path,
                "query": r.query,
                "headers": headers,
                "body": body,
                "disconnected": r.was_disconnected(),
            })
        })
        .collect();
    json_response(StatusCode::OK, &json!({"requests": list}))
}

fn rule_json(r: &ActiveRule) -> Value {
    json!({
        "id": r.id,
        "script": r.rule.script,
        "key": r.rule.key,
        "model": r.rule.model,
        "times": r.rule.times,
        "remaining": r.remaining,
    })
}

/// `POST` adds a rule, `GET` lists them, `DELETE` removes them all.
fn rules(state: &MockState, method: &Method, body: &[u8]) -> Response {
    if *method == Method::POST {
        return match parse_rule(body) {
            Ok(rule) => json_response(StatusCode::OK, &json!({"id": state.add_rule(rule)})),
            Err(message) => bad_request(&message),
        };
    }
    if *method == Method::DELETE {
        let n = state.clear_rules();
        return json_response(StatusCode::OK, &json!({"deleted": n}));
    }
    if *method != Method::GET {
        return not_allowed("GET, POST or DELETE");
    }
    let list: Vec<Value> = state.rules().iter().map(rule_json).collect();
    json_response(StatusCode::OK, &json!({"rules": list}))
}

/// `GET` shows one live rule, `DELETE` removes it (404 when none has that id).
fn rule(state: &MockState, method: &Method, id: &str) -> Response {
    let Ok(id) = id.parse::<u64>() else {
        return bad_request(&format!("bad rule id {id:?}"));
    };
    let missing = || {
        error_response(
            Format::OpenAi,
            404,
            &format!("mock-upstream: no live rule {id}"),
            None,
        )
    };
    if *method == Method::DELETE {
        return if state.remove_rule(id) {
            json_response(StatusCode::OK, &json!({"deleted": 1}))
        } else {
            missing()
        };
    }
    if *method != Method::GET {
        return not_allowed("GET or DELETE");
    }
    match state.rules().iter().find(|r| r.id == id) {
        Some(r) => json_response(StatusCode::OK, &rule_json(r)),
        None => missing(),
    }
}

/// `{"script": "...", "key"?: "...", "model"?: "...", "times"?: N ≥ 1}`.
fn parse_rule(body: &[u8]) -> Result<MockRule, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("rule body is not JSON: {e}"))?;
    let Value::Object(obj) = v else {
        return Err("a rule is a JSON object".to_owned());
    };
    if let Some(k) = obj
        .keys()
        .find(|k| !matches!(k.as_str(), "script" | "key" | "model" | "times"))
    {
        return Err(format!(
            "unknown rule field {k:?} (expected script, key, model, times)"
        ));
    }
    let text = |name: &str| -> Result<Option<String>, String> {
        match obj.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("rule field {name:?} must be a string")),
        }
    };
    let script = text("script")?.ok_or("rule field \"script\" is required")?;
    let times = match obj.get("times") {
        None | Some(Value::Null) => None,
        Some(t) => Some(
            t.as_u64()
                .filter(|n| *n > 0)
                .ok_or("rule field \"times\" must be a positive integer")?,
        ),
    };
    Ok(MockRule {
        script,
        key: text("key")?,
        model: text("model")?,
        times,
    })
}

/// `GET` returns the counters, `DELETE` resets them.
fn stats(state: &MockState, method: &Method) -> Response {
    if *method == Method::DELETE {
        state.reset_stats();
        return json_response(StatusCode::OK, &json!({"cleared": true}));
    }
    if *method != Method::GET {
        return not_allowed("GET or DELETE");
    }
    let s = state.stats();
    json_response(
        StatusCode::OK,
        &json!({"total": s.total, "by_key": s.by_key, "by_model": s.by_model}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_bodies() {
        let r = parse_rule(br#"{"script": "status=429", "key": "sk-a", "times": 2}"#);
        assert_eq!(
            r,
            Ok(MockRule {
                script: "status=429".into(),
                key: Some("sk-a".into()),
                model: None,
                times: Some(2),
            })
        );
        let r = parse_rule(br#"{"script": "x", "model": null, "times": null}"#);
        assert_eq!(r, Ok(MockRule::new("x")));
        for bad in [
            &br#"{"key": "k"}"#[..],
            br#"{"script": 1}"#,
            br#"{"script": "x", "times": 0}"#,
            br#"{"script": "x", "times": -1}"#,
            br#"{"script": "x", "count": 1}"#,
            br#"["x"]"#,
            b"nope",
        ] {
            assert!(parse_rule(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
