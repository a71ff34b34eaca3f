//! The OpenAPI 3.1 description of the client API (`/v1`, `/v1beta`) and the management API
//! (`/api`), served at `GET /openapi.json`. Built from one table of operations; a test checks
//! that it names every route the routers declare, and the schema-driven fuzzer
//! (`scripts/fuzz-api`) runs against it.

use serde_json::{json, Map, Value};

/// Who may call an operation.
#[derive(Clone, Copy)]
enum Sec {
    /// The login routes: anyone.
    Public,
    /// A dashboard session (cookie + CSRF header on state changes) or the admin key.
    Admin,
    /// A gateway key (required only with `require_api_key`).
    Gateway,
}

struct Op {
    method: &'static str,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    sec: Sec,
    body: Option<Value>,
    query: &'static [(&'static str, &'static str)],
}

fn obj(props: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": props, "required": required})
}

fn s() -> Value {
    json!({"type": "string"})
}

fn bodies() -> Map<String, Value> {
    let mut m = Map::new();
    let msg = obj(
        json!({"role": {"type": "string", "enum": ["system", "user", "assistant"]}, "content": s()}),
        &["role", "content"],
    );
    m.insert(
        "ChatCompletionRequest".into(),
        obj(
            json!({
                "model": s(), "messages": {"type": "array", "items": msg, "minItems": 1},
                "stream": {"type": "boolean"}, "max_tokens": {"type": "integer", "minimum": 1},
                "temperature": {"type": "number", "minimum": 0, "maximum": 2},
            }),
            &["model", "messages"],
        ),
    );
    m.insert(
        "MessagesRequest".into(),
        obj(
            json!({
                "model": s(), "max_tokens": {"type": "integer", "minimum": 1},
                "messages": {"type": "array", "minItems": 1, "items": obj(
                    json!({"role": {"type": "string", "enum": ["user", "assistant"]}, "content": s()}),
                    &["role", "content"])},
                "system": s(), "stream": {"type": "boolean"},
            }),
            &["model", "max_tokens", "messages"],
        ),
    );
    m.insert(
        "CountTokensRequest".into(),
        obj(
            json!({"model": s(), "messages": {"type": "array", "items": obj(
                json!({"role": {"type": "string", "enum": ["user", "assistant"]}, "content": s()}),
                &["role", "content"])}}),
            &["model", "messages"],
        ),
    );
    m.insert(
        "ResponsesRequest".into(),
        obj(
            json!({"model": s(), "input": s(), "instructions": s(), "stream": {"type": "boolean"}}),
            &["model", "input"],
        ),
    );
    m.insert(
        "GenerateContentRequest".into(),
        obj(
            json!({"contents": {"type": "array", "minItems": 1, "items": obj(
                json!({"role": {"type": "string", "enum": ["user", "model"]},
                       "parts": {"type": "array", "items": obj(json!({"text": s()}), &["text"])}}),
                &["parts"])}}),
            &["contents"],
        ),
    );
    m.insert(
        "ProviderPatch".into(),
        obj(json!({"enabled": {"type": "boolean"}}), &["enabled"]),
    );
    m.insert(
        "CliToolApply".into(),
        obj(
            json!({"key": {"type": "string", "minLength": 1}, "model": s()}),
            &["key"],
        ),
    );
    m.insert(
        "EvalSet".into(),
        obj(
            json!({"name": s(), "description": s(), "cases": {"type": "array", "minItems": 1, "items": obj(
                json!({"id": s(), "name": s(), "input": s(), "system": s(),
                       "expect": obj(json!({"strategy": {"type": "string", "enum": ["exact", "contains", "regex", "custom"]},
                                            "value": s(), "pattern": s(), "predicate": {"type": "object"}}), &["strategy"])}),
                &["id", "name", "input", "expect"])}}),
            &["name", "cases"],
        ),
    );
    m.insert(
        "EvalRunRequest".into(),
        obj(
            json!({"set_id": s(), "targets": {"type": "array", "items": s(), "minItems": 1, "maxItems": 10}}),
            &["set_id", "targets"],
        ),
    );
    m.insert(
        "Translate".into(),
        obj(
            json!({"from": {"type": "string", "enum": ["auto", "openai", "anthropic", "gemini", "responses"]},
                   "to": {"type": "string", "enum": ["openai", "anthropic", "gemini", "responses"]},
                   "kind": {"type": "string", "enum": ["request", "response"]},
                   "body": {"type": "object"}, "model": s()}),
            &["to", "body"],
        ),
    );
    m.insert(
        "TesterChat".into(),
        obj(
            json!({"format": {"type": "string", "enum": ["openai", "anthropic", "gemini", "responses"]},
                   "model": {"type": "string", "minLength": 1}, "prompt": s(), "body": {"type": "object"}}),
            &["model"],
        ),
    );
    m.insert(
        "CredentialTest".into(),
        obj(
            json!({"provider": s(), "api_key": s(), "base_url": s()}),
            &["provider"],
        ),
    );
    m.insert(
        "Password".into(),
        obj(json!({"password": s()}), &["password"]),
    );
    m.insert(
        "PasswordChange".into(),
        obj(
            json!({"current_password": s(), "new_password": s()}),
            &["new_password"],
        ),
    );
    m.insert(
        "Connection".into(),
        obj(
            json!({"provider": s(), "name": s(), "priority": {"type": "integer"},
                   "enabled": {"type": "boolean"}, "api_key": {"type": ["string", "null"]},
                   "base_url": {"type": ["string", "null"]}, "settings": {"type": "object"}}),
            &[],
        ),
    );
    m.insert(
        "Node".into(),
        obj(
            json!({"id": s(), "prefix": s(), "name": s(),
                   "format": {"type": "string", "enum": ["openai", "anthropic", "gemini", "responses"]},
                   "base_url": s(), "auth": s(), "headers": {"type": "object", "additionalProperties": s()}}),
            &["format", "base_url"],
        ),
    );
    m.insert(
        "CustomModel".into(),
        obj(
            json!({"provider": s(), "model": s(), "type": s()}),
            &["provider", "model"],
        ),
    );
    m.insert(
        "Combo".into(),
        obj(
            json!({"name": s(), "models": {"type": "array", "items": s()}, "strategy": s(),
                   "enabled": {"type": "boolean"}, "weights": {"type": "array", "items": {"type": "integer", "minimum": 0}}}),
            &["name", "models"],
        ),
    );
    m.insert(
        "Key".into(),
        obj(
            json!({"name": s(), "expires_at": {"type": ["integer", "null"]},
                   "expires_in_days": {"type": "number"},
                   "models": {"type": ["array", "null"], "items": s()},
                   "allow_all": {"type": "boolean"}, "rpm": {"type": ["integer", "null"], "minimum": 1},
                   "kind": {"type": "string", "enum": ["gateway", "admin"]}}),
            &[],
        ),
    );
    m.insert(
        "Settings".into(),
        json!({"type": "object", "description": "any subset of the settings (GET /api/settings lists them)"}),
    );
    m.insert(
        "Price".into(),
        obj(
            json!({"input_per_m": {"type": "number", "minimum": 0}, "output_per_m": {"type": "number", "minimum": 0},
                   "cached_input_per_m": {"type": "number", "minimum": 0}, "reasoning_per_m": {"type": "number", "minimum": 0}}),
            &["input_per_m", "output_per_m"],
        ),
    );
    m.insert(
        "Budget".into(),
        obj(
            json!({"key_id": s(), "combo": s(), "step": s(), "limit_usd": {"type": "number", "minimum": 0},
                   "period": {"type": "string", "enum": ["day", "week", "month"]}}),
            &["limit_usd", "period"],
        ),
    );
    m.insert(
        "Error".into(),
        json!({"type": "object", "description": "an error in the client's format: OpenAI `{error: {message, type, code}}`, Anthropic `{type: \"error\", error: {type, message}}` or Google `{error: {code, message, status}}`"}),
    );
    m
}

