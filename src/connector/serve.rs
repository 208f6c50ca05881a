//! Serving one tunnel: the h2 server on the authenticated stream, one task per request
//! stream (allow-list check → origin request → relayed answer). Control requests from the
//! gateway ([`CONTROL_HEADER`]) are answered here and never reach an origin.
//!
//! Nothing here knows about TLS: [`handshake`] and [`serve`] take any byte stream, so tests
//! drive them over an in-memory pipe.

use std::future::{pending, poll_fn};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use h2::server::{Connection, SendResponse};
use h2::RecvStream;
use http::header::{HeaderValue, CONNECTION, CONTENT_LENGTH, UPGRADE};
use http::request::Parts;
use http::{Method, Request, StatusCode, Version};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::body::TunnelBody;
use super::origin::Origins;
use super::relay::{pipe_upgraded, send_error, send_response};
use crate::tunnel::protocol::CONTROL_HEADER;
use crate::tunnel::wire::{self, WireError};

/// Per-stream receive window the connector grants the gateway.
const STREAM_WINDOW: u32 = 1 << 20;
/// Connection-wide receive window.
const CONNECTION_WINDOW: u32 = 8 << 20;
/// Most concurrent requests on one tunnel.
const MAX_STREAMS: u32 = 1000;
/// Shortest wait for a pong before a tunnel is declared dead.
const MIN_PONG_WAIT: Duration = Duration::from_secs(5);
/// The [`CONTROL_HEADER`] value asking for this tunnel to be replaced.
const RECONNECT: &str = "reconnect";

/// What every stream handler shares: the origin clients and the in-flight count.
pub struct Forwarder {
    origins: Origins,
    in_flight: AtomicUsize,
}

impl Forwarder {
    /// Wraps the origin clients.
    pub fn new(origins: Origins) -> Forwarder {
        Forwarder {
            origins,
            in_flight: AtomicUsize::new(0),
        }
    }

    /// Streams being served right now, over every tunnel.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }
}

/// Why a tunnel's h2 session ended with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The h2 connection failed (I/O error, protocol error, GOAWAY with an error).
    #[error("h2: {0}")]
    H2(#[from] h2::Error),
    /// The gateway stopped answering PINGs.
    #[error("gateway did not answer a ping within {0:?}")]
    PingTimeout(Duration),
}

/// Runs the h2 server handshake (the connector is the h2 server on the tunnel).
pub async fn handshake<T>(io: T) -> Result<Connection<T, Bytes>, h2::Error>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    h2::server::Builder::new()
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_concurrent_streams(MAX_STREAMS)
        .enable_connect_protocol()
        .handshake(io)
        .await
}

/// Serves streams until the gateway closes the tunnel, it fails, or `drain` turns true; then
/// sends GOAWAY and keeps serving until the accepted streams are done. Stream tasks live in
/// this future: dropping it drops every stream and its origin request. A
/// `switchyard-control: reconnect` request is answered `200` here and reported through
/// `on_reconnect`; the owner decides when to drain. With `ping_every`, the connector pings
/// the gateway and gives up on a tunnel whose pong is late by three intervals (at least
/// 5 s): a half-open TCP connection would otherwise look alive forever.
pub async fn serve<T>(
    mut conn: Connection<T, Bytes>,
    fwd: Arc<Forwarder>,
    mut drain: watch::Receiver<bool>,
    on_reconnect: impl Fn(),
    ping_every: Option<Duration>,
) -> Result<(), ServeError>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let mut streams = JoinSet::new();
    let pinger = ping_every.and_then(|every| Some((conn.ping_pong()?, every)));
    let liveness = async move {
        let Some((mut ping_pong, every)) = pinger else {
            return pending().await;
        };
        // Generous: a busy gateway must not lose its tunnels to a late pong.
        let patience = (every * 3).max(MIN_PONG_WAIT);
        loop {
            tokio::time::sleep(every).await;
            let pong = ping_pong.ping(h2::Ping::opaque());
            match tokio::time::timeout(patience, pong).await {
                Ok(Ok(_)) => {}
                // The connection itself failed: `accept` reports it.
                Ok(Err(_)) => return pending().await,
                Err(_) => return patience,
            }
        }
    };
    tokio::pin!(liveness);
    let mut draining = false;
    loop {
        tokio::select! {
            next = conn.accept() => match next {
                Some(Ok((req, respond))) => match req.headers().get(CONTROL_HEADER) {
                    Some(control) => {
                        if answer_control(control, respond) == Control::Reconnect {
                            on_reconnect();
                        }
                    }
                    None => {
                        streams.spawn(serve_stream(InFlight::enter(&fwd), req, respond));
                    }
                },
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(()),
            },
            Some(_) = streams.join_next(), if !streams.is_empty() => {}
            _ = stopped(&mut drain), if !draining => {
                draining = true;
                conn.graceful_shutdown();
            }
            waited = &mut liveness => return Err(ServeError::PingTimeout(waited)),
        }
    }
}

