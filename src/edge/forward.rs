//! One request over a tunnel: pick a connector, open an HTTP/2 stream, stream the body up
//! while waiting for the answer, stream the answer down.
//!
//! Retries go to another connector, within `resilience.max_attempts` and the retry budget:
//! always when the stream never left the gateway; when the connector refused it unprocessed
//! (REFUSED_STREAM, GOAWAY) or could not reach the origin, if the request can be replayed
//! (no body, or a small body read in full first); when the tunnel broke after sending, only
//! for replayable idempotent methods. A request whose response has started is never retried.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use h2::client::ResponseFuture;
use h2::{RecvStream, SendStream};
use http::{Method, Response};
use pingora::http::ResponseHeader;
use pingora::protocols::http::ServerSession;

use crate::balance::{self, health::now_ms, Ask, Member};
use crate::edge::headers::{self, Outbound};
use crate::edge::rescue::{self, ForwardError};
use crate::live::{Live, Settings};
use crate::metrics::AppMetrics;
use crate::routing::Route;
use crate::tunnel::registry::{InFlight, LiveConnector, LiveView};
use crate::tunnel::stream::{self, BodyReceiver, BodySender, OpenError};

/// What the access log and metrics need to know about a served request.
#[derive(Default)]
pub struct Served {
    pub status: u16,
    pub group: Option<Arc<str>>,
    pub connector: Option<Arc<str>>,
    pub retries: u32,
    /// A `Set-Cookie` value to add to the response (affinity cookie).
    pub set_cookie: Option<String>,
}

/// Why an attempt failed, and whether another connector may be tried.
enum AttemptError {
    /// The stream never left the gateway: always safe to retry.
    NotSent(ForwardError),
    /// The connector did not process the stream (refused, GOAWAY, origin unreachable from
    /// it): safe to retry when the request can be replayed.
    Refused(ForwardError),
    /// The tunnel failed after the stream was sent: safe only for replayable idempotent
    /// requests.
    Broken(ForwardError),
    /// Final.
    Fatal(ForwardError),
}

fn classify(e: h2::Error, sent: bool) -> AttemptError {
    let err = ForwardError::Tunnel(e.to_string());
    if !sent {
        AttemptError::NotSent(err)
    } else if e.reason() == Some(h2::Reason::REFUSED_STREAM) || (e.is_go_away() && e.is_remote()) {
        // RFC 9113 §6.8: streams above a GOAWAY's last stream id were not processed.
        AttemptError::Refused(err)
    } else {
        AttemptError::Broken(err)
    }
}

fn idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

/// The request body as the attempts see it.
enum Body {
    /// No body (or an upgrade, whose bytes start after the 101).
    None,
    /// Read in full up front: replayable.
    Buffered(Bytes),
    /// Streamed from the client as it arrives: not replayable once started.
    Streamed,
}

/// Reads a small body with a known length in full, so the request can be replayed.
async fn buffer_body(
    session: &mut ServerSession,
    limit: usize,
) -> Result<Option<Bytes>, ForwardError> {
    let declared = session
        .req_header()
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    let Some(len) = declared.filter(|l| *l <= limit) else {
        return Ok(None);
    };
    let mut buf = BytesMut::with_capacity(len);
    while let Some(chunk) = crate::edge::slow::read_body(session)
        .await
        .map_err(|e| rescue::client_error(&e))?
    {
        buf.extend_from_slice(&chunk);
        if buf.len() > len {
            return Err(ForwardError::BadRequest(
                "body longer than its Content-Length",
            ));
        }
    }
    Ok(Some(buf.freeze()))
}

/// How the request body travels: none, buffered whole (replayable) when short enough, or
/// streamed.
async fn request_body(
    session: &mut ServerSession,
    upgrade: bool,
    retry_buffer_bytes: usize,
) -> Result<Body, ForwardError> {
    if upgrade || session.is_body_empty() {
        return Ok(Body::None);
    }
    if retry_buffer_bytes == 0 {
        return Ok(Body::Streamed);
    }
    Ok(match buffer_body(session, retry_buffer_bytes).await? {
        Some(b) => Body::Buffered(b),
        None => Body::Streamed,
    })
}

/// What forwarding needs of the gateway: live state, the request's settings and live view.
pub struct EdgeContext<'a> {
    pub live: &'a Live,
    /// The settings of the snapshot this request loaded.
    pub settings: &'a Settings,
    pub view: &'a LiveView,
}

