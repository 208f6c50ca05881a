//! Slow and greedy clients: a trickled head gets 408, a stalled body ends the request (both
//! directions, h1 and h2), connections beyond `limits.max_connections` are closed at once,
//! and normal users are served while many clients trickle.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::world::{metric, Spec, World};
use crate::support::{client, eventually, origin};

const HOST: &str = "o.example.test";

type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

async fn start(
    o: &origin::Origin,
    tweak: impl FnOnce(&mut switchyard::config::gateway::GatewayConfig),
) -> World {
    let spec = Spec::default()
        .group("g")
        .connector("c1", "g")
        .app("o", HOST, &o.url(), &["g"]);
    let mut w = World::start_with(spec, tweak);
    w.connect("c1").await;
    w
}

async fn open(w: &World) -> Tls {
    client::tls_connect(&w.pki.ca_pem, w.gw.https_addr, HOST)
        .await
        .expect("tls")
}

/// Everything read until the peer closed, or `None` if it had not closed within `within`.
async fn read_until_closed(s: &mut Tls, within: Duration) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    match tokio::time::timeout(within, s.read_to_end(&mut out)).await {
        Ok(_) => Some(out),
        Err(_) => None,
    }
}

async fn counter(w: &World, series: &str) -> f64 {
    metric(&w.metrics().await, series).unwrap_or(0.0)
}

