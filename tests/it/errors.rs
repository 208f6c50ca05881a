//! Failures become clear HTTP answers: 502, 503, 504, 400, 414, 431.

use std::time::Duration;

use crate::support::world::{app, metric, Spec, World};
use crate::support::{client, origin};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_refusing_is_502_and_no_connector_is_503_naming_the_app() {
    let refusing = origin::refusing_addr();
    let spec = Spec::default()
        .group("g")
        .group("empty")
        .connector("c1", "g")
        .app(
            "down",
            "down.example.test",
            &format!("http://{refusing}"),
            &["g"],
        )
        .app(
            "orphan",
            "orphan.example.test",
            "http://127.0.0.1:9",
            &["empty"],
        );
    let mut w = World::start(spec);
    w.connect("c1").await;
    let c = w.h1();

    let r = c
        .get(w.url("down.example.test", "/"))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 502);
    let body = r.text().await.expect("body");
    assert!(body.contains("unreachable"), "{body}");
    assert!(!body.contains("127.0.0.1"), "no internals leak: {body}");

    let r = c
        .get(w.url("orphan.example.test", "/"))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 503);
    let body = r.text().await.expect("body");
    assert!(body.contains("\"orphan\""), "{body}");

    let no_live = "switchyard_no_live_connector_total{app=\"orphan\"}";
    let m = w.metrics_when(|m| metric(m, no_live) >= Some(1.0)).await;
    assert_eq!(metric(&m, no_live), Some(1.0), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_origin_is_504_after_the_app_timeout() {
    let o = origin::spawn("slow").await;
    let mut a = app("slow", "slow.example.test", None, &o.url(), &["g"]);
    a.backend_timeout_secs = Some(0.3);
    let spec = Spec::default().group("g").connector("c1", "g").app_with(a);
    let mut w = World::start(spec);
    w.connect("c1").await;
    let c = w.h1();
    let started = std::time::Instant::now();
    let r = c
        .get(w.url("slow.example.test", "/sleep/3000"))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 504);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // A fast request on the same app still works.
    let r = c
        .get(w.url("slow.example.test", "/sleep/0"))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_requests_are_refused_before_forwarding() {
    let o = origin::spawn("o").await;
    let spec = Spec::default().group("g").connector("c1", "g").app(
        "o",
        "o.example.test",
        &o.url(),
        &["g"],
    );
    let mut w = World::start(spec);
    w.connect("c1").await;
    let ca = w.pki.ca_pem.clone();
    let addr = w.gw.https_addr;
    let sni = "o.example.test";

    let bad = client::raw(
        &ca,
        addr,
        sni,
        b"GET / HTTP/1.1\r\nHost: o.example.test\r\nBad Header\r\n\r\n",
    )
    .await;
    assert!(bad.starts_with("HTTP/1.1 400"), "{bad}");

    let no_host = client::raw(&ca, addr, sni, b"GET / HTTP/1.1\r\n\r\n").await;
    assert!(no_host.starts_with("HTTP/1.1 400"), "{no_host}");

    let long = format!(
        "GET /{} HTTP/1.1\r\nHost: o.example.test\r\n\r\n",
        "a".repeat(9000)
    );
    let r = client::raw(&ca, addr, sni, long.as_bytes()).await;
    assert!(r.starts_with("HTTP/1.1 414"), "{r}");

    let mut many = String::from("GET / HTTP/1.1\r\nHost: o.example.test\r\n");
    for i in 0..150 {
        many.push_str(&format!("x-h{i}: v\r\n"));
    }
    many.push_str("\r\n");
    let r = client::raw(&ca, addr, sni, many.as_bytes()).await;
    assert!(r.starts_with("HTTP/1.1 431"), "{r}");

    let big = format!(
        "GET / HTTP/1.1\r\nHost: o.example.test\r\nx-big: {}\r\n\r\n",
        "b".repeat(70 * 1024)
    );
    let r = client::raw(&ca, addr, sni, big.as_bytes()).await;
    assert!(r.starts_with("HTTP/1.1 431"), "{r}");

    assert_eq!(o.requests(), 0, "nothing reached the origin");
    let ok = client::raw(
        &ca,
        addr,
        sni,
        b"GET / HTTP/1.1\r\nHost: o.example.test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert_eq!(o.requests(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connector_dying_mid_response_cuts_the_response_and_gateway_survives() {
    let o = origin::spawn("o").await;
    let spec = Spec::default()
        .group("g")
        .connector("c1", "g")
        .connector("c2", "g")
        .app("o", "o.example.test", &o.url(), &["g"]);
    let mut w = World::start(spec);
    w.connect("c1").await;
    let c = w.h1();
    // 64 MiB: far more than the windows hold, so the response is still streaming when the
    // connector dies.
    let resp = c
        .get(w.url("o.example.test", "/bytes/67108864"))
        .send()
        .await
        .expect("headers");
    assert_eq!(resp.status(), 200);
    w.kill("c1").await;
    let body = resp.bytes().await;
    assert!(
        body.is_err() || body.map(|b| b.len()).unwrap_or(0) < 67_108_864,
        "response cut"
    );
    w.connect("c2").await;
    let r = c
        .get(w.url("o.example.test", "/"))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 200, "gateway still serves");
}
