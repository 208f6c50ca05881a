//! Writers that race (If-Match, twenty at once), a restart, a SIGKILL mid-burst, and the
//! latency of a write that is already in service when answered.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use super::{app_json, get, status_of, Answer, Api};
use crate::support::procs::{field, Proc};
use crate::support::world::{admin_setup, write_config, Pki, Spec, World};
use crate::support::{eventually, origin, TempDir};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn if_match_lets_one_of_two_writers_win() {
    let spec = Spec::default().group("g").group("h").app(
        "a",
        "a.example.test",
        "http://127.0.0.1:9",
        &["g"],
    );
    let (w, t) = World::start_admin(spec);
    let api = Api::of(&w);
    let seen = get(&api, &t, "/apps/a")
        .await
        .etag
        .expect("etag")
        .to_string();
    let write = |group: &'static str| {
        let api = api.clone();
        let token = t.admin.clone();
        let seen = seen.clone();
        tokio::spawn(async move {
            api.call_if(
                &token,
                Method::PATCH,
                "/apps/a",
                Some(json!({"groups": [group]})),
                Some(&format!("\"{seen}\"")),
            )
            .await
        })
    };
    let (one, two) = (write("g"), write("h"));
    let (one, two) = (one.await.expect("join"), two.await.expect("join"));
    let mut statuses = [one.status, two.status];
    statuses.sort();
    assert_eq!(statuses, [200, 412], "{:?} / {:?}", one.body, two.body);
    let loser = if one.status == 412 { &one } else { &two };
    assert_eq!(loser.code(), "precondition_failed");
    let winner = if one.status == 200 { &one } else { &two };
    let current = seen.parse::<u64>().expect("version") + 1;
    assert_eq!(winner.etag, Some(current));
    assert_eq!(loser.etag, Some(current), "a 412 tells the current version");
    // With the current version the write goes through.
    let retry = api
        .call_if(
            &t.admin,
            Method::PATCH,
            "/apps/a",
            Some(json!({"preserve_host": true})),
            Some(&format!("\"{current}\"")),
        )
        .await;
    assert_eq!(retry.status, 200);
    assert_eq!(retry.etag, Some(current + 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_writers_lose_nothing() {
    let (w, t) = World::start_admin(Spec::default().group("g"));
    let api = Api::of(&w);
    let before = get(&api, &t, "/status").await.etag.expect("etag");
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let api = api.clone();
            let token = t.admin.clone();
            tokio::spawn(async move {
                let name = format!("app{i}");
                let host = format!("app{i}.example.test");
                api.call(
                    &token,
                    Method::POST,
                    "/apps",
                    Some(app_json(&name, &host, "http://127.0.0.1:9", &["g"])),
                )
                .await
                .status
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("join"), 201);
    }
    let apps = get(&api, &t, "/apps").await;
    let expected: BTreeSet<String> = (0..20).map(|i| format!("app{i}")).collect();
    assert_eq!(apps.names("name"), expected);
    assert_eq!(apps.etag, Some(before + 20));
    assert_eq!(w.gw.live.snapshot().table.app_count(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_survives_a_gateway_restart() {
    let o = origin::spawn("o").await;
    let (mut w, t) = World::start_admin(Spec::default().group("seed"));
    let api = Api::of(&w);
    let c = api
        .call(
            &t.admin,
            Method::POST,
            "/groups",
            Some(json!({"name": "dc", "balance": "round_robin"})),
        )
        .await;
    assert_eq!(c.status, 201);
    let c = api
        .call(
            &t.admin,
            Method::POST,
            "/connectors",
            Some(json!({"id": "k1", "group": "dc"})),
        )
        .await;
    assert_eq!(c.status, 201);
    let secret = c.body["secret"].as_str().expect("secret").to_string();
    let a = api
        .call(
            &t.admin,
            Method::POST,
            "/apps",
            Some(app_json("kept", "kept.example.test", &o.url(), &["dc"])),
        )
        .await;
    assert_eq!(a.status, 201);
    let before: Vec<Answer> = futures_util::future::join_all(
        ["/groups", "/connectors", "/apps", "/status"].map(|p| get(&api, &t, p)),
    )
    .await;

    w.restart_gateway();
    let api = Api::of(&w);
    for (path, old) in ["/groups", "/connectors", "/apps"].iter().zip(&before) {
        let now = get(&api, &t, path).await;
        assert_eq!(now.etag, old.etag, "{path}: same version");
        if *path == "/connectors" {
            assert_eq!(now.names("id"), old.names("id"));
        } else {
            assert_eq!(now.body, old.body, "{path}: same objects");
        }
    }
    assert_eq!(
        get(&api, &t, "/status").await.body["version"],
        before[3].body["version"]
    );
    w.secrets.insert("k1".into(), secret);
    w.connect("k1").await;
    assert_eq!(
        status_of(&w, "kept.example.test").await,
        200,
        "requests route"
    );
}

/// Median write latency: a `PATCH` answered 200 is already in the routing table in service.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_latency_and_visibility() {
    let spec = Spec::default().group("g").group("h").app(
        "a",
        "a.example.test",
        "http://127.0.0.1:9",
        &["g"],
    );
    let (w, t) = World::start_admin(spec);
    let api = Api::of(&w);
    let mut took = Vec::new();
    for i in 0..50 {
        let group = if i % 2 == 0 { "h" } else { "g" };
        let started = Instant::now();
        let a = api
            .call(
                &t.admin,
                Method::PATCH,
                "/apps/a",
                Some(json!({"groups": [group]})),
            )
            .await;
        took.push(started.elapsed());
        assert_eq!(a.status, 200);
        let table = w.gw.live.snapshot();
        assert_eq!(
            Some(table.table.version()),
            a.etag,
            "in service when answered"
        );
        let route = table.table.lookup("a.example.test", "/").expect("route");
        assert_eq!(&*route.groups[0], group);
    }
    took.sort();
    let mut reads = Vec::new();
    for _ in 0..50 {
        let started = Instant::now();
        assert_eq!(get(&api, &t, "/apps/a").await.status, 200);
        reads.push(started.elapsed());
    }
    reads.sort();
    eprintln!(
        "admin PATCH → 200 (validated, fsynced, published), 50 writes: median {:?}, p90 {:?}, \
         max {:?}; GET of the same app: median {:?}",
        took[25], took[45], took[49], reads[25]
    );
}

/// The real binary is SIGKILLed in the middle of a burst of writes: it restarts on the same
/// store, and holds every acknowledged write and nothing that was never sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crash_mid_burst_keeps_every_acknowledged_write() {
    let dir = TempDir::new("admin-crash");
    let pki = Pki::new(dir.path());
    let mut cfg = World::config_for(&Spec::default().group("g"), &pki, &Default::default());
    let t = admin_setup(&mut cfg);
    let config_path = dir.path().join("gateway.toml");
    write_config(&config_path, &cfg);
    let config = config_path.to_str().expect("utf8").to_string();

    let start = |label: &str| {
        let label = label.to_string();
        let config = config.clone();
        async move {
            let mut p = Proc::spawn(&label, &["gateway", "--config", &config]);
            let ready = p.wait_for("gateway ready", Duration::from_secs(20)).await;
            let admin = field(&ready, "admin").unwrap_or_else(|| panic!("admin= in {ready}"));
            (p, Api::new(format!("http://{admin}")))
        }
    };
    let (mut gw, api) = start("gateway").await;

    let sent = Arc::new(Mutex::new(BTreeSet::new()));
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (api, token) = (api.clone(), t.admin.clone());
            let (sent, acked) = (sent.clone(), acked.clone());
            tokio::spawn(async move {
                for i in 0..500 {
                    let name = format!("burst-{w}-{i}");
                    let body = app_json(
                        &name,
                        &format!("{name}.example.test"),
                        "http://127.0.0.1:9",
                        &["g"],
                    );
                    sent.lock().expect("sent").insert(name.clone());
                    let resp = api
                        .http
                        .post(format!("{}/api/v1/apps", api.base))
                        .bearer_auth(&token)
                        .json(&body)
                        .send()
                        .await;
                    match resp {
                        Ok(r) if r.status().is_success() => {
                            acked.lock().expect("acked").insert(name);
                        }
                        Ok(r) => panic!("{name}: unexpected {}", r.status()),
                        Err(_) => return, // the gateway is gone
                    }
                }
            })
        })
        .collect();
    assert!(
        eventually(
            || acked.lock().expect("acked").len() >= 40,
            Duration::from_secs(20)
        )
        .await,
        "writes are acknowledged"
    );
    gw.signal("-KILL");
    assert!(
        gw.wait_exit(Duration::from_secs(5)).await.is_some(),
        "killed"
    );
    for wr in writers {
        wr.await.expect("writer");
    }

    let (_gw2, api2) = start("gateway-restarted").await;
    let apps = api2.call(&t.admin, Method::GET, "/apps", None).await;
    assert_eq!(apps.status, 200);
    let stored = apps.names("name");
    let sent = sent.lock().expect("sent").clone();
    let acked = acked.lock().expect("acked").clone();
    let lost: Vec<_> = acked.difference(&stored).collect();
    let invented: Vec<_> = stored.difference(&sent).collect();
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    assert!(invented.is_empty(), "apps never sent: {invented:?}");
    eprintln!(
        "crash mid-burst: {} sent, {} acknowledged, {} stored",
        sent.len(),
        acked.len(),
        stored.len()
    );
    assert!(sent.len() < 4 * 500, "the kill came mid-burst");
    let status = api2.call(&t.admin, Method::GET, "/status", None).await;
    assert_eq!(status.body["apps"].as_u64(), Some(stored.len() as u64));
}
