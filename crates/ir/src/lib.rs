//! The format-neutral intermediate representation every translation goes through: requests,
//! non-stream responses and stream events, plus the codec traits each wire format implements.
//! Decoding a client format and encoding an upstream format (and back) meet here, so four
//! formats need four codecs instead of twelve pairwise converters. Pure data, no IO.

use bytes::BytesMut;
use omniroute_protocol::sse::SseEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub mod think;

// =============================================================================== requests

/// A chat request in any format.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The model name as the client sent it (the server replaces it before encoding).
    pub model: String,
    /// System prompt blocks, in order (OpenAI `system`/`developer` messages, Anthropic `system`,
    /// Gemini `systemInstruction`, Responses `instructions` and developer/system items).
    pub system: Vec<String>,
    /// The conversation, oldest first. Tool results are `Part::ToolResult` inside `User`
    /// messages (the Anthropic model); encoders split them out where a format wants that.
    pub messages: Vec<Message>,
    pub tools: Vec<Tool>,
    pub tool_choice: Option<ToolChoice>,
    pub parallel_tool_calls: Option<bool>,
    /// Maximum output tokens (`max_tokens`, `max_completion_tokens`, `max_output_tokens`,
    /// `maxOutputTokens`).
    pub max_tokens: Option<u64>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<u64>,
    pub stop: Vec<String>,
    pub seed: Option<i64>,
    pub presence_penalty: Option<f64>,
    pub frequency_penalty: Option<f64>,
    pub response_format: Option<ResponseFormat>,
    pub reasoning: Option<Reasoning>,
    pub stream: bool,
    /// OpenAI `user` / Anthropic `metadata.user_id`, when given.
    pub user: Option<String>,
    /// Things the decoder dropped or rewrote, with the reason (logged by the server).
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: Vec<Part>,
}

/// One piece of message content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Part {
    Text {
        text: String,
    },
    Image {
        source: ImageSource,
    },
    /// A call the assistant made. `arguments` is a JSON text (an object).
    ToolCall {
        /// Kept exactly as the client sent it; created by the decoder where a format has none.
        id: String,
        name: String,
        arguments: String,
        /// Gemini `thoughtSignature` attached to this call, echoed back verbatim.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<String>,
    },
    /// The result of a tool call, sent back by the client.
    ToolResult {
        call_id: String,
        /// The tool's name when the format carries it (Gemini needs it; decoders look it up
        /// from the matching ToolCall when absent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Text and image parts only.
        content: Vec<Part>,
        #[serde(default)]
        is_error: bool,
    },
    /// Model reasoning echoed back in history, or produced in a response.
    Reasoning {
        /// Visible reasoning or summary text (may be empty).
        text: String,
        /// Anthropic thinking `signature` or Gemini `thoughtSignature`: never invented.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<String>,
        /// Anthropic `redacted_thinking.data`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        redacted: Option<String>,
        /// Responses `encrypted_content` (with its item id when known).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        encrypted: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ImageSource {
    /// An http(s) URL (or a `data:` URL, which encoders may turn into `Base64`).
    Url {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    Base64 {
        media_type: String,
        data: String,
    },
}

/// A function tool. Server tools and namespaces are flattened or dropped by decoders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments (an object schema; `{"type":"object","properties":{}}`
    /// when the client gave none).
    pub parameters: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToolChoice {
    Auto,
    None,
    /// Must call some tool (`required` / `any` / Gemini `ANY`).
    Required,
    /// Must call this tool.
    Tool {
        name: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat {
    Text,
    JsonObject,
    JsonSchema {
        name: String,
        schema: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        strict: Option<bool>,
    },
}

/// Reasoning / thinking configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reasoning {
    /// `minimal` | `low` | `medium` | `high` (| `xhigh`), as the client named it.
    pub effort: Option<String>,
    /// Thinking budget in tokens. Encoders clamp it below `max_tokens` where a format requires.
    pub budget_tokens: Option<u64>,
    /// Explicitly off (`thinking: {type: disabled}`, `reasoning_effort: none`, budget 0).
    pub disabled: bool,
    /// Anthropic `thinking.type = adaptive`.
    pub adaptive: bool,
    /// Responses `reasoning.summary` (`auto`, `concise`, `detailed`).
    pub summary: Option<String>,
    /// Gemini `includeThoughts` / Responses `include: ["reasoning.encrypted_content"]`.
    pub include_thoughts: Option<bool>,
}

// =============================================================================== responses

/// Why generation stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// `stop` / `end_turn` / `stop_sequence` / `STOP` / `completed`.
    Stop,
    /// `length` / `max_tokens` / `MAX_TOKENS` / `incomplete` (max_output_tokens).
    Length,
    /// `tool_calls` / `tool_use` / a Gemini STOP with function calls.
    ToolCalls,
    /// `content_filter` / `refusal` / `SAFETY` / `RECITATION` ...
    ContentFilter,
    /// Anything else, with the upstream's own word.
    Other(String),
}

/// Token usage exactly as the upstream reported it: fields the upstream did not report stay
/// `None` (never invented).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Every prompt token, cache reads and cache writes included (the OpenAI and Gemini
    /// convention; the Anthropic codec converts at its edges).
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    /// Input tokens read from cache (OpenAI `cached_tokens`, Anthropic
    /// `cache_read_input_tokens`, Gemini `cachedContentTokenCount`).
    pub cached_tokens: Option<u64>,
    /// Anthropic `cache_creation_input_tokens`.
    pub cache_creation_tokens: Option<u64>,
    /// Reasoning tokens (OpenAI `reasoning_tokens`, Gemini `thoughtsTokenCount`); included in
    /// `output_tokens` as OpenAI counts them.
    pub reasoning_tokens: Option<u64>,
}

