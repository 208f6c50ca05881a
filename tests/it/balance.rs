//! Balancing across a group's live connectors, failover to the backup group and back, and a
//! connector moved to another group by a reload.

use std::collections::HashMap;

use crate::support::origin;
use crate::support::world::{Spec, World};

fn delta(after: &HashMap<String, u64>, before: &HashMap<String, u64>, id: &str) -> u64 {
    after.get(id).copied().unwrap_or(0) - before.get(id).copied().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_spreads_over_the_group_and_backup_takes_over() {
    let o = origin::spawn("o").await;
    let spec = Spec::default()
        .group("east")
        .group_rr("west")
        .connector("e1", "east")
        .connector("e2", "east")
        .connector("e3", "east")
        .connector("w1", "west")
        .app("o", "o.example.test", &o.url(), &["east", "west"]);
    let mut w = World::start(spec);
    for id in ["e1", "e2", "e3", "w1"] {
        w.connect(id).await;
    }
    let c = w.h2();
    let before = w.served();
    // Concurrent requests so in-flight counts matter to P2C.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (c, url) = (c.clone(), w.url("o.example.test", "/sleep/5"));
        tasks.push(tokio::spawn(async move {
            for _ in 0..15 {
                let r = c.get(&url).send().await.expect("req");
                assert_eq!(r.status(), 200);
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let after = w.served();
    let per: Vec<u64> = ["e1", "e2", "e3"]
        .iter()
        .map(|id| delta(&after, &before, id))
        .collect();
    assert_eq!(per.iter().sum::<u64>(), 120, "{per:?}");
    for n in &per {
        assert!(
            *n >= 15,
            "every connector of the primary group takes a share: {per:?}"
        );
    }
    assert_eq!(
        delta(&after, &before, "w1"),
        0,
        "backup idle while primary is up"
    );

    // Primary group down: the backup group serves.
    for id in ["e1", "e2", "e3"] {
        w.kill(id).await;
    }
    let before = w.served();
    for _ in 0..10 {
        let r = c
            .get(w.url("o.example.test", "/"))
            .send()
            .await
            .expect("req");
        assert_eq!(r.status(), 200);
    }
    assert_eq!(delta(&w.served(), &before, "w1"), 10);

    // Primary back: traffic returns to it.
    w.connect("e2").await;
    let before = w.served();
    for _ in 0..10 {
        let r = c
            .get(w.url("o.example.test", "/"))
            .send()
            .await
            .expect("req");
        assert_eq!(r.status(), 200);
    }
    let after = w.served();
    assert_eq!(delta(&after, &before, "e2"), 10);
    assert_eq!(delta(&after, &before, "w1"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_moved_to_another_group_serves_that_group_after_reload() {
    let a = origin::spawn("a").await;
    let b = origin::spawn("b").await;
    let spec = Spec::default()
        .group("ga")
        .group("gb")
        .connector("c1", "ga")
        .connector("c2", "gb")
        .app("a", "a.example.test", &a.url(), &["ga"])
        .app("b", "b.example.test", &b.url(), &["gb"]);
    let mut w = World::start(spec);
    w.connect("c1").await;
    let c = w.h1();
    assert_eq!(
        c.get(w.url("a.example.test", "/"))
            .send()
            .await
            .expect("a")
            .status(),
        200
    );
    assert_eq!(
        c.get(w.url("b.example.test", "/"))
            .send()
            .await
            .expect("b")
            .status(),
        503
    );

    let mut cfg = w.cfg.clone();
    cfg.connectors
        .iter_mut()
        .find(|x| x.id == "c1")
        .expect("c1")
        .group = "gb".into();
    w.rewrite(cfg).expect("reload");
    let r = c.get(w.url("b.example.test", "/")).send().await.expect("b");
    assert_eq!(r.status(), 200, "c1 now serves gb at once");
    assert_eq!(r.text().await.expect("body"), "b");
    assert_eq!(
        c.get(w.url("a.example.test", "/"))
            .send()
            .await
            .expect("a")
            .status(),
        503
    );
}
