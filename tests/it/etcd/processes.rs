//! Three `switchyard gateway` processes on one etcd, one connector dialled to all three,
//! load spread over them: SIGKILL of gateway A fails none of B's and C's requests, and of
//! A's only those in flight.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{on_etcd, LIMIT};
use crate::process::{field, Proc};
use crate::support::etcd::Etcd;
use crate::support::load::{Load, LoadSpec};
use crate::support::world::{connector_config, write_config, Pki, Spec, World};
use crate::support::{client, origin, TempDir};

/// A gateway process and the addresses it reported when ready.
struct GatewayProc {
    proc: Proc,
    https: SocketAddr,
    tunnel: SocketAddr,
}

/// Starts `switchyard gateway` on etcd with `spec` (the first one seeds etcd with it).
fn spawn_gateway(
    dir: &TempDir,
    name: &str,
    spec: &Spec,
    pki: &Pki,
    secrets: &HashMap<String, String>,
    etcd: &Etcd,
) -> GatewayProc {
    let mut cfg = World::config_for(spec, pki, secrets);
    on_etcd(&mut cfg, &etcd.endpoint());
    cfg.runtime.shutdown_grace_secs = 1;
    let path = dir.path().join(format!("{name}.toml"));
    write_config(&path, &cfg);
    let proc = Proc::spawn_with_log(
        &["gateway", "--config", path.to_str().expect("utf8")],
        "info",
    );
    let ready = proc.wait_for("gateway ready");
    GatewayProc {
        proc,
        https: field(&ready, "https").parse().expect("https addr"),
        tunnel: field(&ready, "tunnel").parse().expect("tunnel addr"),
    }
}

/// Polls `url` until 200, within `limit`.
async fn answers(client: &reqwest::Client, url: &str, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let r = client.get(url).timeout(Duration::from_secs(2)).send().await;
        if r.is_ok_and(|r| r.status() == 200) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_process_killed_under_load_fails_only_its_own_in_flight_requests() {
    const TASKS: usize = 2;
    let etcd = Etcd::start().await;
    let o = origin::spawn("o").await;
    let dir = TempDir::new("etcd-procs");
    let pki = Pki::new(dir.path());
    let secret = switchyard::catalog::secret::generate();
    let secrets: HashMap<String, String> = [("c1".to_string(), secret.clone())].into();
    let spec = Spec::default().group("g").connector("c1", "g").app(
        "o",
        "o.example.test",
        &o.url(),
        &["g"],
    );
    let mut gws: Vec<GatewayProc> = ["a", "b", "c"]
        .iter()
        .map(|n| spawn_gateway(&dir, n, &spec, &pki, &secrets, &etcd))
        .collect();

    let mut cfg = connector_config("c1", &secret, gws[0].tunnel, &pki.ca_path);
    cfg.gateways = gws
        .iter()
        .map(|g| format!("127.0.0.1:{}", g.tunnel.port()))
        .collect();
    let per_gateway = cfg.tunnels_per_gateway;
    let conn = switchyard::run_connector(cfg)
        .await
        .expect("connector starts");
    assert!(
        conn.wait_tunnels(3 * per_gateway, LIMIT).await,
        "tunnels to the three gateways"
    );
    let http = client::h1(&pki.ca_pem);
    let urls: Vec<String> = gws
        .iter()
        .map(|g| format!("https://o.example.test:{}/", g.https.port()))
        .collect();
    for u in &urls {
        assert!(answers(&http, u, LIMIT).await, "{u} serves");
    }
    let mut loads: Vec<Load> = urls
        .iter()
        .map(|u| {
            let spec = LoadSpec {
                pause: Duration::from_millis(10),
                ..LoadSpec::get(u.clone(), TASKS)
            };
            Load::start(client::h1(&pki.ca_pem), spec)
        })
        .collect();
    for l in &loads {
        assert!(l.wait_ok(30, LIMIT).await, "load under way");
    }

    gws[0].proc.signal("-KILL");
    let on_a = loads.remove(0).stop().await;
    let a_dead = http.get(&urls[0]).timeout(Duration::from_secs(2)).send();
    assert!(a_dead.await.is_err(), "A is gone");
    // B and C keep serving while the connector loses its tunnels to A and redials it.
    let lost_a = || conn.tunnels_up() == 2 * per_gateway;
    assert!(
        crate::support::eventually(lost_a, LIMIT).await,
        "the connector saw A go"
    );
    for l in &loads {
        assert!(l.wait_ok(100, LIMIT).await, "B and C go on");
    }
    let gone = gws.remove(0);
    drop(gone);
    for (n, l) in loads.into_iter().enumerate() {
        let report = l.stop().await;
        eprintln!(
            "gateway {} with A killed: {}",
            ["B", "C"][n],
            report.summary()
        );
        assert_eq!(report.failed, 0, "{}", report.summary());
    }
    eprintln!("gateway A, SIGKILLed: {}", on_a.summary());
    // A task has at most one request in flight when A dies, and may start one more before
    // it sees the stop: both fail, nothing else on A does.
    assert!(
        on_a.failed <= 2 * TASKS as u64,
        "only A's in-flight requests fail: {}",
        on_a.summary()
    );
    conn.kill();
}