/// What a control request asked for.
#[derive(Debug, PartialEq, Eq)]
enum Control {
    Reconnect,
    Unknown,
}

/// Answers a control request on the spot: `200` with an empty body for `reconnect`, `400`
/// for anything else. Its body, if any, is not read.
fn answer_control(value: &HeaderValue, mut respond: SendResponse<Bytes>) -> Control {
    if !value.as_bytes().eq_ignore_ascii_case(RECONNECT.as_bytes()) {
        tracing::debug!(?value, "unknown control request from the gateway");
        send_error(
            respond,
            StatusCode::BAD_REQUEST,
            WireError::BadRequest,
            "unknown control request",
        );
        return Control::Unknown;
    }
    let mut ok = http::Response::new(());
    ok.headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
    if let Err(e) = respond.send_response(ok, true) {
        tracing::debug!(error = %e, "answer to a reconnect request not sent");
    }
    Control::Reconnect
}

/// Resolves once `stop` is true; never if its sender is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        pending::<()>().await;
    }
}

/// Counts a stream as in flight from its acceptance for as long as it lives (also when
/// aborted); it also carries the stream's handle on the [`Forwarder`].
struct InFlight(Arc<Forwarder>);

impl InFlight {
    fn enter(fwd: &Arc<Forwarder>) -> InFlight {
        fwd.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(Arc::clone(fwd))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn serve_stream(
    in_flight: InFlight,
    req: Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
) {
    let fwd = &in_flight.0;
    let (parts, recv) = req.into_parts();
    let OriginRequest {
        mut req,
        recv,
        host,
        port,
        insecure,
    } = match origin_request(parts, recv) {
        Ok(built) => built,
        Err(reason) => {
            tracing::debug!(reason, "bad request from the gateway");
            return send_error(
                respond,
                StatusCode::BAD_REQUEST,
                WireError::BadRequest,
                "bad request to the connector",
            );
        }
    };
    if let Err(e) = fwd.origins.admit(&mut req).await {
        tracing::debug!(host, port, error = %e, "origin request refused");
        return send_error(respond, StatusCode::BAD_GATEWAY, e.wire(), e.public_text());
    }
    let sent = fwd.origins.send(req, insecure);
    let resp = tokio::select! {
        resp = sent => resp,
        reason = poll_fn(|cx| respond.poll_reset(cx)) => {
            return tracing::debug!(?reason, "gateway reset the stream before the origin answered");
        }
    };
    match (resp, recv) {
        (Err(e), _) => {
            tracing::warn!(host, port, error = %e, "origin request failed");
            send_error(respond, StatusCode::BAD_GATEWAY, e.wire(), e.public_text());
        }
        (Ok(resp), Some(recv)) if resp.status() == StatusCode::SWITCHING_PROTOCOLS => {
            pipe_upgraded(respond, resp, recv).await;
        }
        (Ok(resp), _) => send_response(respond, resp).await,
    }
}

/// The request for the origin, where it goes, and the h2 stream of an upgrade.
struct OriginRequest {
    req: Request<TunnelBody>,
    /// Kept for an extended CONNECT: piped once the origin switches protocols.
    recv: Option<RecvStream>,
    /// For logs (the request's URI may be pinned to an address later).
    host: String,
    port: u16,
    /// Origin certificate verification is off for this request.
    insecure: bool,
}

/// Builds the origin request from the gateway's stream ([`wire::decode`]). For an extended
/// CONNECT the request becomes a `GET` with `Connection: upgrade`, and the h2 stream is
/// handed back to be piped after the origin switches protocols.
fn origin_request(parts: Parts, recv: RecvStream) -> Result<OriginRequest, &'static str> {
    let wire::Decoded {
        method,
        upgrade,
        host,
        port,
        uri,
        mut headers,
        origin_insecure,
        ..
    } = wire::decode(parts)?;
    let content_length = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let (method, body, recv) = match upgrade {
        Some(protocol) => {
            headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
            headers.insert(UPGRADE, protocol);
            (Method::GET, TunnelBody::empty(), Some(recv))
        }
        None => (method, TunnelBody::from_stream(recv, content_length), None),
    };
    let mut req = Request::new(body);
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.version_mut() = Version::HTTP_11;
    *req.headers_mut() = headers;
    Ok(OriginRequest {
        req,
        recv,
        host,
        port,
        insecure: origin_insecure,
    })
}

#[cfg(test)]
mod tests;
