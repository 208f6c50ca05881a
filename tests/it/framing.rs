//! Request framing (RFC 9112 §6.1, §6.3, §7.1; RFC 9110 §8.6): hand-made HTTP/1.1 requests
//! over raw TLS, one case per class; each gets a 4xx/5xx of its own (never a 502 blaming the
//! app) and reaches the app only when its framing is unambiguous.

use crate::support::world::{Spec, World};
use crate::support::{client, origin};

const HOST: &str = "o.example.test";

fn world(o: &origin::Origin) -> Spec {
    Spec::default()
        .group("g")
        .connector("c1", "g")
        .app("o", HOST, &o.url(), &["g"])
}

fn request(head: &str, body: &str) -> Vec<u8> {
    format!("POST /echo HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n{head}\r\n{body}")
        .into_bytes()
}

fn status(answer: &str) -> u16 {
    answer
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_heads_are_refused_before_anything_is_forwarded() {
    let o = origin::spawn("o").await;
    let mut w = World::start(world(&o));
    w.connect("c1").await;
    let (ca, addr) = (w.pki.ca_pem.clone(), w.gw.https_addr);
    let chunked_body = "5\r\nhello\r\n0\r\n\r\n";
    let cases: &[(&str, &str, &str, u16)] = &[
        (
            "chunked twice in one field",
            "Transfer-Encoding: chunked, chunked\r\n",
            chunked_body,
            400,
        ),
        (
            "chunked on two fields",
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
            chunked_body,
            400,
        ),
        (
            "another coding before chunked",
            "Transfer-Encoding: gzip, chunked\r\n",
            chunked_body,
            501,
        ),
        (
            "chunked not the final coding",
            "Transfer-Encoding: chunked, gzip\r\n",
            chunked_body,
            400,
        ),
        (
            "Content-Length not a number",
            "Content-Length: abc\r\n",
            "",
            400,
        ),
        (
            "Content-Length signed",
            "Content-Length: +5\r\n",
            "hello",
            400,
        ),
        (
            "Content-Length list of different values",
            "Content-Length: 5, 6\r\n",
            "hello",
            400,
        ),
        (
            "Content-Length fields that differ",
            "Content-Length: 5\r\nContent-Length: 6\r\n",
            "hello",
            400,
        ),
        (
            "obs-fold",
            "X-Folded: a\r\n b\r\nContent-Length: 0\r\n",
            "",
            400,
        ),
        (
            "Transfer-Encoding on HTTP/1.0",
            "Transfer-Encoding: chunked\r\n",
            chunked_body,
            400,
        ),
    ];
    for (name, head, body, want) in cases {
        let mut bytes = request(head, body);
        if name.contains("HTTP/1.0") {
            bytes = String::from_utf8_lossy(&bytes)
                .replacen("HTTP/1.1", "HTTP/1.0", 1)
                .into_bytes();
        }
        let answer = client::raw(&ca, addr, HOST, &bytes).await;
        assert_eq!(status(&answer), *want, "{name}: {answer}");
        assert_eq!(o.requests(), 0, "{name}: nothing reached the app");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_chunked_bodies_are_400_not_forwarded_as_complete() {
    let o = origin::spawn("o").await;
    let mut w = World::start(world(&o));
    w.connect("c1").await;
    let (ca, addr) = (w.pki.ca_pem.clone(), w.gw.https_addr);
    let te = "Transfer-Encoding: chunked\r\n";
    let cases: &[(&str, &str)] = &[
        (
            "chunk size overflows",
            "fffffffffffffffff\r\nhello\r\n0\r\n\r\n",
        ),
        ("chunk size not hex", "zz\r\nhello\r\n0\r\n\r\n"),
        ("bare LF after the size", "5\nhello\r\n0\r\n\r\n"),
        ("bare LF after the data", "5\r\nhello\n0\r\n\r\n"),
        ("data longer than the size", "3\r\nhello\r\n0\r\n\r\n"),
        (
            "unterminated quoted extension",
            "5;a=\"unterminated\r\nhello\r\n0\r\n\r\n",
        ),
        ("extension without a name", "5;\r\nhello\r\n0\r\n\r\n"),
        ("bare LF ending an extension", "5;a\nhello\r\n0\r\n\r\n"),
        (
            "space inside an extension value",
            "5;a=b c\r\nhello\r\n0\r\n\r\n",
        ),
    ];
    for (name, body) in cases {
        let answer = client::raw(&ca, addr, HOST, &request(te, body)).await;
        assert_eq!(status(&answer), 400, "{name}: {answer}");
        assert!(!answer.contains("hello"), "{name}: the app echoed nothing");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unambiguous_variants_reach_the_app_with_one_framing() {
    let o = origin::spawn("o").await;
    let mut w = World::start(world(&o));
    w.connect("c1").await;
    let (ca, addr) = (w.pki.ca_pem.clone(), w.gw.https_addr);

    // RFC 9110 §8.6: a list of identical lengths is one length (forwarded as one).
    for head in [
        "Content-Length: 5, 5\r\n",
        "Content-Length: 5\r\nContent-Length: 5\r\n",
    ] {
        let answer = client::raw(&ca, addr, HOST, &request(head, "hello")).await;
        assert_eq!(status(&answer), 200, "{head}: {answer}");
        assert!(answer.contains("hello"), "{head}: {answer}");
    }

    // RFC 9112 §6.3: chunked wins over Content-Length, which is dropped; the connection is
    // closed after the answer.
    let head = "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n";
    let answer = client::raw(&ca, addr, HOST, &request(head, "5\r\nhello\r\n0\r\n\r\n")).await;
    assert_eq!(status(&answer), 200, "{answer}");
    assert!(answer.contains("hello"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );

    // Valid chunk extensions are fine.
    let head = "Transfer-Encoding: chunked\r\n";
    let body = "5;name=\"quoted;value\";flag\r\nhello\r\n0\r\n\r\n";
    let answer = client::raw(&ca, addr, HOST, &request(head, body)).await;
    assert_eq!(status(&answer), 200, "{answer}");
    assert_eq!(o.requests(), 4);
}
