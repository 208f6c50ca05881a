//! The catalog in etcd, with a real etcd and real gateways: an app created on one gateway
//! serves on another, tenant-scoped names round-trip through the key layout, a burst of
//! changes is published in few table swaps, a compacted watch re-lists, a revocation on one
//! gateway closes the tunnels on another, connectors' presence is published under a lease,
//! and a gateway does not start without etcd. Submodules: three gateways (propagation,
//! concurrent writers), an etcd outage under load, gateway processes killed under load, and
//! a three-member etcd cluster losing a member.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use switchyard::catalog::writer::{CatalogWriter, UpdateCatalog};
use switchyard::catalog::{GroupSpec, TenantSpec};
use switchyard::config::gateway::{EtcdConfig, GatewayConfig};

use crate::admin::{app_json, Api};
use crate::support::etcd::{Etcd, Gate};
use crate::support::world::{admin_setup, app, metric, AdminTokens, Pki, Spec, World};
use crate::support::{eventually, origin, TempDir};

mod cluster;
mod outage;
mod processes;
mod three;

const PREFIX: &str = "/sy";
const LIMIT: Duration = Duration::from_secs(15);

/// Makes `cfg` a gateway on etcd at `endpoint` with admin tokens and two tenants.
fn on_etcd(cfg: &mut GatewayConfig, endpoint: &str) -> AdminTokens {
    on_etcd_members(cfg, vec![endpoint.into()])
}

/// [`on_etcd`] with every member of a cluster as endpoints.
fn on_etcd_members(cfg: &mut GatewayConfig, endpoints: Vec<String>) -> AdminTokens {
    let tokens = admin_setup(cfg);
    cfg.store.dir = None;
    cfg.store.etcd = Some(EtcdConfig {
        endpoints,
        prefix: PREFIX.into(),
        ..EtcdConfig::default()
    });
    cfg.tenants.push(TenantSpec {
        domains: vec!["beta.example.test".into()],
        ..TenantSpec::named("beta")
    });
    tokens
}

fn gateway(spec: Spec, endpoint: &str) -> (World, AdminTokens) {
    let mut tokens = None;
    let w = World::start_with(spec, |cfg| tokens = Some(on_etcd(cfg, endpoint)));
    (w, tokens.expect("tokens"))
}

/// A second gateway on the same etcd; its connectors use the secrets of `first`'s catalog
/// (the one etcd was seeded with).
fn second(spec: Spec, endpoint: &str, first: &World) -> (World, AdminTokens) {
    let (mut w, t) = gateway(spec, endpoint);
    w.secrets = first.secrets.clone();
    (w, t)
}

fn groups_of(w: &World) -> BTreeSet<String> {
    let d = w.gw.catalog.desired();
    d.catalog
        .groups
        .iter()
        .map(|g| switchyard::catalog::scope::qualified(g.tenant.as_deref(), &g.name))
        .collect()
}

async fn status(w: &World, t: &AdminTokens) -> Value {
    let a = Api::of(w)
        .call(&t.admin, Method::GET, "/status", None)
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    a.body
}

async fn connected_metric(w: &World) -> Option<f64> {
    metric(&w.metrics().await, "switchyard_store_connected")
}

/// GET `host/` through `w` until the origin answers 200, within `limit`.
async fn served(w: &World, host: &str, limit: Duration) -> bool {
    let client = w.h1();
    let url = w.url(host, "/");
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let r = client
            .get(&url)
            .timeout(Duration::from_secs(2))
            .send()
            .await;
        if r.is_ok_and(|r| r.status() == 200) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    false
}

