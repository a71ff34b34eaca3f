//! JSON Schema ↔ Gemini schema. `normalize_schema` rewrites any JSON Schema (draft 4 to
//! 2020-12, or OpenAPI) into the OpenAPI subset Gemini function declarations and
//! `responseSchema` accept (docs/translation.md, "Gemini schema normalization");
//! `to_json_schema` lifts a Gemini (OpenAPI-style) schema back to plain JSON Schema for the IR.

use serde_json::{Map, Value};

use crate::util::as_u64;

/// `$ref` chains deeper than this are cut (recursive schemas).
const MAX_REF_DEPTH: usize = 8;
/// Nesting deeper than this is cut (pathological inputs; keeps recursion bounded).
const MAX_NESTING: usize = 64;
/// Total `$ref` expansions per schema (bounds the output of fan-out references).
const MAX_REF_EXPANSIONS: usize = 512;

const TYPES: [&str; 6] = ["string", "number", "integer", "boolean", "array", "object"];
const COMMON_KEYS: [&str; 5] = ["type", "description", "title", "nullable", "anyOf"];

struct Cx<'a> {
    root: &'a Value,
    expansions: usize,
}

/// Rewrite a JSON Schema into the subset Gemini accepts: only Gemini `Schema` fields are kept
/// (`type`, `format`, `title`, `description`, `nullable`, `enum`, `properties`, `required`,
/// `propertyOrdering`, `items`, `anyOf`, min/max bounds, `pattern`); `$ref`s to local
/// definitions are inlined (cycles cut at depth 8), `const` becomes `enum`, `type: [T, "null"]`
/// and null branches become `nullable`, `allOf` is merged, a missing `type` is inferred. Never
/// panics, whatever the input.
pub fn normalize_schema(schema: &Value) -> Value {
    let mut cx = Cx {
        root: schema,
        expansions: 0,
    };
    Value::Object(norm(schema, &mut cx, 0, 0, "object"))
}

/// The placeholder for a cut branch (recursion limit, unresolvable `$ref`).
fn cut(obj: &Map<String, Value>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("type".into(), "object".into());
    if let Some(d) = obj.get("description").and_then(Value::as_str) {
        m.insert("description".into(), d.into());
    }
    m
}

fn resolve_ref<'a>(root: &'a Value, r: &str) -> Option<&'a Value> {
    let frag = r.strip_prefix('#')?;
    if frag.is_empty() {
        return Some(root);
    }
    root.pointer(frag)
}

fn is_null_schema(v: &Value) -> bool {
    let Some(o) = v.as_object() else {
        return false;
    };
    match o.get("type") {
        Some(Value::String(t)) if t.eq_ignore_ascii_case("null") => return true,
        Some(Value::Array(a)) if a.len() == 1 && a[0].as_str() == Some("null") => return true,
        _ => {}
    }
    if o.get("const") == Some(&Value::Null) && !o.contains_key("type") {
        return true;
    }
    matches!(o.get("enum"), Some(Value::Array(a)) if a.len() == 1 && a[0].is_null())
}

fn lower_type(t: &str) -> String {
    t.to_ascii_lowercase()
}

