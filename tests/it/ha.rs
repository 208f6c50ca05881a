//! Fault tests on real processes: steady traffic from a real client while connectors are
//! killed, frozen, drained and restarted, or the routing table is swapped; the counts of what
//! the client and the origin saw are asserted.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::support::load::{Load, LoadSpec, RecordingOrigin};
use crate::support::origin;
use crate::support::procs::{Cluster, Proc};
use crate::support::world;
use crate::support::TempDir;

const HOST: &str = "o.example.test";
/// Request loops per test: enough to keep every connector busy, few enough for 2 cores.
const TASKS: usize = 4;

/// Every test here must end within 30 s; a hang fails it (and drops its processes).
async fn bounded<F: Future<Output = ()>>(test: F) {
    tokio::time::timeout(Duration::from_secs(30), test)
        .await
        .expect("test finished within 30 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_one_of_three_connectors_loses_no_get() {
    bounded(async {
        let o = origin::spawn("o").await;
        // Single-threaded processes throughout, as the load-test suite runs them: one edge
        // thread (current-thread runtime, tunnels driven on it), one control thread, and
        // current-thread connectors.
        let mut c = Cluster::builder()
            .group("east", &["e1", "e2", "e3"])
            .app("o", HOST, &o.url(), &["east"])
            .tweak(|cfg| {
                cfg.runtime.threads = 1;
                cfg.runtime.control_threads = 1;
            })
            .connector_toml("threads = 1")
            .start()
            .await;
        let load = Load::start(c.h1(), LoadSpec::get(c.url(HOST, "/sleep/5"), TASKS));
        assert!(
            load.wait_ok(200, Duration::from_secs(10)).await,
            "load flows ({} failed so far)",
            load.failed()
        );
        let ok_before = load.ok();

        c.kill_connector("e2").await;
        let killed = Instant::now();
        let left = c.wait_live("east", 2, Duration::from_secs(5)).await;
        tokio::time::sleep(Duration::from_secs(3).saturating_sub(killed.elapsed())).await;
        let report = load.stop().await;
        eprintln!(
            "sigkill: left the live set after {left:?}; {}",
            report.summary()
        );

        assert!(left.is_some(), "e2 left switchyard_live_connectors");
        assert_eq!(report.failed, 0, "{}", report.summary());
        assert!(ok_before >= 20, "traffic before the kill: {ok_before}");
        assert!(
            report.ok >= ok_before + 20,
            "traffic after the kill: {} more; {}",
            report.ok - ok_before,
            report.summary()
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigstop_connector_leaves_live_set_within_bound() {
    bounded(async {
        let o = origin::spawn("o").await;
        let mut c = Cluster::builder()
            .group("east", &["e1", "e2", "e3"])
            .app("o", HOST, &o.url(), &["east"])
            .ping(500, 1000)
            .start()
            .await;
        let load = Load::start(c.h1(), LoadSpec::get(c.url(HOST, "/sleep/5"), TASKS));
        assert!(
            load.wait_ok(150, Duration::from_secs(10)).await,
            "load flows ({} failed so far)",
            load.failed()
        );

        c.connector("e2").signal("-STOP");
        let frozen = Instant::now();
        // Poll every 50 ms; keep the largest in-flight count the gateway showed on e2.
        let mut in_flight_on_frozen = 0.0f64;
        let mut left = None;
        while frozen.elapsed() < Duration::from_secs(6) {
            let m = c.metrics_text().await;
            if let Some(n) = world::metric(&m, "switchyard_connector_in_flight{connector=\"e2\"}") {
                in_flight_on_frozen = in_flight_on_frozen.max(n);
            }
            let live = world::metric(&m, "switchyard_live_connectors{group=\"east\"}");
            if live == Some(2.0) {
                left = Some(frozen.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let ok_at_detection = load.ok();
        assert!(
            load.wait_ok(150, Duration::from_secs(10)).await,
            "traffic goes on while e2 is frozen ({} failed so far)",
            load.failed()
        );
        c.connector("e2").signal("-CONT");
        let report = load.stop().await;
        eprintln!(
            "sigstop: left the live set after {left:?}; at most {in_flight_on_frozen} requests \
             in flight on e2; {}",
            report.summary()
        );

        let left = left.expect("e2 left the live set within 6 s");
        assert!(
            left < Duration::from_secs(3),
            "frozen connector still live after {left:?} (ping 500 ms, timeout 1000 ms)"
        );
        assert!(
            report.failed <= TASKS as u64,
            "failed {} (at most {in_flight_on_frozen} were in flight on e2); {}",
            report.failed,
            report.summary()
        );
        assert!(
            report.ok >= ok_at_detection + 20,
            "traffic continued after e2 left; {}",
            report.summary()
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn primary_group_down_moves_traffic_to_backup_and_back() {
    bounded(async {
        let o = origin::spawn("o").await;
        let mut c = Cluster::builder()
            .group("east", &["e1", "e2"])
            .group("west", &["w1"])
            .app("o", HOST, &o.url(), &["east", "west"])
            .start()
            .await;
        let load = Load::start(c.h1(), LoadSpec::get(c.url(HOST, "/sleep/5"), TASKS));
        let mark = c.gateway.mark();
        assert!(
            load.wait_ok(100, Duration::from_secs(10)).await,
            "load flows ({} failed so far)",
            load.failed()
        );
        let primary = c.served_since(mark);

        c.kill_connector("e1").await;
        c.kill_connector("e2").await;
        assert!(
            c.wait_live("east", 0, Duration::from_secs(5))
                .await
                .is_some(),
            "east emptied"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mark = c.gateway.mark();
        assert!(
            load.wait_ok(150, Duration::from_secs(10)).await,
            "served by the backup group ({} failed so far)",
            load.failed()
        );
        let backup = c.served_since(mark);

        c.restart_connector("e1").await;
        assert!(
            c.wait_live("east", 1, Duration::from_secs(10))
                .await
                .is_some(),
            "e1 live again"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mark = c.gateway.mark();
        assert!(
            load.wait_ok(150, Duration::from_secs(10)).await,
            "served by the primary again ({} failed so far)",
            load.failed()
        );
        let back = c.served_since(mark);
        let report = load.stop().await;
        eprintln!(
            "failover: primary {primary:?}, backup {backup:?}, back {back:?}; {}",
            report.summary()
        );

        let n = |m: &std::collections::BTreeMap<String, usize>, id: &str| {
            m.get(id).copied().unwrap_or(0)
        };
        assert!(
            n(&primary, "e1") + n(&primary, "e2") > 0 && n(&primary, "w1") == 0,
            "east serves while it is live: {primary:?}"
        );
        assert!(
            n(&backup, "w1") > 0 && n(&backup, "e1") + n(&backup, "e2") == 0,
            "west serves while east is down: {backup:?}"
        );
        assert!(
            n(&back, "e1") > 0 && n(&back, "w1") == 0,
            "traffic returns to east: {back:?}"
        );
        assert_eq!(report.failed, 0, "{}", report.summary());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_restart_of_a_group_loses_no_request() {
    bounded(async {
        let o = origin::spawn("o").await;
        let mut c = Cluster::builder()
            .group("east", &["e1", "e2", "e3"])
            .app("o", HOST, &o.url(), &["east"])
            .start()
            .await;
        let load = Load::start(c.h1(), LoadSpec::get(c.url(HOST, "/sleep/5"), TASKS));
        assert!(
            load.wait_ok(100, Duration::from_secs(10)).await,
            "load flows ({} failed so far)",
            load.failed()
        );
        let mut log = Vec::new();
        for id in ["e1", "e2", "e3"] {
            let t0 = Instant::now();
            c.connector(id).signal("-TERM");
            let status = c.connector(id).wait_exit(Duration::from_secs(8)).await;
            let drained = t0.elapsed();
            let timed_out = !c.connector(id).grep("drain timeout").is_empty();
            assert!(
                status.is_some_and(|s| s.success()),
                "{id} drains and exits 0 on SIGTERM: {status:?} after {drained:?}"
            );
            assert!(!timed_out, "{id} hit its drain timeout");
            assert!(
                c.wait_live("east", 2, Duration::from_secs(5))
                    .await
                    .is_some(),
                "{id} left the live set"
            );
            c.start_connector(id);
            assert!(
                c.wait_live("east", 3, Duration::from_secs(10))
                    .await
                    .is_some(),
                "{id} is back"
            );
            log.push(format!(
                "{id}: drained in {drained:?}, back after {:?}",
                t0.elapsed()
            ));
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let report = load.stop().await;
        eprintln!("rolling restart: {log:?}; {}", report.summary());
        assert_eq!(report.failed, 0, "{}", report.summary());
        assert!(report.ok >= 50, "{}", report.summary());
    })
    .await;
}

/// In process: a real SIGHUP round trip through the binary (signal, re-read, log line) runs
/// at some 35 a second on 2 busy cores, so 1000 of them do not fit the test's 30 s; the
/// swaps go through `GatewayHandle::apply`, the same all-or-nothing path a reload takes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_routing_table_swaps_under_load_lose_nothing() {
    bounded(async {
        const SWAPS: u64 = 1000;
        let o = origin::spawn("o").await;
        let spec = world::Spec::default()
            .group("east")
            .connector("e1", "east")
            .connector("e2", "east")
            .app("o", HOST, &o.url(), &["east"]);
        let mut w = world::World::start(spec);
        w.connect("e1").await;
        w.connect("e2").await;
        let without_other = w.cfg.clone();
        let mut with_other = w.cfg.clone();
        with_other.apps.push(world::app(
            "other",
            "other.example.test",
            None,
            &o.url(),
            &["east"],
        ));
        // Staged once: the loop measures the swaps, not certificate loading.
        let without_other = without_other.stage().expect("stages");
        let with_other = with_other.stage().expect("stages");
        let m0 = w.metrics().await;
        let v0 = world::metric(&m0, "switchyard_routing_table_version").expect("table version");
        let swaps0 = world::metric(&m0, "switchyard_routing_table_swaps_total").unwrap_or(0.0);

        let load = Load::start(w.h1(), LoadSpec::get(w.url(HOST, "/sleep/5"), TASKS));
        assert!(
            load.wait_ok(50, Duration::from_secs(10)).await,
            "load flows ({} failed so far)",
            load.failed()
        );
        let state = w.gw.reloader.clone();
        // Off the runtime's workers: they carry the load.
        let (versions, swapping) = tokio::task::spawn_blocking(move || {
            let t0 = Instant::now();
            let versions: Vec<u64> = (0..SWAPS)
                .map(|i| {
                    let cfg = if i % 2 == 0 {
                        &with_other
                    } else {
                        &without_other
                    };
                    state.apply(cfg.clone()).expect("valid config applies")
                })
                .collect();
            (versions, t0.elapsed())
        })
        .await
        .expect("swapper");
        assert!(
            load.wait_ok(50, Duration::from_secs(10)).await,
            "load flows after the swaps ({} failed so far)",
            load.failed()
        );
        let report = load.stop().await;
        let m = w.metrics().await;
        eprintln!(
            "swaps: {SWAPS} in {swapping:?}, version {v0} -> {:?}; {}",
            versions.last(),
            report.summary()
        );

        assert_eq!(report.failed, 0, "{}", report.summary());
        assert!(report.ok >= 50, "{}", report.summary());
        let expected: Vec<u64> = (1..=SWAPS).map(|i| v0 as u64 + i).collect();
        assert!(versions == expected, "each swap is one version up");
        assert_eq!(
            world::metric(&m, "switchyard_routing_table_version"),
            Some(v0 + SWAPS as f64),
            "{m}"
        );
        assert_eq!(
            world::metric(&m, "switchyard_routing_table_swaps_total"),
            Some(swaps0 + SWAPS as f64),
            "{m}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_is_never_replayed_after_reaching_the_origin() {
    bounded(async {
        let o = RecordingOrigin::spawn(Duration::from_millis(100)).await;
        let mut c = Cluster::builder()
            .group("east", &["e1", "e2", "e3"])
            .app("o", HOST, &o.url(), &["east"])
            .start()
            .await;
        let load = Load::start(
            c.h1(),
            LoadSpec::post(c.url(HOST, "/submit"), TASKS, "payload"),
        );
        let mut kills = 0;
        for id in ["e1", "e2", "e3", "e1"] {
            tokio::time::sleep(Duration::from_millis(800)).await;
            c.kill_connector(id).await;
            kills += 1;
            assert!(
                c.wait_live("east", 2, Duration::from_secs(5))
                    .await
                    .is_some(),
                "{id} left the live set"
            );
            c.restart_connector(id).await;
            assert!(
                c.wait_live("east", 3, Duration::from_secs(10))
                    .await
                    .is_some(),
                "{id} is back"
            );
        }
        assert!(
            load.wait_ok(100, Duration::from_secs(10)).await,
            "load flows after the restarts ({} failed so far)",
            load.failed()
        );
        let report = load.stop().await;
        // Anything still travelling towards the origin has arrived by now.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let seen = o.seen();
        let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
        let ok_unseen: Vec<_> = report
            .ok_ids
            .iter()
            .filter(|id| !seen.contains_key(*id))
            .collect();
        let failed_but_seen = report
            .failed_ids
            .iter()
            .filter(|id| seen.contains_key(*id))
            .count();
        eprintln!(
            "post: {kills} kills; origin got {} requests ({} distinct); {failed_but_seen} of \
             the failed ones had reached it; {}",
            o.requests(),
            seen.len(),
            report.summary()
        );

        assert!(twice.is_empty(), "replayed to the origin: {twice:?}");
        assert!(
            ok_unseen.is_empty(),
            "answered 2xx but never reached the origin: {ok_unseen:?}"
        );
        assert!(
            !seen.contains_key("-"),
            "a request without its id reached the origin"
        );
        assert!(
            o.requests() as u64 <= report.sent,
            "origin saw {} requests, client sent {}",
            o.requests(),
            report.sent
        );
        assert!(report.ok >= 50, "{}", report.summary());
    })
    .await;
}

/// A process whose last lines are printed if the test panics while it is held.
struct DumpOnPanic(Proc);

impl Drop for DumpOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let p = &self.0;
            let (access, other): (Vec<_>, Vec<_>) = p
                .lines_since(0)
                .into_iter()
                .partition(|l| l.contains("switchyard::access"));
            eprintln!("--- {} (pid {}) last lines:", p.label, p.pid());
            for l in &other[other.len().saturating_sub(30)..] {
                eprintln!("{l}");
            }
            eprintln!("--- {}: {} access lines", p.label, access.len());
        }
    }
}

/// `switchyard gateway -u` takes over from a running gateway on SIGQUIT: the HTTPS listener
/// is handed over, the connectors are asked to dial replacement tunnels (which land on the
/// new process), the old process exits 0, and a client under steady load sees no failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_upgrade_hands_over_without_losing_requests() {
    const GROUP: &str = "east";
    tokio::time::timeout(Duration::from_secs(40), async {
        let o = origin::spawn("o").await;
        // Never the default /tmp path: tests run in parallel.
        let sock_dir = TempDir::new("upgrade");
        let sock = sock_dir
            .path()
            .join("upgrade.sock")
            .to_str()
            .expect("utf8")
            .to_string();
        let mut c = Cluster::builder()
            .group(GROUP, &["e1", "e2"])
            .app("o", HOST, &o.url(), &[GROUP])
            .ping(500, 1000)
            .tweak(move |cfg| {
                cfg.runtime.upgrade_sock = sock;
                cfg.runtime.shutdown_grace_secs = 2;
            })
            .start()
            .await;

        // The new process takes the listening sockets over by their exact address string:
        // the file it reads names the ports the old one got.
        let mut cfg = c.cfg.clone();
        cfg.listen.https = format!("127.0.0.1:{}", c.https.port());
        cfg.listen.tunnel = format!("127.0.0.1:{}", c.tunnel.port());
        cfg.listen.metrics = format!("127.0.0.1:{}", c.metrics.port());
        world::write_config(&c.config_path, &cfg);
        c.cfg = cfg;

        let load = Load::start(c.h1(), LoadSpec::get(c.url(HOST, "/sleep/5"), TASKS));
        assert!(
            load.wait_ok(100, Duration::from_secs(10)).await,
            "load flows ({} failed so far)",
            load.failed()
        );
        let ok_before = load.ok();

        let mut b = DumpOnPanic(Proc::spawn(
            "gateway-b",
            &[
                "gateway",
                "-u",
                "--config",
                c.config_path.to_str().expect("utf8"),
            ],
        ));
        // Logged early: the kernel already lists the port; B now waits for the sockets.
        b.0.wait_for("gateway ready", Duration::from_secs(10)).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(b.0.is_running(), "the new gateway waits for the sockets");

        c.gateway.signal("-QUIT");
        let quit = Instant::now();
        let ok_at_quit = load.ok();
        c.gateway
            .wait_for("handing over", Duration::from_secs(8))
            .await;
        let handing_over = quit.elapsed();
        // While A winds down: when B has seen a tunnel from each connector.
        let mut b_has_both = None;
        let status = loop {
            if b_has_both.is_none() {
                let up = b.0.grep("tunnel up");
                if ["e1", "e2"]
                    .iter()
                    .all(|id| up.iter().any(|l| l.contains(&format!("connector={id}"))))
                {
                    b_has_both = Some(quit.elapsed());
                }
            }
            if let Some(s) = c.gateway.wait_exit(Duration::from_millis(20)).await {
                break Some(s);
            }
            if quit.elapsed() > Duration::from_secs(15) {
                break None;
            }
        };
        let a_exit = quit.elapsed();
        let ok_at_exit = load.ok();
        let failed_at_exit = load.failed();
        assert!(
            status.is_some_and(|s| s.success()),
            "the old gateway exits 0 within 15 s of SIGQUIT: {status:?} after {a_exit:?}"
        );
        assert!(b.0.is_running(), "the new gateway runs on");

        // B alone answers on the shared metrics port now.
        let b_live = c.wait_live(GROUP, 2, Duration::from_secs(10)).await;
        let b_live_at = quit.elapsed();
        assert!(
            b_live.is_some(),
            "the new gateway has 2 live connectors within 10 s of the old one's exit; \
             metrics:\n{}",
            c.metrics_text().await
        );

        tokio::time::sleep(Duration::from_secs(2).saturating_sub(quit.elapsed() - a_exit)).await;
        let report = load.stop().await;
        let b_tunnels_up = b.0.grep("tunnel up").len();
        let b_access = b.0.grep("switchyard::access").len();
        let reconnects: Vec<(String, usize, usize)> = c
            .connectors
            .iter()
            .map(|(id, p)| {
                (
                    id.clone(),
                    p.grep("gateway asked for a reconnect").len(),
                    p.grep("replacement tunnel up").len(),
                )
            })
            .collect();
        eprintln!(
            "upgrade: {ok_before} ok before B started, {ok_at_quit} at SIGQUIT, \
             'handing over' after {handing_over:?}, B had tunnels from both connectors after \
             {b_has_both:?}, A exited after {a_exit:?} ({ok_at_exit} ok, {failed_at_exit} \
             failed then), B showed 2 live connectors at {b_live_at:?} after SIGQUIT; \
             B: {b_tunnels_up} tunnels up, {b_access} access lines; connectors (id, reconnect \
             requests, replacements up): {reconnects:?}; {}",
            report.summary()
        );

        assert_eq!(report.failed, 0, "{}", report.summary());
        assert!(ok_before >= 20, "traffic before the upgrade: {ok_before}");
        assert!(
            report.ok >= ok_at_quit + 100,
            "traffic during the upgrade; {}",
            report.summary()
        );
        assert!(
            report.ok >= ok_at_exit + 20,
            "traffic after the old gateway exited: {} more; {}",
            report.ok - ok_at_exit,
            report.summary()
        );
        assert!(
            b_has_both.is_some(),
            "both connectors dialed the new gateway"
        );
        assert!(b_access > 0, "the new gateway served requests");
    })
    .await
    .expect("test finished within 40 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_sigterm_finishes_requests_in_flight() {
    bounded(async {
        let o = origin::spawn("o").await;
        let mut c = Cluster::builder()
            .group("east", &["e1"])
            .app("o", HOST, &o.url(), &["east"])
            .tweak(|cfg| cfg.runtime.shutdown_grace_secs = 3)
            .start()
            .await;
        let client = c.h1();
        let url = c.url(HOST, "/sleep/1500");
        let slow = tokio::spawn(async move { client.get(url).send().await });
        assert!(
            crate::support::eventually(|| o.requests() >= 1, Duration::from_secs(5)).await,
            "the slow request reached the origin"
        );
        let started = Instant::now();
        c.gateway.signal("-TERM");
        let resp = slow
            .await
            .expect("join")
            .expect("answered during the grace period");
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.text().await.expect("body"), "slept");
        let status = c
            .gateway
            .wait_exit(Duration::from_secs(10))
            .await
            .expect("gateway exits");
        assert!(status.success(), "{status:?}");
        eprintln!(
            "sigterm: in-flight request finished; gateway exited after {:?}",
            started.elapsed()
        );
    })
    .await;
}
