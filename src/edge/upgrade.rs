//! Upgraded connections (WebSocket): the user's HTTP/1.1 `Upgrade` becomes an extended
//! CONNECT stream on the tunnel (RFC 8441); after the 101 the bytes are relayed both ways.

use bytes::Bytes;
use h2::{RecvStream, SendStream};
use http::Response;
use pingora::protocols::http::ServerSession;

use crate::edge::forward::Served;
use crate::edge::headers;
use crate::edge::rescue::ForwardError;
use crate::routing::Route;
use crate::tunnel::wire;

/// Finishes an upgrade whose tunnel answer is `resp`.
pub async fn relay(
    session: &mut ServerSession,
    resp: Response<RecvStream>,
    mut up: SendStream<Bytes>,
    route: &Route,
    external_authority: &str,
    served: &mut Served,
) -> Result<(), ForwardError> {
    let switched = wire::is_upgraded(&resp);
    if !switched {
        // The origin refused the upgrade: relay its answer as an ordinary response.
        up.send_reset(h2::Reason::CANCEL);
        let header = headers::downstream_response(&resp, route, external_authority, None, true)?;
        served.status = header.status.as_u16();
        session
            .write_response_header(Box::new(header))
            .await
            .map_err(|_| ForwardError::ClientGone)?;
        let mut body = resp.into_body();
        while let Some(chunk) = body.data().await {
            let data = chunk.map_err(|e| ForwardError::MidStream(e.to_string()))?;
            let n = data.len();
            session
                .write_response_body(data, false)
                .await
                .map_err(|_| ForwardError::ClientGone)?;
            let _ = body.flow_control().release_capacity(n);
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

    let mut down = resp.into_body();
    let mut client_open = true;
    let mut pending: Option<Bytes> = None;
    loop {
        tokio::select! {
            chunk = down.data() => match chunk {
                Some(Ok(data)) => {
                    let n = data.len();
                    if session.write_response_body(data, false).await.is_err() {
                        up.send_reset(h2::Reason::CANCEL);
                        return Ok(());
                    }
                    let _ = down.flow_control().release_capacity(n);
                }
                // The origin closed (or the tunnel broke): the connection ends.
                Some(Err(_)) | None => break,
            },
            cap = futures_util::future::poll_fn(|cx| up.poll_capacity(cx)), if pending.is_some() => {
                match cap {
                    Some(Ok(cap)) if cap > 0 => {
                        if let Some(mut data) = pending.take() {
                            let chunk = data.split_to(cap.min(data.len()));
                            if !data.is_empty() {
                                up.reserve_capacity(data.len());
                                pending = Some(data);
                            }
                            if up.send_data(chunk, false).is_err() {
                                break;
                            }
                        }
                    }
                    Some(Ok(_)) => {}
                    _ => break,
                }
            }
            read = session.read_request_body(), if client_open && pending.is_none() => match read {
                Ok(Some(data)) if !data.is_empty() => {
                    up.reserve_capacity(data.len());
                    pending = Some(data);
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => {
                    client_open = false;
                    let _ = up.send_data(Bytes::new(), true);
                }
            },
        }
    }
    let _ = session.write_response_body(Bytes::new(), true).await;
    Ok(())
}