fn body(name: &str) -> Option<Value> {
    Some(json!({"$ref": format!("#/components/schemas/{name}")}))
}

fn ops() -> Vec<Op> {
    use Sec::*;
    let op = |method, path, tag, summary, sec, body: Option<Value>| Op {
        method,
        path,
        tag,
        summary,
        sec,
        body,
        query: &[],
    };
    let q = |mut o: Op, query: &'static [(&'static str, &'static str)]| {
        o.query = query;
        o
    };
    const LOG_FILTERS: &[(&str, &str)] = &[
        ("limit", "integer"),
        ("before_id", "integer"),
        ("provider", "string"),
        ("model", "string"),
        ("api_key_id", "string"),
        ("combo", "string"),
        ("connection_id", "string"),
        ("status_min", "integer"),
        ("status_max", "integer"),
        ("since_ms", "integer"),
        ("until_ms", "integer"),
        ("search", "string"),
    ];
    vec![
        // client API
        op(
            "post",
            "/v1/chat/completions",
            "client",
            "OpenAI Chat Completions",
            Gateway,
            body("ChatCompletionRequest"),
        ),
        op(
            "post",
            "/v1/providers/{provider}/chat/completions",
            "client",
            "Chat Completions pinned to one provider",
            Gateway,
            body("ChatCompletionRequest"),
        ),
        op(
            "post",
            "/v1/messages",
            "client",
            "Anthropic Messages",
            Gateway,
            body("MessagesRequest"),
        ),
        op(
            "post",
            "/v1/messages/count_tokens",
            "client",
            "Anthropic token count",
            Gateway,
            body("CountTokensRequest"),
        ),
        op(
            "post",
            "/v1/responses",
            "client",
            "OpenAI Responses",
            Gateway,
            body("ResponsesRequest"),
        ),
        op(
            "get",
            "/v1/models",
            "client",
            "Routable models (OpenAI or, with anthropic-version, Anthropic shape)",
            Gateway,
            None,
        ),
        op(
            "get",
            "/v1/models/{id}",
            "client",
            "One routable model",
            Gateway,
            None,
        ),
        op(
            "post",
            "/v1/models/{id}",
            "client",
            "Gemini generateContent / streamGenerateContent / countTokens (`{model}:{method}`)",
            Gateway,
            body("GenerateContentRequest"),
        ),
        op(
            "get",
            "/v1beta/models",
            "client",
            "Gemini model list",
            Gateway,
            None,
        ),
        op(
            "get",
            "/v1beta/models/{rest}",
            "client",
            "One Gemini model",
            Gateway,
            None,
        ),
        op(
            "post",
            "/v1beta/models/{rest}",
            "client",
            "Gemini generateContent / streamGenerateContent / countTokens (`{model}:{method}`)",
            Gateway,
            body("GenerateContentRequest"),
        ),
        op("get", "/health", "system", "Liveness", Public, None),
        op("get", "/ready", "system", "Readiness", Public, None),
        op(
            "get",
            "/openapi.json",
            "system",
            "This description",
            Public,
            None,
        ),
        op(
            "get",
            "/metrics",
            "system",
            "Prometheus metrics",
            Admin,
            None,
        ),
        // login
        op(
            "get",
            "/api/auth/status",
            "auth",
            "Login state",
            Public,
            None,
        ),
        op(
            "post",
            "/api/auth/login",
            "auth",
            "Log in: session cookie and CSRF token",
            Public,
            body("Password"),
        ),
        op(
            "post",
            "/api/auth/setup",
            "auth",
            "Set the first password (this machine only)",
            Public,
            body("Password"),
        ),
        op(
            "post",
            "/api/auth/logout",
            "auth",
            "End this session",
            Public,
            None,
        ),
        op(
            "post",
            "/api/auth/password",
            "auth",
            "Change the password (ends other sessions)",
            Admin,
            body("PasswordChange"),
        ),
        op(
            "get",
            "/api/auth/sessions",
            "auth",
            "Live sessions",
            Admin,
            None,
        ),
        op(
            "delete",
            "/api/auth/sessions/{id}",
            "auth",
            "End a session",
            Admin,
            None,
        ),
        // management
        op("get", "/api/auth/lockouts", "auth", "Addresses locked out of the login", Admin, None),
        op(
            "delete",
            "/api/auth/lockouts/{ip}",
            "auth",
            "Lift an address's login lockout",
            Admin,
            None,
        ),
        op(
            "get",
            "/api/providers",
            "providers",
            "Catalog and custom providers",
            Admin,
            None,
        ),
        op(
            "patch",
            "/api/providers/{id}",
            "providers",
            "Block or unblock a provider",
            Admin,
            body("ProviderPatch"),
        ),
        op(
            "get",
            "/api/connections",
            "providers",
            "Connections (secrets masked)",
            Admin,
            None,
        ),
        op(
            "post",
            "/api/connections",
            "providers",
            "Add a connection",
            Admin,
            body("Connection"),
        ),
        op(
            "get",
            "/api/connections/{id}",
            "providers",
            "One connection",
            Admin,
            None,
        ),
        op(
            "patch",
            "/api/connections/{id}",
            "providers",
            "Change a connection",
            Admin,
            body("Connection"),
        ),
        op(
            "put",
            "/api/connections/{id}",
            "providers",
            "Change a connection",
            Admin,
            body("Connection"),
        ),
        op(
            "delete",
            "/api/connections/{id}",
            "providers",
            "Remove a connection",
            Admin,
            None,
        ),
        op(
            "post",
            "/api/connections/test",
            "providers",
            "Test credentials before saving them (nothing is stored)",
            Admin,
            body("CredentialTest"),
        ),
        op(
            "post",
            "/api/connections/{id}/test",
            "providers",
            "Test a connection",
            Admin,
            None,
        ),
        op(
            "get",
            "/api/provider-nodes",
            "providers",
            "Custom nodes",
            Admin,
            None,
        ),
        op(
            "post",
            "/api/provider-nodes",
            "providers",
            "Add a custom node",
            Admin,
            body("Node"),
        ),
        op(
            "put",
            "/api/provider-nodes/{id}",
            "providers",
            "Change a custom node",
            Admin,
            body("Node"),
        ),
        op(
            "delete",
            "/api/provider-nodes/{id}",
            "providers",
            "Remove a custom node",
            Admin,
            None,
        ),
        op(
            "get",
            "/api/provider-models",
            "providers",
            "Custom models",
            Admin,
            None,
        ),
        op(
            "post",
            "/api/provider-models",
            "providers",
            "Add a custom model",
            Admin,
            body("CustomModel"),
        ),
        q(
            op(
                "delete",
                "/api/provider-models",
                "providers",
                "Remove a custom model",
                Admin,
                None,
            ),
            &[("provider", "string"), ("model", "string")],
        ),
        op(
            "get",
            "/api/models/catalog",
            "providers",
            "Models by provider",
            Admin,
            None,
        ),
        op("get", "/api/combos", "routing", "Combos", Admin, None),
        op(
            "post",
            "/api/combos",
            "routing",
            "Add a combo",
            Admin,
            body("Combo"),
        ),
        op(
            "get",
            "/api/combos/{id}",
            "routing",
            "One combo",
            Admin,
            None,
        ),
        op(
            "put",
            "/api/combos/{id}",
            "routing",
            "Change a combo",
            Admin,
            body("Combo"),
        ),
        op(
            "delete",
            "/api/combos/{id}",
            "routing",
            "Remove a combo",
            Admin,
            None,
        ),
        op(
            "get",
            "/api/keys",
            "keys",
            "Gateway keys (masked)",
            Admin,
            None,
        ),
        op(
            "post",
            "/api/keys",
            "keys",
            "Create a gateway key (shown once)",
            Admin,
            body("Key"),
        ),
        op(
            "patch",
            "/api/keys/{id}",
            "keys",
            "Change a key's name and limits",
            Admin,
            body("Key"),
        ),
        op(
            "delete",
            "/api/keys/{id}",
            "keys",
            "Revoke a key",
            Admin,
            None,
        ),
        op(
            "post",
            "/api/keys/{id}/rotate",
            "keys",
            "Replace a key's secret (shown once)",
            Admin,
            None,
        ),
        op(
            "get",
            "/api/settings",
            "settings",
            "Every setting",
            Admin,
            None,
        ),
        op(
            "patch",
            "/api/settings",
            "settings",
            "Change settings",
            Admin,
            body("Settings"),
        ),
        op(
            "put",
            "/api/settings",
            "settings",
            "Change settings",
            Admin,
            body("Settings"),
        ),
        op(
            "delete",
            "/api/settings/{key}",
            "settings",
            "Reset a setting",
            Admin,
            None,
        ),
        op(
            "post",
            "/api/config/reload",
            "settings",
            "Re-apply the config file",
            Admin,
            None,
        ),
        op(
            "post",
            "/api/security/rotate-encryption-key",
            "settings",
            "Re-encrypt provider secrets under a new key",
            Admin,
            None,
        ),
        q(
            op("get", "/api/logs", "logs", "Request log", Admin, None),
            LOG_FILTERS,
        ),
        q(
            op(
                "get",
                "/api/logs/proxy",
                "logs",
                "Proxy log: every upstream call's route and addresses",
                Admin,
                None,
            ),
            LOG_FILTERS,
        ),
        op(
            "get",
            "/api/logs/{id}",
            "logs",
            "One request with its attempts",
            Admin,
            None,
        ),
        q(
            op(
                "get",
                "/api/analytics",
                "logs",
                "Requests, tokens, cost, errors and latency over time",
                Admin,
                None,
            ),
            &[
                ("since_ms", "integer"),
                ("until_ms", "integer"),
                ("bucket", "string"),
                ("group_by", "string"),
            ],
        ),
        q(
            op("get", "/api/audit", "logs", "Audit log", Admin, None),
            &[("limit", "integer"), ("before_id", "integer")],
        ),
        op("get", "/api/usage", "costs", "Usage per key", Admin, None),
        op(
            "get",
            "/api/usage/budget",
            "costs",
            "Budgets with spend",
            Admin,
            None,
        ),
        op(
            "post",
            "/api/usage/budget",
            "costs",
            "Set a budget",
            Admin,
            body("Budget"),
        ),
        op(
            "delete",
            "/api/usage/budget/{id}",
            "costs",
            "Remove a budget",
            Admin,
            None,
        ),
        op(
            "get",
            "/api/pricing",
            "costs",
            "Prices (defaults and the owner's)",
            Admin,
            None,
        ),
        op(
            "put",
            "/api/pricing/{model}",
            "costs",
            "Set a model's price (`provider/model` or a bare id)",
            Admin,
            body("Price"),
        ),
        op(
            "delete",
            "/api/pricing/{model}",
            "costs",
            "Remove the owner's price",
            Admin,
            None,
        ),
        op(
            "get",
            "/api/health",
            "health",
            "Health: memory, database, breakers, cooldowns, cache, log",
            Admin,
            None,
        ),
        q(
            op(
                "get",
                "/api/telemetry",
                "health",
                "Latency and TTFT percentiles",
                Admin,
                None,
            ),
            &[("window", "string")],
        ),
        op(
            "get",
            "/api/resilience",
            "health",
            "Breakers and cooldowns",
            Admin,
            None,
        ),
        op(
            "post",
            "/api/resilience/reset",
            "health",
            "Reset breakers and cooldowns",
            Admin,
            None,
        ),
        op(
            "delete",
            "/api/resilience/cooldowns/{id}",
            "health",
            "Unlock a connection",
            Admin,
            None,
        ),
        op(
            "get",
            "/api/cache",
            "health",
            "Cache statistics",
            Admin,
            None,
        ),
        op(
            "delete",
            "/api/cache",
            "health",
            "Clear the cache",
            Admin,
            None,
        ),
        op("get", "/api/cli-tools", "endpoint", "Coding tools whose configuration the gateway can write", Admin, None),
        op(
            "post",
            "/api/cli-tools/{id}/apply",
            "endpoint",
            "Write a tool's configuration file (merged, after a backup; dashboard on this machine only)",
            Admin,
            body("CliToolApply"),
        ),
        op("get", "/api/evals/sets", "evals", "Eval sets (the built-in one first)", Admin, None),
        op("post", "/api/evals/sets", "evals", "Save an eval set", Admin, body("EvalSet")),
        op("put", "/api/evals/sets/{id}", "evals", "Replace an eval set", Admin, body("EvalSet")),
        op("delete", "/api/evals/sets/{id}", "evals", "Delete an eval set", Admin, None),
        q(
            op("get", "/api/evals/runs", "evals", "Eval runs, newest first", Admin, None),
            &[("limit", "integer")],
        ),
        op("post", "/api/evals/runs", "evals", "Run a set against models or combos (answers at once; results fill in)", Admin, body("EvalRunRequest")),
        op("get", "/api/evals/runs/{id}", "evals", "One eval run with its results", Admin, None),
        op("delete", "/api/evals/runs/{id}", "evals", "Delete an eval run", Admin, None),
        op(
            "post",
            "/api/translate",
            "translator",
            "Translate a request or response between API formats (format detected when not given)",
            Admin,
            body("Translate"),
        ),
        op(
            "post",
            "/api/translator/chat",
            "translator",
            "Chat tester: one non-stream round trip with the translated request and the raw upstream answer",
            Admin,
            body("TesterChat"),
        ),
        op(
            "get",
            "/api/live/requests",
            "live",
            "Requests as they happen (server-sent events)",
            Admin,
            None,
        ),
        op(
            "get",
            "/api/live/console",
            "live",
            "Console lines (server-sent events)",
            Admin,
            None,
        ),
    ]
}

