//! The stream handler for real: a hyper origin on 127.0.0.1, the connector's h2 server on one
//! end of an in-memory pipe, an h2 client (standing in for the gateway) on the other.

mod origin;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use h2::client::SendRequest;
use http::{HeaderMap, Request, Response, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::watch;

use origin::{spawn_origin, spawn_tls_origin, SLOW_BODIES_DROPPED};

use super::*;
use crate::connector::allow::AllowList;
use crate::connector::origin::Origins;
use crate::tunnel::protocol::{
    error_code, CONTROL_HEADER, ERROR_HEADER, HOST_HEADER, INSECURE_HEADER, UPGRADED_HEADER,
};

const LIMIT: Duration = Duration::from_secs(10);

/// The connector's h2 server on one end of a pipe; the h2 client (the gateway's role) on the
/// other. Keep the returned sender: dropping it does not stop the server.
async fn tunnel(allow: &[&str]) -> (SendRequest<Bytes>, Arc<Forwarder>, watch::Sender<bool>) {
    tunnel_with(allow, || {}).await
}

/// [`tunnel`], calling `on_reconnect` for each reconnect request.
async fn tunnel_with(
    allow: &[&str],
    on_reconnect: impl Fn() + Send + 'static,
) -> (SendRequest<Bytes>, Arc<Forwarder>, watch::Sender<bool>) {
    let allow: Vec<String> = allow.iter().map(|a| a.to_string()).collect();
    let allow = AllowList::parse(&allow).expect("allow-list");
    let origins = Origins::new(allow, None, Duration::from_secs(2)).expect("origins");
    let fwd = Arc::new(Forwarder::new(origins));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (gateway_io, connector_io) = tokio::io::duplex(256 * 1024);
    let server_fwd = Arc::clone(&fwd);
    tokio::spawn(async move {
        let conn = handshake(connector_io).await.expect("h2 server handshake");
        let _ = serve(conn, server_fwd, stop_rx, on_reconnect, None).await;
    });
    let (send, conn) = h2::client::handshake(gateway_io)
        .await
        .expect("h2 client handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    (send, fwd, stop_tx)
}

/// Reads a whole response, releasing flow-control capacity as it goes.
async fn read_all(resp: Response<h2::RecvStream>) -> (StatusCode, HeaderMap, Vec<u8>) {
    let (parts, mut body) = resp.into_parts();
    let mut out = Vec::new();
    while let Some(data) = body.data().await {
        let data = data.expect("response data");
        let _ = body.flow_control().release_capacity(data.len());
        out.extend_from_slice(&data);
    }
    (parts.status, parts.headers, out)
}

async fn get(send: &mut SendRequest<Bytes>, uri: &str) -> (StatusCode, HeaderMap, Vec<u8>) {
    let req = Request::get(uri).body(()).expect("request");
    let mut ready = send.clone().ready().await.expect("h2 ready");
    let (resp, _) = ready.send_request(req, true).expect("send");
    read_all(resp.await.expect("response head")).await
}

/// Sends `data` on an h2 stream in chunks the peer has granted, then ends the stream.
async fn send_body(mut tx: h2::SendStream<Bytes>, mut data: Bytes) {
    while !data.is_empty() {
        tx.reserve_capacity(data.len().min(64 * 1024));
        let granted = std::future::poll_fn(|cx| tx.poll_capacity(cx))
            .await
            .expect("stream open")
            .expect("capacity");
        let chunk = data.split_to(granted.min(data.len()));
        tx.send_data(chunk, false).expect("send data");
    }
    tx.send_data(Bytes::new(), true).expect("end stream");
}

#[tokio::test]
async fn get_reaches_the_origin_with_the_requested_host() {
    let (origin, accepted) = spawn_origin().await;
    let (mut send, fwd, _stop) = tunnel(&["127.0.0.1"]).await;
    let run = async {
        let req = Request::get(format!("http://{origin}/hello"))
            .header(HOST_HEADER, "app.example.com")
            .body(())
            .expect("request");
        let (resp, _) = send.send_request(req, true).expect("send");
        let (status, headers, body) = read_all(resp.await.expect("head")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, b"hello from origin");
        assert_eq!(headers["x-seen-host"], "app.example.com");
        for hop in ["connection", "keep-alive", "x-private"] {
            assert!(!headers.contains_key(hop), "{hop} was forwarded");
        }

        // Without switchyard-host the origin sees :authority; the connection is reused.
        let (status, headers, _) = get(&mut send, &format!("http://{origin}/hello")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["x-seen-host"], origin.to_string().as_str());
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            1,
            "keep-alive pool not used"
        );
    };
    tokio::time::timeout(LIMIT, run)
        .await
        .expect("test timed out");
    assert_eq!(fwd.in_flight(), 0);
}

#[tokio::test]
async fn names_admitted_by_a_network_rule_connect_only_to_allowed_addresses() {
    let (origin, accepted) = spawn_origin().await;
    let (mut send, _fwd, _stop) = tunnel(&["127.0.0.0/8"]).await;
    let run = async {
        // localhost may also resolve to ::1, which the list does not admit: the resolver
        // drops it, and the request keeps its name.
        let authority = format!("localhost:{}", origin.port());
        let (status, headers, body) = get(&mut send, &format!("http://{authority}/hello")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, b"hello from origin");
        assert_eq!(headers["x-seen-host"], authority.as_str());
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    };
    tokio::time::timeout(LIMIT, run)
        .await
        .expect("test timed out");
}

#[tokio::test]
async fn two_mib_post_streams_through_and_back() {
    let (origin, _) = spawn_origin().await;
    let (mut send, _fwd, _stop) = tunnel(&["127.0.0.0/8"]).await;
    let payload: Bytes = (0..2 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let run = async {
        let req = Request::post(format!("http://{origin}/echo"))
            .header(http::header::CONTENT_LENGTH, payload.len())
            .body(())
            .expect("request");
        let (resp, tx) = send.send_request(req, false).expect("send");
        // Sent and received at once: a connector that buffered the whole body would
        // stall on the 1 MiB stream window instead.
        let sender = tokio::spawn(send_body(tx, payload.clone()));
        let (status, _, body) = read_all(resp.await.expect("head")).await;
        sender.await.expect("sender task");
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body.len(), payload.len());
        assert!(body == payload, "echoed body differs");
    };
    tokio::time::timeout(LIMIT, run)
        .await
        .expect("test timed out");
}

#[tokio::test]
async fn denied_destination_is_refused_without_contacting_the_origin() {
    let (origin, accepted) = spawn_origin().await;
    let (mut send, _fwd, _stop) = tunnel(&["10.0.0.0/8", "wiki.internal"]).await;
    let run = async {
        for uri in [
            format!("http://{origin}/hello"),
            format!("http://localhost:{}/hello", origin.port()),
        ] {
            let (status, headers, body) = get(&mut send, &uri).await;
            assert_eq!(status, StatusCode::BAD_GATEWAY, "{uri}");
            assert_eq!(headers[ERROR_HEADER], error_code::NOT_ALLOWED, "{uri}");
            let text = String::from_utf8(body).expect("utf-8");
            assert_eq!(text.lines().count(), 1, "{text:?}");
        }
    };
    tokio::time::timeout(LIMIT, run)
        .await
        .expect("test timed out");
    assert_eq!(accepted.load(Ordering::SeqCst), 0, "origin was contacted");
}

#[tokio::test]
async fn refused_port_is_origin_unreachable() {
    let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let (mut send, _fwd, _stop) = tunnel(&["127.0.0.1"]).await;
    let run = async {
        let (status, headers, _) = get(&mut send, &format!("http://127.0.0.1:{port}/")).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY);
        assert_eq!(headers[ERROR_HEADER], error_code::ORIGIN_UNREACHABLE);
    };
    tokio::time::timeout(LIMIT, run)
        .await
        .expect("test timed out");
}

