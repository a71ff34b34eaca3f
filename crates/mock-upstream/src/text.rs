//! Text helpers: request text extraction, chunk splitting, word counts, embeddings.

use std::ops::Range;

use serde_json::Value;

use crate::script::MAX_CHUNKS;

/// Chunks a streamed text is split into when no `chunks=N` is given.
pub(crate) const DEFAULT_CHUNKS: usize = 4;
/// Reasoning text produced by the `reasoning` directive.
pub(crate) const REASONING_TEXT: &str = "Let me think about this step by step.";
/// Number of streamed reasoning deltas.
pub(crate) const REASONING_CHUNKS: usize = 2;
/// Signature attached to reasoning (Anthropic `signature_delta`, Gemini `thoughtSignature`).
pub(crate) const REASONING_SIGNATURE: &str = "bW9jay1zaWduYXR1cmU=";
/// Arguments of the tool call produced by the `tools` directive.
pub(crate) const TOOL_ARGS: &str = r#"{"location":"Paris"}"#;
/// Number of streamed argument fragments.
pub(crate) const TOOL_FRAGMENTS: usize = 3;
/// Tool name used when the request declares no tools.
pub(crate) const DEFAULT_TOOL: &str = "get_weather";
/// String argument synthesized for a required property whose name mentions a path or file.
pub(crate) const SYNTH_PATH: &str = "/tmp/omniroute-cli-e2e/hello.txt";
/// String argument synthesized for any other required string property.
pub(crate) const SYNTH_STRING: &str = "hello";
/// How much of a tool result the `done: ...` answer quotes (chars).
pub(crate) const DONE_CHARS: usize = 80;
/// Fixed `created` timestamp (keeps responses deterministic).
pub(crate) const CREATED: u64 = 1_700_000_000;

/// Split `text` into `n` pieces of roughly equal char count, on char
/// boundaries; every piece is non-empty (fewer pieces if `text` is shorter).
pub(crate) fn split_even(text: &str, n: usize) -> Vec<Range<usize>> {
    let total = text.chars().count();
    if total == 0 {
        return Vec::new();
    }
    let n = n.clamp(1, total);
    let mut out = Vec::with_capacity(n);
    let mut start = 0;
    let mut k = 1;
    for (ci, (bi, _)) in text.char_indices().enumerate() {
        if k < n && ci == k * total / n {
            out.push(start..bi);
            start = bi;
            k += 1;
        }
    }
    out.push(start..text.len());
    out
}

/// Pieces of `text` described by `ranges`.
pub(crate) fn pieces<'a>(
    text: &'a str,
    ranges: &'a [Range<usize>],
) -> impl Iterator<Item = &'a str> + 'a {
    ranges
        .iter()
        .map(move |r| text.get(r.clone()).unwrap_or(""))
}

/// The streamed output: `base` split into `chunks` (default 4) pieces. With
/// an explicit `chunks=N` larger than the text, the text is repeated first so
/// that every piece is non-empty.
pub(crate) fn plan_output(base: String, chunks: Option<usize>) -> (String, Vec<Range<usize>>) {
    let n = chunks.unwrap_or(DEFAULT_CHUNKS).clamp(1, MAX_CHUNKS);
    let count = base.chars().count();
    let text = if chunks.is_some() && count > 0 && count < n {
        base.repeat(n.div_ceil(count))
    } else {
        base
    };
    let ranges = split_even(&text, n);
    (text, ranges)
}

/// Number of whitespace-separated words.
pub(crate) fn words(s: &str) -> u64 {
    s.split_whitespace().count() as u64
}

/// Words of all input text of a request body: every string under a key
/// that carries text (`content`, `text`, `input`, `system`, `instructions`,
/// `prompt`, `output`), at any depth.
pub(crate) fn input_words(v: &Value) -> u64 {
    fn walk(v: &Value, key: Option<&str>) -> u64 {
        match v {
            Value::String(s) => match key {
                Some(
                    "content" | "text" | "input" | "system" | "instructions" | "prompt" | "output",
                ) => words(s),
                _ => 0,
            },
            Value::Array(items) => items.iter().map(|i| walk(i, key)).sum(),
            Value::Object(map) => map.iter().map(|(k, v)| walk(v, Some(k))).sum(),
            _ => 0,
        }
    }
    walk(v, None)
}