async fn wait_counter(w: &World, series: &str, at_least: f64, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if counter(w, series).await >= at_least {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickled_head_gets_408_after_the_header_timeout() {
    let o = origin::spawn("o").await;
    let w = start(&o, |c| c.limits.header_timeout_secs = 1).await;
    let s = open(&w).await;
    let (mut rd, mut wr) = tokio::io::split(s);
    let started = Instant::now();
    let trickle = tokio::spawn(async move {
        let _ = wr
            .write_all(format!("GET / HTTP/1.1\r\nHost: {HOST}\r\n").as_bytes())
            .await;
        // One header line every 200 ms: every read is quick, the head never completes.
        for _ in 0..25 {
            if wr.write_all(b"X-Trickle: 1\r\n").await.is_err() || wr.flush().await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let mut out = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(4), rd.read_to_end(&mut out)).await;
    let elapsed = started.elapsed();
    trickle.abort();
    let text = String::from_utf8_lossy(&out);
    assert!(closed.is_ok(), "closed within 4 s: {text}");
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(elapsed >= Duration::from_millis(900), "{elapsed:?}");
    assert_eq!(o.requests(), 0);
    let series = "switchyard_slow_client_timeouts_total{phase=\"header\"}";
    assert_eq!(counter(&w, series).await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_request_body_ends_the_request_h1_and_h2() {
    let o = origin::spawn("o").await;
    let w = start(&o, |c| c.limits.body_idle_timeout_secs = 1).await;
    // A small body (read whole before forwarding) and a large one (streamed up as it comes).
    for length in [100, 1_000_000] {
        let mut s = open(&w).await;
        let head = format!(
            "POST /sleep/5000 HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: {length}\r\n\r\n"
        );
        s.write_all(head.as_bytes()).await.expect("head");
        s.write_all(&[b'x'; 10]).await.expect("some body");
        let started = Instant::now();
        let out = read_until_closed(&mut s, Duration::from_secs(4)).await;
        let text = String::from_utf8_lossy(out.as_deref().unwrap_or_default()).into_owned();
        assert!(out.is_some(), "{length}: closed within 4 s");
        assert!(text.starts_with("HTTP/1.1 408"), "{length}: {text}");
        assert!(started.elapsed() >= Duration::from_millis(900));
    }

    // h2: one chunk, then nothing; the stream ends with 408 instead of waiting for ever.
    let stalled =
        futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"first"))])
            .chain(futures_util::stream::pending());
    let started = Instant::now();
    let r = w
        .h2()
        .post(w.url(HOST, "/sleep/5000"))
        .body(reqwest::Body::wrap_stream(stalled))
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), 408);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    let series = "switchyard_slow_client_timeouts_total{phase=\"body\"}";
    // Counted once the 408 left: wait for it.
    assert!(wait_counter(&w, series, 3.0, Duration::from_secs(5)).await);
    assert_eq!(counter(&w, series).await, 3.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_cut_and_nothing_piles_up() {
    let o = origin::spawn("o").await;
    let w = start(&o, |c| c.limits.body_idle_timeout_secs = 1).await;
    let series = "switchyard_slow_client_timeouts_total{phase=\"body\"}";
    const BIG: usize = 200 * 1024 * 1024;

    // h1: read the first bytes, then nothing.
    let mut s = open(&w).await;
    let req = format!("GET /bytes/{BIG} HTTP/1.1\r\nHost: {HOST}\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("request");
    let mut first = [0u8; 64];
    let n = s.read(&mut first).await.expect("first bytes");
    assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"));
    assert!(
        wait_counter(&w, series, 1.0, Duration::from_secs(8)).await,
        "h1 reader cut"
    );
    // What is left to read is what the kernel buffers held: far from the whole answer.
    let rest = read_until_closed(&mut s, Duration::from_secs(10))
        .await
        .expect("connection closed");
    assert!(
        rest.len() < 32 * 1024 * 1024,
        "{} bytes buffered",
        rest.len()
    );

    // h2: the response head arrives, the body is never read (the window stays shut).
    let r = w
        .h2()
        .get(w.url(HOST, &format!("/bytes/{BIG}")))
        .send()
        .await
        .expect("head");
    assert_eq!(r.status(), 200);
    assert!(
        wait_counter(&w, series, 2.0, Duration::from_secs(8)).await,
        "h2 reader cut"
    );
    drop(r);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_are_closed_and_counted() {
    let o = origin::spawn("o").await;
    let w = start(&o, |c| c.limits.max_connections = 3).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(open(&w).await);
    }
    let open_now = "switchyard_downstream_connections";
    assert!(wait_counter(&w, open_now, 3.0, Duration::from_secs(5)).await);

    let mut extra = open(&w).await;
    let _ = extra
        .write_all(format!("GET / HTTP/1.1\r\nHost: {HOST}\r\n\r\n").as_bytes())
        .await;
    let answer = read_until_closed(&mut extra, Duration::from_secs(3)).await;
    assert_eq!(
        answer.as_deref(),
        Some(&b""[..]),
        "closed without an answer"
    );
    let refused = "switchyard_downstream_connections_refused_total";
    assert_eq!(counter(&w, refused).await, 1.0);
    assert_eq!(o.requests(), 0);

    // A place frees up: a normal user is served again.
    drop(held.pop());
    let gauge_dropped = {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if counter(&w, open_now).await <= 2.0 || Instant::now() > deadline {
                break counter(&w, open_now).await <= 2.0;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    assert!(gauge_dropped);
    let ok = client::raw(
        &w.pki.ca_pem,
        w.gw.https_addr,
        HOST,
        format!("GET / HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
}

/// Opens connections that trickle a request head until `until`, reconnecting when cut.
async fn trickler(ca: String, addr: SocketAddr, until: Instant) {
    while Instant::now() < until {
        let Ok(mut s) = client::tls_connect(&ca, addr, HOST).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let _ = s
            .write_all(b"GET / HTTP/1.1\r\nHost: o.example.test\r\n")
            .await;
        while Instant::now() < until {
            if s.write_all(b"X-Slow: 1\r\n").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if Instant::now() >= until {
            // Hold the last one (head still incomplete) until the gateway cuts it.
            let _ = read_until_closed(&mut s, Duration::from_secs(10)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn normal_users_are_served_while_200_clients_trickle() {
    let o = origin::spawn("o").await;
    let w = start(&o, |c| c.limits.header_timeout_secs = 1).await;
    let until = Instant::now() + Duration::from_secs(3);
    let slow: Vec<_> = (0..200)
        .map(|_| tokio::spawn(trickler(w.pki.ca_pem.clone(), w.gw.https_addr, until)))
        .collect();
    let c = w.h1();
    let (mut ok, mut failed) = (0, Vec::new());
    while Instant::now() < until {
        match c.get(w.url(HOST, "/")).send().await {
            Ok(r) if r.status() == 200 => ok += 1,
            Ok(r) => failed.push(r.status().to_string()),
            Err(e) => failed.push(e.to_string()),
        }
    }
    for t in slow {
        let _ = t.await;
    }
    assert!(failed.is_empty(), "{ok} served, failed: {failed:?}");
    // CI-sized: a debug build on a busy machine still serves a few a second.
    assert!(ok >= 3, "{ok} requests served");
    let series = "switchyard_slow_client_timeouts_total{phase=\"header\"}";
    let cut = counter(&w, series).await;
    assert!(cut >= 1.0, "{cut} trickling heads cut");
    assert!(
        eventually(|| o.requests() == ok, Duration::from_secs(1)).await,
        "only the normal user's requests reached the app"
    );
}