impl EdgeContext<'_> {
    /// Whether attempt number `attempt` may go ahead: every retry spends from the budget.
    fn may_attempt(&self, route: &Route, attempt: usize, served: &mut Served) -> bool {
        if attempt > 0 {
            if !self.live.retry_budget.try_retry() {
                self.live.metrics.retry_budget_exhausted.inc();
                tracing::debug!(app = %route.app, "retry budget spent");
                return false;
            }
            served.retries = attempt as u32;
        }
        true
    }

    /// Picks a connector this request has not tried yet and notes it as the one serving.
    fn pick_next(
        &self,
        route: &Route,
        app: &AppMetrics,
        affinity: Option<u64>,
        tried: &mut Vec<Arc<str>>,
        served: &mut Served,
    ) -> Option<Arc<LiveConnector>> {
        let ask = Ask::for_route(route, affinity, tried, now_ms());
        let pick = balance::pick(self.view, &ask)?;
        app.note_chain_position(&route.app, &pick.group, pick.chain_index);
        tried.push(pick.connector.id.clone());
        served.group = Some(pick.group.clone());
        served.connector = Some(pick.connector.id.clone());
        Some(pick.connector)
    }
}

/// Serves one routed request; writes the answer (or returns the error to answer with).
pub async fn forward(
    edge: &EdgeContext<'_>,
    session: &mut ServerSession,
    route: &Route,
    app: &AppMetrics,
    external_authority: &str,
    served: &mut Served,
) -> Result<(), ForwardError> {
    let state = edge.live;
    let policy = edge.settings.resilience;
    let req_header = session.req_header();
    let upgrade = headers::upgrade_protocol(req_header).map(str::to_owned);
    let out = Outbound {
        route,
        external_authority,
        client_ip: session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip()),
        upgrade: upgrade.as_deref(),
    };
    // The first attempt takes this request; a retry (rare) builds it again rather than every
    // request paying for a copy of its headers.
    let mut first = Some(headers::upstream_request(req_header, &out)?);
    let method = req_header.method.clone();
    let affinity = crate::edge::affinity::key(route, req_header, served);

    let body = request_body(session, upgrade.is_some(), policy.retry_buffer_bytes).await?;
    let replayable = !matches!(body, Body::Streamed);
    state.retry_budget.on_request();

    let mut tried: Vec<Arc<str>> = Vec::new();
    let mut last_failure = ForwardError::Tunnel("no attempt made".into());
    for attempt in 0..policy.max_attempts {
        if !edge.may_attempt(route, attempt, served) {
            break;
        }
        let Some(conn) = edge.pick_next(route, app, affinity, &mut tried, served) else {
            if attempt == 0 {
                // The user sees the app's own name, not the tenant that owns it.
                let name = route.app.rsplit('/').next().unwrap_or(&route.app);
                return Err(ForwardError::NoLiveConnector(name.to_owned()));
            }
            break;
        };
        let request = match first.take() {
            Some(r) => r,
            None => headers::upstream_request(session.req_header(), &out)?,
        };
        let guard = conn.begin();
        let exchange = Exchange {
            state,
            conn: &conn,
            body: &body,
            is_upgrade: upgrade.is_some(),
            route,
            external_authority,
        };
        let result = exchange.attempt(session, request, served, guard).await;
        let why = match result {
            Ok(()) => {
                conn.health.record_success();
                return Ok(());
            }
            Err(AttemptError::Fatal(e)) => return Err(e),
            Err(failed) => retry_reason(failed, replayable && idempotent(&method), replayable)
                .inspect_err(|_| conn.record_failure(&policy))?,
        };
        conn.record_failure(&policy);
        tracing::debug!(connector = %conn.id, reason = %why, "retrying on another connector");
        last_failure = why;
    }
    Err(last_failure)
}

/// Whether a failed attempt may go to another connector (the reason to log) or ends the
/// request (the error to answer with).
fn retry_reason(
    failed: AttemptError,
    replayable_idempotent: bool,
    replayable: bool,
) -> Result<ForwardError, ForwardError> {
    match failed {
        AttemptError::Fatal(e) => Err(e),
        AttemptError::NotSent(why) => Ok(why),
        AttemptError::Refused(why) if replayable => Ok(why),
        AttemptError::Broken(why) if replayable_idempotent => Ok(why),
        AttemptError::Refused(why) | AttemptError::Broken(why) => Err(why),
    }
}

/// One attempt's fixed inputs.
struct Exchange<'a> {
    state: &'a Live,
    conn: &'a Arc<LiveConnector>,
    body: &'a Body,
    is_upgrade: bool,
    route: &'a Route,
    external_authority: &'a str,
}

