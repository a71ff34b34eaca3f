//! OpenAI Chat Completions codec: requests, responses and streams to and from the IR.
//!
//! - [`request::decode`]: a client's `/v1/chat/completions` body → [`ChatRequest`];
//! - [`request::encode`]: [`ChatRequest`] → an upstream chat completions body;
//! - [`response`]: non-stream `chat.completion` objects both ways;
//! - [`stream`]: `chat.completion.chunk` SSE streams both ways.

use omniroute_ir::{
    ChatRequest, ChatResponse, Codec, CodecError, EncoderOptions, StreamDecoder, StreamEncoder,
};
use serde_json::Value;

mod common;
pub mod request;
pub mod response;
pub mod stream;

pub use stream::decode::ChunkDecoder;
pub use stream::encode::ChunkEncoder;

/// The OpenAI Chat Completions codec.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenAiCodec;

impl OpenAiCodec {
    /// [`Codec::encode_request`] that also returns what had to be dropped or rewritten (the
    /// trait method has no way to report it, so it only logs these lines).
    pub fn encode_request_with_warnings(
        &self,
        req: &ChatRequest,
        model: &str,
    ) -> Result<(Value, Vec<String>), CodecError> {
        let mut warnings = Vec::new();
        let body = request::encode(req, model, &mut warnings)?;
        Ok((body, warnings))
    }
}

impl Codec for OpenAiCodec {
    fn encode_request_warned(
        &self,
        req: &ChatRequest,
        model: &str,
    ) -> Result<(Value, Vec<String>), CodecError> {
        self.encode_request_with_warnings(req, model)
    }

    fn decode_request(&self, body: &[u8]) -> Result<ChatRequest, CodecError> {
        request::decode(body)
    }

    fn encode_request(&self, req: &ChatRequest, model: &str) -> Result<Value, CodecError> {
        let (body, warnings) = self.encode_request_with_warnings(req, model)?;
        for w in &warnings {
            tracing::warn!(target: "omniroute::translate", format = "openai_chat", "{w}");
        }
        Ok(body)
    }

    fn decode_response(&self, body: &[u8]) -> Result<ChatResponse, CodecError> {
        response::decode(body)
    }

    fn encode_response(&self, resp: &ChatResponse, model: &str) -> Value {
        response::encode(resp, model)
    }

    fn encode_response_bytes(&self, resp: &ChatResponse, model: &str) -> Vec<u8> {
        response::encode_bytes(resp, model)
    }

    fn stream_decoder(&self) -> Box<dyn StreamDecoder> {
        Box::new(ChunkDecoder::default())
    }

    fn stream_encoder(&self, model: &str, opts: &EncoderOptions) -> Box<dyn StreamEncoder> {
        Box::new(ChunkEncoder::new(model, opts))
    }
}
