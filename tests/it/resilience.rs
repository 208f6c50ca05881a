//! Affinity, minimum live connectors, ejection, failover counters, and how fast a group move
//! takes effect.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use switchyard::catalog::AffinitySpec;

use crate::support::origin;
use crate::support::world::{app, metric, Spec, World};

fn diff(after: &HashMap<String, u64>, before: &HashMap<String, u64>) -> HashMap<String, u64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_affinity_keeps_a_user_on_one_connector_until_it_leaves() {
    let o = origin::spawn("o").await;
    let mut a = app("o", "o.example.test", None, &o.url(), &["g"]);
    a.affinity = Some(AffinitySpec {
        cookie: Some("sy_aff".into()),
        header: None,
    });
    let spec = Spec::default()
        .group("g")
        .connector("c1", "g")
        .connector("c2", "g")
        .connector("c3", "g")
        .app_with(a);
    let mut w = World::start(spec);
    for id in ["c1", "c2", "c3"] {
        w.connect(id).await;
    }
    let c = w.h1();
    let first = c
        .get(w.url("o.example.test", "/"))
        .send()
        .await
        .expect("req");
    let set = first.headers()["set-cookie"]
        .to_str()
        .expect("text")
        .to_string();
    assert!(
        set.starts_with("sy_aff=") && set.contains("Secure") && set.contains("HttpOnly"),
        "{set}"
    );
    let cookie = set.split(';').next().expect("pair").to_string();

    let before = w.served();
    for _ in 0..20 {
        let r = c
            .get(w.url("o.example.test", "/"))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("req");
        assert_eq!(r.status(), 200);
        assert!(r.headers().get("set-cookie").is_none(), "cookie kept");
    }
    let used = diff(&w.served(), &before);
    assert_eq!(used.len(), 1, "one connector for the session: {used:?}");
    let owner = used.keys().next().expect("owner").clone();

    w.kill(&owner).await;
    let before = w.served();
    for _ in 0..20 {
        let r = c
            .get(w.url("o.example.test", "/"))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("req");
        assert_eq!(r.status(), 200);
    }
    let used = diff(&w.served(), &before);
    assert_eq!(
        used.len(),
        1,
        "moved to exactly one other connector: {used:?}"
    );
    assert!(!used.contains_key(&owner));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_affinity_spreads_users_and_keeps_each_in_place() {
    let o = origin::spawn("o").await;
    let mut a = app("o", "o.example.test", None, &o.url(), &["g"]);
    a.affinity = Some(AffinitySpec {
        cookie: None,
        header: Some("x-user".into()),
    });
    let spec = Spec::default()
        .group("g")
        .connector("c1", "g")
        .connector("c2", "g")
        .app_with(a);
    let mut w = World::start(spec);
    w.connect("c1").await;
    w.connect("c2").await;
    let c = w.h1();
    let mut owners = std::collections::HashSet::new();
    for user in 0..12 {
        let before = w.served();
        for _ in 0..4 {
            let r = c
                .get(w.url("o.example.test", "/"))
                .header("x-user", format!("user-{user}"))
                .send()
                .await
                .expect("req");
            assert_eq!(r.status(), 200);
        }
        let used = diff(&w.served(), &before);
        assert_eq!(used.len(), 1, "user-{user}: {used:?}");
        owners.extend(used.into_keys());
    }
    assert_eq!(owners.len(), 2, "users spread over both connectors");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_below_min_live_fails_over_and_back_and_it_is_counted() {
    let o = origin::spawn("o").await;
    let mut a = app("o", "o.example.test", None, &o.url(), &["east", "west"]);
    a.min_live_connectors = Some(2);
    let spec = Spec::default()
        .group("east")
        .group("west")
        .connector("e1", "east")
        .connector("e2", "east")
        .connector("w1", "west")
        .connector("w2", "west")
        .app_with(a);
    let mut w = World::start(spec);
    for id in ["e1", "e2", "w1", "w2"] {
        w.connect(id).await;
    }
    let c = w.h1();
    let get = |c: &reqwest::Client, url: String| {
        let c = c.clone();
        async move { c.get(url).send().await.expect("req").status() }
    };
    let before = w.served();
    assert_eq!(get(&c, w.url("o.example.test", "/")).await, 200);
    assert!(diff(&w.served(), &before)
        .keys()
        .all(|k| k.starts_with('e')));

    w.kill("e1").await;
    let before = w.served();
    for _ in 0..5 {
        assert_eq!(get(&c, w.url("o.example.test", "/")).await, 200);
    }
    let used = diff(&w.served(), &before);
    assert_eq!(used.values().sum::<u64>(), 5);
    assert!(
        used.keys().all(|k| k.starts_with('w')),
        "east has 1 < 2 live: {used:?}"
    );

    w.connect("e1").await;
    let before = w.served();
    for _ in 0..5 {
        assert_eq!(get(&c, w.url("o.example.test", "/")).await, 200);
    }
    let used = diff(&w.served(), &before);
    assert!(
        used.keys().all(|k| k.starts_with('e')),
        "back on east: {used:?}"
    );
    let m = w.metrics().await;
    assert_eq!(
        metric(
            &m,
            "switchyard_failovers_total{app=\"o\",direction=\"failover\"}"
        ),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        metric(
            &m,
            "switchyard_failovers_total{app=\"o\",direction=\"failback\"}"
        ),
        Some(1.0),
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connectors_failing_to_reach_the_origin_are_ejected_and_requests_still_answered() {
    let refusing = origin::refusing_addr();
    let spec = Spec::default()
        .group("g")
        .connector("c1", "g")
        .connector("c2", "g")
        .app(
            "down",
            "down.example.test",
            &format!("http://{refusing}"),
            &["g"],
        );
    let mut w = World::start(spec);
    w.connect("c1").await;
    w.connect("c2").await;
    let c = w.h1();
    for _ in 0..6 {
        let r = c
            .get(w.url("down.example.test", "/"))
            .send()
            .await
            .expect("req");
        assert_eq!(r.status(), 502);
        assert!(r.text().await.expect("body").contains("unreachable"));
    }
    let ejected = |m: &str| -> f64 {
        ["c1", "c2"]
            .iter()
            .filter_map(|id| {
                metric(
                    m,
                    &format!("switchyard_connector_ejections_total{{connector=\"{id}\"}}"),
                )
            })
            .sum()
    };
    let retries = "switchyard_retries_total{app=\"down\"}";
    let m = w
        .metrics_when(|m| ejected(m) >= 1.0 && metric(m, retries) >= Some(1.0))
        .await;
    let ejected = ejected(&m);
    assert!(ejected >= 1.0, "{m}");
    assert!(metric(&m, retries).unwrap_or(0.0) >= 1.0, "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_move_takes_effect_for_the_next_request() {
    let a = origin::spawn("a").await;
    let spec = Spec::default()
        .group("ga")
        .group("gb")
        .connector("c1", "ga")
        .connector("c2", "gb")
        .app("a", "a.example.test", &a.url(), &["ga"]);
    let mut w = World::start(spec);
    w.connect("c1").await;
    w.connect("c2").await;
    let c = w.h1();
    let mut cfg = w.cfg.clone();
    cfg.apps[0].groups = vec!["gb".into()];
    let before = w.served();
    let started = Instant::now();
    w.gw.apply(&cfg).expect("applies");
    let r = c
        .get(w.url("a.example.test", "/"))
        .send()
        .await
        .expect("req");
    let took = started.elapsed();
    assert_eq!(r.status(), 200);
    assert_eq!(
        diff(&w.served(), &before).get("c2"),
        Some(&1),
        "served by the new group"
    );
    eprintln!("group move effective after {took:?}");
    assert!(took < Duration::from_secs(1), "{took:?}");
}
