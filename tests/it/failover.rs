//! Retries: a safe request whose connector dies before the response started is retried on
//! another connector; a POST that reached the origin is not replayed.

use std::time::Duration;

use crate::support::world::{metric, Spec, World};
use crate::support::{eventually, origin};

fn spec(o: &origin::Origin) -> Spec {
    Spec::default()
        .group("g")
        .connector("c1", "g")
        .connector("c2", "g")
        .app("o", "o.example.test", &o.url(), &["g"])
}

/// Starts `req`, waits until one connector holds it, kills that connector; returns the
/// response and the survivor's id.
async fn kill_the_busy_one(
    w: &mut World,
    req: reqwest::RequestBuilder,
) -> (reqwest::Result<reqwest::Response>, String) {
    let pending = tokio::spawn(req.send());
    let ids = ["c1", "c2"];
    let mut busy = None;
    assert!(
        eventually(
            || {
                busy = ids
                    .iter()
                    .find(|id| w.connectors[**id].in_flight() > 0)
                    .map(|s| s.to_string());
                busy.is_some()
            },
            Duration::from_secs(5)
        )
        .await
    );
    let busy = busy.expect("busy connector");
    let survivor = ids
        .iter()
        .find(|id| **id != busy)
        .expect("other")
        .to_string();
    w.kill(&busy).await;
    (pending.await.expect("join"), survivor)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_is_retried_on_another_connector_when_its_tunnel_dies() {
    let o = origin::spawn("o").await;
    let mut w = World::start(spec(&o));
    w.connect("c1").await;
    w.connect("c2").await;
    let req = w.h1().get(w.url("o.example.test", "/sleep/1500"));
    let (resp, survivor) = kill_the_busy_one(&mut w, req).await;
    let resp = resp.expect("answered");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.expect("body"), "slept");
    assert_eq!(
        w.served().get(&survivor).copied(),
        Some(1),
        "served by the survivor"
    );
    let retries = "switchyard_retries_total{app=\"o\"}";
    let m = w.metrics_when(|m| metric(m, retries) >= Some(1.0)).await;
    assert_eq!(metric(&m, retries), Some(1.0), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_with_a_body_is_not_replayed_after_it_was_sent() {
    let o = origin::spawn("o").await;
    let mut w = World::start(spec(&o));
    w.connect("c1").await;
    w.connect("c2").await;
    let req = w
        .h1()
        .post(w.url("o.example.test", "/sleep/1500"))
        .body("payload");
    let (resp, _) = kill_the_busy_one(&mut w, req).await;
    let resp = resp.expect("answered");
    assert_eq!(resp.status(), 502);
    tokio::time::sleep(Duration::from_millis(1800)).await;
    assert_eq!(o.requests(), 1, "the origin saw the POST once");
}
