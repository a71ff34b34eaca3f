//! Integration tests of the OpenAI chat codec: real client fixtures, request and response round
//! trips, stream decoding under every byte split, and stream encoder lifecycles.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fixtures;
mod request;
mod response;
mod stream_decode;
mod stream_encode;
mod support;
