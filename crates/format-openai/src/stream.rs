//! Streams of `chat.completion.chunk` events: upstream chunks → IR events ([`decode`]) and IR
//! events → client chunks ([`encode`]).

pub mod decode;
pub mod encode;