/// Text of a message `content`: a string, or the text parts of an array
/// (parts with a `text` string whose `type` is absent, `text` or
/// `input_text`, skipping Gemini thought parts), joined by newlines.
pub(crate) fn content_text(content: &Value) -> Option<String> {
    match content {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => {
            let mut out: Option<String> = None;
            for part in parts {
                let kind = part.get("type").and_then(Value::as_str);
                if !matches!(kind, None | Some("text" | "input_text")) {
                    continue;
                }
                if part.get("thought").and_then(Value::as_bool) == Some(true) {
                    continue;
                }
                if let Some(t) = part.get("text").and_then(Value::as_str) {
                    match &mut out {
                        Some(o) => {
                            o.push('\n');
                            o.push_str(t);
                        }
                        None => out = Some(t.to_owned()),
                    }
                }
            }
            out
        }
        _ => None,
    }
}

/// String field of an object, or `default`.
pub(crate) fn str_field(v: &Value, key: &str, default: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or(default)
        .to_owned()
}

/// Name of the first function tool declared in a request of any format
/// (OpenAI `tools[].function.name` or `functions[].name`, Anthropic and
/// Responses `tools[].name`, Gemini `tools[].functionDeclarations[].name`).
pub(crate) fn first_tool_name(v: &Value) -> Option<String> {
    let tools = v
        .get("tools")
        .and_then(Value::as_array)
        .or_else(|| v.get("functions").and_then(Value::as_array))?;
    for tool in tools {
        if let Some(n) = tool.pointer("/function/name").and_then(Value::as_str) {
            return Some(n.to_owned());
        }
        for key in ["functionDeclarations", "function_declarations"] {
            if let Some(n) = tool
                .get(key)
                .and_then(|d| d.get(0))
                .and_then(|d| d.get("name"))
                .and_then(Value::as_str)
            {
                return Some(n.to_owned());
            }
        }
        let kind = tool.get("type").and_then(Value::as_str);
        if matches!(kind, None | Some("function" | "custom")) {
            if let Some(n) = tool.get("name").and_then(Value::as_str) {
                return Some(n.to_owned());
            }
        }
    }
    None
}

/// The JSON schema of the function tool named `name` declared in a request
/// of any format (`Value::Null` when it has none), or `None` when no such tool
/// is declared. Looks at OpenAI `tools[].function` and `functions[]`,
/// Anthropic/Responses `tools[]` (also inside Responses `namespace` groups) and
/// Gemini `tools[].functionDeclarations[]`.
pub(crate) fn find_tool(v: &Value, name: &str) -> Option<Value> {
    fn schema_of(decl: &Value) -> Value {
        [
            "parameters",
            "input_schema",
            "parametersJsonSchema",
            "parameters_json_schema",
        ]
        .iter()
        .find_map(|k| decl.get(*k).filter(|s| s.is_object()))
        .cloned()
        .unwrap_or(Value::Null)
    }
    fn search(tools: &[Value], name: &str) -> Option<Value> {
        for tool in tools {
            if let Some(f) = tool.get("function").filter(|f| f.is_object()) {
                if f.get("name").and_then(Value::as_str) == Some(name) {
                    return Some(schema_of(f));
                }
                continue;
            }
            for key in ["functionDeclarations", "function_declarations"] {
                if let Some(decls) = tool.get(key).and_then(Value::as_array) {
                    if let Some(d) = decls
                        .iter()
                        .find(|d| d.get("name").and_then(Value::as_str) == Some(name))
                    {
                        return Some(schema_of(d));
                    }
                }
            }
            let kind = tool.get("type").and_then(Value::as_str);
            if kind == Some("namespace") {
                if let Some(found) = tool
                    .get("tools")
                    .and_then(Value::as_array)
                    .and_then(|inner| search(inner, name))
                {
                    return Some(found);
                }
                continue;
            }
            if tool.get("name").and_then(Value::as_str) == Some(name) {
                return Some(schema_of(tool));
            }
        }
        None
    }
    ["tools", "functions"]
        .iter()
        .filter_map(|k| v.get(*k).and_then(Value::as_array))
        .find_map(|tools| search(tools, name))
}

