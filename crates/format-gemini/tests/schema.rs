//! `normalize_schema`: every real tool schema in the client fixtures (Claude Code, Codex,
//! OpenCode, Qwen Code, Gemini CLI) comes out in Gemini's subset, keeping what matters; rule by
//! rule cases; robustness on hostile input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{fixture_files, load, short_name};
use omniroute_format_gemini::normalize_schema;
use serde_json::{json, Map, Value};

const FORBIDDEN: [&str; 19] = [
    "$schema",
    "$id",
    "$ref",
    "$defs",
    "definitions",
    "$comment",
    "additionalProperties",
    "propertyNames",
    "patternProperties",
    "unevaluatedProperties",
    "examples",
    "default",
    "readOnly",
    "writeOnly",
    "const",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "oneOf",
    "allOf",
];
const ALLOWED: [&str; 17] = [
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "properties",
    "required",
    "propertyOrdering",
    "items",
    "anyOf",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
];

/// Walk a normalized schema structurally (property names are not keywords) and check it is
/// in Gemini's subset.
fn assert_gemini_schema(s: &Value, path: &str) {
    let o = s
        .as_object()
        .unwrap_or_else(|| panic!("{path}: not an object: {s}"));
    for k in o.keys() {
        assert!(!FORBIDDEN.contains(&k.as_str()), "{path}: forbidden {k}");
        assert!(
            ALLOWED.contains(&k.as_str())
                || matches!(k.as_str(), "maxItems" | "minProperties" | "maxProperties"),
            "{path}: unexpected keyword {k}"
        );
    }
    match o.get("type") {
        Some(Value::String(t)) => assert!(
            ["string", "number", "integer", "boolean", "array", "object"].contains(&t.as_str()),
            "{path}: type {t}"
        ),
        Some(other) => panic!("{path}: type must be one string, got {other}"),
        None => assert!(
            o.contains_key("anyOf"),
            "{path}: neither type nor anyOf: {s}"
        ),
    }
    if let Some(e) = o.get("enum") {
        assert!(
            e.as_array().unwrap().iter().all(Value::is_string),
            "{path}: enum {e}"
        );
        assert_eq!(o["type"], "string", "{path}");
    }
    if o.get("type").and_then(Value::as_str) == Some("array") {
        assert!(o.contains_key("items"), "{path}: array without items");
    }
    if let Some(f) = o.get("format").and_then(Value::as_str) {
        assert!(
            ["enum", "date-time", "int32", "int64", "float", "double"].contains(&f),
            "{path}: format {f}"
        );
    }
    let props: Vec<String> = o
        .get("properties")
        .map(|p| p.as_object().unwrap().keys().cloned().collect())
        .unwrap_or_default();
    if let Some(r) = o.get("required") {
        for n in r.as_array().unwrap() {
            assert!(
                props.contains(&n.as_str().unwrap().to_string()),
                "{path}: required {n}"
            );
        }
    }
    if let Some(Value::Object(p)) = o.get("properties") {
        for (k, v) in p {
            assert_gemini_schema(v, &format!("{path}.{k}"));
        }
    }
    if let Some(i) = o.get("items") {
        assert_gemini_schema(i, &format!("{path}[]"));
    }
    if let Some(Value::Array(a)) = o.get("anyOf") {
        for (i, b) in a.iter().enumerate() {
            assert_gemini_schema(b, &format!("{path}|{i}"));
        }
    }
}

