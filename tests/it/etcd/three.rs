//! Three gateways on one etcd: an app created on A serves on B and C (propagation timed
//! over 100 changes), writes spread over the three all land, and an `If-Match` race across
//! them has exactly one winner.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use switchyard::catalog::writer::CatalogWriter;

use super::{create_group, gateway, groups_of, second, served, LIMIT};
use crate::admin::{app_json, Api};
use crate::support::etcd::Etcd;
use crate::support::world::{AdminTokens, Spec, World};
use crate::support::{eventually, origin};

/// Gateways A, B and C on `etcd`, A's spec seeding it; B and C share A's connector secrets.
fn trio(spec: Spec, etcd: &Etcd) -> Vec<(World, AdminTokens)> {
    let a = gateway(spec.clone(), &etcd.endpoint());
    let b = second(spec.clone(), &etcd.endpoint(), &a.0);
    let c = second(spec, &etcd.endpoint(), &a.0);
    vec![a, b, c]
}

/// The value at quantile `q` of sorted `v`.
fn at(v: &[Duration], q: f64) -> Duration {
    v[((v.len() - 1) as f64 * q).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_gateways_an_app_created_on_a_serves_on_b_and_c_p99_under_a_second() {
    const CHANGES: usize = 100;
    let etcd = Etcd::start().await;
    let o = origin::spawn("o").await;
    let spec = Spec::default()
        .group("g")
        .connector("c1", "g")
        .connector("c2", "g")
        .connector("c3", "g");
    let mut gws = trio(spec, &etcd);
    for ((w, _), id) in gws.iter_mut().zip(["c1", "c2", "c3"]) {
        w.connect(id).await;
    }
    let [(a, ta), (b, _), (c, _)] = &gws[..] else {
        unreachable!()
    };
    let body = app_json("wiki", "wiki.example.test", &o.url(), &["g"]);
    let created = Api::of(a)
        .call(&ta.admin, Method::POST, "/apps", Some(body))
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert!(served(b, "wiki.example.test", LIMIT).await, "served on B");
    assert!(served(c, "wiki.example.test", LIMIT).await, "served on C");

    // Each change: A's 2xx, then C polled over HTTPS through its connector until 200.
    let mut times = Vec::with_capacity(CHANGES);
    for i in 0..CHANGES {
        let host = format!("p{i}.example.test");
        let body = app_json(&format!("p{i}"), &host, &o.url(), &["g"]);
        let r = Api::of(a)
            .call(&ta.admin, Method::POST, "/apps", Some(body))
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let t0 = Instant::now();
        assert!(served(c, &host, LIMIT).await, "p{i} served on C");
        times.push(t0.elapsed());
    }
    times.sort();
    let (p50, p99) = (at(&times, 0.5), at(&times, 0.99));
    eprintln!(
        "A's 2xx to C's first 200 over {CHANGES} changes: p50 {p50:?}, p99 {p99:?}, max {:?}",
        times[CHANGES - 1]
    );
    assert!(p99 < Duration::from_secs(1), "p99 {p99:?}: {times:?}");
    let apps = |w: &World| w.gw.live.snapshot().table.apps().count() == CHANGES + 1;
    assert!(eventually(|| apps(a) && apps(b) && apps(c), LIMIT).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_writes_over_three_gateways_all_land_and_an_if_match_race_has_one_winner() {
    const WRITES: usize = 50;
    let etcd = Etcd::start().await;
    let gws = trio(Spec::default(), &etcd);
    let mut writes = Vec::new();
    for i in 0..WRITES {
        let (w, t) = &gws[i % 3];
        let (api, token) = (Api::of(w), t.admin.clone());
        writes.push(tokio::spawn(async move {
            let body = json!({ "name": format!("w-{i}") });
            api.call(&token, Method::POST, "/groups", Some(body)).await
        }));
    }
    for w in writes {
        let r = w.await.expect("write task");
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    let all = |w: &World| groups_of(w).len() == WRITES;
    assert!(
        eventually(|| gws.iter().all(|(w, _)| all(w)), LIMIT).await,
        "no write lost: {:?}",
        gws.iter()
            .map(|(w, _)| groups_of(w).len())
            .collect::<Vec<_>>()
    );

    // B's ETag, then a write on A: B's If-Match with the old ETag is refused, even
    // though B may not have seen A's write yet; A's new ETag is good on B.
    let [(a, ta), (b, tb), _] = &gws[..] else {
        unreachable!()
    };
    let stale = b.gw.catalog.desired().version;
    let on_a = create_group(a, ta, json!({"name": "x"}), None).await;
    assert_eq!(on_a.status, 201);
    let late = create_group(b, tb, json!({"name": "y"}), Some(stale)).await;
    assert_eq!(late.status, 412, "{:?}", late.body);
    assert_eq!(late.code(), "precondition_failed");
    let fresh = on_a.etag.expect("etag");
    let r = create_group(b, tb, json!({"name": "z"}), Some(fresh)).await;
    assert_eq!(r.status, 201, "A's ETag holds on B: {:?}", r.body);
    assert!(!groups_of(b).contains("y"));

    // The race: one ETag sent to the three gateways at once, five rounds.
    for round in 0..5 {
        let tag = agreed_version(&gws, LIMIT).await;
        let racers = gws.iter().enumerate().map(|(n, (w, t))| {
            let body = json!({ "name": format!("race-{round}-{n}") });
            create_group(w, t, body, Some(tag))
        });
        let answers = futures_util::future::join_all(racers).await;
        let codes: Vec<u16> = answers.iter().map(|a| a.status).collect();
        assert_eq!(
            codes.iter().filter(|c| **c == 201).count(),
            1,
            "round {round}: {codes:?}"
        );
        assert_eq!(
            codes.iter().filter(|c| **c == 412).count(),
            2,
            "round {round}: {codes:?}"
        );
    }
    let races = |w: &World| {
        groups_of(w)
            .iter()
            .filter(|g| g.starts_with("race-"))
            .count()
    };
    assert!(eventually(|| gws.iter().all(|(w, _)| races(w) == 5), LIMIT).await);
}

/// The catalog version once the three gateways agree on it.
async fn agreed_version(gws: &[(World, AdminTokens)], limit: Duration) -> u64 {
    let version = |w: &World| w.gw.catalog.desired().version;
    let same = || gws.iter().all(|(w, _)| version(w) == version(&gws[0].0));
    assert!(eventually(same, limit).await, "the gateways agree");
    version(&gws[0].0)
}
