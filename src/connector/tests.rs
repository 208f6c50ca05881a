//! The agent against a fake gateway (TLS listener, Hello/Welcome, h2 client): refusals are
//! counted, tunnels come up per slot, requests flow, kill and shutdown close the tunnels, a
//! closed tunnel is dialed again, and a gateway-requested reconnect replaces a tunnel
//! before draining it.

mod fixture;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use http::StatusCode;

use super::*;
use crate::tunnel::protocol::ERROR_HEADER;
use fixture::{fake_gateway, get, spawn_origin, Accepted, FakeGateway, Seen};

const LIMIT: Duration = Duration::from_secs(10);

/// A connector config for `gw` with the documented defaults, fast re-dials and a short drain.
fn config(gw: &FakeGateway, secret: &str) -> ConnectorConfig {
    let mut cfg = ConnectorConfig::new("east-1", vec!["127.0.0.1".into()]);
    cfg.secret = Some(secret.into());
    cfg.gateways = vec![gw.addr.to_string()];
    cfg.server_name = Some("localhost".into());
    cfg.ca_file = Some(gw.ca_file.clone());
    cfg.reconnect_initial_ms = 20;
    cfg.reconnect_max_ms = 100;
    cfg.drain_timeout_ms = 2_000;
    cfg
}

async fn next_tunnel(gw: &mut FakeGateway) -> Accepted {
    tokio::time::timeout(LIMIT, gw.tunnels.recv())
        .await
        .expect("tunnel in time")
        .expect("tunnel")
}

