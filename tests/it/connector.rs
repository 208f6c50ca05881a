//! Connector authentication and the allow-list.

use std::time::Duration;

use crate::support::world::{connector_config, metric, Spec, World};
use crate::support::{eventually, origin};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secret_and_unknown_id_are_refused_with_a_reason_and_counted() {
    let spec = Spec::default().group("g").connector("c1", "g");
    let w = World::start(spec);
    let wrong = connector_config("c1", "not-the-secret", w.gw.tunnel_addr, &w.pki.ca_path);
    let h = switchyard::run_connector(wrong).await.expect("starts");
    assert!(
        eventually(|| h.auth_refusals() >= 2, Duration::from_secs(10)).await,
        "retries with backoff"
    );
    assert_eq!(h.tunnels_up(), 0);
    let reason = h.last_refusal().expect("reason");
    assert!(reason.contains("wrong secret"), "{reason}");
    h.kill();

    let ghost = connector_config("ghost", "x", w.gw.tunnel_addr, &w.pki.ca_path);
    let g = switchyard::run_connector(ghost).await.expect("starts");
    assert!(eventually(|| g.auth_refusals() >= 1, Duration::from_secs(10)).await);
    assert!(g
        .last_refusal()
        .expect("reason")
        .contains("unknown connector"));
    g.kill();

    let m = w.metrics().await;
    assert!(
        metric(
            &m,
            "switchyard_tunnel_auth_failures_total{reason=\"bad_secret\"}"
        )
        .unwrap_or(0.0)
            >= 2.0,
        "{m}"
    );
    assert!(
        metric(
            &m,
            "switchyard_tunnel_auth_failures_total{reason=\"unknown_connector\"}"
        )
        .unwrap_or(0.0)
            >= 1.0,
        "{m}"
    );
    assert!(
        w.gw.live.registry.snapshot().is_empty(),
        "no tunnel registered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destinations_outside_the_allow_list_are_never_contacted() {
    let allowed = origin::spawn("allowed").await;
    let forbidden = origin::spawn("forbidden").await;
    let spec = Spec::default()
        .group("g")
        .connector("c1", "g")
        .app("ok", "ok.example.test", &allowed.url(), &["g"])
        // Reachable through "localhost", which the connector's allow-list (127.0.0.1 only,
        // as an address) does not admit by name.
        .app(
            "no",
            "no.example.test",
            &format!("http://localhost:{}", forbidden.addr.port()),
            &["g"],
        );
    let mut w = World::start(spec);
    let mut cfg = connector_config("c1", &w.secrets["c1"], w.gw.tunnel_addr, &w.pki.ca_path);
    cfg.allow = vec![format!("127.0.0.1:{}", allowed.addr.port())];
    let h = switchyard::run_connector(cfg).await.expect("starts");
    assert!(h.wait_tunnels(1, Duration::from_secs(10)).await);
    let st = w.gw.live.clone();
    assert!(
        eventually(
            || !st.registry.snapshot().is_empty(),
            Duration::from_secs(5)
        )
        .await
    );
    w.connectors.insert("c1".into(), h);

    let c = w.h1();
    let r = c
        .get(w.url("ok.example.test", "/"))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 200);
    let r = c
        .get(w.url("no.example.test", "/"))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 502);
    let body = r.text().await.expect("body");
    assert!(body.contains("may not reach"), "{body}");
    assert_eq!(
        forbidden.connections(),
        0,
        "the forbidden origin was never contacted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connector_serves_several_gateways() {
    let o = origin::spawn("o").await;
    let spec = Spec::default().group("g").connector("c1", "g").app(
        "o",
        "o.example.test",
        &o.url(),
        &["g"],
    );
    let mut w = World::start(spec);
    let second =
        switchyard::run_gateway(w.cfg.clone(), Default::default()).expect("second gateway");
    let mut cfg = connector_config("c1", &w.secrets["c1"], w.gw.tunnel_addr, &w.pki.ca_path);
    cfg.gateways
        .push(format!("127.0.0.1:{}", second.tunnel_addr.port()));
    let h = switchyard::run_connector(cfg).await.expect("starts");
    assert!(
        h.wait_tunnels(2, Duration::from_secs(10)).await,
        "a tunnel to each gateway"
    );
    w.connectors.insert("c1".into(), h);
    let (s1, s2) = (w.gw.live.clone(), second.live.clone());
    assert!(
        eventually(
            || !s1.registry.snapshot().is_empty() && !s2.registry.snapshot().is_empty(),
            Duration::from_secs(5)
        )
        .await
    );
    let c = w.h1();
    for port in [w.gw.https_addr.port(), second.https_addr.port()] {
        let r = c
            .get(format!("https://o.example.test:{port}/"))
            .send()
            .await
            .expect("req");
        assert_eq!(r.status(), 200);
    }
    tokio::task::spawn_blocking(move || second.shutdown())
        .await
        .expect("stop");
}
