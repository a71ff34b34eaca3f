//! OpenAI Responses codec: requests, responses and streams to and from the IR.
//!
//! - [`request`]: `POST /v1/responses` bodies (client `decode_request`, upstream `encode_request`);
//! - [`response`]: non-stream response objects (upstream `decode_response`, client
//!   `encode_response`);
//! - [`decoder`] / [`encoder`]: the `response.*` SSE event streams;
//! - [`common`]: ids, usage, finish reasons, output items and namespaced tool names.
//!
//! # Namespace tools
//!
//! Codex groups some tools as `{"type":"namespace","name":NS,"tools":[...]}` and resolves a call
//! by the pair `(namespace, name)`. The IR only has flat function tools, so the decoder flattens
//! every function `NAME` of namespace `NS` into one tool named `NS__NAME` — Codex's own canonical
//! flat name (`NS` without trailing `_`, `__`, `NAME` without leading `_`) — and does the same for
//! history `function_call` items that carry a `namespace`. Each flattened name is remembered with
//! its original pair (a bounded process-wide table, see [`common::remember_namespaced`]); when a
//! Responses client is answered, a call whose name is in that table gets back its `name` and
//! `namespace` fields, every other name is sent unchanged. The encoders have no per-request
//! context, hence the table.
//!
//! # Signatures of other formats
//!
//! Responses has no field for another format's signatures, so they ride in a reasoning item's
//! `encrypted_content`, which clients such as Codex (asking for `reasoning.encrypted_content`)
//! replay verbatim: `omniroute-sig:v1:` + a reasoning signature (Anthropic thinking, Gemini
//! thought), or `omniroute-sig:v1:call:` + the signature of a function call (Gemini
//! `thoughtSignature` on a `functionCall` part), in a reasoning item with an empty summary placed
//! just before that call's `function_call` item. The request decoder restores the first as the
//! reasoning part's signature and gives the second to the next `function_call` of the same
//! assistant turn (a tagged item whose call never comes is dropped with a warning). Neither is
//! ever sent to a Responses upstream.

pub mod common;
pub mod decoder;
pub mod encoder;
pub mod request;
pub mod response;

use omniroute_ir::{
    ChatRequest, ChatResponse, Codec, CodecError, EncoderOptions, StreamDecoder, StreamEncoder,
};
use serde_json::Value;

/// The OpenAI Responses codec.
pub struct ResponsesCodec;

impl Codec for ResponsesCodec {
    fn decode_request(&self, body: &[u8]) -> Result<ChatRequest, CodecError> {
        request::decode_request(body)
    }

    fn encode_request(&self, req: &ChatRequest, model: &str) -> Result<Value, CodecError> {
        Ok(request::encode_request(req, model))
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
        Box::new(decoder::ResponsesStreamDecoder::default())
    }

    fn stream_encoder(&self, model: &str, _opts: &EncoderOptions) -> Box<dyn StreamEncoder> {
        Box::new(encoder::ResponsesStreamEncoder::new(model))
    }
}