/// Plausible arguments for a tool with JSON schema `schema`: every required
/// property gets a value (strings: [`SYNTH_PATH`] when the name contains
/// `path` or `file`, else [`SYNTH_STRING`], or the first `enum` value;
/// numbers 1; booleans false; arrays empty; objects recursively).
pub(crate) fn synth_args(schema: &Value) -> Value {
    let mut out = serde_json::Map::new();
    let props = schema.get("properties");
    let required = schema.get("required").and_then(Value::as_array);
    for name in required.into_iter().flatten().filter_map(Value::as_str) {
        let prop = props.and_then(|p| p.get(name)).unwrap_or(&Value::Null);
        out.insert(name.to_owned(), synth_value(name, prop));
    }
    Value::Object(out)
}

fn synth_value(name: &str, prop: &Value) -> Value {
    if let Some(first) = prop.get("enum").and_then(|e| e.get(0)) {
        return first.clone();
    }
    let kind = match prop.get("type") {
        Some(Value::String(t)) => Some(t.to_ascii_lowercase()),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| !t.eq_ignore_ascii_case("null"))
            .map(str::to_ascii_lowercase),
        _ => None,
    };
    let kind = kind.or_else(|| {
        ["anyOf", "oneOf"]
            .iter()
            .filter_map(|k| prop.get(*k).and_then(Value::as_array))
            .flatten()
            .filter_map(|b| b.get("type").and_then(Value::as_str))
            .find(|t| !t.eq_ignore_ascii_case("null"))
            .map(str::to_ascii_lowercase)
    });
    match kind.as_deref() {
        Some("number" | "integer") => Value::from(1),
        Some("boolean") => Value::Bool(false),
        Some("array") => Value::Array(Vec::new()),
        Some("object") => synth_args(prop),
        _ => {
            let lower = name.to_ascii_lowercase();
            if lower.contains("path") || lower.contains("file") {
                Value::from(SYNTH_PATH)
            } else {
                Value::from(SYNTH_STRING)
            }
        }
    }
}

/// The JSON schema of the structured output a request asks for, in any format
/// (`Value::Null` for plain JSON mode without a schema): OpenAI
/// `response_format`, Responses `text.format`, Anthropic `output_format` or
/// `output_config.format`, Gemini `generationConfig.responseMimeType:
/// application/json` with `responseJsonSchema`/`responseSchema`.
pub(crate) fn output_schema(v: &Value) -> Option<Value> {
    let format = |f: Option<&Value>| -> Option<Value> {
        let f = f?;
        match f.get("type").and_then(Value::as_str)? {
            "json_schema" => Some(
                f.get("schema")
                    .or_else(|| f.pointer("/json_schema/schema"))
                    .cloned()
                    .unwrap_or(Value::Null),
            ),
            "json_object" => Some(Value::Null),
            _ => None,
        }
    };
    let candidates = [
        v.get("response_format"),
        v.pointer("/text/format"),
        v.get("output_format"),
        v.pointer("/output_config/format"),
    ];
    if let Some(schema) = candidates.into_iter().find_map(format) {
        return Some(schema);
    }
    let gc = v
        .get("generationConfig")
        .or_else(|| v.get("generation_config"))?;
    let mime = gc
        .get("responseMimeType")
        .or_else(|| gc.get("response_mime_type"))
        .and_then(Value::as_str)?;
    if !mime.eq_ignore_ascii_case("application/json") {
        return None;
    }
    Some(
        [
            "responseJsonSchema",
            "responseSchema",
            "response_json_schema",
            "response_schema",
        ]
        .iter()
        .find_map(|k| gc.get(*k))
        .cloned()
        .unwrap_or(Value::Null),
    )
}

/// The text of a tool result in any format: a string; the `text` of the parts
/// of an array (joined by newlines); for an object (Gemini `response`), its
/// `output`/`content`/`result`/`text`/`error` member, else its JSON.
pub(crate) fn result_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Array(parts) => {
            let texts: Vec<String> = parts
                .iter()
                .map(|p| match p {
                    Value::String(s) => s.clone(),
                    _ => p
                        .get("text")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                        .unwrap_or_else(|| result_text(p.get("content").unwrap_or(&Value::Null))),
                })
                .filter(|t| !t.is_empty())
                .collect();
            texts.join("\n")
        }
        Value::Object(map) => ["output", "content", "result", "text", "error"]
            .iter()
            .find_map(|k| map.get(*k).filter(|x| !x.is_null()))
            .map(result_text)
            .unwrap_or_else(|| v.to_string()),
        other => other.to_string(),
    }
}

