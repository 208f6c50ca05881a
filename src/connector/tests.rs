//! The agent against a fake gateway (TLS listener, Hello/Welcome, h2 client): refusals are
//! counted, tunnels come up per slot, requests flow, kill and shutdown close the tunnels,
//! and a closed tunnel is dialed again.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

use super::*;
use crate::tunnel::protocol::{read_frame, write_frame, Hello, Welcome, ERROR_HEADER};

const LIMIT: Duration = Duration::from_secs(10);

/// What the fake gateway hands the test for each accepted tunnel.
struct Accepted {
    hello: Hello,
    send: h2::client::SendRequest<Bytes>,
    /// Resolves when the tunnel's h2 connection ends (GOAWAY + close, or a drop).
    closed: tokio::task::JoinHandle<()>,
}

struct FakeGateway {
    addr: std::net::SocketAddr,
    ca_file: PathBuf,
    tunnels: mpsc::UnboundedReceiver<Accepted>,
}

/// Accepts tunnels; the secret "good" is welcomed, anything else refused.
async fn fake_gateway(tag: &str) -> FakeGateway {
    let ca = crate::tls::gen::Ca::new("test CA").expect("CA");
    let leaf = ca.issue(&["localhost"]).expect("leaf");
    let cert =
        crate::tls::cert_pair_from_pem(leaf.cert_pem.as_bytes(), leaf.key_pem.as_bytes(), "gw")
            .expect("cert pair");
    let acceptor = TlsAcceptor::from(Arc::new(crate::tls::server_config(&cert, &[])));
    let ca_file = std::env::temp_dir().join(format!(
        "switchyard-connector-{tag}-{}-ca.pem",
        std::process::id()
    ));
    std::fs::write(&ca_file, ca.cert_pem()).expect("write CA");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, tunnels) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(hello) = read_frame::<_, Hello>(&mut tls).await else {
                    return;
                };
                let ok = hello.secret == "good";
                let welcome = Welcome {
                    ok,
                    reason: (!ok).then(|| "bad credentials".to_owned()),
                    ping_interval_ms: 200,
                };
                if write_frame(&mut tls, &welcome).await.is_err() || !ok {
                    return;
                }
                let Ok((send, conn)) = h2::client::handshake(tls).await else {
                    return;
                };
                let closed = tokio::spawn(async move {
                    let _ = conn.await;
                });
                let _ = tx.send(Accepted {
                    hello,
                    send,
                    closed,
                });
            });
        }
    });
    FakeGateway {
        addr,
        ca_file,
        tunnels,
    }
}

fn config(gw: &FakeGateway, secret: &str, tunnels: usize) -> ConnectorConfig {
    let mut cfg = ConnectorConfig::new("east-1", vec!["127.0.0.1".into()]);
    cfg.secret = Some(secret.into());
    cfg.gateways = vec![gw.addr.to_string()];
    cfg.server_name = Some("localhost".into());
    cfg.ca_file = Some(gw.ca_file.clone());
    cfg.tunnels_per_gateway = tunnels;
    cfg.reconnect_initial_ms = 20;
    cfg.reconnect_max_ms = 100;
    cfg.drain_timeout_ms = 2_000;
    cfg
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
    let connector = run_connector(config(&gw, "wrong", 1)).await.expect("start");
    eventually("two refusals", || connector.auth_refusals() >= 2).await;
    assert_eq!(connector.last_refusal().as_deref(), Some("bad credentials"));
    assert_eq!(connector.tunnels_up(), 0);
    connector.kill();
    let _ = std::fs::remove_file(&gw.ca_file);
}

#[tokio::test]
async fn tunnels_serve_requests_and_shutdown_sends_goaway() {
    let mut gw = fake_gateway("serve").await;
    let connector = run_connector(config(&gw, "good", 2)).await.expect("start");
    assert_eq!(connector.id(), "east-1");
    assert!(
        connector.wait_tunnels(2, LIMIT).await,
        "tunnels did not come up"
    );
    let mut accepted = Vec::new();
    for _ in 0..2 {
        let tunnel = tokio::time::timeout(LIMIT, gw.tunnels.recv())
            .await
            .expect("tunnel in time")
            .expect("tunnel");
        assert_eq!(tunnel.hello.id, "east-1");
        assert_eq!(
            tunnel.hello.proto,
            crate::tunnel::protocol::PROTOCOL_VERSION
        );
        accepted.push(tunnel);
    }

    // A request through the tunnel: the destination is denied, so no origin is needed.
    let req = Request::get("http://10.9.9.9:80/")
        .body(())
        .expect("request");
    let mut send = accepted[0].send.clone().ready().await.expect("ready");
    let (resp, _) = send.send_request(req, true).expect("send");
    let resp = tokio::time::timeout(LIMIT, resp)
        .await
        .expect("in time")
        .expect("head");
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(resp.headers()[ERROR_HEADER], "destination-not-allowed");

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
    let _ = std::fs::remove_file(&gw.ca_file);
}

#[tokio::test]
async fn closed_tunnels_are_dialed_again_and_kill_drops_them() {
    let mut gw = fake_gateway("redial").await;
    let connector = run_connector(config(&gw, "good", 1)).await.expect("start");
    let first = tokio::time::timeout(LIMIT, gw.tunnels.recv())
        .await
        .expect("tunnel in time")
        .expect("tunnel");
    // The gateway drops the tunnel: the connector notices and dials again.
    first.closed.abort();
    drop(first.send);
    let second = tokio::time::timeout(LIMIT, gw.tunnels.recv())
        .await
        .expect("re-dial in time")
        .expect("tunnel");
    assert!(connector.wait_tunnels(1, LIMIT).await);

    connector.kill();
    tokio::time::timeout(LIMIT, second.closed)
        .await
        .expect("tunnel closed after kill")
        .expect("join");
    eventually("no tunnel up", || connector.tunnels_up() == 0).await;
    let _ = std::fs::remove_file(&gw.ca_file);
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
