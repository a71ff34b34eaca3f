//! The request log's storage format: rows are written in blocks (one SQLite row holds up to
//! [`BLOCK_ROWS`] log rows as one compact blob) instead of one SQLite row, three b-tree entries
//! and a per-row delete each. Integers are LEB128 varints (signed ones zigzag, ids and times as
//! deltas from the previous row), and a text field equal to the previous row's is one byte; a
//! gateway row in the logging benchmark takes ~65 bytes. Bodies are not here (`request_log_bodies`).
//! Decoding borrows the text from the blob ([`RowRef`]), so a scan filters without allocating
//! and only the rows it returns become [`RequestLog`]s.

use crate::logs::RequestLog;
use crate::{Result, StoreError};

/// Rows per block at most (a prune or a trim rewrites at most this many).
pub(crate) const BLOCK_ROWS: usize = 256;
/// Format version, the blob's first byte.
const VERSION: u8 = 1;

/// Text fields of a row, in their stored order.
const TEXTS: usize = 15;
const T_REQUEST_ID: usize = 0;
const T_METHOD: usize = 1;
const T_PATH: usize = 2;
const T_CLIENT_FORMAT: usize = 3;
const T_MODEL: usize = 4;
const T_PROVIDER: usize = 5;
const T_CONNECTION: usize = 6;
const T_UPSTREAM_MODEL: usize = 7;
const T_CACHE_HIT: usize = 8;
const T_CLIENT_IP: usize = 9;
const T_USER_AGENT: usize = 10;
const T_COMBO: usize = 11;
const T_API_KEY: usize = 12;
const T_ERROR: usize = 13;
const T_ATTEMPTS: usize = 14;

/// One logged row as stored: the text borrowed from a block (or from a [`RequestLog`] being
/// written); `attempts` in its stored text form; no bodies, only their total size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RowRef<'a> {
    pub id: i64,
    pub ts: i64,
    pub stream: bool,
    pub status: u16,
    pub latency_ms: i64,
    pub ttfb_ms: Option<i64>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub cached_tokens: Option<i64>,
    pub reasoning_tokens: Option<i64>,
    pub cost_usd: Option<f64>,
    pub attempts: i64,
    /// Bytes of the row's bodies in `request_log_bodies` (0: none stored).
    pub body_bytes: i64,
    texts: [Option<&'a str>; TEXTS],
    /// Bytes the row took in its block (set by [`decode`]).
    pub encoded_len: usize,
}

impl<'a> RowRef<'a> {
    /// The stored form of a row about to be written (`attempts`: its stored text form;
    /// `user_agent`: already capped).
    pub(crate) fn of(
        r: &'a RequestLog,
        id: i64,
        attempts: Option<&'a str>,
        user_agent: Option<&'a str>,
        body_bytes: i64,
    ) -> RowRef<'a> {
        let mut texts = [None; TEXTS];
        texts[T_REQUEST_ID] = Some(r.request_id.as_str());
        texts[T_METHOD] = Some(r.method.as_str());
        texts[T_PATH] = Some(r.path.as_str());
        texts[T_CLIENT_FORMAT] = r.client_format.as_deref();
        texts[T_MODEL] = r.model.as_deref();
        texts[T_PROVIDER] = r.provider.as_deref();
        texts[T_CONNECTION] = r.connection_id.as_deref();
        texts[T_UPSTREAM_MODEL] = r.upstream_model.as_deref();
        texts[T_CACHE_HIT] = r.cache_hit.as_deref();
        texts[T_CLIENT_IP] = r.client_ip.as_deref();
        texts[T_USER_AGENT] = user_agent;
        texts[T_COMBO] = r.combo.as_deref();
        texts[T_API_KEY] = r.api_key_id.as_deref();
        texts[T_ERROR] = r.error.as_deref();
        texts[T_ATTEMPTS] = attempts;
        RowRef {
            id,
            ts: r.ts,
            stream: r.stream,
            status: r.status,
            latency_ms: r.latency_ms,
            ttfb_ms: r.ttfb_ms,
            input_tokens: r.input_tokens,
            output_tokens: r.output_tokens,
            cached_tokens: r.cached_tokens,
            reasoning_tokens: r.reasoning_tokens,
            cost_usd: r.cost_usd,
            attempts: r.attempts,
            body_bytes,
            texts,
            encoded_len: 0,
        }
    }

    pub fn request_id(&self) -> &'a str {
        self.texts[T_REQUEST_ID].unwrap_or("")
    }
    pub fn model(&self) -> Option<&'a str> {
        self.texts[T_MODEL]
    }
    pub fn provider(&self) -> Option<&'a str> {
        self.texts[T_PROVIDER]
    }
    pub fn connection_id(&self) -> Option<&'a str> {
        self.texts[T_CONNECTION]
    }
    pub fn upstream_model(&self) -> Option<&'a str> {
        self.texts[T_UPSTREAM_MODEL]
    }
    pub fn combo(&self) -> Option<&'a str> {
        self.texts[T_COMBO]
    }
    pub fn api_key_id(&self) -> Option<&'a str> {
        self.texts[T_API_KEY]
    }
    pub fn error(&self) -> Option<&'a str> {
        self.texts[T_ERROR]
    }

    /// The size this row counts for in the log's size estimate.
    pub fn size(&self) -> i64 {
        self.encoded_len as i64 + self.body_bytes + crate::logdb::LOG_ROW_OVERHEAD
    }

    /// The row as the API returns it (bodies not included).
    pub fn to_log(self) -> RequestLog {
        let s = |i: usize| self.texts[i].map(str::to_string);
        let mut row = RequestLog {
            id: self.id,
            request_id: self.request_id().to_string(),
            ts: self.ts,
            method: self.texts[T_METHOD].unwrap_or("").to_string(),
            path: self.texts[T_PATH].unwrap_or("").to_string(),
            client_format: s(T_CLIENT_FORMAT),
            model: s(T_MODEL),
            provider: s(T_PROVIDER),
            connection_id: s(T_CONNECTION),
            upstream_model: s(T_UPSTREAM_MODEL),
            stream: self.stream,
            status: self.status,
            latency_ms: self.latency_ms,
            ttfb_ms: self.ttfb_ms,
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            cached_tokens: self.cached_tokens,
            reasoning_tokens: self.reasoning_tokens,
            cost_usd: self.cost_usd,
            cache_hit: s(T_CACHE_HIT),
            client_ip: s(T_CLIENT_IP),
            user_agent: s(T_USER_AGENT),
            combo: s(T_COMBO),
            api_key_id: s(T_API_KEY),
            error: s(T_ERROR),
            attempts: self.attempts,
            attempts_detail: Vec::new(),
            request_body: None,
            response_body: None,
            upstream_request_body: None,
            upstream_response_body: None,
        };
        if let Some(stored) = self.texts[T_ATTEMPTS] {
            row.attempts_detail = crate::requests::attempts_of(stored, &row);
        }
        row
    }
}