async fn create_group(
    w: &World,
    t: &AdminTokens,
    body: Value,
    if_match: Option<u64>,
) -> crate::admin::Answer {
    let tag = if_match.map(|v| format!("\"{v}\""));
    Api::of(w)
        .call_if(
            &t.admin,
            Method::POST,
            "/groups",
            Some(body),
            tag.as_deref(),
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_created_on_one_gateway_serves_on_the_other_within_a_second() {
    let etcd = Etcd::start().await;
    let o = origin::spawn("o").await;
    let spec = Spec::default().group("g").connector("c1", "g");
    let (a, ta) = gateway(spec.clone(), &etcd.endpoint());
    let (mut b, _) = second(spec, &etcd.endpoint(), &a);
    b.connect("c1").await;
    let body = app_json("wiki", "wiki.example.test", &o.url(), &["g"]);
    let created = Api::of(&a)
        .call(&ta.admin, Method::POST, "/apps", Some(body))
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let t0 = Instant::now();
    assert!(served(&b, "wiki.example.test", LIMIT).await, "served on B");
    let took = t0.elapsed();
    eprintln!("A's 2xx to B's first 200 (HTTPS through a connector): {took:?}");
    assert!(
        took < Duration::from_secs(1),
        "A's 2xx to B's first 200: {took:?}"
    );
    assert!(o.requests() >= 1, "the origin answered");
    assert_eq!(
        b.gw.catalog.desired().version,
        created.etag.expect("etag"),
        "one version (the etcd revision) on both gateways"
    );
    let keys = etcd.etcdctl(&["get", "--prefix", "--keys-only", PREFIX]);
    for k in [
        "catalog/meta",
        "catalog/operator/apps/wiki",
        "catalog/operator/groups/g",
    ] {
        assert!(keys.contains(&format!("{PREFIX}/{k}")), "{k} in {keys}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_name_in_two_tenants_round_trips_through_the_key_layout() {
    let etcd = Etcd::start().await;
    let (a, ta) = gateway(Spec::default(), &etcd.endpoint());
    let r = create_group(&a, &ta, json!({"name": "dc-east"}), None).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    // The tenants' own groups of the same name, through the writer seam.
    a.gw.catalog
        .update_catalog(None, |c| {
            c.groups.push(GroupSpec::new("dc-east", Some("acme")));
            c.groups.push(GroupSpec::new("dc-east", Some("beta")));
            Ok::<_, ()>(())
        })
        .expect("tenant groups written");
    let keys = etcd.etcdctl(&["get", "--prefix", "--keys-only", PREFIX]);
    for k in [
        "catalog/operator/groups/dc-east",
        "catalog/tenant/acme/groups/dc-east",
        "catalog/tenant/beta/groups/dc-east",
        "catalog/tenants/acme",
        "catalog/tenants/beta",
    ] {
        assert!(keys.contains(&format!("{PREFIX}/{k}\n")), "{k} in {keys}");
    }
    let value = etcd.etcdctl(&[
        "get",
        "--print-value-only",
        &format!("{PREFIX}/catalog/tenant/beta/groups/dc-east"),
    ]);
    let group: GroupSpec = serde_json::from_str(value.trim()).expect("a group's catalog form");
    assert_eq!(group.tenant.as_deref(), Some("beta"));
    // A gateway started later reads the same three objects back from the keys.
    let (b, _) = gateway(Spec::default(), &etcd.endpoint());
    let want: BTreeSet<String> = ["dc-east", "acme/dc-east", "beta/dc-east"]
        .map(String::from)
        .into();
    assert_eq!(groups_of(&b), want);
    assert_eq!(groups_of(&a), want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_writes_is_published_in_few_table_swaps() {
    const N: usize = 1000;
    let etcd = Etcd::start().await;
    let (a, _) = gateway(Spec::default().group("g"), &etcd.endpoint());
    let swaps = |m: &str| metric(m, "switchyard_routing_table_swaps_total").unwrap_or(0.0);
    let before = swaps(&a.metrics().await);
    let client = etcd.client().await;
    let started = Instant::now();
    for chunk in (0..N).collect::<Vec<_>>().chunks(100) {
        let puts = chunk.iter().map(|i| {
            let mut kv = client.kv_client();
            let spec = app(
                &format!("b{i}"),
                &format!("b{i}.example.test"),
                None,
                "http://127.0.0.1:9",
                &["g"],
            );
            let key = format!("{PREFIX}/catalog/operator/apps/b{i}");
            let value = serde_json::to_vec(&spec).expect("json");
            async move { kv.put(key, value, None).await.expect("put") }
        });
        futures_util::future::join_all(puts).await;
    }
    let apps = || a.gw.live.snapshot().table.apps().count();
    assert!(
        eventually(|| apps() == N, LIMIT).await,
        "all {N} apps published: {}",
        apps()
    );
    let compiled = swaps(&a.metrics().await) - before;
    eprintln!(
        "{N} writes in {:?} published in {compiled} table swaps",
        started.elapsed()
    );
    assert!(
        compiled >= 1.0 && compiled <= (N / 20) as f64,
        "{compiled} swaps for {N} writes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_compacted_away_while_disconnected_relists_and_converges() {
    let etcd = Etcd::start().await;
    let gate = Gate::to(
        format!("127.0.0.1:{}", etcd.client_port)
            .parse()
            .expect("addr"),
    )
    .await;
    let spec = Spec::default().group("g").group("old");
    let (a, _) = gateway(spec, &gate.endpoint());
    assert!(groups_of(&a).contains("old"));
    gate.cut();
    let deadline = Instant::now() + LIMIT;
    while connected_metric(&a).await != Some(0.0) {
        assert!(Instant::now() < deadline, "the gateway lost etcd");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut c = etcd.client().await;
    for i in 0..5 {
        let g = GroupSpec::new(&format!("new-{i}"), None);
        let key = format!("{PREFIX}/catalog/operator/groups/new-{i}");
        c.put(key, serde_json::to_vec(&g).expect("json"), None)
            .await
            .expect("put");
    }
    c.delete(format!("{PREFIX}/catalog/operator/groups/old"), None)
        .await
        .expect("delete");
    let now = c
        .get("x", None)
        .await
        .expect("get")
        .header()
        .expect("header")
        .revision();
    c.compact(
        now,
        Some(etcd_client::CompactionOptions::new().with_physical()),
    )
    .await
    .expect("compact");
    gate.reopen();
    let converged = |w: &World| {
        let g = groups_of(w);
        !g.contains("old") && (0..5).all(|i| g.contains(&format!("new-{i}")))
    };
    assert!(
        eventually(|| converged(&a), LIMIT).await,
        "re-listed: {:?}",
        groups_of(&a)
    );
    assert_eq!(connected_metric(&a).await, Some(1.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_does_not_start_while_etcd_is_down() {
    let dir = TempDir::new("etcd-down");
    let pki = Pki::new(dir.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let mut cfg = World::config_for(&Spec::default(), &pki, &HashMap::new());
    on_etcd(&mut cfg, &format!("http://127.0.0.1:{port}"));
    let err = match switchyard::run_gateway(cfg, Default::default()) {
        Ok(_) => panic!("started without etcd"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("etcd is unreachable"), "{err}");
    assert!(err.contains("cannot start without etcd"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_revoked_on_one_gateway_loses_its_tunnels_on_the_other() {
    let etcd = Etcd::start().await;
    let spec = Spec::default().group("g").connector("c1", "g");
    let (a, ta) = gateway(spec.clone(), &etcd.endpoint());
    let (mut b, _) = second(spec, &etcd.endpoint(), &a);
    b.connect("c1").await;
    let revoked = Api::of(&a)
        .call(&ta.admin, Method::POST, "/connectors/c1/revoke", None)
        .await;
    assert!(revoked.status < 300, "{:?}", revoked.body);
    let t0 = Instant::now();
    let state = b.gw.live.clone();
    let gone = || {
        !state
            .registry
            .snapshot()
            .iter()
            .any(|(c, t, _, _)| &**c == "c1" && *t > 0)
    };
    assert!(eventually(gone, LIMIT).await, "B closed c1's tunnels");
    let took = t0.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "revocation reached B in {took:?}"
    );
}

/// The `store.gateways` of `w`'s `/status`: gateway name → its connectors' tunnels.
async fn gateways_seen(w: &World, t: &AdminTokens) -> Vec<(String, Value)> {
    let st = status(w, t).await;
    st["store"]["gateways"]
        .as_array()
        .map(|gs| {
            gs.iter()
                .map(|g| {
                    (
                        g["gateway"].as_str().unwrap_or("").to_owned(),
                        g["connectors"].clone(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_gateway_publishes_its_connectors_under_a_lease() {
    let etcd = Etcd::start().await;
    let spec = Spec::default().group("g").connector("c1", "g");
    let (a, ta) = gateway(spec.clone(), &etcd.endpoint());
    let (mut b, _) = second(spec, &etcd.endpoint(), &a);
    b.connect("c1").await;
    let b_name = format!(":{}", b.gw.https_addr.port());
    let deadline = Instant::now() + LIMIT;
    loop {
        let seen = gateways_seen(&a, &ta).await;
        let on_b = seen.iter().find(|(name, _)| name.ends_with(&b_name));
        if seen.len() == 2 && on_b.is_some_and(|(_, c)| c["c1"].as_u64().is_some_and(|n| n >= 1)) {
            break;
        }
        assert!(Instant::now() < deadline, "A sees B and c1 on it: {seen:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A's connector list joins them: c1 has no tunnel to A but one to B.
    let list = Api::of(&a)
        .call(&ta.admin, Method::GET, "/connectors", None)
        .await;
    let c1 = &list.body["items"][0];
    assert_eq!(c1["id"], "c1", "{:?}", list.body);
    assert_eq!(c1["tunnels"], 0, "no tunnel to A");
    let on: Vec<&str> = c1["gateways"]
        .as_array()
        .map(|g| g.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(
        on.len() == 1 && on[0].ends_with(&b_name),
        "{:?}",
        c1["gateways"]
    );
    // `ctl connectors list` on A shows it in a GATEWAYS column.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["ctl", "--url", &a.admin_url(""), "connectors", "list"])
        .env("SWITCHYARD_TOKEN", &ta.admin)
        .env_remove("SWITCHYARD_URL")
        .env("NO_COLOR", "1")
        .output()
        .expect("run switchyard ctl");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{table}");
    assert!(
        table
            .lines()
            .next()
            .is_some_and(|h| h.contains(" GATEWAYS ")),
        "{table}"
    );
    let row = table.lines().find(|l| l.starts_with("c1 ")).unwrap_or("");
    assert!(row.contains(on[0]), "{table}");
    // B stops: its presence expires with its lease.
    drop(b);
    let deadline = Instant::now() + LIMIT;
    loop {
        let seen = gateways_seen(&a, &ta).await;
        if seen.len() == 1 && !seen[0].0.ends_with(&b_name) {
            break;
        }
        assert!(Instant::now() < deadline, "B's presence expired: {seen:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seed_larger_than_one_etcd_transaction_is_refused_with_the_limit_named() {
    let etcd = Etcd::start().await;
    let dir = TempDir::new("etcd-big-seed");
    let pki = Pki::new(dir.path());
    let mut spec = Spec::default();
    for i in 0..200 {
        spec = spec.group(&format!("g{i}"));
    }
    let mut cfg = World::config_for(&spec, &pki, &HashMap::new());
    on_etcd(&mut cfg, &etcd.endpoint());
    let err = match switchyard::run_gateway(cfg, Default::default()) {
        Ok(_) => panic!("seeded 200 groups in one transaction"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("--max-txn-ops"), "{err}");
    let keys = etcd.etcdctl(&["get", "--prefix", "--keys-only", PREFIX]);
    assert!(keys.trim().is_empty(), "nothing half-seeded: {keys}");
}
