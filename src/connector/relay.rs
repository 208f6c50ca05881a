//! Relaying the origin's answer back over the gateway's h2 stream: headers without hop-by-hop
//! fields, the body under h2 flow control, and upgraded connections piped both ways.

use bytes::{Bytes, BytesMut};
use h2::server::SendResponse;
use h2::{Reason, RecvStream, SendStream};
use http::header::HeaderValue;
use http::{Response, StatusCode};
use http_body::Body;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::tunnel::stream::{BodyReceiver, BodySender, StreamGone};
use crate::tunnel::wire::{mark_upgraded, strip_hop_by_hop, WireError};

/// Largest read from an upgraded origin connection before it is sent on.
const PIPE_CHUNK: usize = 16 * 1024;

/// Answers the stream with a connector-made error: `status`, the `switchyard-error` code and
/// one line of text.
pub fn send_error(
    mut respond: SendResponse<Bytes>,
    status: StatusCode,
    error: WireError,
    text: &str,
) {
    let body = Bytes::from(format!("{text}\n"));
    let mut head = Response::new(());
    *head.status_mut() = status;
    let headers = head.headers_mut();
    error.mark(headers);
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    match respond.send_response(head, false) {
        // A few bytes: h2 queues them even before the window is known.
        Ok(mut tx) => {
            if let Err(e) = tx.send_data(body, true) {
                tracing::debug!(error = %e, "error response body not sent");
            }
        }
        Err(e) => tracing::debug!(error = %e, "error response not sent"),
    }
}

/// Relays a normal origin response: head (hop-by-hop removed), streamed body, trailers.
pub async fn send_response(mut respond: SendResponse<Bytes>, resp: Response<Incoming>) {
    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    let end = body.is_end_stream();
    match respond.send_response(Response::from_parts(parts, ()), end) {
        Ok(tx) if !end => stream_body(body, tx).await,
        Ok(_) => {}
        Err(e) => tracing::debug!(error = %e, "response head not sent"),
    }
}

/// Streams `body` to `tx` under flow control. Stops (dropping the origin response) as soon
/// as the gateway resets the stream; an origin error mid-body resets the stream.
async fn stream_body(mut body: Incoming, tx: SendStream<Bytes>) {
    let mut tx = BodySender::new(tx);
    loop {
        let frame = tokio::select! {
            biased;
            reason = tx.reset_by_peer() => {
                tracing::debug!(?reason, "gateway reset the stream; dropping the origin response");
                return;
            }
            frame = body.frame() => frame,
        };
        let frame = match frame {
            None => {
                if let Err(e) = tx.finish() {
                    tracing::debug!(error = %e, "end of stream not sent");
                }
                return;
            }
            Some(Ok(frame)) => frame,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "origin body failed mid-stream");
                tx.reset(Reason::INTERNAL_ERROR);
                return;
            }
        };
        match frame.into_data() {
            Ok(data) => {
                if tx.send_all(data).await.is_err() {
                    return;
                }
            }
            Err(frame) => {
                if let Ok(trailers) = frame.into_trailers() {
                    if let Err(e) = tx.finish_with_trailers(trailers) {
                        tracing::debug!(error = %e, "trailers not sent");
                    }
                    return;
                }
            }
        }
    }
}

/// Answers an extended CONNECT whose origin switched protocols: 200 with
/// `switchyard-upgraded: 101` and the origin's headers, then pipes bytes both ways until
/// both sides have finished (each direction half-closes on its own).
pub async fn pipe_upgraded(
    mut respond: SendResponse<Bytes>,
    mut resp: Response<Incoming>,
    recv: RecvStream,
) {
    let on_upgrade = hyper::upgrade::on(&mut resp);
    let mut headers = std::mem::take(resp.headers_mut());
    strip_hop_by_hop(&mut headers);
    drop(resp);
    let upgraded = match on_upgrade.await {
        Ok(upgraded) => upgraded,
        Err(e) => {
            tracing::warn!(error = %e, "origin upgrade failed");
            return send_error(
                respond,
                StatusCode::BAD_GATEWAY,
                WireError::OriginError,
                "origin connection failed",
            );
        }
    };
    let mut head = Response::new(());
    *head.headers_mut() = headers;
    mark_upgraded(head.headers_mut());
    let tx = match respond.send_response(head, false) {
        Ok(tx) => tx,
        Err(e) => return tracing::debug!(error = %e, "upgrade answer not sent"),
    };
    let (mut from_origin, mut to_origin) = tokio::io::split(TokioIo::new(upgraded));

    let mut tx = BodySender::new(tx);
    let up = async {
        let mut recv = BodyReceiver::new(recv);
        while let Some(data) = recv.data().await {
            let data = data.map_err(|_| StreamGone)?;
            to_origin.write_all(&data).await.map_err(|_| StreamGone)?;
        }
        // The gateway half-closed: pass it on to the origin.
        to_origin.shutdown().await.map_err(|_| StreamGone)
    };
    let down = async {
        let mut buf = BytesMut::with_capacity(PIPE_CHUNK);
        loop {
            buf.reserve(PIPE_CHUNK);
            let read = tokio::select! {
                biased;
                _ = tx.reset_by_peer() => return Err(StreamGone),
                read = from_origin.read_buf(&mut buf) => read.map_err(|_| StreamGone)?,
            };
            if read == 0 {
                return tx.finish();
            }
            tx.send_all(buf.split().freeze()).await?;
        }
    };
    if tokio::try_join!(up, down).is_err() {
        tracing::debug!("upgraded connection ended abruptly");
        tx.reset(Reason::INTERNAL_ERROR);
    }
}
