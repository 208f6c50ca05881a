//! One request over a tunnel: pick a connector, open an HTTP/2 stream, stream the body up
//! while waiting for the answer, stream the answer down. Retries on another connector when
//! the stream was never processed or, for bodiless idempotent requests, when the tunnel died
//! before the response started.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::poll_fn;
use h2::{RecvStream, SendStream};
use http::{Method, Response};
use pingora::protocols::http::ServerSession;

use crate::balance;
use crate::edge::headers::{self, Outbound};
use crate::edge::rescue::ForwardError;
use crate::routing::Route;
use crate::tunnel::registry::{InFlight, LiveView};

/// At most this many attempts per request (the first plus retries).
const MAX_ATTEMPTS: usize = 3;

/// What the access log and metrics need to know about a served request.
#[derive(Default)]
pub struct Served {
    pub status: u16,
    pub group: Option<Arc<str>>,
    pub connector: Option<Arc<str>>,
    pub retries: u32,
}

/// Why an attempt failed, and whether another connector may be tried.
enum AttemptError {
    /// The stream never left the gateway: always safe to retry.
    NotSent(String),
    /// The connector refused the stream without processing it: safe to retry when no body
    /// byte was consumed from the client.
    Refused(String),
    /// The tunnel failed after the stream was sent: safe only for idempotent bodiless requests.
    Broken(String),
    /// Final.
    Fatal(ForwardError),
}

fn classify(e: h2::Error, sent: bool) -> AttemptError {
    if !sent {
        AttemptError::NotSent(e.to_string())
    } else if e.reason() == Some(h2::Reason::REFUSED_STREAM) {
        AttemptError::Refused(e.to_string())
    } else {
        AttemptError::Broken(e.to_string())
    }
}

fn idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

/// Serves one routed request; writes the answer (or returns the error to answer with).
pub async fn forward(
    session: &mut ServerSession,
    view: &LiveView,
    route: &Route,
    external_authority: &str,
    served: &mut Served,
) -> Result<(), ForwardError> {
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
    let request = headers::upstream_request(req_header, &out)?;
    let method = req_header.method.clone();
    // An upgrade request's "body" is the upgraded byte stream, which starts after the 101.
    let bodiless = upgrade.is_some() || session.is_body_empty();
    let replayable = bodiless;

    let mut tried: Vec<Arc<str>> = Vec::new();
    let mut last_failure = String::new();
    for attempt in 0..MAX_ATTEMPTS {
        let Some(pick) = balance::pick(view, &route.groups, &tried) else {
            if attempt == 0 {
                return Err(ForwardError::NoLiveConnector(route.app.to_string()));
            }
            return Err(ForwardError::Tunnel(last_failure));
        };
        let conn = pick.connector.clone();
        tried.push(conn.id.clone());
        served.group = Some(pick.group.clone());
        served.connector = Some(conn.id.clone());
        served.retries = attempt as u32;
        let guard = conn.begin();
        let result = attempt_once(
            session,
            &conn,
            request_clone(&request),
            bodiless,
            upgrade.is_some(),
            route,
            external_authority,
            served,
            guard,
        )
        .await;
        match result {
            Ok(()) => return Ok(()),
            Err(AttemptError::Fatal(e)) => return Err(e),
            Err(AttemptError::NotSent(why)) => last_failure = why,
            Err(AttemptError::Refused(why)) if replayable => last_failure = why,
            Err(AttemptError::Broken(why)) if replayable && idempotent(&method) => {
                last_failure = why;
            }
            Err(AttemptError::Refused(why)) | Err(AttemptError::Broken(why)) => {
                return Err(ForwardError::Tunnel(why));
            }
        }
        tracing::debug!(connector = %conn.id, reason = %last_failure, "retrying on another connector");
    }
    Err(ForwardError::Tunnel(last_failure))
}

fn request_clone(r: &http::Request<()>) -> http::Request<()> {
    let mut b = http::Request::builder()
        .method(r.method().clone())
        .uri(r.uri().clone())
        .version(r.version());
    if let Some(p) = r.extensions().get::<h2::ext::Protocol>() {
        b = b.extension(p.clone());
    }
    let mut req = match b.body(()) {
        Ok(req) => req,
        // The parts come from a request that was already valid.
        Err(_) => http::Request::new(()),
    };
    *req.headers_mut() = r.headers().clone();
    req
}