/// The document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for o in ops() {
        let mut params: Vec<Value> = o
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|p| p.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": s()}))
            .collect();
        for (name, ty) in o.query {
            params.push(
                json!({"name": name, "in": "query", "required": false, "schema": {"type": ty}}),
            );
        }
        let security = match o.sec {
            Sec::Public => json!([]),
            Sec::Admin => json!([{"adminKey": []}, {"adminBearer": []}, {"session": []}]),
            Sec::Gateway => {
                json!([{"gatewayBearer": []}, {"gatewayApiKey": []}, {"gatewayGoogKey": []}, {}])
            }
        };
        let mut op = json!({
            "tags": [o.tag],
            "summary": o.summary,
            "operationId": format!("{}{}", o.method, o.path.replace(['/', '{', '}', '-', '.'], "_")),
            "parameters": params,
            "security": security,
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": {}}}},
                "default": {"description": "An error in the client's format", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
            },
        });
        if let Some(b) = o.body {
            op["requestBody"] =
                json!({"required": true, "content": {"application/json": {"schema": b}}});
        }
        let entry = paths.entry(o.path.to_string()).or_insert_with(|| json!({}));
        entry[o.method] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "OmniRoute",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "One local endpoint for AI coding tools (OpenAI, Anthropic, Gemini and Responses formats) and the management API behind the dashboard. `/api` needs a dashboard session (with `X-CSRF-Token` on state changes) or the admin key; `/v1` needs a gateway key when `require_api_key` is on.",
        },
        "paths": paths,
        "components": {
            "schemas": bodies(),
            "securitySchemes": {
                "adminKey": {"type": "apiKey", "in": "header", "name": "X-Admin-Key"},
                "adminBearer": {"type": "http", "scheme": "bearer", "description": "the admin key"},
                "session": {"type": "apiKey", "in": "cookie", "name": "omniroute_session"},
                "gatewayBearer": {"type": "http", "scheme": "bearer", "description": "a gateway key"},
                "gatewayApiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                "gatewayGoogKey": {"type": "apiKey", "in": "header", "name": "x-goog-api-key"},
            },
        },
    })
}

