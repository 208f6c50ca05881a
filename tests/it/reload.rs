//! Reloads: a bad file is rejected whole and the old table keeps serving; `gateway --test`
//! reports every error with a non-zero exit; reloadable settings apply to the next request
//! or tunnel, and restart-only ones are reported.

use std::process::Command;
use switchyard::catalog::writer::UpdateCatalog;

use crate::support::origin;
use crate::support::world::{metric, write_config, Spec, World};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_reload_keeps_the_old_table_and_lists_every_error() {
    let o = origin::spawn("o").await;
    let spec = Spec::default().group("g").connector("c1", "g").app(
        "o",
        "o.example.test",
        &o.url(),
        &["g"],
    );
    let mut w = World::start(spec);
    w.connect("c1").await;
    let c = w.h1();
    let v1 = w.gw.live.snapshot().table.version();

    let mut bad = w.cfg.clone();
    bad.apps[0].groups = vec!["nope".into()];
    bad.apps.push(bad.apps[0].clone());
    bad.apps[1].internal_url = "ftp://x".into();
    // A bad setting too: both kinds of problem are listed at once.
    bad.resilience.max_attempts = 0;
    let errors = w.rewrite(bad).expect_err("rejected");
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("resilience.max_attempts")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("apps[0].groups[0]")),
        "{errors:?}"
    );
    assert!(errors.iter().any(|e| e.contains("apps[1]")), "{errors:?}");
    assert!(errors.len() >= 3, "{errors:?}");
    assert_eq!(
        w.gw.live.snapshot().table.version(),
        v1,
        "old table in service"
    );
    assert_eq!(
        c.get(w.url("o.example.test", "/"))
            .send()
            .await
            .expect("req")
            .status(),
        200
    );

    // A syntax error is rejected too.
    std::fs::write(&w.config_path, "this is = = not toml").expect("write");
    assert!(w.gw.reload().is_err());
    assert_eq!(
        c.get(w.url("o.example.test", "/"))
            .send()
            .await
            .expect("req")
            .status(),
        200
    );
    let m = w.metrics().await;
    assert_eq!(
        metric(&m, "switchyard_config_reload_failures_total"),
        Some(2.0),
        "{m}"
    );

    // A good reload goes through and bumps the version.
    let mut good = w.cfg.clone();
    good.apps[0].host = "renamed.example.test".into();
    write_config(&w.config_path, &good);
    let v2 = w.gw.reload().expect("applies");
    assert!(v2 > v1);
    assert_eq!(
        c.get(w.url("o.example.test", "/"))
            .send()
            .await
            .expect("req")
            .status(),
        404
    );
    assert_eq!(
        c.get(w.url("renamed.example.test", "/"))
            .send()
            .await
            .expect("req")
            .status(),
        200
    );
}