/// Normalize one schema node. `fallback` is the type given to a node with nothing to infer
/// one from (`object` at the root, `string` below).
fn norm(
    s: &Value,
    cx: &mut Cx<'_>,
    depth: usize,
    refd: usize,
    fallback: &str,
) -> Map<String, Value> {
    let empty = Map::new();
    let obj = s.as_object().unwrap_or(&empty);
    if depth > MAX_NESTING {
        return cut(obj);
    }

    // $ref: inline the target, the siblings override it.
    if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
        let target = if refd < MAX_REF_DEPTH && cx.expansions < MAX_REF_EXPANSIONS {
            cx.expansions += 1;
            resolve_ref(cx.root, r)
        } else {
            None
        };
        let mut merged = match target {
            Some(Value::Object(t)) => t.clone(),
            Some(Value::Bool(true)) => Map::new(),
            _ => return cut(obj),
        };
        for (k, v) in obj {
            if k != "$ref" {
                merged.insert(k.clone(), v.clone());
            }
        }
        return norm(&Value::Object(merged), cx, depth + 1, refd + 1, fallback);
    }

    // Types.
    let mut nullable = obj.get("nullable").and_then(Value::as_bool) == Some(true);
    let mut types: Vec<String> = Vec::new();
    match obj.get("type") {
        Some(Value::String(t)) => types.push(lower_type(t)),
        Some(Value::Array(a)) => {
            for t in a.iter().filter_map(Value::as_str) {
                let t = lower_type(t);
                if !types.contains(&t) {
                    types.push(t);
                }
            }
        }
        _ => {}
    }
    if let Some(i) = types.iter().position(|t| t == "null") {
        types.remove(i);
        nullable = true;
    }
    types.retain(|t| TYPES.contains(&t.as_str()));

    // Several types: rewrite as an anyOf of one branch per type, then normalize that.
    if types.len() > 1 && !obj.contains_key("anyOf") && !obj.contains_key("oneOf") {
        let mut parent = Map::new();
        for k in ["description", "title", "default", "allOf"] {
            if let Some(v) = obj.get(k) {
                parent.insert(k.into(), v.clone());
            }
        }
        if nullable {
            parent.insert("nullable".into(), true.into());
        }
        let branches = types
            .iter()
            .map(|t| {
                let mut b = obj.clone();
                for k in ["description", "title", "default", "allOf", "nullable"] {
                    b.remove(k);
                }
                b.insert("type".into(), t.as_str().into());
                Value::Object(b)
            })
            .collect();
        parent.insert("anyOf".into(), Value::Array(branches));
        return norm(&Value::Object(parent), cx, depth + 1, refd, fallback);
    }

    let mut out = Map::new();
    if let Some(t) = types.first() {
        out.insert("type".into(), t.as_str().into());
    }
    if let Some(d) = obj.get("description").and_then(Value::as_str) {
        out.insert("description".into(), d.into());
    }
    if let Some(t) = obj.get("title").and_then(Value::as_str) {
        out.insert("title".into(), t.into());
    }
    for k in [
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "minProperties",
        "maxProperties",
    ] {
        if let Some(n) = obj.get(k).and_then(as_u64) {
            out.insert(k.into(), n.into());
        }
    }
    for (k, excl) in [
        ("minimum", "exclusiveMinimum"),
        ("maximum", "exclusiveMaximum"),
    ] {
        if let Some(n) = obj.get(k).filter(|v| v.is_number()) {
            out.insert(k.into(), n.clone());
        } else if let Some(n) = obj.get(excl).filter(|v| v.is_number()) {
            out.insert(k.into(), n.clone());
        }
    }
    if let Some(p) = obj.get("pattern").and_then(Value::as_str) {
        out.insert("pattern".into(), p.into());
    }
    if let Some(f) = obj.get("format").and_then(Value::as_str) {
        out.insert("format".into(), f.into());
    }
    if let Some(e) = obj.get("enum").filter(|v| v.is_array()) {
        out.insert("enum".into(), e.clone());
    } else if let Some(c) = obj.get("const") {
        if c.is_null() {
            nullable = true;
        } else {
            out.insert("enum".into(), Value::Array(vec![c.clone()]));
        }
    }
    if let Some(Value::Object(props)) = obj.get("properties") {
        let mut np = Map::new();
        for (k, v) in props {
            np.insert(
                k.clone(),
                Value::Object(norm(v, cx, depth + 1, refd, "string")),
            );
        }
        out.insert("properties".into(), Value::Object(np));
    }
    if let Some(Value::Array(r)) = obj.get("required") {
        out.insert("required".into(), Value::Array(r.clone()));
    }
    if let Some(Value::Array(r)) = obj.get("propertyOrdering") {
        out.insert("propertyOrdering".into(), Value::Array(r.clone()));
    }
    let items = match obj.get("items") {
        Some(Value::Array(a)) => tuple_items(a, cx, depth, refd),
        Some(v @ Value::Object(_)) => Some(norm(v, cx, depth + 1, refd, "string")),
        _ => match obj.get("prefixItems") {
            Some(Value::Array(a)) => tuple_items(a, cx, depth, refd),
            _ => None,
        },
    };
    if let Some(i) = items {
        out.insert("items".into(), Value::Object(i));
    }

    // allOf: merged into this node.
    if let Some(Value::Array(all)) = obj.get("allOf") {
        for b in all {
            let nb = norm(b, cx, depth + 1, refd, "");
            merge_into(&mut out, nb);
        }
    }

    // anyOf / oneOf: null branches become `nullable`; one branch left is merged, same-typed
    // string enums are combined, anything else stays a (supported) anyOf.
    let union = match obj.get("anyOf") {
        Some(Value::Array(a)) => Some(a),
        _ => match obj.get("oneOf") {
            Some(Value::Array(a)) => Some(a),
            _ => None,
        },
    };
    if let Some(branches) = union {
        let mut kept: Vec<Map<String, Value>> = Vec::new();
        for b in branches {
            if is_null_schema(b) {
                nullable = true;
                continue;
            }
            kept.push(norm(b, cx, depth + 1, refd, "string"));
        }
        if kept.len() == 1 {
            if let Some(b) = kept.pop() {
                merge_into(&mut out, b);
            }
        } else if kept.len() > 1 {
            match merge_string_enums(&kept) {
                Some(m) => merge_into(&mut out, m),
                None => {
                    out.insert(
                        "anyOf".into(),
                        Value::Array(kept.into_iter().map(Value::Object).collect()),
                    );
                }
            }
        }
    }

    finalize(&mut out, nullable, obj.get("default"), fallback);
    out
}

