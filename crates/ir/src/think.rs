//! Moving `<think>…</think>` (DeepSeek R1 and similar models) out of the visible text into
//! reasoning. Only an opening tag at the very start of the content (after whitespace) counts, so
//! an answer that merely mentions the tag is left alone. Works across arbitrary chunk splits.

use crate::StreamEvent;

const OPEN: &str = "<think>";
const CLOSE: &str = "</think>";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing visible yet: an opening tag may still come.
    Start,
    Inside,
    /// Just after `</think>`: whitespace before the answer is dropped.
    AfterThink,
    /// Plain text from here on.
    Visible,
}

/// Streaming splitter: feed text deltas, get `ReasoningDelta` / `TextDelta` events.
#[derive(Debug, Clone)]
pub struct ThinkSplitter {
    state: State,
    /// Text held back because it may be the beginning of a tag.
    held: String,
}

impl Default for ThinkSplitter {
    fn default() -> Self {
        Self {
            state: State::Start,
            held: String::new(),
        }
    }
}

/// The longest suffix of `s` that is a proper prefix of `tag` (a tag possibly cut by a chunk).
fn partial_tag_suffix(s: &str, tag: &str) -> usize {
    let max = s.len().min(tag.len() - 1);
    (1..=max)
        .rev()
        .find(|&n| s.is_char_boundary(s.len() - n) && tag.starts_with(&s[s.len() - n..]))
        .unwrap_or(0)
}

impl ThinkSplitter {
    pub fn push(&mut self, delta: &str, out: &mut Vec<StreamEvent>) {
        if self.state == State::Visible && self.held.is_empty() {
            if !delta.is_empty() {
                out.push(StreamEvent::TextDelta {
                    text: delta.to_string(),
                });
            }
            return;
        }
        self.held.push_str(delta);
        loop {
            match self.state {
                State::Start => {
                    let trimmed = self.held.trim_start();
                    if trimmed.is_empty() {
                        return; // only whitespace so far
                    }
                    if let Some(rest) = trimmed.strip_prefix(OPEN) {
                        self.held = rest.to_string();
                        self.state = State::Inside;
                        continue;
                    }
                    if OPEN.starts_with(trimmed) {
                        return; // maybe the tag, cut
                    }
                    self.state = State::Visible;
                    let text = std::mem::take(&mut self.held);
                    out.push(StreamEvent::TextDelta { text });
                    return;
                }
                State::Inside => {
                    if let Some(pos) = self.held.find(CLOSE) {
                        let reasoning = self.held[..pos].to_string();
                        let rest = self.held[pos + CLOSE.len()..].trim_start().to_string();
                        if !reasoning.is_empty() {
                            out.push(StreamEvent::ReasoningDelta { text: reasoning });
                        }
                        self.held.clear();
                        if rest.is_empty() {
                            // leading whitespace after the tag is dropped until text arrives
                            self.state = State::AfterThink;
                        } else {
                            self.state = State::Visible;
                            out.push(StreamEvent::TextDelta { text: rest });
                        }
                        return;
                    }
                    let keep = partial_tag_suffix(&self.held, CLOSE);
                    let emit_len = self.held.len() - keep;
                    if emit_len > 0 {
                        let text: String = self.held.drain(..emit_len).collect();
                        out.push(StreamEvent::ReasoningDelta { text });
                    }
                    return;
                }
                State::AfterThink => {
                    let trimmed = self.held.trim_start();
                    if trimmed.is_empty() {
                        self.held.clear();
                        return;
                    }
                    let text = trimmed.to_string();
                    self.held.clear();
                    self.state = State::Visible;
                    out.push(StreamEvent::TextDelta { text });
                    return;
                }
                State::Visible => {
                    let text = std::mem::take(&mut self.held);
                    if !text.is_empty() {
                        out.push(StreamEvent::TextDelta { text });
                    }
                    return;
                }
            }
        }
    }

    /// End of content: release anything held back.
    pub fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        let text = std::mem::take(&mut self.held);
        if text.is_empty() {
            return;
        }
        match self.state {
            State::Inside => out.push(StreamEvent::ReasoningDelta { text }),
            State::AfterThink => {}
            _ => out.push(StreamEvent::TextDelta { text }),
        }
    }
}

/// Non-stream: `(reasoning, visible)` of a whole text.
pub fn split_think(text: &str) -> (Option<String>, String) {
    let mut s = ThinkSplitter::default();
    let mut ev = Vec::new();
    s.push(text, &mut ev);
    s.finish(&mut ev);
    let (mut reasoning, mut visible) = (String::new(), String::new());
    for e in ev {
        match e {
            StreamEvent::ReasoningDelta { text } => reasoning.push_str(&text),
            StreamEvent::TextDelta { text } => visible.push_str(&text),
            _ => {}
        }
    }
    ((!reasoning.is_empty()).then_some(reasoning), visible)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&str]) -> (String, String) {
        let mut s = ThinkSplitter::default();
        let mut ev = Vec::new();
        for c in chunks {
            s.push(c, &mut ev);
        }
        s.finish(&mut ev);
        let (mut r, mut t) = (String::new(), String::new());
        for e in ev {
            match e {
                StreamEvent::ReasoningDelta { text } => r.push_str(&text),
                StreamEvent::TextDelta { text } => t.push_str(&text),
                _ => {}
            }
        }
        (r, t)
    }

    const WHOLE: &str = "<think>\nLet me think: 2+2.\n</think>\n\nThe answer is 4.";

    #[test]
    fn every_split_gives_the_same_result() {
        let expect = (
            "\nLet me think: 2+2.\n".to_string(),
            "The answer is 4.".to_string(),
        );
        assert_eq!(run(&[WHOLE]), expect);
        for i in 0..=WHOLE.len() {
            for j in i..=WHOLE.len() {
                if !WHOLE.is_char_boundary(i) || !WHOLE.is_char_boundary(j) {
                    continue;
                }
                assert_eq!(
                    run(&[&WHOLE[..i], &WHOLE[i..j], &WHOLE[j..]]),
                    expect,
                    "split {i},{j}"
                );
            }
        }
    }

    #[test]
    fn tags_elsewhere_are_plain_text() {
        assert_eq!(
            run(&["Use the <think> tag", " like this"]),
            (String::new(), "Use the <think> tag like this".into())
        );
        assert_eq!(
            run(&["<thi", "nking is fun"]),
            (String::new(), "<thinking is fun".into())
        );
        assert_eq!(run(&["plain"]), (String::new(), "plain".into()));
        // unterminated think: everything is reasoning, nothing leaks into the answer
        assert_eq!(
            run(&["<think>still going"]),
            ("still going".into(), String::new())
        );
        assert_eq!(
            split_think(WHOLE).0.as_deref(),
            Some("\nLet me think: 2+2.\n")
        );
    }
}