/// Every tool schema in a request body (`input_schema`, `parameters`, `parametersJsonSchema`,
/// at any depth of `tools`, e.g. Codex namespaces).
fn collect_schemas(v: &Value, out: &mut Vec<Value>) {
    match v {
        Value::Object(o) => {
            for (k, val) in o {
                if matches!(
                    k.as_str(),
                    "input_schema" | "parameters" | "parametersJsonSchema"
                ) && val.is_object()
                {
                    out.push(val.clone());
                } else {
                    collect_schemas(val, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_schemas(x, out)),
        _ => {}
    }
}

fn schema_keywords(v: &Value, out: &mut Vec<String>) {
    if let Value::Object(o) = v {
        for (k, val) in o {
            out.push(k.clone());
            match k.as_str() {
                "properties" | "$defs" | "definitions" => {
                    if let Value::Object(p) = val {
                        p.values().for_each(|s| schema_keywords(s, out));
                    }
                }
                "items" | "additionalProperties" | "propertyNames" => schema_keywords(val, out),
                "anyOf" | "oneOf" | "allOf" => {
                    if let Value::Array(a) = val {
                        a.iter().for_each(|s| schema_keywords(s, out));
                    }
                }
                _ => {}
            }
        }
    }
}

#[test]
fn every_fixture_tool_schema_normalizes_into_the_gemini_subset() {
    let mut total = 0;
    let mut seen_keywords: Vec<String> = Vec::new();
    for f in fixture_files(None) {
        let name = short_name(&f);
        let fx = load(&f);
        let mut schemas = Vec::new();
        collect_schemas(&fx["body"]["tools"], &mut schemas);
        for s in schemas {
            total += 1;
            schema_keywords(&s, &mut seen_keywords);
            let n = normalize_schema(&s);
            assert_gemini_schema(&n, &name);
            assert_eq!(n["type"], "object", "{name}");
            // Properties, required, descriptions, enums and items survive.
            let props = s["properties"].as_object().cloned().unwrap_or_default();
            let nprops = n["properties"].as_object().cloned().unwrap_or_default();
            assert_eq!(
                props.keys().collect::<Vec<_>>(),
                nprops.keys().collect::<Vec<_>>(),
                "{name}"
            );
            if let Some(r) = s.get("required") {
                assert_eq!(n.get("required").unwrap_or(&json!([])), r, "{name}");
            }
            for (k, p) in &props {
                let np = &nprops[k];
                if let Some(d) = p["description"].as_str() {
                    assert!(
                        np["description"].as_str().unwrap().starts_with(d),
                        "{name}.{k}: description"
                    );
                }
                if let Some(e) = p.get("enum") {
                    assert_eq!(&np["enum"], e, "{name}.{k}: enum");
                }
                if p["type"] == "array" {
                    assert_eq!(np["type"], "array", "{name}.{k}");
                    if let Some(t) = p["items"]["type"].as_str() {
                        assert_eq!(np["items"]["type"], t, "{name}.{k}: items");
                    }
                }
            }
        }
    }
    assert!(total > 100, "only {total} schemas found");
    // The fixtures really exercise the hard keywords.
    for k in [
        "$schema",
        "propertyNames",
        "exclusiveMinimum",
        "additionalProperties",
        "anyOf",
        "const",
        "default",
        "format",
    ] {
        assert!(seen_keywords.iter().any(|s| s == k), "fixtures lack {k}");
    }
}

#[test]
fn claude_code_schemas_specifics() {
    let f = fixture_files(Some("anthropic_messages"))
        .into_iter()
        .find(|f| short_name(f).starts_with("claude-code/tool-read/"))
        .unwrap();
    let fx = load(&f);
    let tools = fx["body"]["tools"].as_array().unwrap();
    let tool = |n: &str| {
        normalize_schema(
            &tools
                .iter()
                .find(|t| t["name"] == n)
                .unwrap_or_else(|| panic!("{n}"))["input_schema"],
        )
    };
    // exclusiveMinimum → minimum.
    let read = tool("Read");
    assert_eq!(read["properties"]["limit"]["minimum"], 0);
    assert_eq!(read["properties"]["limit"]["type"], "integer");
    // anyOf of a string enum and a string const → one enum.
    let update = tool("TaskUpdate");
    assert_eq!(
        update["properties"]["status"],
        json!({"description": "New status for the task", "type": "string",
               "enum": ["pending", "in_progress", "completed", "deleted"]})
    );
    // propertyNames / additionalProperties maps become plain objects.
    assert_eq!(
        update["properties"]["metadata"],
        json!({"description": "Metadata keys to merge into the task. Set a key to null to delete it.",
               "type": "object"})
    );
    // format uri dropped.
    let fetch = tool("WebFetch");
    assert_eq!(
        fetch["properties"]["url"],
        json!({"description": "The URL to fetch content from", "type": "string"})
    );
}

#[test]
fn rules_one_by_one() {
    let cases = vec![
        (
            json!({"type": ["string", "null"], "description": "d"}),
            json!({"type": "string", "description": "d", "nullable": true}),
        ),
        (
            json!({"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}], "description": "n"}),
            json!({"description": "n", "type": "integer", "minimum": 1, "nullable": true}),
        ),
        (
            json!({"oneOf": [{"type": "string"}, {"type": "integer"}]}),
            json!({"anyOf": [{"type": "string"}, {"type": "integer"}]}),
        ),
        (
            json!({"const": "x"}),
            json!({"type": "string", "enum": ["x"]}),
        ),
        (
            json!({"type": "string", "enum": ["a", 1, true, null]}),
            json!({"type": "string", "enum": ["a", "1", "true"], "nullable": true}),
        ),
        (
            json!({"type": "integer", "enum": [1, 2]}),
            json!({"type": "integer", "description": "one of: 1, 2"}),
        ),
        (
            json!({"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 10}),
            json!({"type": "number", "minimum": 0, "maximum": 10}),
        ),
        (
            json!({"type": "boolean", "default": false, "description": "flag"}),
            json!({"type": "boolean", "description": "flag (default: false)"}),
        ),
        (
            json!({"type": "string", "format": "date-time", "examples": ["x"], "$comment": "c"}),
            json!({"type": "string", "format": "date-time"}),
        ),
        (
            json!({"type": "string", "format": "email", "readOnly": true, "writeOnly": false}),
            json!({"type": "string"}),
        ),
        (
            json!({"type": "integer", "format": "int64"}),
            json!({"type": "integer", "format": "int64"}),
        ),
        (
            json!({"type": "array"}),
            json!({"type": "array", "items": {"type": "string"}}),
        ),
        (
            json!({"type": "array", "items": [{"type": "string"}, {"type": "integer"}]}),
            json!({"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}}),
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a", "b", "a"],
                   "additionalProperties": false, "patternProperties": {"^x": {}},
                   "unevaluatedProperties": false, "$id": "x"}),
            json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}),
        ),
        (
            json!({"allOf": [{"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
                             {"properties": {"b": {"type": "integer"}}, "required": ["b"]}]}),
            json!({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
                   "required": ["a", "b"]}),
        ),
        (
            json!({"type": ["string", "array", "null"], "items": {"type": "string"}, "description": "d"}),
            json!({"description": "d", "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
                   "nullable": true}),
        ),
        (
            json!({"properties": {"x": {}}}),
            json!({"type": "object", "properties": {"x": {"type": "string"}}}),
        ),
        (json!({"type": "OBJECT"}), json!({"type": "object"})),
        (
            json!({"type": "string", "minLength": 2, "pattern": "^a"}),
            json!({"type": "string", "minLength": 2, "pattern": "^a"}),
        ),
        (
            json!({"type": "string", "minimum": 3, "items": {"type": "string"}, "properties": {}}),
            json!({"type": "string"}),
        ),
    ];
    for (input, want) in cases {
        assert_eq!(normalize_schema(&input), want, "input {input}");
    }
}

#[test]
fn refs_are_inlined_and_cycles_cut() {
    let s = json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "definitions": {"Color": {"type": "string", "enum": ["red", "blue"]}},
        "$defs": {
            "Node": {"type": "object", "description": "a node", "properties": {
                "name": {"type": "string"},
                "color": {"$ref": "#/definitions/Color"},
                "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}
            }, "required": ["name"]}
        },
        "properties": {"root": {"$ref": "#/$defs/Node", "description": "the root"}},
        "required": ["root"]
    });
    let n = normalize_schema(&s);
    assert_gemini_schema(&n, "refs");
    let root = &n["properties"]["root"];
    assert_eq!(
        root["description"], "the root",
        "siblings override the target"
    );
    assert_eq!(
        root["properties"]["color"],
        json!({"type": "string", "enum": ["red", "blue"]})
    );
    assert_eq!(root["required"], json!(["name"]));
    // Follow children until the cut.
    let mut depth = 0;
    let mut node = root;
    while let Some(child) = node["properties"]["children"]["items"].as_object() {
        node = &node["properties"]["children"]["items"];
        depth += 1;
        assert!(child.contains_key("type"));
        assert!(depth < 20);
    }
    assert!((7..=9).contains(&depth), "cut at depth {depth}");
    assert!(!n.to_string().contains("$ref"));
}

#[test]
fn never_panics_on_hostile_input() {
    let mut inputs = vec![
        Value::Null,
        json!(5),
        json!("x"),
        json!(true),
        json!([]),
        json!({"type": 5}),
        json!({"type": []}),
        json!({"type": ["null"]}),
        json!({"properties": 3, "required": "a", "items": "b"}),
        json!({"$ref": 7}),
        json!({"$ref": "#/nope"}),
        json!({"$ref": "#"}),
        json!({"$ref": "other.json#/x"}),
        json!({"$ref": "#/$defs/a", "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}}),
        json!({"anyOf": "x", "oneOf": 3, "allOf": {}}),
        json!({"anyOf": [], "enum": {}}),
        json!({"anyOf": [{"type": "null"}]}),
        json!({"enum": [[1], {"a": 1}]}),
        json!({"required": [1, null], "properties": {"a": 1}}),
        json!({"items": [], "prefixItems": [true, false]}),
        json!({"minLength": -1, "maxLength": 1.5, "minimum": "x"}),
        json!({"default": {"a": [1]}, "description": 5}),
    ];
    // A fan-out reference bomb: 10 references per level.
    let mut props = Map::new();
    for i in 0..10 {
        props.insert(format!("p{i}"), json!({"$ref": "#/$defs/a"}));
    }
    inputs.push(
        json!({"$defs": {"a": {"type": "object", "properties": props}}, "$ref": "#/$defs/a"}),
    );
    // Deep nesting.
    let mut deep = json!({"type": "string"});
    for _ in 0..300 {
        deep = json!({"type": "object", "properties": {"x": deep}});
    }
    inputs.push(deep);
    let mut deep_any = json!({"type": "string"});
    for _ in 0..300 {
        deep_any = json!({"anyOf": [deep_any, {"type": "integer"}]});
    }
    inputs.push(deep_any);

    for input in &inputs {
        let n = normalize_schema(input);
        assert!(n.is_object(), "{input}");
        assert!(
            n.get("type").is_some() || n.get("anyOf").is_some(),
            "{input} → {n}"
        );
        assert!(n.to_string().len() < 50_000_000);
    }
}