/// Waits for `want` among what the fake gateway saw; returns everything seen up to it.
async fn seen_until(gw: &mut FakeGateway, want: Seen) -> Vec<Seen> {
    let mut seen = Vec::new();
    while seen.last() != Some(&want) {
        let next = tokio::time::timeout(LIMIT, gw.seen.recv())
            .await
            .unwrap_or_else(|_| panic!("no {want:?} in time; saw {seen:?}"))
            .expect("fake gateway running");
        seen.push(next);
    }
    seen
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + LIMIT;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn refusals_are_counted_with_their_reason() {
    let gw = fake_gateway("refused").await;
    let connector = run_connector(config(&gw, "wrong")).await.expect("start");
    eventually("two refusals", || connector.auth_refusals() >= 2).await;
    assert_eq!(connector.last_refusal().as_deref(), Some("bad credentials"));
    assert_eq!(connector.tunnels_up(), 0);
    connector.kill();
}

#[tokio::test]
async fn one_slot_enrolls_and_every_slot_then_uses_the_stored_secret() {
    let mut gw = fake_gateway("enroll").await;
    let dir = std::env::temp_dir().join(format!(
        "switchyard-connector-enroll-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("east-1.secret");
    let cfg = ConnectorConfig {
        secret: None,
        secret_file: Some(file.clone()),
        enrollment_token: Some(fixture::ENROLL_TOKEN.into()),
        tunnels_per_gateway: 4,
        ..config(&gw, "unused")
    };
    let connector = run_connector(cfg).await.expect("start");
    assert!(!connector.enrolled());
    assert!(connector.wait_tunnels(4, LIMIT).await, "tunnels came up");
    assert!(connector.enrolled());
    let mut accepted = Vec::new();
    for _ in 0..4 {
        accepted.push(next_tunnel(&mut gw).await);
    }
    let enrolling: Vec<_> = accepted
        .iter()
        .filter(|t| t.hello.enroll.is_some())
        .collect();
    assert_eq!(enrolling.len(), 1, "one enrollment per process");
    assert_eq!(
        enrolling[0].hello.secret, "",
        "no secret sent with the token"
    );
    assert!(accepted
        .iter()
        .filter(|t| t.hello.enroll.is_none())
        .all(|t| t.hello.secret == "good"));
    assert_eq!(
        std::fs::read_to_string(&file).expect("secret file"),
        "good\n"
    );
    assert!(gw.tunnels.try_recv().is_err(), "no extra tunnel");
    connector.kill();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn two_tunnels_per_gateway_by_default_serve_requests_and_shutdown_closes_them() {
    let mut gw = fake_gateway("serve").await;
    let cfg = config(&gw, "good");
    assert_eq!(cfg.tunnels_per_gateway, 2, "the default");
    let connector = run_connector(cfg).await.expect("start");
    assert_eq!(connector.id(), "east-1");
    assert!(
        connector.wait_tunnels(2, LIMIT).await,
        "tunnels did not come up"
    );
    let mut accepted = Vec::new();
    for _ in 0..2 {
        let tunnel = next_tunnel(&mut gw).await;
        assert_eq!(tunnel.hello.id, "east-1");
        assert_eq!(
            tunnel.hello.proto,
            crate::tunnel::protocol::PROTOCOL_VERSION
        );
        accepted.push(tunnel);
    }
    assert_eq!(connector.tunnels_up(), 2);

    // A request through each tunnel: the destination is denied, so no origin is needed.
    for tunnel in &accepted {
        let denied = get(tunnel.send.clone(), "http://10.9.9.9:80/".into(), None);
        let (status, headers, _) = tokio::time::timeout(LIMIT, denied)
            .await
            .expect("in time")
            .expect("answer");
        assert_eq!(status, StatusCode::BAD_GATEWAY);
        assert_eq!(headers[ERROR_HEADER], "destination-not-allowed");
    }

    tokio::time::timeout(LIMIT, connector.shutdown())
        .await
        .expect("shutdown in time");
    for tunnel in accepted {
        tokio::time::timeout(LIMIT, tunnel.closed)
            .await
            .expect("tunnel closed after GOAWAY")
            .expect("join");
    }
    assert!(gw.tunnels.try_recv().is_err(), "re-dialed after shutdown");
}

#[tokio::test]
async fn closed_tunnels_are_dialed_again_and_kill_drops_them() {
    let mut gw = fake_gateway("redial").await;
    let cfg = ConnectorConfig {
        tunnels_per_gateway: 1,
        ..config(&gw, "good")
    };
    let connector = run_connector(cfg).await.expect("start");
    let first = next_tunnel(&mut gw).await;
    // The gateway drops the tunnel: the connector notices and dials again.
    first.closed.abort();
    drop(first.send);
    let second = next_tunnel(&mut gw).await;
    assert!(connector.wait_tunnels(1, LIMIT).await);

    connector.kill();
    tokio::time::timeout(LIMIT, second.closed)
        .await
        .expect("tunnel closed after kill")
        .expect("join");
    eventually("no tunnel up", || connector.tunnels_up() == 0).await;
}

#[tokio::test]
async fn reconnect_request_adds_a_replacement_and_keeps_the_old_tunnel_for_its_gateway() {
    let mut gw = fake_gateway("reconnect").await;
    let origin = spawn_origin().await;
    let connector = run_connector(config(&gw, "good")).await.expect("start");
    let old = next_tunnel(&mut gw).await;
    let other = next_tunnel(&mut gw).await;
    assert!(connector.wait_tunnels(2, LIMIT).await);

    // A slow request in flight on the tunnel about to be replaced.
    let slow = tokio::spawn(get(old.send.clone(), origin.url("/gated"), None));
    eventually("the origin holds the slow request", || {
        origin.paths() == ["/gated"]
    })
    .await;

    // An allowed destination: had the control request been forwarded, the origin would
    // have seen it.
    let control = get(old.send.clone(), origin.url("/control"), Some("reconnect"));
    let (status, _, body) = tokio::time::timeout(LIMIT, control)
        .await
        .expect("answer in time")
        .expect("answer");
    assert_eq!(status, StatusCode::OK);
    assert!(body.is_empty());

    // The replacement authenticates; the old tunnel stays open for the gateway process
    // that asked (it may still have requests to send before it exits).
    let new = next_tunnel(&mut gw).await;
    let (status, _, body) =
        tokio::time::timeout(LIMIT, get(old.send.clone(), origin.url("/late"), None))
            .await
            .expect("answer in time")
            .expect("the old tunnel still serves");
    assert_eq!((status, body.as_slice()), (StatusCode::OK, &b"ok"[..]));
    assert_eq!(connector.in_flight(), 1);
    assert!(!slow.is_finished(), "the slow request ended early");
    origin.release();
    let (status, _, body) = tokio::time::timeout(LIMIT, slow)
        .await
        .expect("slow request in time")
        .expect("join")
        .expect("slow request completed");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, b"gated done");
    while let Ok(seen) = gw.seen.try_recv() {
        assert_ne!(
            seen,
            Seen::GoAway(old.n),
            "the old tunnel was drained early"
        );
        assert_ne!(
            seen,
            Seen::GoAway(other.n),
            "the other slot's tunnel drained"
        );
    }

    // The old gateway process goes away: the replacement serves, and the old tunnel's
    // close does not make the slot dial again.
    old.closed.abort();
    let (status, _, body) = get(new.send.clone(), origin.url("/after"), None)
        .await
        .expect("answer on the replacement");
    assert_eq!((status, body.as_slice()), (StatusCode::OK, &b"ok"[..]));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(gw.tunnels.try_recv().is_err(), "dialed again");
    eventually("replacement and other slot up", || {
        connector.tunnels_up() == 2
    })
    .await;
    assert_eq!(
        origin.paths(),
        ["/gated", "/late", "/after"],
        "control request forwarded"
    );
    connector.kill();
}

#[tokio::test]
async fn without_a_replacement_the_old_tunnel_drains_after_the_grace_period() {
    let mut gw = fake_gateway("late").await;
    let cfg = ConnectorConfig {
        tunnels_per_gateway: 1,
        ..config(&gw, "good")
    };
    let connector = run_connector(cfg).await.expect("start");
    let old = next_tunnel(&mut gw).await;
    assert!(connector.wait_tunnels(1, LIMIT).await);

    gw.refuse.store(true, Ordering::SeqCst);
    let asked = Instant::now();
    let control = get(
        old.send.clone(),
        "http://10.9.9.9:80/".into(),
        Some("reconnect"),
    );
    let (status, _, _) = control.await.expect("answer");
    assert_eq!(status, StatusCode::OK);
    eventually("the replacement refused", || connector.auth_refusals() >= 1).await;
    // Meanwhile the old tunnel still takes requests.
    assert_eq!(connector.tunnels_up(), 1);
    let (status, headers, _) = get(old.send.clone(), "http://10.9.9.9:80/".into(), None)
        .await
        .expect("answer on the old tunnel");
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(headers[ERROR_HEADER], "destination-not-allowed");

    seen_until(&mut gw, Seen::GoAway(old.n)).await;
    assert!(
        asked.elapsed() >= dial::REPLACEMENT_GRACE,
        "GOAWAY after {:?}",
        asked.elapsed()
    );
    tokio::time::timeout(LIMIT, old.closed)
        .await
        .expect("idle old tunnel closed")
        .expect("join");
    eventually("no tunnel up", || connector.tunnels_up() == 0).await;

    // The slot goes on dialing (with backoff) until the gateway takes it again.
    gw.refuse.store(false, Ordering::SeqCst);
    next_tunnel(&mut gw).await;
    assert!(connector.wait_tunnels(1, LIMIT).await);
    connector.kill();
}

#[tokio::test]
async fn shutdown_sends_goaway_on_every_tunnel_and_waits_for_in_flight_requests() {
    let mut gw = fake_gateway("drain").await;
    let origin = spawn_origin().await;
    let cfg = ConnectorConfig {
        drain_timeout_ms: 10_000,
        ..config(&gw, "good")
    };
    let connector = run_connector(cfg).await.expect("start");
    let busy = next_tunnel(&mut gw).await;
    let idle = next_tunnel(&mut gw).await;
    assert!(connector.wait_tunnels(2, LIMIT).await);
    let slow = tokio::spawn(get(busy.send.clone(), origin.url("/gated"), None));
    eventually("the origin holds the slow request", || {
        origin.paths() == ["/gated"]
    })
    .await;

    let agent = Arc::clone(&connector.agent);
    let stopping = tokio::spawn(connector.shutdown());
    let mut seen = Vec::new();
    for n in [busy.n, idle.n] {
        if !seen.contains(&Seen::GoAway(n)) {
            seen.extend(seen_until(&mut gw, Seen::GoAway(n)).await);
        }
    }
    eventually("draining tunnels not counted", || {
        *agent.tunnels.borrow() == 0
    })
    .await;
    tokio::time::timeout(LIMIT, idle.closed)
        .await
        .expect("idle tunnel closed at once")
        .expect("join");
    assert!(
        !stopping.is_finished(),
        "shutdown did not wait for the request"
    );
    assert_eq!(agent.forwarder.in_flight(), 1);

    origin.release();
    let (status, _, body) = tokio::time::timeout(LIMIT, slow)
        .await
        .expect("slow request in time")
        .expect("join")
        .expect("slow request completed");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, b"gated done");
    tokio::time::timeout(LIMIT, stopping)
        .await
        .expect("shutdown in time")
        .expect("join");
    tokio::time::timeout(LIMIT, busy.closed)
        .await
        .expect("busy tunnel closed")
        .expect("join");
    assert!(gw.tunnels.try_recv().is_err(), "re-dialed during shutdown");
}

#[tokio::test]
async fn shutdown_gives_up_on_streams_after_the_drain_timeout() {
    let mut gw = fake_gateway("timeout").await;
    let origin = spawn_origin().await;
    let cfg = ConnectorConfig {
        tunnels_per_gateway: 1,
        drain_timeout_ms: 300,
        ..config(&gw, "good")
    };
    let connector = run_connector(cfg).await.expect("start");
    let tunnel = next_tunnel(&mut gw).await;
    let stuck = tokio::spawn(get(tunnel.send.clone(), origin.url("/gated"), None));
    eventually("the origin holds the request", || {
        origin.paths() == ["/gated"]
    })
    .await;

    let started = Instant::now();
    tokio::time::timeout(LIMIT, connector.shutdown())
        .await
        .expect("shutdown in time");
    assert!(started.elapsed() >= Duration::from_millis(300));
    let ended = tokio::time::timeout(LIMIT, stuck)
        .await
        .expect("request ended in time")
        .expect("join");
    assert!(ended.is_err(), "the stuck request was answered: {ended:?}");
    tokio::time::timeout(LIMIT, tunnel.closed)
        .await
        .expect("tunnel closed")
        .expect("join");
}

#[tokio::test]
async fn invalid_config_is_refused_with_every_error() {
    let mut cfg = ConnectorConfig::new("", vec!["10.0.0.0/33".into()]);
    cfg.gateways = vec!["nowhere".into()];
    let Err(ConnectorError::Config(errors)) = run_connector(cfg).await else {
        panic!("expected a config error");
    };
    assert_eq!(errors.len(), 4, "{errors:#?}");
}
