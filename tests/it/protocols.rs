//! HTTP/1.1 and HTTP/2 clients, bodies of several MiB streamed both ways, WebSocket.

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::support::world::{Spec, World};
use crate::support::{client, origin};

fn world_spec(o: &origin::Origin) -> Spec {
    Spec::default()
        .group("g")
        .connector("c1", "g")
        .app("o", "o.example.test", &o.url(), &["g"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h1_and_h2_clients_stream_large_bodies_both_ways() {
    let o = origin::spawn("o").await;
    let mut w = World::start(world_spec(&o));
    w.connect("c1").await;
    let size = 8 * 1024 * 1024;
    let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    for (label, c) in [("h1", w.h1()), ("h2", w.h2())] {
        let r = c
            .get(w.url("o.example.test", "/"))
            .send()
            .await
            .expect("get");
        let want = if label == "h1" {
            reqwest::Version::HTTP_11
        } else {
            reqwest::Version::HTTP_2
        };
        assert_eq!(r.version(), want);
        assert_eq!(r.text().await.expect("body"), "o");

        // Download streamed in chunks.
        let r = c
            .get(w.url("o.example.test", &format!("/bytes/{size}")))
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 200);
        let mut got = 0usize;
        let mut stream = r.bytes_stream();
        while let Some(chunk) = stream.next().await {
            got += chunk.expect("chunk").len();
        }
        assert_eq!(got, size, "{label} download");

        // Upload echoed back, with a known length and streamed without one.
        let r = c
            .post(w.url("o.example.test", "/echo"))
            .body(payload.clone())
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 200);
        let back = r.bytes().await.expect("echo body");
        assert!(
            back.len() == payload.len() && back[..] == payload[..],
            "{label} echo"
        );

        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            payload.chunks(100_000).map(|c| Ok(c.to_vec())).collect();
        let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
        let r = c
            .post(w.url("o.example.test", "/echo"))
            .body(body)
            .send()
            .await
            .expect("post stream");
        let back = r.bytes().await.expect("echo body");
        assert_eq!(back.len(), payload.len(), "{label} chunked echo");
        assert!(back[..] == payload[..]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_echo_end_to_end() {
    let o = origin::spawn("o").await;
    let mut w = World::start(world_spec(&o));
    w.connect("c1").await;
    let tls = client::tls_connect(&w.pki.ca_pem, w.gw.https_addr, "o.example.test")
        .await
        .expect("tls");
    let url = format!("wss://o.example.test:{}/ws", w.gw.https_addr.port());
    let (mut ws, resp) = tokio_tungstenite::client_async(url, tls)
        .await
        .expect("ws handshake");
    assert_eq!(resp.status(), 101);
    for i in 0..20 {
        let text = format!("hello {i}");
        ws.send(Message::text(text.clone())).await.expect("send");
        let back = tokio::time::timeout(std::time::Duration::from_secs(5), ws.next())
            .await
            .expect("in time")
            .expect("message")
            .expect("ok");
        assert_eq!(back.into_text().expect("text").as_str(), text);
    }
    let big = vec![7u8; 300_000];
    ws.send(Message::binary(big.clone()))
        .await
        .expect("send big");
    let back = ws.next().await.expect("msg").expect("ok");
    assert_eq!(back.into_data().len(), big.len());
    ws.close(None).await.expect("close");
}
