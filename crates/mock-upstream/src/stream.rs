//! Streamed bodies: pre-rendered frames, pacing (`delay`), abrupt cuts (`cut`)
//! and client-disconnect detection.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use futures_util::stream;
use serde_json::Value;

/// How long a cut stream waits (so hyper flushes what was sent) before aborting.
const CUT_FLUSH_GRACE: Duration = Duration::from_millis(20);

/// One chunk of a streamed body.
struct Frame {
    bytes: Bytes,
    /// Content frames (text, reasoning, tool-argument deltas) are the ones
    /// `delay` paces and `cut` counts.
    content: bool,
}

/// The frames of one streamed response, in order.
#[derive(Default)]
pub(crate) struct Frames {
    frames: Vec<Frame>,
}

impl Frames {
    /// A structural frame (start, stop, usage, terminator).
    pub(crate) fn meta(&mut self, bytes: impl Into<Bytes>) {
        self.frames.push(Frame {
            bytes: bytes.into(),
            content: false,
        });
    }

    /// A content frame.
    pub(crate) fn content(&mut self, bytes: impl Into<Bytes>) {
        self.frames.push(Frame {
            bytes: bytes.into(),
            content: true,
        });
    }
}

/// `data: {json}\n\n`
pub(crate) fn sse_data(v: &Value) -> Vec<u8> {
    let mut buf = Vec::with_capacity(256);
    buf.extend_from_slice(b"data: ");
    write_json(&mut buf, v);
    buf.extend_from_slice(b"\n\n");
    buf
}

/// `event: NAME\ndata: {json}\n\n`
pub(crate) fn sse_event(name: &str, v: &Value) -> Vec<u8> {
    let mut buf = Vec::with_capacity(256);
    buf.extend_from_slice(b"event: ");
    buf.extend_from_slice(name.as_bytes());
    buf.extend_from_slice(b"\ndata: ");
    write_json(&mut buf, v);
    buf.extend_from_slice(b"\n\n");
    buf
}

/// Append the JSON text of `v` to `buf`.
pub(crate) fn write_json(buf: &mut Vec<u8>, v: &Value) {
    // Serialising a `Value` into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *buf, v);
}

/// Sets the request's `disconnected` flag if dropped before the last frame.
struct Guard {
    flag: Arc<AtomicBool>,
    done: bool,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if !self.done {
            self.flag.store(true, Ordering::Release);
        }
    }
}

struct State {
    frames: std::vec::IntoIter<Frame>,
    delay: Duration,
    cut: Option<usize>,
    content_sent: usize,
    sent_any: bool,
    guard: Guard,
}

/// A body that yields `frames`, sleeping `delay` before each content frame
/// (except when it is the very first frame), and — with `cut = Some(n)` —
/// ending with an error right after the n-th content frame so that hyper
/// aborts the connection instead of finishing the body.
pub(crate) fn body(
    frames: Frames,
    delay: Duration,
    cut: Option<usize>,
    flag: Arc<AtomicBool>,
) -> Body {
    let state = State {
        frames: frames.frames.into_iter(),
        delay,
        cut,
        content_sent: 0,
        sent_any: false,
        guard: Guard { flag, done: false },
    };
    Body::from_stream(stream::unfold(Some(state), |state| async move {
        let mut st = state?;
        if st.cut == Some(st.content_sent) {
            // Let hyper flush what was already sent, then abort.
            st.guard.done = true;
            tokio::time::sleep(CUT_FLUSH_GRACE).await;
            let err = io::Error::new(io::ErrorKind::ConnectionAborted, "mock-upstream: cut");
            return Some((Err(err), None));
        }
        let Some(frame) = st.frames.next() else {
            st.guard.done = true;
            return None;
        };
        if frame.content {
            if st.sent_any && !st.delay.is_zero() {
                tokio::time::sleep(st.delay).await;
            }
            st.content_sent += 1;
        }
        st.sent_any = true;
        if st.frames.len() == 0 && st.cut != Some(st.content_sent) {
            st.guard.done = true;
        }
        Some((Ok::<Bytes, io::Error>(frame.bytes), Some(st)))
    }))
}