#[tokio::test]
async fn extended_connect_pipes_an_upgraded_connection() {
    let (origin, _) = spawn_origin().await;
    let (send, _fwd, _stop) = tunnel(&["127.0.0.1"]).await;
    let run = async {
        let mut send = send.ready().await.expect("h2 ready");
        // The server's SETTINGS (which enable extended CONNECT) arrive after the handshake.
        while !send.is_extended_connect_protocol_enabled() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut req = Request::connect(format!("http://{origin}/ws"))
            .body(())
            .expect("request");
        req.extensions_mut()
            .insert(h2::ext::Protocol::from_static("echo-proto"));
        let (resp, mut tx) = send.send_request(req, false).expect("send");
        let resp = resp.await.expect("head");
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()[UPGRADED_HEADER], "101");
        assert_eq!(resp.headers()["x-origin-upgraded"], "yes");
        assert!(!resp.headers().contains_key("upgrade"));

        tx.send_data(Bytes::from_static(b"ping over the tunnel"), true)
            .expect("send data");
        let (_, _, echoed) = read_all(resp).await;
        assert_eq!(echoed, b"ping over the tunnel");
    };
    tokio::time::timeout(LIMIT, run)
        .await
        .expect("test timed out");
}

#[tokio::test]
async fn stop_sends_goaway_and_waits_for_streams() {
    let (origin, _) = spawn_origin().await;
    let (mut send, fwd, stop) = tunnel(&["127.0.0.1"]).await;
    let run = async {
        // An echo stream still open when the stop comes is served to its end.
        let req = Request::post(format!("http://{origin}/echo"))
            .body(())
            .expect("request");
        let (resp, mut tx) = send.send_request(req, false).expect("send");
        tx.send_data(Bytes::from_static(b"first half, "), false)
            .expect("data");
        while fwd.in_flight() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        stop.send_replace(true);
        tokio::time::sleep(Duration::from_millis(50)).await;
        tx.send_data(Bytes::from_static(b"second half"), true)
            .expect("data");
        let (status, _, body) = read_all(resp.await.expect("head")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, b"first half, second half");

        // New streams are refused after GOAWAY.
        let req = Request::get(format!("http://{origin}/hello"))
            .body(())
            .expect("request");
        let refused = match send.clone().ready().await {
            Err(_) => true,
            Ok(mut ready) => match ready.send_request(req, true) {
                Err(_) => true,
                Ok((resp, _)) => resp.await.is_err(),
            },
        };
        assert!(refused, "a stream was accepted after GOAWAY");
    };
    tokio::time::timeout(LIMIT, run)
        .await
        .expect("test timed out");
    assert_eq!(fwd.in_flight(), 0);
}