impl Exchange<'_> {
    async fn attempt(
        &self,
        session: &mut ServerSession,
        request: http::Request<()>,
        served: &mut Served,
        _guard: InFlight,
    ) -> Result<(), AttemptError> {
        let (response, body_tx) = self.open(request).await?;
        let deadline = tokio::time::sleep(self.route.backend_timeout);
        tokio::pin!(deadline);
        let upload_done = !matches!(self.body, Body::Streamed) || self.is_upgrade;
        let mut upload = Upload::new(body_tx, upload_done);
        if let Body::Buffered(data) = self.body {
            upload
                .send_whole(data.clone())
                .map_err(|e| classify(e, true))?;
        }
        let resp = await_head(session, response, &mut upload, &mut deadline).await?;
        if let Some(err) = headers::connector_error(&resp) {
            upload.reset();
            return Err(match err {
                // The origin never got the request: another connector may reach it.
                ForwardError::OriginUnreachable => AttemptError::Refused(err),
                other => AttemptError::Fatal(other),
            });
        }
        if self.is_upgrade {
            let (route, authority) = (self.route, self.external_authority);
            return crate::edge::upgrade::relay(session, resp, upload.tx, route, authority, served)
                .await
                .map_err(AttemptError::Fatal);
        }
        self.respond(session, resp, upload, served, &mut deadline)
            .await
    }

    /// Opens the stream on one of the connector's tunnels.
    async fn open(
        &self,
        request: http::Request<()>,
    ) -> Result<(ResponseFuture, SendStream<Bytes>), AttemptError> {
        let tunnel = self.conn.pick_tunnel().ok_or_else(|| {
            AttemptError::NotSent(ForwardError::Tunnel("connector has no open tunnel".into()))
        })?;
        let end_of_stream = matches!(self.body, Body::None) && !self.is_upgrade;
        match stream::open(&tunnel.send, request, end_of_stream, OPEN_BOUND).await {
            Ok(opened) => Ok(opened),
            Err(OpenError::Tunnel(e)) => {
                // GOAWAY received or connection failed: stop picking this tunnel at once.
                self.state.registry.tunnel_unusable(&tunnel);
                Err(classify(e, false))
            }
            Err(e @ OpenError::NotReady(_)) => {
                Err(AttemptError::NotSent(ForwardError::Tunnel(e.to_string())))
            }
        }
    }

    /// Writes the origin's answer to the client, with the rest of the request body going up
    /// meanwhile if the origin answered early.
    async fn respond(
        &self,
        session: &mut ServerSession,
        resp: Response<RecvStream>,
        mut upload: Upload,
        served: &mut Served,
        deadline: &mut std::pin::Pin<&mut tokio::time::Sleep>,
    ) -> Result<(), AttemptError> {
        let gone = |e: Box<pingora::Error>| AttemptError::Fatal(rescue::client_error(&e));
        // The origin answered before the whole body arrived.
        let rest = (!session.is_body_done()).then(|| crate::edge::early::prepare(session));
        let is_h1 = !session.is_http2();
        let is_head = session.req_header().method == Method::HEAD;
        let header = self.response_head(&resp, served, is_h1 && !is_head)?;
        let small = is_head || resp.body().is_end_stream() || declared_small(&resp);
        let mut body = BodyReceiver::new(resp.into_body());
        // A small answer is read whole before anything reaches the client, so a tunnel that
        // dies in between leaves the request retryable instead of cut.
        let prefetched = if small && upload.done {
            Some(prefetch(&mut body, deadline).await?)
        } else {
            None
        };
        served.status = header.status.as_u16();
        session
            .write_response_header(Box::new(header))
            .await
            .map_err(gone)?;
        if let Some(data) = prefetched.filter(|d| !d.is_empty()) {
            session
                .write_response_body(data, false)
                .await
                .map_err(gone)?;
        }

        // Stream the response down, and the rest of the body up if any.
        loop {
            tokio::select! {
                chunk = body.data() => match chunk {
                    Some(Ok(data)) => session.write_response_body(data, false).await.map_err(gone)?,
                    Some(Err(e)) => {
                        return Err(AttemptError::Fatal(ForwardError::MidStream(e.to_string())));
                    }
                    None => break,
                },
                r = upload.step(session), if !upload.done => {
                    // The origin answered before the whole body arrived; keep sending it
                    // unless the client stops, which only ends the upload.
                    if r.is_err() { upload.done = true; }
                }
            }
        }
        if let Ok(Some(trailers)) = body.trailers().await {
            if !is_h1 {
                let _ = session.write_response_trailers(trailers).await;
            }
        }
        session
            .write_response_body(Bytes::new(), true)
            .await
            .map_err(gone)?;
        if rest == Some(crate::edge::early::Rest::Close) {
            crate::edge::early::linger(session).await;
        }
        Ok(())
    }

    /// The client's response head from the origin's (plus the affinity cookie).
    fn response_head(
        &self,
        resp: &Response<RecvStream>,
        served: &Served,
        chunked_if_unsized: bool,
    ) -> Result<ResponseHeader, AttemptError> {
        let (route, authority) = (self.route, self.external_authority);
        let mut header =
            headers::downstream_response(resp, route, authority, None, chunked_if_unsized)
                .map_err(AttemptError::Fatal)?;
        if let Some(cookie) = &served.set_cookie {
            let _ = header.append_header(http::header::SET_COOKIE, cookie.as_str());
        }
        Ok(header)
    }
}

