//! Chat completions requests: decoding a client's body into the IR ([`decode`]) and encoding
//! the IR as an upstream body ([`encode`]).

mod decode;
mod encode;

pub use decode::decode;
pub use encode::{effort_for, encode, uses_max_completion_tokens};
