//! A three-member etcd cluster, gateways given every member: the leader is killed, and
//! writes through the gateways and their watches go on with the two members left.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use switchyard::catalog::GroupSpec;

use super::{connected_metric, groups_of, on_etcd_members, served, LIMIT, PREFIX};
use crate::admin::{app_json, Answer, Api};
use crate::support::etcd::Etcd;
use crate::support::world::{AdminTokens, Spec, World};
use crate::support::{eventually, origin};

fn gateway_on(spec: Spec, endpoints: &[String]) -> (World, AdminTokens) {
    let mut tokens = None;
    let w = World::start_with(spec, |cfg| {
        tokens = Some(on_etcd_members(cfg, endpoints.to_vec()))
    });
    (w, tokens.expect("tokens"))
}

/// POSTs `body` to `path` on `w` until it is kept: 201, or 409 when an earlier attempt
/// that timed out was committed after all. Attempts during the election answer 503. The
/// answer and the statuses of the attempts before it.
async fn write_until_kept(
    w: &World,
    t: &AdminTokens,
    path: &str,
    body: Value,
) -> (Answer, Vec<u16>) {
    let deadline = Instant::now() + LIMIT;
    let mut refused = Vec::new();
    loop {
        let r = Api::of(w)
            .call(&t.admin, Method::POST, path, Some(body.clone()))
            .await;
        if r.status == 201 || r.status == 409 {
            return (r, refused);
        }
        refused.push(r.status);
        assert!(
            Instant::now() < deadline && r.status >= 500,
            "{path}: {} {:?}",
            r.status,
            r.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_member_cluster_losing_its_leader_keeps_writes_and_watches_going() {
    let mut members = Etcd::cluster(3).await;
    let endpoints: Vec<String> = members.iter().map(Etcd::endpoint).collect();
    let o = origin::spawn("o").await;
    let spec = Spec::default().group("g").connector("c1", "g");
    let (a, ta) = gateway_on(spec.clone(), &endpoints);
    let (mut b, _) = gateway_on(spec, &endpoints);
    b.secrets = a.secrets.clone();
    b.connect("c1").await;
    let (before, _) = write_until_kept(&a, &ta, "/groups", json!({"name": "before"})).await;
    assert_eq!(before.status, 201, "{:?}", before.body);
    assert!(eventually(|| groups_of(&b).contains("before"), LIMIT).await);

    let deadline = Instant::now() + LIMIT;
    let leader = loop {
        let mut found = None;
        for (i, m) in members.iter().enumerate() {
            if m.is_leader().await {
                found = Some(i);
            }
        }
        if let Some(i) = found {
            break i;
        }
        assert!(Instant::now() < deadline, "a leader");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    members[leader].kill();
    let killed = Instant::now();

    let body = app_json("wiki", "wiki.example.test", &o.url(), &["g"]);
    let (r, refused) = write_until_kept(&a, &ta, "/apps", body).await;
    eprintln!(
        "etcd leader (member {leader}) killed: a write through A kept {:?} later \
         (attempts refused before: {refused:?})",
        killed.elapsed()
    );
    assert!(
        served(&b, "wiki.example.test", LIMIT).await,
        "B's watch saw it"
    );
    assert!(r.status == 201 || r.status == 409);

    // A change made on a surviving member reaches both gateways' watches.
    let survivor = &members[(leader + 1) % 3];
    let g = serde_json::to_vec(&GroupSpec::new("after", None)).expect("json");
    survivor
        .client()
        .await
        .put(format!("{PREFIX}/catalog/operator/groups/after"), g, None)
        .await
        .expect("put on a survivor");
    let has = |w: &World| groups_of(w).contains("after");
    assert!(
        eventually(|| has(&a) && has(&b), LIMIT).await,
        "watches go on"
    );
    for w in [&a, &b] {
        assert_eq!(connected_metric(w).await, Some(1.0));
    }
}
