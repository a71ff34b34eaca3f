//! Translation between API formats, composed from the per-format codecs: request and
//! non-stream response conversion through the IR, and `StreamTranslator`, which turns upstream
//! SSE bytes into client stream bytes event by event. No IO, no providers.

use bytes::BytesMut;
use omniroute_ir::{
    ChatRequest, Codec, CodecError, EncoderOptions, StreamDecoder, StreamEncoder, StreamEnd,
    StreamEvent, Usage,
};
use omniroute_protocol::sse::SseParser;
use omniroute_protocol::ApiFormat;
use serde_json::Value;

pub use omniroute_ir as ir;

static OPENAI: omniroute_format_openai::OpenAiCodec = omniroute_format_openai::OpenAiCodec;
static ANTHROPIC: omniroute_format_anthropic::AnthropicCodec =
    omniroute_format_anthropic::AnthropicCodec;
static GEMINI: omniroute_format_gemini::GeminiCodec = omniroute_format_gemini::GeminiCodec;
static RESPONSES: omniroute_format_responses::ResponsesCodec =
    omniroute_format_responses::ResponsesCodec;

/// The codec of a format.
pub fn codec(format: ApiFormat) -> &'static dyn Codec {
    match format {
        ApiFormat::Openai => &OPENAI,
        ApiFormat::Anthropic => &ANTHROPIC,
        ApiFormat::Gemini => &GEMINI,
        ApiFormat::Responses => &RESPONSES,
    }
}

/// Decode a client request of `client` format. `model` overrides the body's (Gemini puts it in
/// the URL).
pub fn decode_request(
    client: ApiFormat,
    body: &[u8],
    model: Option<&str>,
) -> Result<ChatRequest, CodecError> {
    let mut req = codec(client).decode_request(body)?;
    if let Some(m) = model {
        req.model = m.to_string();
    }
    Ok(req)
}

/// Encode `req` for an upstream of `upstream` format, with the upstream model id. Returns the
/// body and what the encoder dropped or rewrote.
pub fn encode_request(
    upstream: ApiFormat,
    req: &mut ChatRequest,
    upstream_model: &str,
) -> Result<(Value, Vec<String>), CodecError> {
    req.model = upstream_model.to_string();
    codec(upstream).encode_request_warned(req, upstream_model)
}

/// [`encode_request`], serialized: the upstream request body as JSON bytes (the same text as
/// `serde_json::to_vec` of [`encode_request`]'s `Value`), written directly by codecs that can,
/// and what the encoder dropped or rewrote.
pub fn encode_request_bytes(
    upstream: ApiFormat,
    req: &mut ChatRequest,
    upstream_model: &str,
) -> Result<(Vec<u8>, Vec<String>), CodecError> {
    req.model = upstream_model.to_string();
    codec(upstream).encode_request_bytes(req, upstream_model)
}

/// Translate a non-stream upstream response body into the client's format. Returns the body and
/// the usage the upstream reported.
pub fn translate_response(
    upstream: ApiFormat,
    client: ApiFormat,
    body: &[u8],
    client_model: &str,
) -> Result<(Value, Usage), CodecError> {
    let resp = codec(upstream).decode_response(body)?;
    let usage = resp.usage;
    Ok((codec(client).encode_response(&resp, client_model), usage))
}

/// [`translate_response`], serialized: the client's codec writes the JSON directly where it can.
pub fn translate_response_bytes(
    upstream: ApiFormat,
    client: ApiFormat,
    body: &[u8],
    client_model: &str,
) -> Result<(Vec<u8>, Usage), CodecError> {
    let resp = codec(upstream).decode_response(body)?;
    let usage = resp.usage;
    Ok((
        codec(client).encode_response_bytes(&resp, client_model),
        usage,
    ))
}

/// What the translator has seen so far, for fallback decisions and logging.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// A content event (text, reasoning, tool call) has been produced.
    pub content: bool,
    /// The upstream reported an error before any content.
    pub error_before_content: bool,
    /// A finish event has been produced.
    pub finished: bool,
}

/// Upstream SSE bytes in, client stream bytes out.
pub struct StreamTranslator {
    parser: SseParser,
    decoder: Box<dyn StreamDecoder>,
    encoder: Box<dyn StreamEncoder>,
    events: Vec<StreamEvent>,
    usage: Usage,
    progress: Progress,
    error: Option<String>,
    closed: bool,
}

impl StreamTranslator {
    pub fn new(
        upstream: ApiFormat,
        client: ApiFormat,
        client_model: &str,
        opts: &EncoderOptions,
    ) -> Self {
        Self {
            parser: SseParser::default(),
            decoder: codec(upstream).stream_decoder(),
            encoder: codec(client).stream_encoder(client_model, opts),
            events: Vec::new(),
            usage: Usage::default(),
            progress: Progress::default(),
            error: None,
            closed: false,
        }
    }

