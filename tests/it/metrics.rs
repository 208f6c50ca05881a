//! The Prometheus endpoint: names, values, and `promtool check metrics` when installed.

use crate::support::origin;
use crate::support::world::{metric, Spec, World};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_connectors_and_pass_promtool() {
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
    for _ in 0..3 {
        assert_eq!(
            c.get(w.url("o.example.test", "/"))
                .send()
                .await
                .expect("req")
                .status(),
            200
        );
    }
    assert_eq!(
        c.get(w.url("o.example.test", "/status/404"))
            .send()
            .await
            .expect("req")
            .status(),
        404
    );
    assert_eq!(
        c.get(w.url("none.example.test", "/"))
            .send()
            .await
            .expect("req")
            .status(),
        404
    );

    // All five requests counted (the last one, unrouted, as `app="-"`), both tunnels up.
    let m = w
        .metrics_when(|m| {
            metric(m, "switchyard_request_duration_seconds_count{app=\"o\"}") >= Some(4.0)
                && metric(m, "switchyard_requests_total{app=\"-\",class=\"4xx\"}") >= Some(1.0)
                // The connector's second tunnel may still be on its way.
                && metric(m, "switchyard_tunnels") >= Some(2.0)
        })
        .await;
    let v = |s: &str| metric(&m, s);
    assert_eq!(
        v("switchyard_requests_total{app=\"o\",class=\"2xx\"}"),
        Some(3.0),
        "{m}"
    );
    assert_eq!(
        v("switchyard_requests_total{app=\"o\",class=\"4xx\"}"),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        v("switchyard_requests_total{app=\"-\",class=\"4xx\"}"),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        v("switchyard_request_duration_seconds_count{app=\"o\"}"),
        Some(4.0),
        "{m}"
    );
    assert_eq!(
        v("switchyard_live_connectors{group=\"g\"}"),
        Some(1.0),
        "{m}"
    );
    // Two tunnels (the connector default), one live connector.
    assert_eq!(v("switchyard_tunnels"), Some(2.0), "{m}");
    assert_eq!(
        v("switchyard_connector_in_flight{connector=\"c1\"}"),
        Some(0.0),
        "{m}"
    );
    assert_eq!(v("switchyard_routing_table_version"), Some(1.0), "{m}");

    if let Ok(out) = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            if let Some(mut stdin) = child.stdin.take() {
                stdin.write_all(m.as_bytes())?;
            }
            child.wait_with_output()
        })
    {
        assert!(
            out.status.success(),
            "promtool: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    } else if std::env::var_os("CI").is_some() {
        panic!("promtool is required in CI (Debian package prometheus)");
    }
}