/// `done: <first DONE_CHARS chars of the tool result>`.
pub(crate) fn done_text(result: &str) -> String {
    let mut out = String::from("done: ");
    out.extend(result.chars().take(DONE_CHARS));
    out
}

/// Embedding dimensions.
pub(crate) const EMBED_DIMS: usize = 64;

/// A deterministic bag-of-words embedding: each lowercase alphanumeric word adds 1 to the
/// dimension its FNV-1a hash picks, then the vector is normalized. Texts with the same words
/// (case and punctuation aside) get the same vector, texts sharing most words are close — enough
/// for testing a semantic cache. A text without words gets a hash-derived vector.
pub(crate) fn embedding(text: &str) -> [f32; EMBED_DIMS] {
    let fnv = |s: &str| {
        s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    let mut out = [0f32; EMBED_DIMS];
    let lower = text.to_lowercase();
    let mut any = false;
    for w in lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        out[(fnv(w) % EMBED_DIMS as u64) as usize] += 1.0;
        any = true;
    }
    if !any {
        let h = fnv(text);
        for (i, slot) in out.iter_mut().enumerate() {
            let mut z = h.wrapping_add((i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z ^= z >> 31;
            *slot = ((z >> 40) as f64 / f64::from(1u32 << 24) * 2.0 - 1.0) as f32;
        }
    }
    let norm = out
        .iter()
        .map(|x| f64::from(*x).powi(2))
        .sum::<f64>()
        .sqrt();
    if norm > 0.0 {
        for slot in &mut out {
            *slot = (f64::from(*slot) / norm) as f32;
        }
    }
    out
}

/// Standard base64 (with padding) of `bytes`.
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let b = [
            group[0],
            group.get(1).copied().unwrap_or(0),
            group.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= group.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_even_and_lossless() {
        let text = "echo: héllo wörld ✓";
        for n in 1..=30 {
            let ranges = split_even(text, n);
            assert_eq!(ranges.len(), n.min(text.chars().count()));
            let joined: String = pieces(text, &ranges).collect();
            assert_eq!(joined, text);
            assert!(pieces(text, &ranges).all(|p| !p.is_empty()));
        }
        assert!(split_even("", 4).is_empty());
    }

    #[test]
    fn plan_repeats_short_text_for_many_chunks() {
        let (text, ranges) = plan_output("echo: hi".to_owned(), Some(20));
        assert_eq!(ranges.len(), 20);
        assert_eq!(text, "echo: hi".repeat(3));
        let (text, ranges) = plan_output("echo: hi".to_owned(), None);
        assert_eq!((text.as_str(), ranges.len()), ("echo: hi", 4));
    }

    #[test]
    fn counts_input_words() {
        let v: Value = serde_json::json!({
            "model": "m a b",
            "system": "be nice",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "one two three"}]}]
        });
        assert_eq!(input_words(&v), 5);
    }

    #[test]
    fn base64_matches_known_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn embedding_is_deterministic_and_normalised() {
        let a = embedding("hello");
        assert_eq!(a, embedding("hello"));
        assert_eq!(a, embedding("Hello!"), "same words, same vector");
        assert_ne!(a, embedding("goodbye"));
        let dot = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(a, b)| a * b).sum::<f32>();
        let q1 = embedding("what is the capital of france");
        let q2 = embedding("what is the capital city of france");
        let q3 = embedding("write a haiku about autumn leaves");
        assert!(dot(&q1, &q2) > 0.9, "close wording is close");
        assert!(dot(&q1, &q3) < 0.5, "different wording is far");
        assert_ne!(
            embedding("!!"),
            embedding("??"),
            "wordless text still varies"
        );
        let norm: f32 = a.iter().map(|x| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-4);
        assert!(a.iter().all(|x| (-1.0..=1.0).contains(x)));
    }
}
