//! Origins that answer before the request body is complete (413, 401, redirects), and
//! clients that give up mid-upload.

use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::world::{Spec, World};
use crate::support::{client, eventually, origin};

const MIB: usize = 1024 * 1024;

fn world_spec(o: &origin::Origin) -> Spec {
    Spec::default()
        .group("g")
        .connector("c1", "g")
        .app("o", "o.example.test", &o.url(), &["g"])
}

/// A request body of `size` bytes, with a `Content-Length` or streamed (chunked on h1).
fn body(size: usize, chunked: bool) -> reqwest::Body {
    let data = Bytes::from(vec![b'u'; size]);
    if !chunked {
        return reqwest::Body::from(data);
    }
    let chunks: Vec<Result<Bytes, std::io::Error>> = (0..size)
        .step_by(256 * 1024)
        .map(|at| Ok(data.slice(at..(at + 256 * 1024).min(size))))
        .collect();
    reqwest::Body::wrap_stream(futures_util::stream::iter(chunks))
}

/// POSTs and returns the status and body, failing the test past 20 s.
async fn post(c: &reqwest::Client, url: String, size: usize, chunked: bool) -> (u16, String) {
    let sent = async {
        let r = c.post(url).body(body(size, chunked)).send().await?;
        let status = r.status().as_u16();
        Ok::<_, reqwest::Error>((status, r.text().await?))
    };
    match tokio::time::timeout(Duration::from_secs(20), sent).await {
        Ok(Ok(got)) => got,
        Ok(Err(e)) => panic!("request failed: {e:?}"),
        Err(_) => panic!("no answer within 20 s"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_answers_reach_h1_and_h2_clients() {
    let o = origin::spawn("o").await;
    let mut w = World::start(world_spec(&o));
    w.connect("c1").await;
    for (label, c) in [("h1", w.h1()), ("h2", w.h2())] {
        for size in [300 * 1024, 50 * MIB] {
            for chunked in [false, true] {
                // Unread at all, then after part of the body was read.
                for (path, status) in [("/early/413", 413), ("/early/401/65536", 401)] {
                    let case = format!("{label} {size} chunked={chunked} {path}");
                    let started = std::time::Instant::now();
                    let url = w.url("o.example.test", path);
                    let (got, text) = post(&c, url, size, chunked).await;
                    assert_eq!(got, status, "{case}: {text}");
                    assert_eq!(text, format!("early {status}"), "{case}");
                    assert!(started.elapsed() < Duration::from_secs(5), "{case}: slow");
                    // The client can go on using the gateway.
                    let r = c
                        .get(w.url("o.example.test", "/"))
                        .send()
                        .await
                        .expect("next request");
                    assert_eq!(r.text().await.expect("body"), "o", "{case}");
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_early_answer_keeps_the_h1_connection() {
    let o = origin::spawn("o").await;
    let mut w = World::start(world_spec(&o));
    w.connect("c1").await;
    let tls = client::tls_connect(&w.pki.ca_pem, w.gw.https_addr, "o.example.test")
        .await
        .expect("tls");
    let (mut rd, mut wr) = tokio::io::split(tls);
    let size = 300 * 1024;
    let head = format!(
        "POST /early/413 HTTP/1.1\r\nHost: o.example.test\r\nContent-Length: {size}\r\n\r\n"
    );
    let writer = tokio::spawn(async move {
        wr.write_all(head.as_bytes()).await?;
        wr.write_all(&vec![b'u'; size]).await?;
        wr.flush().await?;
        Ok::<_, std::io::Error>(wr)
    });
    let first = tokio::time::timeout(Duration::from_secs(10), read_response(&mut rd))
        .await
        .expect("answer in time");
    assert!(first.starts_with("HTTP/1.1 413"), "{first}");
    assert!(first.ends_with("early 413"), "{first}");
    assert!(
        !first.to_ascii_lowercase().contains("connection: close"),
        "{first}"
    );
    let mut wr = writer.await.expect("join").expect("body sent");
    wr.write_all(b"GET / HTTP/1.1\r\nHost: o.example.test\r\n\r\n")
        .await
        .expect("second request");
    let second = tokio::time::timeout(Duration::from_secs(10), read_response(&mut rd))
        .await
        .expect("second answer in time");
    assert!(second.starts_with("HTTP/1.1 200"), "{second}");
    assert!(second.ends_with("\r\n\r\no"), "{second}");
}

/// Reads one response with a `Content-Length` body.
async fn read_response<R: tokio::io::AsyncRead + Unpin>(rd: &mut R) -> String {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if rd.read(&mut byte).await.expect("read head") == 0 {
            return String::from_utf8_lossy(&buf).into_owned();
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("content-length");
    let mut body = vec![0u8; len];
    rd.read_exact(&mut body).await.expect("read body");
    buf.extend_from_slice(&body);
    String::from_utf8_lossy(&buf).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_aborting_mid_upload_aborts_the_origin_request() {
    let o = origin::spawn("o").await;
    let mut w = World::start(world_spec(&o));
    w.connect("c1").await;
    let size = 8 * MIB;
    // HTTP/1.1 with a Content-Length, closed after half the body.
    let mut tls = client::tls_connect(&w.pki.ca_pem, w.gw.https_addr, "o.example.test")
        .await
        .expect("tls");
    let head =
        format!("POST /count HTTP/1.1\r\nHost: o.example.test\r\nContent-Length: {size}\r\n\r\n");
    tls.write_all(head.as_bytes()).await.expect("head");
    tls.write_all(&vec![b'u'; size / 2]).await.expect("half");
    tls.flush().await.expect("flush");
    drop(tls);
    let aborted = eventually(|| o.bodies.aborted() == 1, Duration::from_secs(10)).await;
    assert!(aborted, "h1 abort not seen by the origin");

    // HTTP/2: the stream is reset mid-body.
    let c = w.h2();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let url = w.url("o.example.test", "/count");
    let req = tokio::spawn(async move {
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        c.post(url)
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await
    });
    tx.send(Ok(Bytes::from(vec![b'u'; MIB])))
        .await
        .expect("chunk");
    let seen = eventually(|| o.requests() == 2, Duration::from_secs(10)).await;
    assert!(seen, "second request reached the origin");
    tx.send(Err(std::io::Error::other("client gives up")))
        .await
        .expect("abort");
    let _ = tokio::time::timeout(Duration::from_secs(10), req).await;
    let aborted = eventually(|| o.bodies.aborted() == 2, Duration::from_secs(10)).await;
    assert!(aborted, "h2 abort not seen by the origin");
    assert_eq!(
        o.bodies.complete(),
        0,
        "a cut body was accepted as complete"
    );
}