#[test]
fn gateway_test_flag_validates_and_exits_non_zero_with_every_error() {
    let dir = crate::support::TempDir::new("cli");
    let pki = crate::support::world::Pki::new(dir.path());
    let mut cfg = World::config_for(&Spec::default().group("g"), &pki, &Default::default());
    let good = dir.path().join("good.toml");
    write_config(&good, &cfg);
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["gateway", "--test", "--config"])
        .arg(&good)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    cfg.apps.push(crate::support::world::app(
        "x",
        "bad host!",
        None,
        "http://10.0.0.1",
        &["missing"],
    ));
    cfg.certificates[0].cert = dir.path().join("missing.pem");
    let bad = dir.path().join("bad.toml");
    write_config(&bad, &cfg);
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["gateway", "--test", "--config"])
        .arg(&bad)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("apps[0].host"), "{err}");
    assert!(err.contains("apps[0].groups[0]"), "{err}");
    assert!(err.contains("certificates[0]"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_file_is_picked_up_by_the_watcher() {
    let o = origin::spawn("o").await;
    let spec = Spec::default().group("g").connector("c1", "g").app(
        "o",
        "o.example.test",
        &o.url(),
        &["g"],
    );
    let mut w = World::start_with(spec, |cfg| cfg.runtime.watch_interval_ms = 50);
    w.connect("c1").await;
    let c = w.h1();
    assert_eq!(
        c.get(w.url("new.example.test", "/"))
            .send()
            .await
            .expect("req")
            .status(),
        404
    );
    let mut cfg = w.cfg.clone();
    cfg.apps[0].host = "new.example.test".into();
    write_config(&w.config_path, &cfg);
    let st = w.gw.live.clone();
    assert!(
        crate::support::eventually(
            || st.snapshot().table.version() == 2,
            std::time::Duration::from_secs(5)
        )
        .await,
        "watcher reloaded"
    );
    assert_eq!(
        c.get(w.url("new.example.test", "/"))
            .send()
            .await
            .expect("req")
            .status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_listener_redirects_to_https() {
    let w = World::start_with(Spec::default(), |cfg| {
        cfg.listen.http = Some("127.0.0.1:0".into())
    });
    let http = w.gw.http_addr.expect("http listener");
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = c
        .get(format!("http://{http}/path?q=1"))
        .header("host", "wiki.example.test")
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 308);
    assert_eq!(
        r.headers()["location"],
        format!(
            "https://wiki.example.test:{}/path?q=1",
            w.gw.https_addr.port()
        )
    );
}

#[test]
fn a_second_gateway_on_a_busy_address_fails_at_once_with_a_clear_error() {
    let w = World::start(Spec::default());
    let mut cfg = w.cfg.clone();
    cfg.listen.https = w.gw.https_addr.to_string();
    let started = std::time::Instant::now();
    let err = match switchyard::run_gateway(cfg, Default::default()) {
        Ok(_) => panic!("second gateway started on a busy address"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("HTTPS listener") && err.contains(&w.gw.https_addr.to_string()),
        "{err}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn a_corrupt_store_stops_start_up_with_a_clear_message_and_touches_nothing() {
    let dir = crate::support::TempDir::new("corrupt");
    let pki = crate::support::world::Pki::new(dir.path());
    let mut cfg = World::config_for(&Spec::default().group("g"), &pki, &Default::default());
    let store = dir.path().join("data");
    std::fs::create_dir_all(&store).expect("mkdir");
    let file = store.join("catalog.json");
    let torn = b"{\"version\": 3, \"catalog\": {\"groups\": [";
    std::fs::write(&file, torn).expect("write");
    cfg.store.dir = Some(store.clone());
    let err = match switchyard::run_gateway(cfg, Default::default()) {
        Ok(_) => panic!("started on a corrupt store"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("corrupt") && err.contains("catalog.json"),
        "{err}"
    );
    assert_eq!(std::fs::read(&file).expect("read"), torn, "store untouched");
    assert_eq!(
        std::fs::read_dir(&store).expect("dir").count(),
        1,
        "nothing written"
    );
}

#[test]
fn two_processes_on_one_store_cannot_overwrite_each_other() {
    let dir = crate::support::TempDir::new("shared-store");
    let pki = crate::support::world::Pki::new(dir.path());
    let mut cfg = World::config_for(&Spec::default().group("g"), &pki, &Default::default());
    cfg.store.dir = Some(dir.path().join("data"));
    let a = switchyard::run_gateway(cfg.clone(), Default::default()).expect("a");
    let b = switchyard::run_gateway(cfg, Default::default()).expect("b");
    let add = |name: &'static str| {
        move |c: &mut switchyard::catalog::Catalog| {
            c.groups
                .push(switchyard::catalog::GroupSpec::new(name, None));
            Ok::<_, ()>(())
        }
    };
    let (v, _) = a
        .catalog
        .update_catalog(None, add("from-a"))
        .expect("a writes");
    assert_eq!(v, 2);
    match b.catalog.update_catalog(None, add("from-b")) {
        Err(switchyard::catalog::writer::UpdateError::Conflict { current }) => {
            assert_eq!(current, 2)
        }
        other => panic!("b overwrote a's write: {:?}", other.map(|(v, _)| v)),
    }
    let stored = switchyard::catalog::store::FileStore::in_dir(&dir.path().join("data"))
        .load()
        .expect("load")
        .expect("stored");
    assert!(stored.catalog.groups.iter().any(|g| g.name == "from-a"));
    assert!(!stored.catalog.groups.iter().any(|g| g.name == "from-b"));
}

/// One GET with a header of `header_bytes` bytes; the status.
async fn get_with_header(w: &World, c: &reqwest::Client, header_bytes: usize) -> u16 {
    c.get(w.url("o.example.test", "/"))
        .header("x-pad", "p".repeat(header_bytes))
        .send()
        .await
        .expect("req")
        .status()
        .as_u16()
}

fn one_app(o: &origin::Origin) -> Spec {
    Spec::default()
        .group("g")
        .connector("c1", "g")
        .app("o", "o.example.test", &o.url(), &["g"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lowered_header_limit_applies_to_the_next_request_after_a_reload() {
    let o = origin::spawn("o").await;
    let mut w = World::start(one_app(&o));
    w.connect("c1").await;
    let c = w.h1();
    assert_eq!(get_with_header(&w, &c, 4096).await, 200);

    let mut cfg = w.cfg.clone();
    cfg.limits.max_header_bytes = 2048;
    w.rewrite(cfg).expect("applies");
    assert_eq!(get_with_header(&w, &c, 4096).await, 431, "new limit");
    assert_eq!(get_with_header(&w, &c, 100).await, 200, "small heads pass");
    let restart = w.gw.live.last_reload.load().restart_needed.clone();
    assert!(restart.is_empty(), "limits reload in place: {restart:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_max_attempts_applies_to_the_next_request_after_a_reload() {
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
    let mut w = World::start_with(spec, |cfg| {
        cfg.resilience.max_attempts = 1;
        cfg.resilience.eject_after_failures = 1000;
    });
    w.connect("c1").await;
    w.connect("c2").await;
    let c = w.h1();
    let retries = |m: &str| metric(m, "switchyard_retries_total{app=\"down\"}").unwrap_or(0.0);
    let url = w.url("down.example.test", "/");
    let get = || c.get(url.clone()).send();
    assert_eq!(get().await.expect("req").status(), 502);
    assert_eq!(retries(&w.metrics().await), 0.0, "one attempt: no retry");

    let mut cfg = w.cfg.clone();
    cfg.resilience.max_attempts = 2;
    w.rewrite(cfg).expect("applies");
    assert_eq!(get().await.expect("req").status(), 502);
    let m = w.metrics_when(|m| retries(m) > 0.0).await;
    assert_eq!(retries(&m), 1.0, "two attempts: one retry");
}

/// Opens a TCP connection to the tunnel listener, sends nothing, and says whether the
/// gateway closed it within `within`.
async fn idle_tunnel_closed_within(w: &World, within: std::time::Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut sock = tokio::net::TcpStream::connect(w.gw.tunnel_addr)
        .await
        .expect("connect");
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(within, sock.read(&mut buf)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shorter_hello_timeout_applies_to_the_next_tunnel_after_a_reload() {
    let o = origin::spawn("o").await;
    let mut w = World::start(one_app(&o));
    let short = std::time::Duration::from_millis(800);
    assert!(
        !idle_tunnel_closed_within(&w, short).await,
        "10 s hello timeout: still open"
    );
    let mut cfg = w.cfg.clone();
    cfg.tunnel.hello_timeout_ms = 100;
    w.rewrite(cfg).expect("applies");
    assert!(
        idle_tunnel_closed_within(&w, std::time::Duration::from_secs(5)).await,
        "100 ms hello timeout: closed"
    );
    // A connector still gets in.
    w.connect("c1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_change_is_reported_not_dropped() {
    let o = origin::spawn("o").await;
    let mut w = World::start(one_app(&o));
    w.connect("c1").await;
    let gauge = "switchyard_config_reload_restart_needed{setting=\"listen.metrics\"}";
    let mut cfg = w.cfg.clone();
    cfg.listen.metrics = "127.0.0.1:1".into();
    cfg.runtime.access_log = false;
    w.rewrite(cfg).expect("the rest applies");
    let status = w.gw.live.last_reload.load_full();
    assert!(status.ok);
    assert_eq!(status.restart_needed, ["listen.metrics"]);
    // Still served where it was bound; the gauge says a restart is due.
    let m = w.metrics().await;
    assert_eq!(metric(&m, gauge), Some(1.0), "{m}");
    assert!(!w.gw.live.settings().access_log, "access log turned off");
    let https = "switchyard_config_reload_restart_needed{setting=\"listen.https\"}";
    assert_eq!(metric(&m, https), Some(0.0), "{m}");

    // The file back as it runs: nothing is pending any more.
    let mut back = w.cfg.clone();
    back.listen.metrics = "127.0.0.1:0".into();
    w.rewrite(back).expect("applies");
    assert!(w.gw.live.last_reload.load().restart_needed.is_empty());
    assert_eq!(metric(&w.metrics().await, gauge), Some(0.0));
}