/// Longest wait for room for a new stream on a tunnel.
const OPEN_BOUND: Duration = Duration::from_secs(5);

/// Sends the body while waiting for the response head (bounded by the app's timeout).
async fn await_head(
    session: &mut ServerSession,
    response: ResponseFuture,
    upload: &mut Upload,
    deadline: &mut std::pin::Pin<&mut tokio::time::Sleep>,
) -> Result<Response<RecvStream>, AttemptError> {
    tokio::pin!(response);
    loop {
        tokio::select! {
            r = &mut response => return r.map_err(|e| classify(e, true)),
            _ = deadline.as_mut() => {
                upload.reset();
                return Err(AttemptError::Fatal(ForwardError::Timeout));
            }
            r = upload.step(session), if !upload.done => match r {
                // The connector stopped taking the body (the origin answered early, or
                // failed): its answer, or the stream's error, comes through `response`.
                Err(ForwardError::Tunnel(_)) | Ok(()) => {}
                Err(e) => return Err(AttemptError::Fatal(e)),
            },
        }
    }
}

/// Whether the response announces a body small enough to prefetch.
fn declared_small(resp: &Response<RecvStream>) -> bool {
    resp.headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n <= SMALL_RESPONSE)
}

/// Responses up to this size are read whole before the client sees them.
const SMALL_RESPONSE: usize = 64 * 1024;

/// Reads a small response body completely (bounded by the app's timeout).
async fn prefetch(
    body: &mut BodyReceiver,
    deadline: &mut std::pin::Pin<&mut tokio::time::Sleep>,
) -> Result<Bytes, AttemptError> {
    let mut buf = BytesMut::new();
    loop {
        tokio::select! {
            chunk = body.data() => match chunk {
                Some(Ok(data)) => {
                    buf.extend_from_slice(&data);
                    if buf.len() > SMALL_RESPONSE {
                        // Longer than announced: hand it over as streamed from here on.
                        return Ok(buf.freeze());
                    }
                }
                Some(Err(e)) => return Err(classify(e, true)),
                None => return Ok(buf.freeze()),
            },
            _ = deadline.as_mut() => return Err(AttemptError::Fatal(ForwardError::Timeout)),
        }
    }
}

/// The request body on its way up: read from the client one chunk at a time, each sent as
/// flow control allows.
pub struct Upload {
    tx: BodySender,
    pub done: bool,
}

impl Upload {
    fn new(stream: SendStream<Bytes>, done: bool) -> Upload {
        Upload {
            tx: BodySender::new(stream),
            done,
        }
    }

    /// Sends a body read in full up front and ends the stream.
    fn send_whole(&mut self, data: Bytes) -> Result<(), h2::Error> {
        self.tx.finish_with(data)
    }

    fn reset(&mut self) {
        if !self.done {
            self.tx.reset(h2::Reason::CANCEL);
            self.done = true;
        }
    }

    /// One step: read a chunk from the client, or push the pending one as capacity allows.
    /// Cancel-safe at every await (used inside `select!`).
    async fn step(&mut self, session: &mut ServerSession) -> Result<(), ForwardError> {
        if !self.tx.is_flushed() {
            let sent = self.tx.flush_step().await;
            return sent.map_err(|_| {
                self.done = true;
                ForwardError::Tunnel("tunnel stream closed while sending the body".into())
            });
        }
        match crate::edge::slow::read_body(session).await {
            Ok(Some(data)) => {
                self.tx.push(data);
                Ok(())
            }
            Ok(None) => {
                self.done = true;
                self.tx
                    .finish()
                    .map_err(|e| ForwardError::Tunnel(e.to_string()))
            }
            Err(e) => {
                self.tx.reset(h2::Reason::CANCEL);
                self.done = true;
                Err(rescue::client_error(&e))
            }
        }
    }
}
