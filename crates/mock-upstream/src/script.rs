//! Per-request scripting: directives from the `x-mock` header or a `[[mock:...]]` marker.
//!
//! Syntax: directives separated by `;` or `,`, each `key` or `key=value`
//! (keys are case-insensitive, `-` and `_` are interchangeable). `usage=P,C`
//! keeps its comma: a bare number right after `usage=P` is its completion count
//! (`usage=P:C` and `usage=P/C` work too). Separators inside a JSON object
//! (`call=NAME:{"a":1,"b":2}`) do not split. Unknown directives are ignored.

/// The marker that introduces in-text directives: `[[mock:chunks=3;delay=10]]`.
pub(crate) const MARKER: &str = "[[mock:";

/// Largest accepted `chunks=N` (bounds memory per request).
pub(crate) const MAX_CHUNKS: usize = 10_000;

/// Everything a request can ask the mock to do differently.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Script {
    pub status: Option<u16>,
    pub retry_after: Option<u64>,
    pub chunks: Option<usize>,
    pub delay_ms: u64,
    pub first_byte_ms: u64,
    pub cut: Option<usize>,
    pub error_event: bool,
    /// HTTP 200 whose JSON body is the scripted error (non-stream error shape).
    pub error_200: bool,
    /// The 429 is a quota (billing) error, not a rate limit; alone it means `status=429`.
    pub quota: bool,
    /// The 400 is a context-length error; alone it means `status=400`.
    pub context: bool,
    pub empty: bool,
    pub garbage: bool,
    pub tools: bool,
    pub reasoning: bool,
    /// `call=NAME[:{json args}]`: call the request's tool of that name.
    pub call: Option<String>,
    /// The raw JSON arguments of `call` (synthesized from the schema when absent).
    pub call_args: Option<String>,
    /// Gemini: `thoughtSignature` on the functionCall part (as Gemini 2.5/3 do).
    pub call_signature: bool,
    /// Refuse histories a real provider refuses (signatures, thinking blocks).
    pub strict: bool,
    pub usage_prompt: Option<u64>,
    pub usage_completion: Option<u64>,
}