fn put_u(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_i(out: &mut Vec<u8>, v: i64) {
    put_u(out, ((v << 1) ^ (v >> 63)) as u64);
}

fn put_opt_i(out: &mut Vec<u8>, v: Option<i64>) {
    match v {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            put_i(out, v);
        }
    }
}

/// Encode rows (ids ascending) as one block.
pub(crate) fn encode(rows: &[RowRef<'_>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + rows.len() * 48);
    out.push(VERSION);
    put_u(&mut out, rows.len() as u64);
    let (mut prev_id, mut prev_ts) = (0_i64, 0_i64);
    let mut prev: [Option<&str>; TEXTS] = [None; TEXTS];
    for r in rows {
        put_i(&mut out, r.id.wrapping_sub(prev_id));
        put_i(&mut out, r.ts.wrapping_sub(prev_ts));
        (prev_id, prev_ts) = (r.id, r.ts);
        let flags = u64::from(r.stream) | (u64::from(r.cost_usd.is_some()) << 1);
        put_u(&mut out, flags);
        put_u(&mut out, u64::from(r.status));
        put_i(&mut out, r.latency_ms);
        for v in [
            r.ttfb_ms,
            r.input_tokens,
            r.output_tokens,
            r.cached_tokens,
            r.reasoning_tokens,
        ] {
            put_opt_i(&mut out, v);
        }
        if let Some(c) = r.cost_usd {
            out.extend_from_slice(&c.to_le_bytes());
        }
        put_i(&mut out, r.attempts);
        put_i(&mut out, r.body_bytes);
        for (i, t) in r.texts.iter().enumerate() {
            match t {
                None => out.push(0),
                Some(t) if prev[i] == Some(*t) => out.push(1),
                Some(t) => {
                    put_u(&mut out, t.len() as u64 + 2);
                    out.extend_from_slice(t.as_bytes());
                }
            }
        }
        prev = r.texts;
    }
    out
}

fn corrupt() -> StoreError {
    StoreError::Invalid("request log block is damaged".into())
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8> {
        let b = *self.buf.get(self.at).ok_or_else(corrupt)?;
        self.at += 1;
        Ok(b)
    }
    fn u(&mut self) -> Result<u64> {
        let mut v = 0_u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(corrupt())
    }
    fn i(&mut self) -> Result<i64> {
        let v = self.u()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }
    fn opt_i(&mut self) -> Result<Option<i64>> {
        match self.byte()? {
            0 => Ok(None),
            1 => self.i().map(Some),
            _ => Err(corrupt()),
        }
    }
    fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).ok_or_else(corrupt)?;
        let s = self.buf.get(self.at..end).ok_or_else(corrupt)?;
        self.at = end;
        Ok(s)
    }
}