fn tuple_items(
    a: &[Value],
    cx: &mut Cx<'_>,
    depth: usize,
    refd: usize,
) -> Option<Map<String, Value>> {
    let mut list: Vec<Map<String, Value>> = Vec::new();
    for v in a {
        let n = norm(v, cx, depth + 1, refd, "string");
        if !list.contains(&n) {
            list.push(n);
        }
    }
    match list.len() {
        0 => None,
        1 => list.pop(),
        _ => {
            let mut m = Map::new();
            m.insert(
                "anyOf".into(),
                Value::Array(list.into_iter().map(Value::Object).collect()),
            );
            Some(m)
        }
    }
}

/// Merge a normalized subschema into `dst`: properties and required are unioned, everything
/// else is taken only where `dst` has no value.
fn merge_into(dst: &mut Map<String, Value>, src: Map<String, Value>) {
    for (k, v) in src {
        match (k.as_str(), dst.get_mut(&k)) {
            ("properties", Some(Value::Object(d))) => {
                if let Value::Object(s) = v {
                    for (pk, pv) in s {
                        d.entry(pk).or_insert(pv);
                    }
                }
            }
            ("required", Some(Value::Array(d))) => {
                if let Value::Array(s) = v {
                    for r in s {
                        if !d.contains(&r) {
                            d.push(r);
                        }
                    }
                }
            }
            (_, Some(_)) => {}
            (_, None) => {
                dst.insert(k, v);
            }
        }
    }
}

/// Branches that are all plain string enums combine into one string enum.
fn merge_string_enums(branches: &[Map<String, Value>]) -> Option<Map<String, Value>> {
    let mut values: Vec<Value> = Vec::new();
    for b in branches {
        if b.get("type").and_then(Value::as_str) != Some("string") {
            return None;
        }
        if b.keys().any(|k| {
            !matches!(
                k.as_str(),
                "type" | "enum" | "description" | "title" | "format"
            )
        }) {
            return None;
        }
        let Some(Value::Array(e)) = b.get("enum") else {
            return None;
        };
        for v in e {
            if !values.contains(v) {
                values.push(v.clone());
            }
        }
    }
    let mut m = Map::new();
    m.insert("type".into(), "string".into());
    m.insert("enum".into(), Value::Array(values));
    Some(m)
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(_) | Value::Bool(_) => Some(v.to_string()),
        _ => None,
    }
}