impl Script {
    /// Merge the directives of `spec` into `self` (later directives win).
    pub(crate) fn parse(&mut self, spec: &str) {
        let mut usage_open = false;
        for token in split_directives(spec) {
            let token = token.trim();
            if token.is_empty() {
                continue;
            }
            let (key, value) = match token.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim())),
                None => (token, None),
            };
            if usage_open && value.is_none() {
                if let Ok(c) = key.parse::<u64>() {
                    self.usage_completion = Some(c);
                    usage_open = false;
                    continue;
                }
            }
            usage_open = false;
            let key = key.to_ascii_lowercase().replace('_', "-");
            let num = value.and_then(|v| v.parse::<u64>().ok());
            match key.as_str() {
                "status" => {
                    self.status = num
                        .and_then(|n| u16::try_from(n).ok())
                        .filter(|n| (100..=999).contains(n));
                }
                "retry-after" => self.retry_after = num,
                "chunks" => {
                    self.chunks = num.map(|n| {
                        usize::try_from(n)
                            .unwrap_or(MAX_CHUNKS)
                            .clamp(1, MAX_CHUNKS)
                    });
                }
                "delay" => self.delay_ms = num.unwrap_or(0),
                "first-byte" => self.first_byte_ms = num.unwrap_or(0),
                "cut" => self.cut = num.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
                "error-event" => self.error_event = flag(value),
                "error-200" => self.error_200 = flag(value),
                "quota" => self.quota = flag(value),
                "context" => self.context = flag(value),
                "empty" => self.empty = flag(value),
                "garbage" => self.garbage = flag(value),
                "tools" | "tool" => self.tools = flag(value),
                "call-signature" => self.call_signature = flag(value),
                "strict" | "strict-signatures" => self.strict = flag(value),
                "reasoning" | "thinking" => self.reasoning = flag(value),
                "call" => {
                    let v = value.unwrap_or("");
                    let (name, args) = match v.split_once(':') {
                        Some((n, a)) => (n.trim(), Some(a.trim())),
                        None => (v, None),
                    };
                    self.call = (!name.is_empty()).then(|| name.to_owned());
                    self.call_args = args.filter(|a| !a.is_empty()).map(str::to_owned);
                }
                "usage" => {
                    let v = value.unwrap_or("");
                    match v.split_once([':', '/']) {
                        Some((p, c)) => {
                            self.usage_prompt = p.trim().parse().ok();
                            self.usage_completion = c.trim().parse().ok();
                        }
                        None => {
                            self.usage_prompt = v.parse().ok();
                            usage_open = true;
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// Which realistic error a scripted error status renders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// The status's usual error (429: a rate limit).
    Plain,
    /// 429 with `quota`: the quota / billing error.
    Quota,
    /// 400 with `context`: the context-length-exceeded error.
    Context,
}

impl Script {
    /// The scripted error status: `status` when ≥ 400, else 429 for `quota`,
    /// else 400 for `context` (an explicit `status` below 400 means no error).
    pub(crate) fn error_status(&self) -> Option<u16> {
        match self.status {
            Some(s) => (s >= 400).then_some(s),
            None if self.quota => Some(429),
            None if self.context => Some(400),
            None => None,
        }
    }

    /// The flavour of the error rendered for `status`.
    pub(crate) fn error_kind(&self, status: u16) -> ErrorKind {
        match status {
            429 if self.quota => ErrorKind::Quota,
            400 if self.context => ErrorKind::Context,
            _ => ErrorKind::Plain,
        }
    }
}

/// Split a directive list on `;` and `,`, except inside JSON objects/arrays
/// opened by `{` (and the strings within them).
fn split_directives(spec: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut scan = JsonScan::default();
    for (i, c) in spec.char_indices() {
        if scan.step(c) && (c == ';' || c == ',') {
            out.push(&spec[start..i]);
            start = i + 1;
        }
    }
    out.push(&spec[start..]);
    out
}

/// Tracks `{...}` nesting (and `[...]` inside it) and JSON strings, char by char.
#[derive(Default)]
struct JsonScan {
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl JsonScan {
    /// Feed one char; true when `c` is outside any JSON object (depth 0, not in a string).
    fn step(&mut self, c: char) -> bool {
        if self.in_string {
            if self.escaped {
                self.escaped = false;
            } else if c == '\\' {
                self.escaped = true;
            } else if c == '"' {
                self.in_string = false;
            }
            return false;
        }
        match c {
            '{' => {
                self.depth += 1;
                false
            }
            '[' if self.depth > 0 => {
                self.depth += 1;
                false
            }
            '}' | ']' if self.depth > 0 => {
                self.depth -= 1;
                false
            }
            '"' if self.depth > 0 => {
                self.in_string = true;
                false
            }
            _ => self.depth == 0,
        }
    }
}

/// End (byte offset of the closing `]]`) of a marker body starting at `body`,
/// skipping `]]` inside JSON objects.
fn marker_end(body: &str) -> Option<usize> {
    let mut scan = JsonScan::default();
    let mut prev_close = false;
    for (i, c) in body.char_indices() {
        let outside = scan.step(c);
        if outside && c == ']' {
            if prev_close {
                return Some(i - 1);
            }
            prev_close = true;
        } else {
            prev_close = false;
        }
    }
    None
}

/// A boolean directive: bare `key` means on; `key=0|false|off|no` means off.
fn flag(value: Option<&str>) -> bool {
    !matches!(
        value.map(str::to_ascii_lowercase).as_deref(),
        Some("0" | "false" | "off" | "no")
    )
}

/// Remove every complete `[[mock:...]]` marker from `text`, merging its
/// directives into `script`. When a marker was removed the remaining text is
/// trimmed; otherwise it is returned unchanged.
pub(crate) fn take_markers(text: &str, script: &mut Script) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut found = false;
    while let Some(start) = rest.find(MARKER) {
        let after = &rest[start + MARKER.len()..];
        let Some(end) = marker_end(after) else { break };
        script.parse(&after[..end]);
        out.push_str(&rest[..start]);
        rest = &after[end + 2..];
        found = true;
    }
    out.push_str(rest);
    if found {
        out.trim().to_owned()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(spec: &str) -> Script {
        let mut s = Script::default();
        s.parse(spec);
        s
    }

    #[test]
    fn parses_all_directives() {
        let s = parsed(
            "status=429; retry-after=3, chunks=5;delay=10;first-byte=20;cut=2;error-event;empty;garbage;tools;reasoning",
        );
        assert_eq!(s.status, Some(429));
        assert_eq!(s.retry_after, Some(3));
        assert_eq!(s.chunks, Some(5));
        assert_eq!(s.delay_ms, 10);
        assert_eq!(s.first_byte_ms, 20);
        assert_eq!(s.cut, Some(2));
        assert!(s.error_event && s.empty && s.garbage && s.tools && s.reasoning);
    }

    #[test]
    fn usage_keeps_its_comma() {
        let s = parsed("usage=12,34;chunks=2");
        assert_eq!((s.usage_prompt, s.usage_completion), (Some(12), Some(34)));
        assert_eq!(s.chunks, Some(2));
        let s = parsed("usage=12:34");
        assert_eq!((s.usage_prompt, s.usage_completion), (Some(12), Some(34)));
        let s = parsed("usage=5, tools");
        assert_eq!((s.usage_prompt, s.usage_completion), (Some(5), None));
        assert!(s.tools);
    }

    #[test]
    fn unknown_and_malformed_are_ignored() {
        let s = parsed("bogus=1; STATUS=abc; Chunks=0; ERROR_EVENT; tools=off");
        assert_eq!(s.status, None);
        assert_eq!(s.chunks, Some(1));
        assert!(s.error_event);
        assert!(!s.tools);
    }

    #[test]
    fn call_with_and_without_args() {
        let s = parsed("call=Read");
        assert_eq!(s.call.as_deref(), Some("Read"));
        assert_eq!(s.call_args, None);
        let s = parsed(r#"chunks=2; call=exec_command:{"cmd":"cat a, b; c","n":[1,2]}, delay=5"#);
        assert_eq!(s.call.as_deref(), Some("exec_command"));
        assert_eq!(
            s.call_args.as_deref(),
            Some(r#"{"cmd":"cat a, b; c","n":[1,2]}"#)
        );
        assert_eq!((s.chunks, s.delay_ms), (Some(2), 5));
        let s = parsed(r#"call=x:{"s":"q\"}, ;"}"#);
        assert_eq!(s.call_args.as_deref(), Some(r#"{"s":"q\"}, ;"}"#));
        let s = parsed(r#"call=x:{"s":"q\\"}, tools"#);
        assert_eq!(s.call_args.as_deref(), Some(r#"{"s":"q\\"}"#));
        assert!(s.tools);
        assert_eq!(parsed("call=").call, None);
        let s = parsed("call_signature; strict");
        assert!(s.call_signature && s.strict);
    }

    #[test]
    fn error_directives() {
        let s = parsed("quota");
        assert_eq!(s.error_status(), Some(429));
        assert_eq!(s.error_kind(429), ErrorKind::Quota);
        let s = parsed("context");
        assert_eq!(s.error_status(), Some(400));
        assert_eq!(s.error_kind(400), ErrorKind::Context);
        let s = parsed("status=500; quota; context");
        assert_eq!(s.error_status(), Some(500));
        assert_eq!(s.error_kind(500), ErrorKind::Plain);
        let s = parsed("status=429; error_200");
        assert!(s.error_200);
        assert_eq!(s.error_kind(429), ErrorKind::Plain);
        // A later `status=0` clears `status`; `status=200` also cancels `quota`/`context`.
        assert_eq!(parsed("status=503; status=0").error_status(), None);
        assert_eq!(
            parsed("status=503; quota; status=0").error_status(),
            Some(429)
        );
        assert_eq!(parsed("quota; context; status=200").error_status(), None);
        assert_eq!(parsed("quota; quota=off").error_status(), None);
        assert_eq!(parsed("").error_status(), None);
    }

    #[test]
    fn marker_end_skips_json() {
        let mut s = Script::default();
        let t = take_markers(
            r#"please [[mock:call=f:{"a":[[1]],"b":"]]"}]] read it"#,
            &mut s,
        );
        assert_eq!(t, "please  read it");
        assert_eq!(s.call.as_deref(), Some("f"));
        assert_eq!(s.call_args.as_deref(), Some(r#"{"a":[[1]],"b":"]]"}"#));
    }

    #[test]
    fn markers_are_removed_and_merged() {
        let mut s = Script::default();
        let t = take_markers("hello [[mock:chunks=3]] world [[mock:tools]]", &mut s);
        assert_eq!(t, "hello  world");
        assert_eq!(s.chunks, Some(3));
        assert!(s.tools);
        let mut s = Script::default();
        assert_eq!(
            take_markers("[[mock:status=500", &mut s),
            "[[mock:status=500"
        );
        assert_eq!(s.status, None);
    }
}
