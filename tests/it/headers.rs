//! Header handling: hop-by-hop removal, X-Forwarded-*, Host translation, preserve_host,
//! control headers from clients stripped, Location rewrite.

use crate::support::origin;
use crate::support::world::{app, Spec, World};

async fn seen_headers(c: &reqwest::Client, url: String) -> serde_json::Value {
    let r = c
        .get(url)
        .header("x-forwarded-for", "203.0.113.9")
        .header("connection", "keep-alive, x-drop-me")
        .header("x-drop-me", "1")
        .header("switchyard-origin-insecure", "1")
        .header("switchyard-host", "evil.example")
        .header("x-custom", "kept")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.expect("json");
    v["headers"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_headers_are_translated() {
    let o = origin::spawn("o").await;
    let mut preserved = app("keep", "keep.example.test", None, &o.url(), &["g"]);
    preserved.preserve_host = true;
    let spec = Spec::default()
        .group("g")
        .connector("c1", "g")
        .app("o", "o.example.test", &o.url(), &["g"])
        .app_with(preserved);
    let mut w = World::start(spec);
    w.connect("c1").await;

    for c in [w.h1(), w.h2()] {
        let h = seen_headers(&c, w.url("o.example.test", "/headers")).await;
        assert_eq!(h["host"], o.addr.to_string(), "host translated: {h}");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(
            h["x-forwarded-host"],
            format!("o.example.test:{}", w.gw.https_addr.port())
        );
        assert_eq!(h["x-forwarded-for"], "203.0.113.9, 127.0.0.1", "{h}");
        assert_eq!(h["x-custom"], "kept");
        assert!(
            h.get("x-drop-me").is_none(),
            "Connection-listed header removed: {h}"
        );
        assert!(h.get("switchyard-origin-insecure").is_none(), "{h}");
        assert!(h.get("switchyard-host").is_none(), "{h}");
        assert!(h.get("keep-alive").is_none(), "{h}");

        let h = seen_headers(&c, w.url("keep.example.test", "/headers")).await;
        assert_eq!(
            h["host"],
            format!("keep.example.test:{}", w.gw.https_addr.port()),
            "preserve_host: {h}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn location_pointing_inside_is_rewritten_and_hop_by_hop_dropped() {
    let o = origin::spawn("o").await;
    let spec = Spec::default().group("g").connector("c1", "g").app(
        "o",
        "o.example.test",
        &o.url(),
        &["g"],
    );
    let mut w = World::start(spec);
    w.connect("c1").await;
    for c in [w.h1(), w.h2()] {
        let r = c
            .get(w.url("o.example.test", "/redirect"))
            .send()
            .await
            .expect("req");
        assert_eq!(r.status(), 302);
        let loc = r.headers()["location"].to_str().expect("text");
        assert_eq!(
            loc,
            format!(
                "https://o.example.test:{}/landing?x=1",
                w.gw.https_addr.port()
            )
        );
        assert_eq!(
            r.headers()["content-location"],
            "https://elsewhere.example/doc",
            "foreign URLs are left alone"
        );
        assert!(r.headers().get("keep-alive").is_none());
    }
}
