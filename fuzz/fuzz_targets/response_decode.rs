//! Any body as an upstream response of any format: never a panic, and what decodes encodes for
//! every client format as valid JSON.
#![no_main]
use libfuzzer_sys::fuzz_target;
use omniroute_protocol::ApiFormat;
use omniroute_translate::translate_response;

const ALL: [ApiFormat; 4] = [ApiFormat::Openai, ApiFormat::Anthropic, ApiFormat::Gemini, ApiFormat::Responses];

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let up = ALL[(data[0] & 3) as usize];
    for client in ALL {
        if let Ok((v, _)) = translate_response(up, client, &data[1..], "m") {
            assert!(serde_json::to_string(&v).is_ok());
        }
    }
});
