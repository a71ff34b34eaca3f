//! OpenAI embeddings (`/embeddings`): a deterministic 64-float bag-of-words vector per input.

use serde_json::{json, Value};

use crate::text;

/// Build the embeddings list for a request body.
pub(crate) fn respond(v: &Value) -> Value {
    let inputs: Vec<String> = match v.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
            .collect(),
        Some(other) => vec![other.to_string()],
        None => Vec::new(),
    };
    let base64 = v.get("encoding_format").and_then(Value::as_str) == Some("base64");
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, input)| {
            let e = text::embedding(input);
            let embedding = if base64 {
                let bytes: Vec<u8> = e.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(text::base64(&bytes))
            } else {
                json!(e.to_vec())
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    let tokens = inputs.iter().map(|i| text::words(i)).sum::<u64>().max(1);
    json!({
        "object": "list",
        "data": data,
        "model": text::str_field(v, "model", "mock-embed"),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    })
}