/// Decode a block (rows in id order).
pub(crate) fn decode(blob: &[u8]) -> Result<Vec<RowRef<'_>>> {
    let mut r = Reader { buf: blob, at: 0 };
    if r.byte()? != VERSION {
        return Err(corrupt());
    }
    let n = usize::try_from(r.u()?).map_err(|_| corrupt())?;
    let mut rows = Vec::with_capacity(n.min(BLOCK_ROWS * 64));
    let (mut id, mut ts) = (0_i64, 0_i64);
    let mut prev: [Option<&str>; TEXTS] = [None; TEXTS];
    for _ in 0..n {
        let start = r.at;
        id = id.wrapping_add(r.i()?);
        ts = ts.wrapping_add(r.i()?);
        let flags = r.u()?;
        let status = u16::try_from(r.u()?).map_err(|_| corrupt())?;
        let latency_ms = r.i()?;
        let ttfb_ms = r.opt_i()?;
        let input_tokens = r.opt_i()?;
        let output_tokens = r.opt_i()?;
        let cached_tokens = r.opt_i()?;
        let reasoning_tokens = r.opt_i()?;
        let cost_usd = if flags & 2 != 0 {
            let b: [u8; 8] = r.bytes(8)?.try_into().map_err(|_| corrupt())?;
            Some(f64::from_le_bytes(b))
        } else {
            None
        };
        let attempts = r.i()?;
        let body_bytes = r.i()?;
        let mut texts: [Option<&str>; TEXTS] = [None; TEXTS];
        for (i, t) in texts.iter_mut().enumerate() {
            *t = match r.u()? {
                0 => None,
                1 => Some(prev[i].ok_or_else(corrupt)?),
                n => {
                    let len = usize::try_from(n - 2).map_err(|_| corrupt())?;
                    Some(std::str::from_utf8(r.bytes(len)?).map_err(|_| corrupt())?)
                }
            };
        }
        prev = texts;
        rows.push(RowRef {
            id,
            ts,
            stream: flags & 1 != 0,
            status,
            latency_ms,
            ttfb_ms,
            input_tokens,
            output_tokens,
            cached_tokens,
            reasoning_tokens,
            cost_usd,
            attempts,
            body_bytes,
            texts,
            encoded_len: r.at - start,
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn row(i: i64) -> RequestLog {
        RequestLog {
            request_id: format!("req-{i}"),
            ts: 1_700_000_000_000 + i * 7 - if i == 2 { 5_000 } else { 0 },
            method: "POST".into(),
            path: "/v1/chat/completions".into(),
            client_format: Some("openai".into()),
            model: Some("m".into()),
            provider: (i != 1).then(|| "p".into()),
            upstream_model: Some(if i == 2 { "ü-model" } else { "m" }.into()),
            status: if i == 3 { 502 } else { 200 },
            latency_ms: 40 + i,
            ttfb_ms: (i % 2 == 0).then_some(12),
            input_tokens: Some(i64::MAX),
            output_tokens: Some(-3),
            cost_usd: (i == 0).then_some(0.125),
            error: (i == 3).then(|| "upstream said no".into()),
            attempts: 1,
            ..RequestLog::default()
        }
    }

    #[test]
    fn rows_round_trip_through_a_block() {
        let logs: Vec<RequestLog> = (0..5).map(row).collect();
        let refs: Vec<RowRef<'_>> = logs
            .iter()
            .enumerate()
            .map(|(i, r)| RowRef::of(r, 10 + i as i64 * 3, Some("=5"), None, i as i64))
            .collect();
        let blob = encode(&refs);
        let back = decode(&blob).unwrap();
        assert_eq!(back.len(), 5);
        for (a, b) in refs.iter().zip(&back) {
            assert_eq!(
                RowRef {
                    encoded_len: 0,
                    ..*b
                },
                *a
            );
            assert!(b.encoded_len > 0);
        }
        assert_eq!(
            back.iter().map(|r| r.encoded_len).sum::<usize>() + 2,
            blob.len()
        );
        let log = back[2].to_log();
        assert_eq!(log.upstream_model.as_deref(), Some("ü-model"));
        assert_eq!(log.id, 16);
        assert_eq!(log.attempts_detail.len(), 1);
    }

    #[test]
    fn a_damaged_block_is_an_error_not_a_panic() {
        let logs: Vec<RequestLog> = (0..3).map(row).collect();
        let refs: Vec<RowRef<'_>> = logs
            .iter()
            .map(|r| RowRef::of(r, 1, None, None, 0))
            .collect();
        let blob = encode(&refs);
        for cut in 0..blob.len() {
            assert!(decode(&blob[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad = blob.clone();
        bad[0] = 9;
        assert!(decode(&bad).is_err());
        // a "same as before" marker on the first row has nothing to repeat
        let mut first = vec![VERSION, 1, 2, 2, 0, 200, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        first.push(1);
        assert!(decode(&first).is_err());
    }
}
