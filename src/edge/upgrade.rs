//! Upgraded connections (WebSocket): the user's HTTP/1.1 `Upgrade` becomes an extended
//! CONNECT stream on the tunnel (RFC 8441); after the 101 the bytes are relayed both ways.

use bytes::Bytes;
use h2::RecvStream;
use http::Response;
use pingora::protocols::http::ServerSession;

use crate::edge::forward::Served;
use crate::edge::headers;
use crate::edge::rescue::ForwardError;
use crate::routing::Route;
use crate::tunnel::stream::{BodyReceiver, BodySender};
use crate::tunnel::wire;

/// Finishes an upgrade whose tunnel answer is `resp`.
pub async fn relay(
    session: &mut ServerSession,
    resp: Response<RecvStream>,
    mut up: BodySender,
    route: &Route,
    external_authority: &str,
    served: &mut Served,
) -> Result<(), ForwardError> {
    if !wire::is_upgraded(&resp) {
        // The origin refused the upgrade: relay its answer as an ordinary response.
        up.reset(h2::Reason::CANCEL);
        let header = headers::downstream_response(&resp, route, external_authority, None, true)?;
        served.status = header.status.as_u16();
        session
            .write_response_header(Box::new(header))
            .await
            .map_err(|_| ForwardError::ClientGone)?;
        let mut body = BodyReceiver::new(resp.into_body());
        while let Some(chunk) = body.data().await {
            let data = chunk.map_err(|e| ForwardError::MidStream(e.to_string()))?;
            session
                .write_response_body(data, false)
                .await
                .map_err(|_| ForwardError::ClientGone)?;
        }
        return session
            .write_response_body(Bytes::new(), true)
            .await
            .map_err(|_| ForwardError::ClientGone);
    }

    let mut header =
        headers::downstream_response(&resp, route, external_authority, Some(101), false)?;
    let proto = session
        .req_header()
        .headers
        .get(http::header::UPGRADE)
        .cloned()
        .unwrap_or_else(|| http::HeaderValue::from_static("websocket"));
    header
        .insert_header(http::header::UPGRADE, proto)
        .and_then(|_| header.insert_header(http::header::CONNECTION, "Upgrade"))
        .map_err(|_| ForwardError::OriginError)?;
    served.status = 101;
    session
        .write_response_header(Box::new(header))
        .await
        .map_err(|_| ForwardError::ClientGone)?;
    pipe(session, BodyReceiver::new(resp.into_body()), up).await;
    let _ = session.write_response_body(Bytes::new(), true).await;
    Ok(())
}

/// Relays bytes both ways until the origin's side ends (or either side fails).
async fn pipe(session: &mut ServerSession, mut down: BodyReceiver, mut up: BodySender) {
    let mut client_open = true;
    loop {
        tokio::select! {
            chunk = down.data() => match chunk {
                Some(Ok(data)) => {
                    if session.write_response_body(data, false).await.is_err() {
                        up.reset(h2::Reason::CANCEL);
                        return;
                    }
                }
                // The origin closed (or the tunnel broke): the connection ends.
                Some(Err(_)) | None => return,
            },
            sent = up.flush_step(), if !up.is_flushed() => {
                if sent.is_err() {
                    return;
                }
            }
            read = session.read_request_body(), if client_open && up.is_flushed() => match read {
                Ok(Some(data)) => up.push(data),
                Ok(None) | Err(_) => {
                    client_open = false;
                    let _ = up.finish();
                }
            },
        }
    }
}
