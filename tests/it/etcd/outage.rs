//! etcd stopped for 10 s under load spread over three gateways: no request fails, writes
//! answer 503 meanwhile, and a change made with `etcdctl` after etcd returns reaches every
//! gateway.

use std::time::{Duration, Instant};

use serde_json::json;
use switchyard::catalog::GroupSpec;

use super::{connected_metric, create_group, gateway, groups_of, second, status, LIMIT, PREFIX};
use crate::support::etcd::Etcd;
use crate::support::load::{Load, LoadSpec};
use crate::support::world::{AdminTokens, Spec, World};
use crate::support::{eventually, origin};

const OUTAGE: Duration = Duration::from_secs(10);

/// Waits until every gateway's `switchyard_store_connected` is `want`.
async fn all_connected(gws: &[(World, AdminTokens)], want: f64, what: &str) {
    let deadline = Instant::now() + LIMIT;
    loop {
        let mut seen = Vec::new();
        for (w, _) in gws {
            seen.push(connected_metric(w).await);
        }
        if seen.iter().all(|s| *s == Some(want)) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {seen:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_stopped_for_ten_seconds_under_load_fails_no_request_and_freezes_writes() {
    let mut etcd = Etcd::start().await;
    let o = origin::spawn("o").await;
    let spec = Spec::default()
        .group("g")
        .connector("c1", "g")
        .connector("c2", "g")
        .connector("c3", "g")
        .app("o", "o.example.test", &o.url(), &["g"]);
    let a = gateway(spec.clone(), &etcd.endpoint());
    let b = second(spec.clone(), &etcd.endpoint(), &a.0);
    let c = second(spec, &etcd.endpoint(), &a.0);
    let mut gws = vec![a, b, c];
    for ((w, _), id) in gws.iter_mut().zip(["c1", "c2", "c3"]) {
        w.connect(id).await;
    }
    all_connected(&gws, 1.0, "connected at first").await;
    let loads: Vec<Load> = gws
        .iter()
        .map(|(w, _)| {
            let spec = LoadSpec {
                pause: Duration::from_millis(10),
                ..LoadSpec::get(w.url("o.example.test", "/"), 2)
            };
            Load::start(w.h1(), spec)
        })
        .collect();
    for l in &loads {
        assert!(l.wait_ok(20, LIMIT).await, "load under way");
    }

    etcd.kill();
    let down = Instant::now();
    all_connected(&gws, 0.0, "the gateways noticed the outage").await;
    let st = status(&gws[0].0, &gws[0].1).await;
    assert_eq!(st["store"]["kind"], "etcd");
    assert_eq!(st["store"]["connected"], false, "{st}");
    for (n, (w, t)) in gws.iter().enumerate() {
        let refused = create_group(w, t, json!({"name": format!("during-{n}")}), None).await;
        assert_eq!(refused.status, 503, "{:?}", refused.body);
        assert_eq!(refused.code(), "store_unavailable");
    }
    let served_before: Vec<u64> = loads.iter().map(Load::ok).collect();
    tokio::time::sleep(OUTAGE.saturating_sub(down.elapsed())).await;
    for (l, before) in loads.iter().zip(&served_before) {
        assert!(l.ok() > *before, "traffic went on during the outage");
    }

    etcd.restart().await;
    let late = serde_json::to_string(&GroupSpec::new("late", None)).expect("json");
    etcd.etcdctl(&[
        "put",
        &format!("{PREFIX}/catalog/operator/groups/late"),
        &late,
    ]);
    let has_late = |w: &World| groups_of(w).contains("late");
    assert!(
        eventually(|| gws.iter().all(|(w, _)| has_late(w)), LIMIT).await,
        "the change made with etcdctl reached every gateway"
    );
    all_connected(&gws, 1.0, "reconnected").await;
    let (b, tb) = &gws[1];
    let after = create_group(b, tb, json!({"name": "after"}), None).await;
    assert_eq!(after.status, 201, "{:?}", after.body);
    for (n, l) in loads.into_iter().enumerate() {
        let report = l.stop().await;
        eprintln!(
            "gateway {n} across a {OUTAGE:?} etcd outage: {}",
            report.summary()
        );
        assert_eq!(report.failed, 0, "gateway {n}: {}", report.summary());
    }
    assert!(!groups_of(&gws[0].0).iter().any(|g| g.starts_with("during")));
}
