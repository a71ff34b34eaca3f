//! Incremental Server-Sent Events codec: a parser that accepts arbitrary byte chunks (events
//! split across reads, CRLF / CR / LF line ends, multi-line `data:`, comments, keep-alives) and an
//! encoder. Memory per stream is bounded by the largest single event.

use bytes::{BufMut, Bytes, BytesMut};

/// One dispatched SSE event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, if any.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The `id:` field, if any.
    pub id: Option<String>,
}

impl SseEvent {
    /// `true` for the OpenAI end-of-stream sentinel `data: [DONE]`.
    pub fn is_done(&self) -> bool {
        self.data.trim() == "[DONE]"
    }
}

/// Error raised when a single line exceeds the configured maximum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineTooLong;

/// Incremental SSE parser.
#[derive(Debug)]
pub struct SseParser {
    line: Vec<u8>,
    /// The previous chunk ended with `\r`; a leading `\n` in the next chunk belongs to it.
    after_cr: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
    id: Option<String>,
    max_line: usize,
}

impl Default for SseParser {
    fn default() -> Self {
        Self::new(16 * 1024 * 1024)
    }
}

impl SseParser {
    /// A parser that refuses lines longer than `max_line` bytes.
    pub fn new(max_line: usize) -> Self {
        Self {
            line: Vec::new(),
            after_cr: false,
            event: None,
            data: String::new(),
            has_data: false,
            id: None,
            max_line,
        }
    }

    /// Feed a chunk; every completed event is passed to `on_event`.
    pub fn push(
        &mut self,
        mut chunk: &[u8],
        mut on_event: impl FnMut(SseEvent),
    ) -> Result<(), LineTooLong> {
        if chunk.is_empty() {
            return Ok(());
        }
        if self.after_cr {
            self.after_cr = false;
            if let Some(b'\n') = chunk.first() {
                chunk = &chunk[1..];
            }
        }
        while let Some(pos) = chunk.iter().position(|b| *b == b'\n' || *b == b'\r') {
            let (head, rest) = chunk.split_at(pos);
            let term = rest[0];
            let mut rest = &rest[1..];
            if term == b'\r' {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    None => self.after_cr = true,
                    _ => {}
                }
            }
            if self.line.is_empty() {
                self.process_line(head, &mut on_event);
            } else {
                self.line.extend_from_slice(head);
                let line = std::mem::take(&mut self.line);
                self.process_line(&line, &mut on_event);
                self.line = line;
                self.line.clear();
            }
            chunk = rest;
        }
        if self.line.len() + chunk.len() > self.max_line {
            self.line.clear();
            return Err(LineTooLong);
        }
        self.line.extend_from_slice(chunk);
        Ok(())
    }

    /// Signal the end of input: a pending event without its blank line is dispatched, as
    /// lenient clients do (many upstreams omit the final blank line).
    pub fn finish(&mut self, mut on_event: impl FnMut(SseEvent)) {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, &mut on_event);
        }
        self.dispatch(&mut on_event);
    }

    fn process_line(&mut self, line: &[u8], on_event: &mut impl FnMut(SseEvent)) {
        if line.is_empty() {
            self.dispatch(on_event);
            return;
        }
        if line[0] == b':' {
            return; // comment / keep-alive
        }
        let (field, value) = match line.iter().position(|b| *b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        let value = String::from_utf8_lossy(value);
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&value);
                self.has_data = true;
            }
            b"event" => self.event = Some(value.into_owned()),
            b"id" => self.id = Some(value.into_owned()),
            _ => {} // `retry` and unknown fields are ignored
        }
    }

    fn dispatch(&mut self, on_event: &mut impl FnMut(SseEvent)) {
        if !self.has_data {
            // An event with no data is not dispatched (per the SSE spec); reset the type.
            self.event = None;
            return;
        }
        self.has_data = false;
        on_event(SseEvent {
            event: self.event.take(),
            data: std::mem::take(&mut self.data),
            id: self.id.clone(),
        });
    }
}

/// Encode one event (`event:` line if given, one `data:` line per line of `data`).
pub fn encode(event: Option<&str>, data: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(data.len() + 32);
    if let Some(name) = event {
        out.put_slice(b"event: ");
        out.put_slice(name.as_bytes());
        out.put_u8(b'\n');
    }
    for line in data.split('\n') {
        out.put_slice(b"data: ");
        out.put_slice(line.as_bytes());
        out.put_u8(b'\n');
    }
    out.put_u8(b'\n');
    out.freeze()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut p = SseParser::default();
        let mut out = Vec::new();
        for c in chunks {
            p.push(c, |e| out.push(e)).unwrap();
        }
        p.finish(|e| out.push(e));
        out
    }

    const STREAM: &[u8] = b": keep-alive\r\nevent: message_start\r\ndata: {\"a\":1}\r\n\r\ndata: line1\ndata: line2\n\nid: 7\ndata: x\r\rdata: [DONE]\n\n";

    #[test]
    fn parses_mixed_line_endings_comments_and_multiline() {
        let ev = parse_all(&[STREAM]);
        assert_eq!(ev.len(), 4);
        assert_eq!(ev[0].event.as_deref(), Some("message_start"));
        assert_eq!(ev[0].data, "{\"a\":1}");
        assert_eq!(ev[1].data, "line1\nline2");
        assert_eq!(ev[2].id.as_deref(), Some("7"));
        assert!(ev[3].is_done());
    }

    #[test]
    fn any_split_gives_the_same_events() {
        let whole = parse_all(&[STREAM]);
        for i in 0..=STREAM.len() {
            for j in i..=STREAM.len() {
                let got = parse_all(&[&STREAM[..i], &STREAM[i..j], &STREAM[j..]]);
                assert_eq!(got, whole, "split at {i},{j}");
            }
        }
    }

    #[test]
    fn byte_by_byte() {
        let chunks: Vec<&[u8]> = STREAM.chunks(1).collect();
        assert_eq!(parse_all(&chunks), parse_all(&[STREAM]));
    }

    #[test]
    fn finish_flushes_unterminated_event() {
        let ev = parse_all(&[b"data: tail"]);
        assert_eq!(
            ev,
            vec![SseEvent {
                data: "tail".into(),
                ..Default::default()
            }]
        );
    }

    #[test]
    fn refuses_huge_lines() {
        let mut p = SseParser::new(8);
        assert_eq!(p.push(b"data: 0123456789", |_| {}), Err(LineTooLong));
    }

    #[test]
    fn encode_roundtrips() {
        let bytes = encode(Some("delta"), "a\nb");
        assert_eq!(&bytes[..], b"event: delta\ndata: a\ndata: b\n\n");
        let ev = parse_all(&[&bytes]);
        assert_eq!(ev[0].data, "a\nb");
        assert_eq!(ev[0].event.as_deref(), Some("delta"));
    }
}
