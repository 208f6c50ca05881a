//! The operations files in `conf/`: the Prometheus alert rules pass `promtool check rules` and
//! their unit tests (`promtool test rules`), name only metrics a real gateway exports, and the
//! systemd units pass `systemd-analyze verify`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::world::{Spec, World};

fn conf(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("conf")
        .join(path)
}

/// Runs `program args`; the test fails (naming the Debian package) when it is missing.
fn run(program: &str, package: &str, args: &[&str], dir: &Path) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} ({package}) is needed: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{program} {args:?}: {text}");
    text
}

#[test]
fn alert_rules_pass_promtool_and_their_unit_tests() {
    let dir = conf("prometheus");
    let checked = run(
        "promtool",
        "prometheus",
        &["check", "rules", "switchyard-alerts.yml"],
        &dir,
    );
    assert!(checked.contains("SUCCESS: 8 rules found"), "{checked}");
    run(
        "promtool",
        "prometheus",
        &["test", "rules", "switchyard-alerts.test.yml"],
        &dir,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_rules_name_only_metrics_the_gateway_exports() {
    let rules = std::fs::read_to_string(conf("prometheus/switchyard-alerts.yml")).expect("rules");
    let w = World::start(Spec::default().group("g").connector("c1", "g").app(
        "wiki",
        "wiki.example.test",
        "http://127.0.0.1:9",
        &["g"],
    ));
    let text = reqwest::get(format!("http://{}/metrics", w.gw.metrics_addr))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let mut names: Vec<&str> = rules
        .match_indices("switchyard_")
        .map(|(i, _)| {
            let rest = &rules[i..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .collect();
    names.sort_unstable();
    names.dedup();
    assert!(names.len() >= 7, "{names:?}");
    for name in names {
        // Series that exist only in some states: the store gauge with the catalog in etcd,
        // restart_needed once a reload changed a restart-only setting, disconnects after the
        // first one.
        if [
            "switchyard_store_connected",
            "switchyard_config_reload_restart_needed",
            "switchyard_tunnel_disconnects_total",
        ]
        .contains(&name)
        {
            continue;
        }
        assert!(
            text.contains(&format!("# TYPE {name} ")),
            "{name} is not exported:\n{text}"
        );
    }
}

#[test]
fn systemd_units_pass_systemd_analyze_verify() {
    let dir = crate::support::TempDir::new("units");
    for unit in ["switchyard-gateway.service", "switchyard-connector.service"] {
        let text = std::fs::read_to_string(conf(&format!("systemd/{unit}"))).expect("unit");
        assert!(
            text.contains("ExecReload=") && text.contains("Type=exec"),
            "{unit}"
        );
        // verify checks that ExecStart's binary exists: point it at the one just built.
        let text = text.replace(
            "/usr/local/bin/switchyard",
            env!("CARGO_BIN_EXE_switchyard"),
        );
        std::fs::write(dir.path().join(unit), text).expect("write unit");
    }
    run(
        "systemd-analyze",
        "systemd",
        &[
            "verify",
            "--man=no",
            "switchyard-gateway.service",
            "switchyard-connector.service",
        ],
        dir.path(),
    );
}
