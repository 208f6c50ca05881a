use super::*;

/// An h2 client and server over an in-memory pipe, with a small stream window so a large
/// body only gets through if the receiver releases it.
async fn pair() -> (
    SendRequest<Bytes>,
    h2::server::Connection<tokio::io::DuplexStream, Bytes>,
) {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let server = tokio::spawn(async move {
        h2::server::Builder::new()
            .initial_window_size(16 * 1024)
            .handshake::<_, Bytes>(b)
            .await
            .expect("server handshake")
    });
    let (send, conn) = h2::client::handshake(a).await.expect("client handshake");
    tokio::spawn(conn);
    (send, server.await.expect("join"))
}

#[tokio::test]
async fn a_body_larger_than_the_window_arrives_whole() {
    let (send, mut server) = pair().await;
    let size = 1024 * 1024 + 7;
    let receiving = tokio::spawn(async move {
        let (req, mut respond) = server.accept().await.expect("stream").expect("ok");
        // The connection only moves while polled.
        tokio::spawn(async move { while server.accept().await.is_some() {} });
        let mut body = BodyReceiver::new(req.into_body());
        let mut got = 0;
        while let Some(chunk) = body.data().await {
            got += chunk.expect("chunk").len();
        }
        let trailers = body.trailers().await.expect("trailers");
        let resp = http::Response::new(());
        respond.send_response(resp, true).expect("respond");
        (got, trailers)
    });
    let req = Request::post("http://origin/").body(()).expect("request");
    let (response, stream) = open(&send, req, false, Duration::from_secs(5))
        .await
        .expect("open");
    let mut body = BodySender::new(stream);
    body.send_all(Bytes::from(vec![1u8; size]))
        .await
        .expect("send");
    let mut trailers = HeaderMap::new();
    trailers.insert("x-sum", http::HeaderValue::from_static("1"));
    body.finish_with_trailers(trailers).expect("trailers");
    let resp = tokio::time::timeout(Duration::from_secs(10), response)
        .await
        .expect("in time")
        .expect("response");
    assert_eq!(resp.status(), 200);
    let (got, trailers) = receiving.await.expect("join");
    assert_eq!(got, size);
    assert_eq!(trailers.expect("some")["x-sum"], "1");
}

#[tokio::test]
async fn a_reset_stops_the_sender() {
    let (send, mut server) = pair().await;
    tokio::spawn(async move {
        let (_req, mut respond) = server.accept().await.expect("stream").expect("ok");
        respond.send_reset(Reason::CANCEL);
        while server.accept().await.is_some() {}
    });
    let req = Request::post("http://origin/").body(()).expect("request");
    let (_response, stream) = open(&send, req, false, Duration::from_secs(5))
        .await
        .expect("open");
    let mut body = BodySender::new(stream);
    let sent = tokio::time::timeout(
        Duration::from_secs(10),
        body.send_all(Bytes::from(vec![1u8; 1024 * 1024])),
    )
    .await
    .expect("in time");
    assert!(sent.is_err());
}
