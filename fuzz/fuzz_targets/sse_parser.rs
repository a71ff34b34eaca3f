//! The SSE parser never panics, and any split of the input yields the same events.
#![no_main]
use libfuzzer_sys::fuzz_target;
use omniroute_protocol::sse::{SseEvent, SseParser};

fn parse(chunks: &[&[u8]]) -> Vec<SseEvent> {
    let mut p = SseParser::new(1 << 16);
    let mut out = Vec::new();
    for c in chunks {
        if p.push(c, |e| out.push(e)).is_err() {
            return Vec::new();
        }
    }
    p.finish(|e| out.push(e));
    out
}

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let split = data[0] as usize % data.len();
    let rest = &data[1..];
    let split = split.min(rest.len());
    let whole = parse(&[rest]);
    let halves = parse(&[&rest[..split], &rest[split..]]);
    assert_eq!(whole, halves);
});
