//! The pooled upstream HTTP client (hyper-util + rustls, keep-alive, TCP_NODELAY, connect
//! timeout) and the two ways the gateway uses it: send with a first-byte timeout, and read a body
//! chunk by chunk with an idle timeout and a size cap.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use omniroute_protocol::{ApiError, ErrorKind};
use std::time::Duration;

/// The client every upstream call goes through; cheap to clone (shares the pool).
pub type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Build the client. `connect_timeout` bounds TCP connect (TLS is bounded by the first-byte
/// timeout of each request).
pub fn client(connect_timeout: Duration) -> HttpClient {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_keepalive(Some(Duration::from_secs(30)));
    http.set_connect_timeout(Some(connect_timeout));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(256)
        .build(https)
}

/// Why an upstream call produced no response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// No response headers within the first-byte timeout.
    Timeout,
    /// TCP/TLS connection could not be established.
    Connect,
    /// The connection failed after it was established.
    Other,
}

/// Send `req` and wait for the response headers at most `first_byte`.
pub async fn send(
    client: &HttpClient,
    req: http::Request<Full<Bytes>>,
    first_byte: Duration,
) -> Result<http::Response<Incoming>, SendError> {
    match tokio::time::timeout(first_byte, client.request(req)).await {
        Err(_) => Err(SendError::Timeout),
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) if e.is_connect() => Err(SendError::Connect),
        Ok(Err(_)) => Err(SendError::Other),
    }
}

/// The next data chunk of `body` (trailers skipped), waiting at most `idle`.
/// `Ok(None)` is the end of the body.
pub async fn next_chunk(body: &mut Incoming, idle: Duration) -> Result<Option<Bytes>, ChunkError> {
    loop {
        match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => return Err(ChunkError::Idle),
            Ok(None) => return Ok(None),
            Ok(Some(Err(_))) => return Err(ChunkError::Broken),
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    if !data.is_empty() {
                        return Ok(Some(data));
                    }
                }
            }
        }
    }
}

/// Why a body stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkError {
    /// Nothing arrived within the idle timeout.
    Idle,
    /// The connection broke mid-body.
    Broken,
}

/// Read a whole body with an idle timeout and a size cap. A body that arrives in one chunk is
/// not copied.
pub async fn read_limited(
    mut body: Incoming,
    max: usize,
    idle: Duration,
) -> Result<Bytes, ApiError> {
    let mut first: Option<Bytes> = None;
    let mut buf = bytes::BytesMut::new();
    loop {
        let chunk = match next_chunk(&mut body, idle).await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(ChunkError::Idle) => {
                return Err(ApiError::new(
                    ErrorKind::Timeout,
                    "the provider stopped sending its response",
                )
                .with_code("upstream_timeout"))
            }
            Err(ChunkError::Broken) => {
                return Err(ApiError::new(
                    ErrorKind::BadGateway,
                    "the provider's response was cut off",
                )
                .with_code("upstream_error"))
            }
        };
        let have = first.as_ref().map_or(0, Bytes::len) + buf.len();
        if have + chunk.len() > max {
            return Err(ApiError::new(
                ErrorKind::BadGateway,
                "the provider's response is too large",
            )
            .with_code("upstream_error"));
        }
        match first.take() {
            None if buf.is_empty() => first = Some(chunk),
            None => buf.extend_from_slice(&chunk),
            Some(f) => {
                buf.extend_from_slice(&f);
                buf.extend_from_slice(&chunk);
            }
        }
    }
    Ok(first.unwrap_or_else(|| buf.freeze()))
}