#[tokio::test]
async fn untrusted_origin_certificate_is_origin_tls_unless_insecure() {
    let origin = spawn_tls_origin().await;
    let (mut send, _fwd, _stop) = tunnel(&["127.0.0.1"]).await;
    let run = async {
        let uri = format!("https://{origin}/hello");
        let (status, headers, _) = get(&mut send, &uri).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY);
        assert_eq!(headers[ERROR_HEADER], error_code::ORIGIN_TLS);

        let req = Request::get(&uri)
            .header(INSECURE_HEADER, "1")
            .body(())
            .expect("request");
        let (resp, _) = send.send_request(req, true).expect("send");
        let (status, _, body) = read_all(resp.await.expect("head")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, b"hello from origin");
    };
    tokio::time::timeout(LIMIT, run)
        .await
        .expect("test timed out");
}

#[tokio::test]
async fn gateway_reset_stops_the_stream_and_drops_the_origin_request() {
    let (origin, _) = spawn_origin().await;
    let (mut send, fwd, _stop) = tunnel(&["127.0.0.1"]).await;
    let dropped_before = SLOW_BODIES_DROPPED.load(Ordering::SeqCst);
    let run = async {
        let req = Request::get(format!("http://{origin}/slow"))
            .body(())
            .expect("request");
        let (resp, _) = send.send_request(req, true).expect("send");
        let mut body = resp.await.expect("head").into_body();
        let first = body.data().await.expect("a chunk").expect("data");
        assert!(!first.is_empty());
        // The user went away: the gateway resets the stream.
        drop(body);
        while fwd.in_flight() != 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        while SLOW_BODIES_DROPPED.load(Ordering::SeqCst) == dropped_before {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(LIMIT, run)
        .await
        .expect("stream not abandoned in time");
}

#[tokio::test]
async fn control_requests_are_answered_by_the_connector_and_never_forwarded() {
    let (origin, accepted) = spawn_origin().await;
    let reconnects = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&reconnects);
    let on_reconnect = move || {
        counter.fetch_add(1, Ordering::SeqCst);
    };
    let (mut send, fwd, _stop) = tunnel_with(&["127.0.0.1"], on_reconnect).await;
    let run = async {
        // An allowed destination: had the request been forwarded, the origin would see it.
        let uri = format!("http://{origin}/hello");
        let req = Request::get(&uri)
            .header(CONTROL_HEADER, "reconnect")
            .body(())
            .expect("request");
        let (resp, _) = send.send_request(req, true).expect("send");
        let resp = resp.await.expect("head");
        assert!(resp.body().is_end_stream(), "a body after the answer");
        let (status, _, body) = read_all(resp).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.is_empty());
        assert_eq!(reconnects.load(Ordering::SeqCst), 1);

        let req = Request::get(&uri)
            .header(CONTROL_HEADER, "explode")
            .body(())
            .expect("request");
        let (resp, _) = send.send_request(req, true).expect("send");
        let (status, headers, _) = read_all(resp.await.expect("head")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(headers[ERROR_HEADER], error_code::BAD_REQUEST);
        assert_eq!(reconnects.load(Ordering::SeqCst), 1);

        // The tunnel itself goes on serving.
        let (status, _, body) = get(&mut send, &uri).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, b"hello from origin");
    };
    tokio::time::timeout(LIMIT, run)
        .await
        .expect("test timed out");
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "a control request reached the origin"
    );
    assert_eq!(fwd.in_flight(), 0);
}