impl Usage {
    /// Overlay the fields `later` reports (streams report usage in pieces).
    pub fn merge(&mut self, later: &Usage) {
        macro_rules! take {
            ($f:ident) => {
                if later.$f.is_some() {
                    self.$f = later.$f;
                }
            };
        }
        take!(input_tokens);
        take!(output_tokens);
        take!(cached_tokens);
        take!(cache_creation_tokens);
        take!(reasoning_tokens);
    }

    pub fn is_empty(&self) -> bool {
        *self == Usage::default()
    }
}

/// A complete (non-stream) response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    pub id: String,
    pub model: String,
    /// Text, ToolCall and Reasoning parts, in the order produced.
    pub content: Vec<Part>,
    pub finish: FinishReason,
    pub usage: Usage,
    /// Unix seconds.
    pub created: i64,
}

// =============================================================================== streams

/// One step of a streamed response. Decoders emit them in order; encoders turn them into the
/// client's events, opening and closing blocks/items as the kind of content changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum StreamEvent {
    /// First event of every stream (decoders emit it exactly once, before anything else).
    Start {
        id: Option<String>,
        model: Option<String>,
    },
    TextDelta {
        text: String,
    },
    ReasoningDelta {
        text: String,
    },
    /// The signature of the reasoning block just streamed (Anthropic `signature_delta`,
    /// Gemini `thoughtSignature` on a thought part).
    ReasoningSignature {
        signature: String,
    },
    /// Anthropic `redacted_thinking` block.
    RedactedReasoning {
        data: String,
    },
    /// Responses reasoning item with `encrypted_content`.
    ReasoningEncrypted {
        id: Option<String>,
        encrypted: String,
    },
    /// A tool call begins. `index` counts tool calls of this response from 0.
    ToolCallStart {
        index: usize,
        id: String,
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<String>,
    },
    /// A fragment of the JSON arguments of tool call `index`.
    ToolCallArgs {
        index: usize,
        fragment: String,
    },
    /// Usage, possibly partial; encoders merge.
    Usage {
        usage: Usage,
    },
    /// Generation finished (the last event of a well-formed stream, apart from `Usage`).
    Finish {
        reason: FinishReason,
    },
    /// The upstream reported an error inside the stream (or the stream broke).
    Error {
        message: String,
    },
}

/// How an upstream stream ended, for `StreamEncoder::finish`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEnd {
    /// The upstream finished normally (its terminator or end of body after a finish).
    Complete,
    /// The upstream stream broke or stalled; the message says how. Encoders close open
    /// blocks and end with the format's error shape, never with a fake success.
    Aborted(String),
}

/// A request or response body the codec could not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CodecError(pub String);

impl CodecError {
    pub fn new(msg: impl Into<String>) -> Self {
        Self(msg.into())
    }
}

