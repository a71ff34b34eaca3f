//! Small helpers shared by the Gemini codec modules: lenient field access (camelCase with a
//! snake_case fallback, as the Gemini REST API accepts both), number coercion, MIME guessing.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

/// A `T` read from a JSON object only. Derived struct deserializers also accept an array
/// (fields by position), which the `Value` decoders read differently; typed fast paths wrap
/// every struct in this so such a body fails and falls back to the `Value` decoder.
#[derive(Debug)]
pub(crate) struct ObjectOnly<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ObjectOnly<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = T;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(V(PhantomData)).map(ObjectOnly)
    }
}

/// `o[camel]`, else `o[snake_case(camel)]`; JSON `null` counts as absent.
pub(crate) fn get<'a>(o: &'a Map<String, Value>, camel: &str) -> Option<&'a Value> {
    if let Some(v) = o.get(camel) {
        if !v.is_null() {
            return Some(v);
        }
    }
    if !camel.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let mut snake = String::with_capacity(camel.len() + 4);
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            snake.push('_');
            snake.push(c.to_ascii_lowercase());
        } else {
            snake.push(c);
        }
    }
    o.get(&snake).filter(|v| !v.is_null())
}

/// `get` narrowed to a string.
pub(crate) fn get_str<'a>(o: &'a Map<String, Value>, camel: &str) -> Option<&'a str> {
    get(o, camel).and_then(Value::as_str)
}

/// `get` narrowed to an object.
pub(crate) fn get_obj<'a>(
    o: &'a Map<String, Value>,
    camel: &str,
) -> Option<&'a Map<String, Value>> {
    get(o, camel).and_then(Value::as_object)
}

/// A non-negative integer from a JSON number (integral float accepted) or a numeric string
/// (proto JSON encodes 64-bit integers as strings).
pub(crate) fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0 && *f <= u64::MAX as f64)
                .map(|f| f.round() as u64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A signed integer (number or numeric string).
pub(crate) fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && f.abs() <= i64::MAX as f64)
                .map(|f| f.round() as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A float (number or numeric string).
pub(crate) fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The image MIME type for a URL's file extension (query and fragment ignored).
pub(crate) fn guess_image_mime(url: &str) -> Option<&'static str> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let file = path.rsplit('/').next().unwrap_or(path);
    let ext = file.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "heif" => "image/heif",
        "bmp" => "image/bmp",
        "svg" => "image/svg+xml",
        "tif" | "tiff" => "image/tiff",
        _ => return None,
    })
}

/// Split a `data:` URL into (media type, base64 data); `None` unless it is base64-encoded.
pub(crate) fn parse_data_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let mut fields = meta.split(';');
    let mime = fields.next().unwrap_or("").trim();
    if !fields.any(|f| f.trim().eq_ignore_ascii_case("base64")) {
        return None;
    }
    let mime = if mime.is_empty() {
        "application/octet-stream"
    } else {
        mime
    };
    Some((mime.to_string(), data.to_string()))
}

/// Current Unix time in seconds (0 if the clock is before the epoch).
pub(crate) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn snake_case_fallback_and_null_is_absent() {
        let v = json!({"inline_data": {"mime_type": "image/png"}, "text": null});
        let o = v.as_object().unwrap();
        let d = get_obj(o, "inlineData").unwrap();
        assert_eq!(get_str(d, "mimeType"), Some("image/png"));
        assert!(get(o, "text").is_none());
    }

    #[test]
    fn numbers_are_lenient() {
        assert_eq!(as_u64(&json!(64.0)), Some(64));
        assert_eq!(as_u64(&json!("12")), Some(12));
        assert_eq!(as_u64(&json!(-1)), None);
        assert_eq!(as_i64(&json!(-1)), Some(-1));
        assert_eq!(as_f64(&json!("0.5")), Some(0.5));
    }

    #[test]
    fn mime_and_data_urls() {
        assert_eq!(guess_image_mime("https://x/a.PNG?x=1"), Some("image/png"));
        assert_eq!(guess_image_mime("https://x/a"), None);
        assert_eq!(
            parse_data_url("data:image/png;base64,AAAA"),
            Some(("image/png".into(), "AAAA".into()))
        );
        assert_eq!(parse_data_url("data:text/plain,hello"), None);
    }
}