    /// Feed raw upstream bytes; client bytes are appended to `out`. An `Err` means the upstream
    /// stream is unusable (malformed event); the caller then calls `finish` with `Aborted`.
    pub fn push(&mut self, chunk: &[u8], out: &mut BytesMut) -> Result<(), String> {
        let mut decode_error = None;
        let (decoder, events) = (&mut self.decoder, &mut self.events);
        let parsed = self.parser.push(chunk, |ev| {
            if decode_error.is_none() {
                if let Err(e) = decoder.push(&ev, events) {
                    decode_error = Some(e.0);
                }
            }
        });
        if parsed.is_err() {
            decode_error.get_or_insert_with(|| "upstream sent an oversized SSE line".to_string());
        }
        self.drain(out);
        match decode_error {
            Some(e) => Err(format!("upstream stream is malformed: {e}")),
            None => Ok(()),
        }
    }

    fn drain(&mut self, out: &mut BytesMut) {
        for ev in self.events.drain(..) {
            match &ev {
                StreamEvent::TextDelta { .. }
                | StreamEvent::ReasoningDelta { .. }
                | StreamEvent::ToolCallStart { .. }
                | StreamEvent::RedactedReasoning { .. } => self.progress.content = true,
                StreamEvent::Usage { usage } => self.usage.merge(usage),
                StreamEvent::Finish { .. } => self.progress.finished = true,
                StreamEvent::Error { message } => {
                    if !self.progress.content {
                        self.progress.error_before_content = true;
                    }
                    self.error.get_or_insert_with(|| message.clone());
                }
                _ => {}
            }
            self.encoder.push(&ev, out);
        }
    }

    /// End the stream: flush the decoder (clean end) and close the client stream.
    pub fn finish(&mut self, end: StreamEnd, out: &mut BytesMut) {
        if self.closed {
            return;
        }
        self.closed = true;
        let end = match end {
            StreamEnd::Complete => {
                let (decoder, events) = (&mut self.decoder, &mut self.events);
                self.parser.finish(|ev| {
                    let _ = decoder.push(&ev, events);
                });
                self.decoder.finish(&mut self.events);
                self.drain(out);
                match &self.error {
                    Some(e) if !self.progress.finished => StreamEnd::Aborted(e.clone()),
                    _ => StreamEnd::Complete,
                }
            }
            aborted => aborted,
        };
        self.encoder.finish(&end, out);
    }

    pub fn progress(&self) -> Progress {
        self.progress
    }

    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// The first upstream error message seen in the stream.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }
}

/// For upstreams that reject the system role: the system prompt becomes the opening text of the
/// first user turn (a user turn is added when the conversation starts otherwise).
pub fn system_into_first_user_turn(req: &mut ChatRequest) {
    use omniroute_ir::{Message, Part, Role};
    let text = req.system.join("\n\n");
    req.system.clear();
    if text.is_empty() {
        return;
    }
    req.warnings.push(
        "system prompt moved into the first user turn (the provider rejects the system role)"
            .into(),
    );
    match req.messages.first_mut() {
        Some(m) if m.role == Role::User => m.content.insert(
            0,
            Part::Text {
                text: format!("{text}\n\n"),
            },
        ),
        _ => req.messages.insert(
            0,
            Message {
                role: Role::User,
                content: vec![Part::Text { text }],
            },
        ),
    }
}

/// A local token estimate (about four characters per token) for `count_tokens` when the
/// upstream cannot count: system, messages, and tool definitions.
pub fn estimate_tokens(req: &ChatRequest) -> u64 {
    use omniroute_ir::Part;
    fn part_chars(p: &Part) -> usize {
        match p {
            Part::Text { text } => text.len(),
            Part::Image { .. } => 1600 * 4, // roughly what providers bill for an image
            Part::ToolCall {
                name, arguments, ..
            } => name.len() + arguments.len(),
            Part::ToolResult { content, .. } => content.iter().map(part_chars).sum(),
            Part::Reasoning { text, .. } => text.len(),
        }
    }
    let mut chars: usize = req.system.iter().map(String::len).sum();
    for m in &req.messages {
        chars += 8 + m.content.iter().map(part_chars).sum::<usize>();
    }
    for t in &req.tools {
        chars += t.name.len()
            + t.description.as_ref().map_or(0, String::len)
            + t.parameters.to_string().len();
    }
    (chars as u64).div_ceil(4).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use omniroute_ir::{Message, Part, Role};

    #[test]
    fn system_moves_into_the_first_user_turn() {
        let mut req = ChatRequest {
            system: vec!["be brief".into(), "be kind".into()],
            messages: vec![Message {
                role: Role::User,
                content: vec![Part::Text { text: "hi".into() }],
            }],
            ..Default::default()
        };
        system_into_first_user_turn(&mut req);
        assert!(req.system.is_empty());
        assert_eq!(
            req.messages[0].content[0],
            Part::Text {
                text: "be brief\n\nbe kind\n\n".into()
            }
        );
        assert_eq!(req.messages.len(), 1);
        assert_eq!(req.warnings.len(), 1);
        let mut req = ChatRequest {
            system: vec!["sys".into()],
            messages: vec![Message {
                role: Role::Assistant,
                content: vec![],
            }],
            ..Default::default()
        };
        system_into_first_user_turn(&mut req);
        assert_eq!(req.messages[0].role, Role::User);
        assert_eq!(req.messages.len(), 2);
        assert!(estimate_tokens(&req) >= 1);
    }
}