/// `GET /openapi.json`
pub async fn serve() -> axum::Json<Value> {
    axum::Json(document())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    /// Every `.route("…", …)` of a router's source with its methods.
    fn routes_in(src: &str, prefix: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut rest = src;
        while let Some(i) = rest.find(".route(") {
            rest = &rest[i + ".route(".len()..];
            let (mut depth, mut end) = (1, 0);
            for (k, c) in rest.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            end = k;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let call = &rest[..end];
            let path = call.split('"').nth(1).unwrap().replace("{*", "{");
            for m in ["get", "post", "put", "patch", "delete"] {
                let pat = format!("{m}(");
                if call.match_indices(&pat).any(|(k, _)| {
                    k == 0 || !call[..k].ends_with(|c: char| c.is_alphanumeric() || c == '_')
                }) {
                    out.push((m.to_string(), format!("{prefix}{path}")));
                }
            }
        }
        out
    }

    #[test]
    fn the_document_names_every_route_and_only_those() {
        let api_src = include_str!("api.rs");
        let start = api_src.find("pub fn router()").unwrap();
        let end = start + api_src[start..].find("\n}\n").unwrap();
        let mut declared = routes_in(&api_src[start..end], "/api");
        let lib = include_str!("lib.rs");
        let start = lib.find("pub fn app(").unwrap();
        let end = start + lib[start..].find("\n}\n").unwrap();
        let app = &lib[start..end];
        let v1 = &app[app.find("let v1 =").unwrap()..app.find("let v1beta =").unwrap()];
        let v1beta = &app[app.find("let v1beta =").unwrap()..app.find("let api =").unwrap()];
        declared.extend(routes_in(v1, "/v1"));
        declared.extend(routes_in(v1beta, "/v1beta"));
        let top = &app[app.find("let metrics").unwrap()..];
        declared.extend(routes_in(top, ""));
        let doc = document();
        let mut documented = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for m in item.as_object().unwrap().keys() {
                documented.push((m.clone(), path.clone()));
            }
        }
        declared.sort();
        declared.dedup();
        documented.sort();
        assert_eq!(declared, documented);
        assert!(documented.len() > 70);
    }
}
