//! The one place where failures become HTTP answers.
//!
//! Bodies say what happened in words a user or operator can act on, without internals
//! (no addresses, no stack of causes).

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::protocols::http::ServerSession;

use crate::tunnel::wire::WireError;

/// Why a request could not be served normally.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("malformed request: {0}")]
    BadRequest(&'static str),
    #[error("request target too long")]
    UriTooLong,
    #[error("request headers too large")]
    HeadersTooLarge,
    #[error("transfer codings other than chunked are not supported")]
    UnsupportedTransferCoding,
    #[error("the request head did not arrive in time")]
    HeadTimeout,
    #[error("the request body stopped arriving")]
    BodyTimeout,
    /// The client stopped accepting the response; the connection is cut.
    #[error("the client stopped reading the response")]
    SlowReader,
    #[error("no app is published at this address")]
    NoApp,
    #[error("no live connector for app {0}")]
    NoLiveConnector(String),
    #[error("the connector may not reach this app's internal address")]
    NotAllowed,
    #[error("the app's internal server is unreachable")]
    OriginUnreachable,
    #[error("TLS to the app's internal server failed")]
    OriginTls,
    #[error("the app's internal server failed to answer")]
    OriginError,
    #[error("the app did not answer in time")]
    Timeout,
    #[error("the tunnel to the connector failed")]
    Tunnel(String),
    #[error("the client went away")]
    ClientGone,
    /// The response had started; the connection is cut instead of answered.
    #[error("failed after the response started: {0}")]
    MidStream(String),
}

impl ForwardError {
    /// The HTTP status for this failure.
    pub fn status(&self) -> u16 {
        match self {
            ForwardError::BadRequest(_) => 400,
            ForwardError::UriTooLong => 414,
            ForwardError::HeadersTooLarge => 431,
            ForwardError::UnsupportedTransferCoding => 501,
            ForwardError::HeadTimeout | ForwardError::BodyTimeout => 408,
            ForwardError::NoApp => 404,
            ForwardError::NoLiveConnector(_) => 503,
            ForwardError::NotAllowed
            | ForwardError::OriginUnreachable
            | ForwardError::OriginTls
            | ForwardError::OriginError
            | ForwardError::Tunnel(_) => 502,
            ForwardError::Timeout => 504,
            // Logged as 499 (nginx's "client closed request"); nothing is written.
            ForwardError::ClientGone | ForwardError::SlowReader => 499,
            ForwardError::MidStream(_) => 502,
        }
    }

    /// The body of the error answer.
    pub fn body(&self) -> String {
        match self {
            ForwardError::NoLiveConnector(app) => format!(
                "503 Service Unavailable: no connector of app \"{app}\" is connected right now\n"
            ),
            ForwardError::Tunnel(_) => {
                "502 Bad Gateway: the tunnel to the app's connector failed\n".to_string()
            }
            other => format!("{} {}: {other}\n", other.status(), reason(other.status())),
        }
    }

    /// A short stable label for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            ForwardError::BadRequest(_) => "bad_request",
            ForwardError::UriTooLong => "uri_too_long",
            ForwardError::HeadersTooLarge => "headers_too_large",
            ForwardError::UnsupportedTransferCoding => "unsupported_transfer_coding",
            ForwardError::HeadTimeout => "head_timeout",
            ForwardError::BodyTimeout => "body_timeout",
            ForwardError::SlowReader => "slow_reader",
            ForwardError::NoApp => "no_app",
            ForwardError::NoLiveConnector(_) => "no_live_connector",
            ForwardError::NotAllowed => "not_allowed",
            ForwardError::OriginUnreachable => "origin_unreachable",
            ForwardError::OriginTls => "origin_tls",
            ForwardError::OriginError => "origin_error",
            ForwardError::Timeout => "timeout",
            ForwardError::Tunnel(_) => "tunnel",
            ForwardError::ClientGone => "client_gone",
            ForwardError::MidStream(_) => "mid_stream",
        }
    }
}

/// What a failed read or write on the user's session means: a body that breaks the framing
/// rules (400), a client too slow for `limits.body_idle_timeout_secs`, or a client gone.
pub fn client_error(e: &pingora::Error) -> ForwardError {
    use pingora::ErrorType;
    if crate::edge::chunks::is_chunk_line_error(e) {
        return ForwardError::BadRequest("malformed chunk line");
    }
    match e.etype() {
        ErrorType::ReadTimedout => ForwardError::BodyTimeout,
        ErrorType::WriteTimedout => ForwardError::SlowReader,
        ErrorType::InvalidHTTPHeader => ForwardError::BadRequest("malformed request body"),
        // The h1 body parser's own kinds: bad chunk size or extension length, bad line ends.
        ErrorType::Custom(kind) if kind.starts_with("Invalid") => {
            ForwardError::BadRequest("malformed chunked request body")
        }
        _ => ForwardError::ClientGone,
    }
}

impl From<WireError> for ForwardError {
    fn from(e: WireError) -> ForwardError {
        match e {
            WireError::NotAllowed => ForwardError::NotAllowed,
            WireError::OriginTls => ForwardError::OriginTls,
            WireError::OriginUnreachable => ForwardError::OriginUnreachable,
            WireError::BadRequest => ForwardError::BadRequest("rejected by the connector"),
            WireError::OriginError => ForwardError::OriginError,
        }
    }
}

fn reason(status: u16) -> &'static str {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error")
}

/// Writes the error answer. Returns false when the connection must not be reused.
pub async fn respond(session: &mut ServerSession, err: &ForwardError) -> bool {
    if matches!(
        err,
        ForwardError::ClientGone | ForwardError::SlowReader | ForwardError::MidStream(_)
    ) {
        return false;
    }
    let body = Bytes::from(err.body());
    let mut resp = match ResponseHeader::build(err.status(), Some(4)) {
        Ok(r) => r,
        Err(_) => return false,
    };
    let ok = resp
        .insert_header("content-type", "text/plain; charset=utf-8")
        .and_then(|_| resp.insert_header("content-length", body.len().to_string()))
        .and_then(|_| resp.insert_header("cache-control", "no-store"))
        .is_ok();
    if !ok {
        return false;
    }
    // Malformed or oversized requests leave the connection in an unknown state.
    let reuse = !matches!(
        err,
        ForwardError::BadRequest(_)
            | ForwardError::UriTooLong
            | ForwardError::HeadersTooLarge
            | ForwardError::UnsupportedTransferCoding
            | ForwardError::HeadTimeout
            | ForwardError::BodyTimeout
    );
    if !reuse {
        session.set_keepalive(None);
    }
    if session.write_response_header(Box::new(resp)).await.is_err() {
        return false;
    }
    if session.write_response_body(body, true).await.is_err() {
        return false;
    }
    reuse
}
