//! Any bytes from any upstream format, translated to any client format, split anywhere: never a
//! panic, and a clean or aborted finish always closes the stream.
#![no_main]
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use omniroute_protocol::ApiFormat;
use omniroute_translate::ir::{EncoderOptions, StreamEnd};
use omniroute_translate::StreamTranslator;

const ALL: [ApiFormat; 4] = [ApiFormat::Openai, ApiFormat::Anthropic, ApiFormat::Gemini, ApiFormat::Responses];

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let up = ALL[(data[0] & 3) as usize];
    let client = ALL[((data[0] >> 2) & 3) as usize];
    let opts = EncoderOptions { include_usage: data[0] & 16 != 0, json_array: data[0] & 32 != 0 };
    let abort = data[0] & 64 != 0;
    let body = &data[2..];
    let split = if body.is_empty() { 0 } else { data[1] as usize % body.len() };
    let mut tr = StreamTranslator::new(up, client, "m", &opts);
    let mut out = BytesMut::new();
    let mut failed = tr.push(&body[..split], &mut out).is_err();
    if !failed {
        failed = tr.push(&body[split..], &mut out).is_err();
    }
    let end = if abort || failed { StreamEnd::Aborted("fuzz".into()) } else { StreamEnd::Complete };
    tr.finish(end, &mut out);
    // the client stream is valid UTF-8 (it is JSON and SSE text)
    assert!(std::str::from_utf8(&out).is_ok());
});
