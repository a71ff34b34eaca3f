//! Gemini generateContent codec: requests, responses and streams to and from the IR, and the
//! JSON Schema normalizer for Gemini function declarations and `responseSchema`.

mod request;
mod response;
mod schema;
mod stream;
mod util;

use omniroute_ir::{
    ChatRequest, ChatResponse, Codec, CodecError, EncoderOptions, StreamDecoder, StreamEncoder,
};
use serde_json::Value;

pub use schema::normalize_schema;

/// The reference `Value` reader of upstream non-stream responses (every shape), which
/// [`Codec::decode_response`] equals for every body (its typed path is only faster). For
/// equivalence tests and fuzzing.
pub fn decode_response_value(body: &[u8]) -> Result<ChatResponse, CodecError> {
    response::decode_response_value(body)
}

/// The Gemini codec. The model travels in the URL: `decode_request` leaves `model` empty and
/// `encode_request` ignores its `model` argument (it reads `req.model`, set by the server to
/// the upstream model id, only to pick Gemini 3 specifics such as `thinkingLevel`).
pub struct GeminiCodec;

impl Codec for GeminiCodec {
    fn decode_request(&self, body: &[u8]) -> Result<ChatRequest, CodecError> {
        request::decode_request(body)
    }

    fn encode_request(&self, req: &ChatRequest, _model: &str) -> Result<Value, CodecError> {
        request::encode_request(req).map(|(body, _)| body)
    }

    fn encode_request_warned(
        &self,
        req: &ChatRequest,
        _model: &str,
    ) -> Result<(Value, Vec<String>), CodecError> {
        request::encode_request(req)
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
        Box::new(stream::GeminiStreamDecoder::default())
    }

    fn stream_encoder(&self, model: &str, opts: &EncoderOptions) -> Box<dyn StreamEncoder> {
        Box::new(stream::GeminiStreamEncoder::new(model, opts.json_array))
    }
}