fn append_description(out: &mut Map<String, Value>, extra: &str) {
    let d = match out.get("description").and_then(Value::as_str) {
        Some(d) if !d.is_empty() => format!("{d} ({extra})"),
        _ => extra.to_string(),
    };
    out.insert("description".into(), d.into());
}

/// Type inference, enum/format/required clean-up and per-type keyword filtering.
fn finalize(
    out: &mut Map<String, Value>,
    mut nullable: bool,
    default: Option<&Value>,
    fallback: &str,
) {
    if !out.contains_key("type") && !out.contains_key("anyOf") {
        let has = |k: &str| out.contains_key(k);
        let t = if has("properties") || has("required") || has("minProperties") {
            "object"
        } else if has("items") || has("minItems") || has("maxItems") {
            "array"
        } else if has("enum") || has("minLength") || has("maxLength") || has("pattern") {
            "string"
        } else if has("minimum") || has("maximum") {
            "number"
        } else if fallback.is_empty() {
            ""
        } else {
            fallback
        };
        if !t.is_empty() {
            out.insert("type".into(), t.into());
        }
    }
    let ty = out.get("type").and_then(Value::as_str).map(str::to_string);

    // enum: strings only (Gemini enums are string-typed).
    if let Some(Value::Array(vals)) = out.remove("enum") {
        match ty.as_deref() {
            Some("string") | None => {
                let mut e: Vec<Value> = Vec::new();
                for v in vals {
                    let s = match v {
                        Value::Null => {
                            nullable = true;
                            continue;
                        }
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    if !e.iter().any(|x| x.as_str() == Some(s.as_str())) {
                        e.push(s.into());
                    }
                }
                if !e.is_empty() {
                    out.insert("type".into(), "string".into());
                    out.insert("enum".into(), Value::Array(e));
                }
            }
            Some("integer") | Some("number") | Some("boolean") => {
                let list: Vec<String> = vals.iter().filter_map(scalar_text).collect();
                if !list.is_empty() {
                    append_description(out, &format!("one of: {}", list.join(", ")));
                }
            }
            _ => {}
        }
    }
    let ty = out.get("type").and_then(Value::as_str).map(str::to_string);

    // format: only what Gemini understands.
    if let Some(f) = out.remove("format") {
        let f = f.as_str().unwrap_or("");
        let keep = match ty.as_deref() {
            Some("string") => (f == "enum" && out.contains_key("enum")) || f == "date-time",
            Some("integer") => f == "int32" || f == "int64",
            Some("number") => f == "float" || f == "double",
            _ => false,
        };
        if keep {
            out.insert("format".into(), f.into());
        }
    }

    // default: into the description.
    if let Some(d) = default.and_then(scalar_text) {
        let mentioned = out
            .get("description")
            .and_then(Value::as_str)
            .is_some_and(|s| s.to_ascii_lowercase().contains("default"));
        if !mentioned && d.len() <= 200 {
            append_description(out, &format!("default: {d}"));
        }
    }

    // required / propertyOrdering: only existing properties.
    let props: Vec<String> = match out.get("properties") {
        Some(Value::Object(p)) => p.keys().cloned().collect(),
        _ => Vec::new(),
    };
    for k in ["required", "propertyOrdering"] {
        if let Some(Value::Array(r)) = out.remove(k) {
            let mut kept: Vec<Value> = Vec::new();
            for n in r.iter().filter_map(Value::as_str) {
                if props.iter().any(|p| p == n) && !kept.iter().any(|x| x.as_str() == Some(n)) {
                    kept.push(n.into());
                }
            }
            if !kept.is_empty() {
                out.insert(k.into(), Value::Array(kept));
            }
        }
    }

    if nullable {
        out.insert("nullable".into(), true.into());
    }

    // Keep only the keywords that apply to the type.
    let specific: &[&str] = match ty.as_deref() {
        Some("string") => &["enum", "format", "minLength", "maxLength", "pattern"],
        Some("integer") | Some("number") => &["minimum", "maximum", "format"],
        Some("array") => &["items", "minItems", "maxItems"],
        Some("object") => &[
            "properties",
            "required",
            "minProperties",
            "maxProperties",
            "propertyOrdering",
        ],
        _ => &[],
    };
    out.retain(|k, _| COMMON_KEYS.contains(&k.as_str()) || specific.contains(&k.as_str()));
    if ty.as_deref() == Some("array") && !out.contains_key("items") {
        let mut i = Map::new();
        i.insert("type".into(), "string".into());
        out.insert("items".into(), Value::Object(i));
    }
}

/// Lift a Gemini (OpenAPI-style) schema to plain JSON Schema for the IR: upper-case type
/// names (`OBJECT`) lower-cased, `nullable: true` folded into `type: [T, "null"]`,
/// `propertyOrdering` and `format: enum` dropped. Plain JSON Schema passes through unchanged.
pub(crate) fn to_json_schema(v: &Value) -> Value {
    lift(v, 0)
}

fn lift(v: &Value, depth: usize) -> Value {
    let Value::Object(o) = v else {
        return v.clone();
    };
    if depth > MAX_NESTING * 2 {
        return v.clone();
    }
    let lift_map = |m: &Value| match m {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, s)| (k.clone(), lift(s, depth + 1)))
                .collect(),
        ),
        other => other.clone(),
    };
    let lift_list = |a: &Value| match a {
        Value::Array(a) => Value::Array(a.iter().map(|s| lift(s, depth + 1)).collect()),
        other => lift(other, depth + 1),
    };
    let mut out = Map::new();
    for (k, val) in o {
        let nv = match k.as_str() {
            "type" => match val {
                Value::String(t) => Value::String(lower_type(t)),
                Value::Array(a) => Value::Array(
                    a.iter()
                        .map(|t| match t {
                            Value::String(t) => Value::String(lower_type(t)),
                            other => other.clone(),
                        })
                        .collect(),
                ),
                other => other.clone(),
            },
            "nullable" | "propertyOrdering" => continue,
            "format" if val.as_str() == Some("enum") => continue,
            "properties" | "$defs" | "definitions" | "patternProperties" | "dependentSchemas" => {
                lift_map(val)
            }
            "items" | "anyOf" | "oneOf" | "allOf" | "prefixItems" => lift_list(val),
            "additionalProperties"
            | "not"
            | "if"
            | "then"
            | "else"
            | "contains"
            | "propertyNames"
            | "unevaluatedProperties"
            | "unevaluatedItems"
            | "additionalItems" => lift(val, depth + 1),
            _ => val.clone(),
        };
        out.insert(k.clone(), nv);
    }
    if o.get("nullable").and_then(Value::as_bool) == Some(true) {
        match out.get_mut("type") {
            Some(Value::String(t)) => {
                let t = std::mem::take(t);
                out.insert(
                    "type".into(),
                    Value::Array(vec![Value::String(t), "null".into()]),
                );
            }
            Some(Value::Array(a)) => {
                if !a.iter().any(|t| t.as_str() == Some("null")) {
                    a.push("null".into());
                }
            }
            _ => {
                if let Some(Value::Array(a)) = out.get_mut("anyOf") {
                    let mut n = Map::new();
                    n.insert("type".into(), "null".into());
                    a.push(Value::Object(n));
                }
            }
        }
    }
    Value::Object(out)
}