#[allow(clippy::too_many_arguments)]
async fn attempt_once(
    session: &mut ServerSession,
    conn: &Arc<crate::tunnel::registry::LiveConnector>,
    request: http::Request<()>,
    bodiless: bool,
    is_upgrade: bool,
    route: &Route,
    external_authority: &str,
    served: &mut Served,
    _guard: InFlight,
) -> Result<(), AttemptError> {
    let tunnel = conn
        .pick_tunnel()
        .ok_or_else(|| AttemptError::NotSent("connector has no open tunnel".into()))?;
    let send = tunnel.send.clone();
    let mut send = match tokio::time::timeout(Duration::from_secs(5), send.ready()).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(classify(e, false)),
        Err(_) => return Err(AttemptError::NotSent("tunnel not ready in 5 s".into())),
    };
    let end_of_stream = bodiless && !is_upgrade;
    let (response, body_tx) = send
        .send_request(request, end_of_stream)
        .map_err(|e| classify(e, false))?;

    let deadline = tokio::time::sleep(route.backend_timeout);
    tokio::pin!(deadline);
    let mut upload = Upload::new(body_tx, end_of_stream || is_upgrade);
    tokio::pin!(response);

    // Phase 1: send the body while waiting for the response headers.
    let resp: Response<RecvStream> = loop {
        tokio::select! {
            r = &mut response => break r.map_err(|e| classify(e, true))?,
            _ = &mut deadline => {
                upload.reset();
                return Err(AttemptError::Fatal(ForwardError::Timeout));
            }
            r = upload.step(session), if !upload.done => {
                r.map_err(AttemptError::Fatal)?;
            }
        }
    };

    if let Some(err) = headers::connector_error(&resp) {
        upload.reset();
        return Err(AttemptError::Fatal(err));
    }

    if is_upgrade {
        return crate::edge::upgrade::relay(
            session,
            resp,
            upload.into_stream(),
            route,
            external_authority,
            served,
        )
        .await
        .map_err(AttemptError::Fatal);
    }

    let is_h1 = !session.is_http2();
    let is_head = session.req_header().method == Method::HEAD;
    let header =
        headers::downstream_response(&resp, route, external_authority, None, is_h1 && !is_head)
            .map_err(AttemptError::Fatal)?;
    served.status = header.status.as_u16();
    session
        .write_response_header(Box::new(header))
        .await
        .map_err(|_| AttemptError::Fatal(ForwardError::ClientGone))?;

    // Phase 2: stream the response down, and the rest of the body up if any.
    let mut body = resp.into_body();
    loop {
        tokio::select! {
            chunk = body.data() => match chunk {
                Some(Ok(data)) => {
                    let n = data.len();
                    session.write_response_body(data, false).await
                        .map_err(|_| AttemptError::Fatal(ForwardError::ClientGone))?;
                    let _ = body.flow_control().release_capacity(n);
                }
                Some(Err(e)) => {
                    return Err(AttemptError::Fatal(ForwardError::MidStream(e.to_string())));
                }
                None => break,
            },
            r = upload.step(session), if !upload.done => {
                // The origin answered before the whole body arrived; keep sending it unless
                // the client stops, which only ends the upload.
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
        .map_err(|_| AttemptError::Fatal(ForwardError::ClientGone))?;
    Ok(())
}

/// The request body on its way up: one chunk at a time, sent as flow control allows.
pub struct Upload {
    stream: SendStream<Bytes>,
    pending: Option<Bytes>,
    pub done: bool,
}

impl Upload {
    fn new(stream: SendStream<Bytes>, done: bool) -> Upload {
        Upload {
            stream,
            pending: None,
            done,
        }
    }

    fn into_stream(self) -> SendStream<Bytes> {
        self.stream
    }

    fn reset(&mut self) {
        if !self.done {
            self.stream.send_reset(h2::Reason::CANCEL);
            self.done = true;
        }
    }

    /// One step: read a chunk from the client, or push the pending one as capacity allows.
    /// Cancel-safe at every await (used inside `select!`).
    async fn step(&mut self, session: &mut ServerSession) -> Result<(), ForwardError> {
        if let Some(want) = self.pending.as_ref().map(Bytes::len) {
            self.stream.reserve_capacity(want);
            // `pending` stays in place across this await, so cancelling loses nothing.
            let cap = match poll_fn(|cx| self.stream.poll_capacity(cx)).await {
                Some(Ok(cap)) => cap,
                _ => {
                    self.done = true;
                    return Err(ForwardError::Tunnel(
                        "tunnel stream closed while sending the body".into(),
                    ));
                }
            };
            let Some(mut data) = self.pending.take() else {
                return Ok(());
            };
            if cap == 0 {
                self.pending = Some(data);
                return Ok(());
            }
            let chunk = data.split_to(cap.min(data.len()));
            if !data.is_empty() {
                self.pending = Some(data);
            }
            if let Err(e) = self.stream.send_data(chunk, false) {
                self.done = true;
                return Err(ForwardError::Tunnel(e.to_string()));
            }
            return Ok(());
        }
        match session.read_request_body().await {
            Ok(Some(data)) => {
                if !data.is_empty() {
                    self.pending = Some(data);
                }
                Ok(())
            }
            Ok(None) => {
                self.done = true;
                self.stream
                    .send_data(Bytes::new(), true)
                    .map_err(|e| ForwardError::Tunnel(e.to_string()))
            }
            Err(_) => {
                self.stream.send_reset(h2::Reason::CANCEL);
                self.done = true;
                Err(ForwardError::ClientGone)
            }
        }
    }
}