/// Upstream stream → IR events.
pub trait StreamDecoder: Send {
    /// Feed one SSE event (Gemini streams are requested with `alt=sse`, so they are SSE too).
    /// An event the decoder cannot use is skipped (and may be reported as a warning), never a
    /// panic. Malformed JSON in a data event yields `Err`.
    fn push(&mut self, event: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<(), CodecError>;
    /// The upstream body ended. Emits a synthesized `Finish` when the upstream ended cleanly
    /// without one (e.g. `[DONE]` with no finish_reason): `ToolCalls` when tool calls were
    /// seen, else `Stop`.
    fn finish(&mut self, out: &mut Vec<StreamEvent>);
}

/// IR events → client stream bytes.
pub trait StreamEncoder: Send {
    /// Bytes to send for one event (possibly none, e.g. while buffering Gemini tool args).
    fn push(&mut self, event: &StreamEvent, out: &mut BytesMut);
    /// Close the stream: everything still open is closed, then the format's terminator
    /// (`[DONE]`, `message_stop`, `response.completed` / `response.failed`, final chunk).
    fn finish(&mut self, end: &StreamEnd, out: &mut BytesMut);
}

/// A wire format's codec.
pub trait Codec {
    /// Client request → IR.
    fn decode_request(&self, body: &[u8]) -> Result<ChatRequest, CodecError>;
    /// IR → upstream request body. `model` is the upstream model id (Gemini ignores it: the
    /// model goes in the URL).
    fn encode_request(&self, req: &ChatRequest, model: &str) -> Result<Value, CodecError>;
    /// Like `encode_request`, also returning what the encoder dropped or rewrote (logged by the
    /// server). Codecs that produce such warnings override it.
    fn encode_request_warned(
        &self,
        req: &ChatRequest,
        model: &str,
    ) -> Result<(Value, Vec<String>), CodecError> {
        self.encode_request(req, model).map(|v| (v, Vec::new()))
    }
    /// [`Codec::encode_request_warned`] serialized: the upstream request body as JSON bytes
    /// (the same text as `serde_json::to_vec` of the `Value`) and the warnings. Codecs override
    /// it to write the JSON directly.
    fn encode_request_bytes(
        &self,
        req: &ChatRequest,
        model: &str,
    ) -> Result<(Vec<u8>, Vec<String>), CodecError> {
        let (body, warnings) = self.encode_request_warned(req, model)?;
        serde_json::to_vec(&body)
            .map(|bytes| (bytes, warnings))
            .map_err(|e| CodecError::new(format!("could not serialize the request: {e}")))
    }
    /// Upstream non-stream response → IR.
    fn decode_response(&self, body: &[u8]) -> Result<ChatResponse, CodecError>;
    /// IR → client non-stream response. `model` is the name the client asked for.
    fn encode_response(&self, resp: &ChatResponse, model: &str) -> Value;
    /// [`Codec::encode_response`] serialized; codecs override it to write the JSON directly.
    fn encode_response_bytes(&self, resp: &ChatResponse, model: &str) -> Vec<u8> {
        serde_json::to_vec(&self.encode_response(resp, model)).unwrap_or_default()
    }
    fn stream_decoder(&self) -> Box<dyn StreamDecoder>;
    /// `model`: the name the client asked for; `opts` per-request client options.
    fn stream_encoder(&self, model: &str, opts: &EncoderOptions) -> Box<dyn StreamEncoder>;
}

/// Client-side options that change how a stream is encoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncoderOptions {
    /// OpenAI chat: the client asked for `stream_options.include_usage`.
    pub include_usage: bool,
    /// Gemini: the client did not ask for `alt=sse`: stream a JSON array instead of SSE.
    pub json_array: bool,
}

/// Parse a JSON text of tool arguments into an object (`{}` for empty, malformed text kept as
/// `{"_raw": text}` so nothing is lost).
pub fn arguments_object(arguments: &str) -> Value {
    let t = arguments.trim();
    if t.is_empty() {
        return Value::Object(Default::default());
    }
    match serde_json::from_str::<Value>(t) {
        Ok(v @ Value::Object(_)) => v,
        Ok(other) => serde_json::json!({ "value": other }),
        Err(_) => serde_json::json!({ "_raw": t }),
    }
}

/// A tool-call id in the style `prefix` + 24 random-looking hex characters derived from `seed`
/// (deterministic, so a re-encoded history gets the same id every turn).
pub fn make_call_id(prefix: &str, seed: &str) -> String {
    // FNV-1a 64 twice with different offsets: cheap, stable across runs and platforms.
    fn fnv(seed: &str, offset: u64) -> u64 {
        let mut h = offset;
        for b in seed.bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
        h
    }
    let a = fnv(seed, 0xcbf29ce484222325);
    let b = fnv(seed, 0x84222325cbf29ce4);
    format!("{prefix}{:016x}{:08x}", a, (b >> 32) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_ids_are_stable_and_distinct() {
        assert_eq!(make_call_id("call_", "a:0"), make_call_id("call_", "a:0"));
        assert_ne!(make_call_id("call_", "a:0"), make_call_id("call_", "a:1"));
        assert_eq!(make_call_id("toolu_", "x").len(), "toolu_".len() + 24);
    }

    #[test]
    fn arguments_objects() {
        assert_eq!(arguments_object(""), serde_json::json!({}));
        assert_eq!(arguments_object(r#"{"a":1}"#), serde_json::json!({"a":1}));
        assert_eq!(arguments_object("{bad"), serde_json::json!({"_raw":"{bad"}));
    }

    #[test]
    fn usage_merge_keeps_reported_fields_only() {
        let mut u = Usage {
            input_tokens: Some(5),
            ..Default::default()
        };
        u.merge(&Usage {
            output_tokens: Some(7),
            ..Default::default()
        });
        assert_eq!(
            u,
            Usage {
                input_tokens: Some(5),
                output_tokens: Some(7),
                ..Default::default()
            }
        );
        assert!(Usage::default().is_empty());
    }
}
