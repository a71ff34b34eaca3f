//! Any body as a request of any format: decoding never panics, and whatever decodes can be
//! encoded for every upstream format without panicking.
#![no_main]
use libfuzzer_sys::fuzz_target;
use omniroute_protocol::ApiFormat;
use omniroute_translate::{decode_request, encode_request};

const ALL: [ApiFormat; 4] = [ApiFormat::Openai, ApiFormat::Anthropic, ApiFormat::Gemini, ApiFormat::Responses];

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let client = ALL[(data[0] & 3) as usize];
    if let Ok(mut req) = decode_request(client, &data[1..], Some("m")) {
        for up in ALL {
            let _ = encode_request(up, &mut req, "m");
        }
    }
});
