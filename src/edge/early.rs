//! Answers that arrive before the request body is complete (a 413 for a large upload, a 401
//! on a large POST, a redirect): what happens to the rest of the client's body.
//!
//! HTTP/2: the response ends the stream and the unread request half is reset with
//! `NO_ERROR` (RFC 9113 §8.1; the h2 library does so when the stream is dropped with its
//! receive half open). HTTP/1.1: a short remainder is read and discarded so the connection
//! stays usable; a long or unsized one gets `Connection: close`, and the gateway keeps reading
//! for a short while before closing so the close does not reset the answer out of the
//! client's receive buffer.

use std::time::Duration;

use pingora::protocols::http::ServerSession;

/// Most bytes still to come that are read and discarded to keep an HTTP/1.1 connection.
pub const DRAIN_MAX_BYTES: u64 = 1024 * 1024;
/// Longest the gateway reads the rest of a body it will not forward.
pub const DRAIN_MAX_TIME: Duration = Duration::from_secs(2);

/// What to do with the rest of the client's body after an early answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rest {
    /// HTTP/2: nothing; dropping the stream resets its receive half with `NO_ERROR`.
    Reset,
    /// HTTP/1.1: read and discard it (bounded); the connection is kept.
    Drain,
    /// HTTP/1.1: answer with `Connection: close`, read for a bounded time, then close.
    Close,
}

/// Decides, before the response head is written, how an early answer ends the request.
pub fn prepare(session: &mut ServerSession) -> Rest {
    if session.is_http2() {
        return Rest::Reset;
    }
    let declared = session
        .req_header()
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let read = session.body_bytes_read() as u64;
    let short = declared.is_some_and(|len| len.saturating_sub(read) <= DRAIN_MAX_BYTES);
    session.set_total_drain_timeout(Some(DRAIN_MAX_TIME));
    if short {
        if let ServerSession::H1(h1) = session {
            // pingora closes by default when answering before the body is read; this one is
            // short enough to read instead.
            h1.set_close_on_response_before_downstream_finish(false);
        }
        Rest::Drain
    } else {
        session.set_keepalive(None);
        Rest::Close
    }
}

/// After the answer is complete: reads what the client still sends, within the bounds, so
/// that closing the connection does not turn into a TCP reset that could discard the answer
/// before the client has read it. Errors mean the client is gone: nothing left to protect.
pub async fn linger(session: &mut ServerSession) {
    let _ = session.drain_request_body().await;
}
