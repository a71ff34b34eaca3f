//! Anthropic Messages codec: requests, responses and streams to and from the IR.
//!
//! | module | direction |
//! |---|---|
//! | `request` | client request → IR (`decode_request`) |
//! | `upstream` | IR → upstream request (`encode_request`), shaped by `model` capabilities |
//! | `response` | upstream response → IR, IR → client response |
//! | `stream_decode` | upstream SSE events → IR stream events |
//! | `stream_encode` | IR stream events → client SSE bytes |

mod common;
mod model;
mod request;
mod response;
mod stream_decode;
mod stream_encode;
mod upstream;

use omniroute_ir::{
    ChatRequest, ChatResponse, Codec, CodecError, EncoderOptions, StreamDecoder, StreamEncoder,
};
use serde_json::Value;

pub use stream_decode::AnthropicStreamDecoder;
pub use stream_encode::AnthropicStreamEncoder;

/// The reference `Value` reader of upstream non-stream responses (every shape), which
/// [`Codec::decode_response`] equals for every body (its typed path is only faster). For
/// equivalence tests and fuzzing.
pub fn decode_response_value(body: &[u8]) -> Result<ChatResponse, CodecError> {
    response::decode_response_value(body)
}

/// The Anthropic Messages codec.
pub struct AnthropicCodec;

impl AnthropicCodec {
    /// `encode_request` plus the warnings it produced (dropped sampling parameters, clamped
    /// thinking budgets, dropped unsigned reasoning, ...). `Codec::encode_request` has no way to
    /// return them, so it discards them; callers that log warnings use this.
    pub fn encode_request_with_warnings(
        &self,
        req: &ChatRequest,
        model: &str,
    ) -> Result<(Value, Vec<String>), CodecError> {
        upstream::encode_request(req, model)
    }
}

impl Codec for AnthropicCodec {
    fn encode_request_warned(
        &self,
        req: &ChatRequest,
        model: &str,
    ) -> Result<(Value, Vec<String>), CodecError> {
        self.encode_request_with_warnings(req, model)
    }

    fn decode_request(&self, body: &[u8]) -> Result<ChatRequest, CodecError> {
        request::decode_request(body)
    }

    fn encode_request(&self, req: &ChatRequest, model: &str) -> Result<Value, CodecError> {
        upstream::encode_request(req, model).map(|(body, _warnings)| body)
    }

    fn decode_response(&self, body: &[u8]) -> Result<ChatResponse, CodecError> {
        response::decode_response(body)
    }

    fn encode_response(&self, resp: &ChatResponse, model: &str) -> Value {
        response::encode_response(resp, model)
    }

    fn encode_response_bytes(&self, resp: &ChatResponse, model: &str) -> Vec<u8> {
        response::encode_response_bytes(resp, model)
    }

    fn stream_decoder(&self) -> Box<dyn StreamDecoder> {
        Box::new(AnthropicStreamDecoder::default())
    }

    fn stream_encoder(&self, model: &str, _opts: &EncoderOptions) -> Box<dyn StreamEncoder> {
        Box::new(AnthropicStreamEncoder::new(model))
    }
}
