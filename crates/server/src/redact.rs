//! Secret redaction for logged bodies: JSON values under keys that name a credential
//! (`api_key`, `authorization`, `token`, `secret`, `password`, ...) and strings that look like
//! provider keys (`sk-…`, `AIza…`, bearer tokens) are replaced, then the text is capped.

use serde_json::Value;

const MASK: &str = "[REDACTED]";

fn secret_key(k: &str) -> bool {
    let k = k.to_ascii_lowercase().replace(['-', '_'], "");
    [
        "apikey",
        "authorization",
        "token",
        "secret",
        "password",
        "credential",
        "cookie",
        "xapikey",
        "googapikey",
    ]
    .iter()
    .any(|n| k.contains(n))
        // usage counters are not secrets
        && !k.contains("tokens")
        && !k.ends_with("tokencount")
}

/// Whether a word looks like a credential: a known key prefix followed by a long opaque tail.
fn looks_like_key(w: &str) -> bool {
    let w = w.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_');
    let opaque = |rest: &str| {
        rest.len() >= 16
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    [
        "sk-", "sk_", "AIza", "xai-", "gsk_", "hf_", "ghp_", "glpat-", "Bearer ",
    ]
    .iter()
    .any(|p| w.strip_prefix(p).is_some_and(opaque))
}

fn redact_text(s: &str) -> Option<String> {
    if !s.split_whitespace().any(looks_like_key) {
        return None;
    }
    let mut out = Vec::new();
    for w in s.split(' ') {
        out.push(if looks_like_key(w) { MASK } else { w });
    }
    Some(out.join(" "))
}

/// Redact secrets in a JSON value in place.
pub fn redact_value(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, val) in m.iter_mut() {
                if secret_key(k) && !val.is_null() && !val.is_object() && !val.is_array() {
                    *val = Value::String(MASK.into());
                } else {
                    redact_value(val);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(redact_value),
        Value::String(s) => {
            if let Some(r) = redact_text(s) {
                *s = r;
            }
        }
        _ => {}
    }
}

/// A body as it goes into the log: JSON redacted and re-serialized, other text redacted word by
/// word; at most `max` bytes (cut on a character boundary, marked).
pub fn for_log(body: &[u8], max: usize) -> String {
    let text = match serde_json::from_slice::<Value>(body) {
        Ok(mut v) => {
            redact_value(&mut v);
            v.to_string()
        }
        Err(_) => {
            let t = String::from_utf8_lossy(body);
            t.lines()
                .map(|l| redact_text(l).unwrap_or_else(|| l.to_string()))
                .collect::<Vec<_>>()
                .join("\n")
        }
    };
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… [truncated, {} bytes]", &text[..end], text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_usage_kept() {
        let body = br#"{"model":"m","api_key":"sk-live-0123456789abcdefghij","headers":{"Authorization":"Bearer abcdefghijklmnopqrstuvwxyz"},
            "messages":[{"role":"user","content":"my key is sk-proj-ABCDEFGHIJKLMNOPQRSTUV ok"}],
            "usage":{"prompt_tokens":5,"total_tokens":7},"max_tokens":100}"#;
        let out = for_log(body, 10_000);
        assert!(!out.contains("0123456789abcdefghij"), "{out}");
        assert!(!out.contains("abcdefghijklmnopqrstuvwxyz"), "{out}");
        assert!(!out.contains("ABCDEFGHIJKLMNOPQRSTUV"), "{out}");
        assert!(out.contains("my key is [REDACTED] ok"), "{out}");
        assert!(out.contains("\"prompt_tokens\":5") && out.contains("\"max_tokens\":100"));
        let sse = b"data: {\"x\":1}\nAIzaSyA-0123456789abcdefghijklmn leaked";
        assert!(!for_log(sse, 1000).contains("0123456789abcdefghijklmn"));
    }

    #[test]
    fn long_bodies_are_capped_on_a_char_boundary() {
        let s = "é".repeat(100);
        let out = for_log(s.as_bytes(), 51);
        assert!(out.starts_with(&"é".repeat(25)));
        assert!(out.contains("truncated, 200 bytes"));
    }
}
