//! `switchyard ctl` as an operator runs it: the real binary against a real gateway's admin
//! API, with its tables, `--json`, and the exit codes scripts rely on.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use switchyard::catalog::secret;
use switchyard::config::gateway::{AdminRole, AdminToken};

use crate::support::world::{connector_config, Spec, World};
use crate::support::{eventually, origin};

const TOKEN: &str = "ctl-test-admin-token";

/// A gateway with the admin API on port 0, a file store, and one admin token.
fn gateway(spec: Spec) -> World {
    World::start_with(spec, |cfg| {
        cfg.admin.listen = "127.0.0.1:0".into();
        // Relative to the config file's folder, which the world removes on drop.
        cfg.store.dir = Some("store".into());
        cfg.admin.tokens.push(AdminToken {
            name: "ops".into(),
            token_hash: secret::hash(TOKEN),
            role: AdminRole::Admin,
            tenant: None,
        });
    })
}

/// The admin address, whether the handle reports it as an address or an optional one.
trait AdminAddr {
    fn admin(&self) -> SocketAddr;
}
impl AdminAddr for SocketAddr {
    fn admin(&self) -> SocketAddr {
        *self
    }
}
impl AdminAddr for Option<SocketAddr> {
    fn admin(&self) -> SocketAddr {
        self.expect("admin API listening")
    }
}

fn admin_url(w: &World) -> String {
    format!("http://{}", w.gw.admin_addr.admin())
}

/// One finished `switchyard ctl` run.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// `switchyard ctl --url URL ARGS` with `SWITCHYARD_TOKEN=token` (none when `None`).
fn ctl_as(url: &str, token: Option<&str>, args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    cmd.arg("ctl")
        .args(["--url", url])
        .args(args)
        .env_remove("SWITCHYARD_URL")
        .env_remove("SWITCHYARD_TOKEN")
        .env("NO_COLOR", "1");
    if let Some(t) = token {
        cmd.env("SWITCHYARD_TOKEN", t);
    }
    let out = cmd.output().expect("run switchyard ctl");
    Run {
        code: out.status.code().expect("exited"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `ctl` with the admin token, asserting exit 0.
fn ok(url: &str, args: &[&str]) -> Run {
    let r = ctl_as(url, Some(TOKEN), args);
    assert_eq!(r.code, 0, "ctl {args:?}: {r:?}");
    r
}

/// The table line whose first column is `key`.
fn line<'a>(table: &'a str, key: &str) -> Option<&'a str> {
    table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(key))
}

#[test]
fn ctl_manages_groups_connectors_apps_and_tokens() {
    let w = gateway(Spec::default().group("dc-west"));
    let url = admin_url(&w);

    // Groups: create, list (table and JSON), show.
    let r = ok(&url, &["groups", "create", "dc-east"]);
    assert!(r.stdout.contains("created group dc-east"), "{r:?}");
    let r = ok(&url, &["groups", "list"]);
    assert!(r.stdout.starts_with("NAME "), "{r:?}");
    assert!(r.stdout.lines().next().unwrap_or("").contains("BALANCE"));
    let east = line(&r.stdout, "dc-east").unwrap_or_else(|| panic!("dc-east listed: {r:?}"));
    assert!(east.contains("p2c"), "{east}");
    assert!(line(&r.stdout, "dc-west").is_some(), "{r:?}");
    let j = ok(&url, &["--json", "groups", "list"]).json();
    let names: Vec<&str> = j["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|g| g["name"].as_str())
        .collect();
    assert!(
        names.contains(&"dc-east") && names.contains(&"dc-west"),
        "{j}"
    );
    let r = ok(&url, &["groups", "show", "dc-east"]);
    assert!(r.stdout.starts_with("name:"), "{r:?}");
    assert!(r.stdout.contains("dc-east"), "{r:?}");
    let r = ok(
        &url,
        &["groups", "create", "dc-rr", "--balance", "round_robin"],
    );
    assert!(r.stdout.contains("round_robin"), "{r:?}");

    // Connectors: the secret is printed once, with a warning.
    let r = ok(&url, &["connectors", "create", "east-1", "dc-east"]);
    let secret = r
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("secret = \""))
        .and_then(|l| l.split('"').next())
        .unwrap_or_else(|| panic!("secret printed: {r:?}"));
    assert!(secret.len() >= 16, "{r:?}");
    assert!(r.stderr.contains("warning:"), "{r:?}");
    let r = ok(&url, &["connectors", "list"]);
    let row = line(&r.stdout, "east-1").unwrap_or_else(|| panic!("east-1 listed: {r:?}"));
    assert!(row.contains("dc-east") && row.contains("offline"), "{row}");
    let r = ok(&url, &["connectors", "move", "east-1", "dc-west"]);
    assert!(r.stdout.contains("dc-west"), "{r:?}");
    let j = ok(&url, &["--json", "connectors", "show", "east-1"]).json();
    assert_eq!(j["group"], "dc-west", "{j}");

    // Apps: create on dc-west, then re-assign the chain.
    ok(
        &url,
        &[
            "apps",
            "create",
            "wiki",
            "--host",
            "wiki.example.test",
            "--url",
            "http://127.0.0.1:9",
            "--groups",
            "dc-west",
            "--timeout",
            "2.5",
        ],
    );
    let r = ok(&url, &["apps", "assign", "wiki", "dc-east,dc-west"]);
    assert!(r.stdout.contains("dc-east,dc-west"), "{r:?}");
    let j = ok(&url, &["--json", "apps", "show", "wiki"]).json();
    assert_eq!(
        j["groups"],
        serde_json::json!(["dc-east", "dc-west"]),
        "{j}"
    );
    assert_eq!(j["backend_timeout_secs"], 2.5, "{j}");
    let r = ok(&url, &["apps", "list"]);
    let row = line(&r.stdout, "wiki").unwrap_or_else(|| panic!("wiki listed: {r:?}"));
    assert!(
        row.contains("wiki.example.test") && row.contains("dc-east,dc-west"),
        "{row}"
    );

    // Status.
    let r = ok(&url, &["status"]);
    assert!(r.stdout.contains("version:"), "{r:?}");
    assert!(line(&r.stdout, "dc-east").is_some(), "groups listed: {r:?}");
    let j = ok(&url, &["status", "--json"]).json();
    assert_eq!(j["apps"], 1, "{j}");

    // Enrollment tokens: create, list, delete.
    let r = ok(&url, &["--json", "enroll", "create", "--ttl", "600"]);
    let j = r.json();
    let id = j["id"].as_str().expect("token id").to_string();
    assert!(j["token"].as_str().is_some_and(|t| !t.is_empty()), "{j}");
    assert!(r.stderr.contains("warning:"), "{r:?}");
    let r = ok(&url, &["enroll", "list"]);
    assert!(line(&r.stdout, &id).is_some(), "{r:?}");
    ok(&url, &["enroll", "delete", &id]);
    let r = ok(&url, &["enroll", "list"]);
    assert!(line(&r.stdout, &id).is_none(), "{r:?}");

    // A group in use cannot go; once unused it can.
    let r = ctl_as(&url, Some(TOKEN), &["groups", "delete", "dc-east"]);
    assert_eq!(r.code, 2, "conflict: {r:?}");
    assert!(r.stderr.starts_with("error: "), "{r:?}");
    ok(&url, &["apps", "delete", "wiki"]);
    ok(&url, &["connectors", "revoke", "east-1"]);
    let j = ok(&url, &["--json", "connectors", "show", "east-1"]).json();
    assert_eq!(j["revoked"], true, "{j}");
    ok(&url, &["connectors", "delete", "east-1"]);
    ok(&url, &["groups", "delete", "dc-east"]);
    let r = ok(&url, &["groups", "rename", "dc-west", "dc-backup"]);
    assert!(r.stdout.contains("dc-backup"), "{r:?}");
    let r = ok(&url, &["groups", "list"]);
    assert!(line(&r.stdout, "dc-backup").is_some(), "{r:?}");
    assert!(line(&r.stdout, "dc-west").is_none(), "{r:?}");
    assert!(line(&r.stdout, "dc-east").is_none(), "{r:?}");
}

#[test]
fn ctl_exit_codes_tell_scripts_what_went_wrong() {
    let w = gateway(Spec::default().group("dc-east"));
    let url = admin_url(&w);

    // 3: wrong or missing token.
    let r = ctl_as(&url, Some("not-the-token"), &["groups", "list"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stderr.starts_with("error: "), "{r:?}");
    assert!(r.stdout.is_empty(), "{r:?}");
    let r = ctl_as(&url, None, &["status"]);
    assert_eq!(r.code, 3, "{r:?}");
    // --token beats the environment.
    let r = ctl_as(&url, Some("not-the-token"), &["--token", TOKEN, "status"]);
    assert_eq!(r.code, 0, "{r:?}");

    // 4: not found.
    let r = ctl_as(&url, Some(TOKEN), &["groups", "show", "nope"]);
    assert_eq!(r.code, 4, "{r:?}");
    assert!(r.stderr.starts_with("error: "), "{r:?}");
    let r = ctl_as(&url, Some(TOKEN), &["connectors", "show", "nope"]);
    assert_eq!(r.code, 4, "{r:?}");

    // 2: invalid, with the field named.
    let r = ctl_as(
        &url,
        Some(TOKEN),
        &[
            "apps",
            "create",
            "wiki",
            "--host",
            "wiki.example.test",
            "--url",
            "http://127.0.0.1:9",
            "--groups",
            "dc-nope",
        ],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.starts_with("error: "), "{r:?}");
    assert!(r.stderr.contains("groups"), "the field is named: {r:?}");
    // 2: conflict.
    let r = ctl_as(&url, Some(TOKEN), &["groups", "create", "dc-east"]);
    assert_eq!(r.code, 2, "{r:?}");
    // 2: usage errors, caught before any request.
    let r = ctl_as(&url, Some(TOKEN), &["groups", "frobnicate"]);
    assert_eq!(r.code, 2, "{r:?}");
    let r = ctl_as(
        &url,
        Some(TOKEN),
        &["groups", "create", "x", "--balance", "random"],
    );
    assert_eq!(r.code, 2, "{r:?}");
    let r = ctl_as("ftp://127.0.0.1:1", Some(TOKEN), &["status"]);
    assert_eq!(r.code, 2, "{r:?}");

    // 1: nothing listens there.
    let closed = origin::refusing_addr();
    let r = ctl_as(&format!("http://{closed}"), Some(TOKEN), &["status"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.starts_with("error: cannot reach"), "{r:?}");
    // 1: a TLS failure (https to a plain HTTP listener).
    let r = ctl_as(
        &url.replace("http://", "https://"),
        Some(TOKEN),
        &["status"],
    );
    assert_eq!(r.code, 1, "{r:?}");
}

#[test]
fn ctl_help_documents_the_exit_codes() {
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["ctl", "--help"])
        .output()
        .expect("run");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "Exit codes:",
        "SWITCHYARD_URL",
        "SWITCHYARD_TOKEN",
        "404",
        "5xx",
    ] {
        assert!(text.contains(needle), "{needle} in:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_created_with_ctl_connects_and_serves_the_app_it_was_assigned() {
    let o = origin::spawn("wiki-origin").await;
    let w = gateway(Spec::default().group("dc-west"));
    let url = admin_url(&w);
    ok(&url, &["groups", "create", "dc-east"]);
    let r = ok(
        &url,
        &["--json", "connectors", "create", "east-1", "dc-east"],
    );
    let secret = r.json()["secret"].as_str().expect("secret").to_string();
    ok(
        &url,
        &[
            "apps",
            "create",
            "wiki",
            "--host",
            "wiki.example.test",
            "--url",
            &o.url(),
            "--groups",
            "dc-west",
        ],
    );

    let cfg = connector_config("east-1", &secret, w.gw.tunnel_addr, &w.pki.ca_path);
    let conn = switchyard::run_connector(cfg)
        .await
        .expect("connector starts");
    assert!(
        conn.wait_tunnels(1, Duration::from_secs(10)).await,
        "the ctl-made secret is accepted"
    );
    let mut live = false;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !live && std::time::Instant::now() < deadline {
        let r = ok(&url, &["connectors", "list"]);
        live = line(&r.stdout, "east-1").is_some_and(|l| l.contains("live"));
        if !live {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    assert!(live, "ctl connectors list shows east-1 live");
    let j = ok(&url, &["--json", "status"]).json();
    assert_eq!(j["connectors_live"], 1, "{j}");

    // No live connector in dc-west: 503 until the app is assigned to dc-east.
    let c = w.h1();
    let r = c
        .get(w.url("wiki.example.test", "/"))
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), 503);
    ok(&url, &["apps", "assign", "wiki", "dc-east"]);
    let r = c
        .get(w.url("wiki.example.test", "/"))
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), 200, "the next request uses the new chain");
    assert_eq!(r.text().await.expect("body"), "wiki-origin");

    assert!(
        eventually(|| o.requests() == 1, Duration::from_secs(2)).await,
        "served by the origin"
    );
}

#[test]
fn ctl_speaks_tls_to_an_admin_api_with_a_private_ca() {
    let w = World::start_with(Spec::default().group("dc-east"), |cfg| {
        cfg.admin.listen = "127.0.0.1:0".into();
        cfg.admin.tls_cert = Some(cfg.certificates[0].cert.clone());
        cfg.admin.tls_key = Some(cfg.certificates[0].key.clone());
        cfg.admin.tokens.push(AdminToken {
            name: "ops".into(),
            token_hash: secret::hash(TOKEN),
            role: AdminRole::Admin,
            tenant: None,
        });
    });
    let url = format!("https://localhost:{}", w.gw.admin_addr.admin().port());
    let ca = w.pki.ca_path.display().to_string();
    let r = ok(&url, &["--ca-file", &ca, "groups", "list"]);
    assert!(line(&r.stdout, "dc-east").is_some(), "{r:?}");
    // The public roots do not know the test CA.
    let r = ctl_as(&url, Some(TOKEN), &["groups", "list"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.starts_with("error: cannot reach"), "{r:?}");
    // A CA file that is not there is a local failure.
    let r = ctl_as(
        &url,
        Some(TOKEN),
        &["--ca-file", "/nonexistent/ca.pem", "status"],
    );
    assert_eq!(r.code, 1, "{r:?}");
}

#[test]
fn ctl_names_tenant_objects_by_their_qualified_names() {
    let w = gateway(Spec::default());
    let url = admin_url(&w);

    let r = ok(
        &url,
        &[
            "tenants",
            "create",
            "t1",
            "--domain",
            "t1.example.test",
            "--quota",
            "groups=1",
        ],
    );
    assert!(r.stdout.contains("created tenant t1"), "{r:?}");
    // The operator and t1 both get a `dc-east`; the operator's is shared with tenants.
    let r = ok(&url, &["groups", "create", "dc-east", "--shared"]);
    assert!(r.stdout.contains("shared with tenants"), "{r:?}");
    let r = ok(&url, &["groups", "create", "dc-east", "--tenant", "t1"]);
    assert!(r.stdout.contains("created group t1/dc-east"), "{r:?}");
    let r = ok(&url, &["groups", "list"]);
    assert!(
        r.stdout.lines().next().unwrap_or("").contains("QUALIFIED"),
        "{r:?}"
    );
    let qualified: Vec<&str> = r
        .stdout
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    assert_eq!(qualified, ["dc-east", "t1/dc-east"], "{r:?}");
    let j = ok(&url, &["--json", "groups", "show", "t1/dc-east"]).json();
    assert_eq!(
        (&j["tenant"], &j["qualified"]),
        (&json!("t1"), &json!("t1/dc-east")),
        "{j}"
    );
    let j = ok(&url, &["--json", "groups", "show", "dc-east"]).json();
    assert_eq!(
        (&j["tenant"], &j["shared"]),
        (&Value::Null, &json!(true)),
        "{j}"
    );

    // A connector of t1's group, by the group's qualified name; moved and shown qualified.
    let r = ok(&url, &["connectors", "create", "c1", "t1/dc-east"]);
    assert!(
        r.stdout
            .contains("created connector t1/c1 in group dc-east"),
        "{r:?}"
    );
    let j = ok(&url, &["--json", "connectors", "show", "t1/c1"]).json();
    assert_eq!(j["tenant"], "t1", "{j}");
    let missing = ctl_as(&url, Some(TOKEN), &["connectors", "show", "c1"]);
    assert_eq!(missing.code, 4, "the operator has no c1: {missing:?}");

    // The quota: a second group of t1 is refused (exit 2), until it is raised.
    let refused = ctl_as(
        &url,
        Some(TOKEN),
        &["groups", "create", "dc-west", "--tenant", "t1"],
    );
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(refused.stderr.contains("quota of 1 groups"), "{refused:?}");
    let r = ok(&url, &["tenants", "show", "t1"]);
    assert!(r.stdout.contains("groups=1"), "{r:?}");
    let r = ok(&url, &["tenants", "set", "t1", "--quota", "groups=2"]);
    assert!(r.stdout.contains("changed tenant t1"), "{r:?}");
    ok(&url, &["groups", "create", "dc-west", "--tenant", "t1"]);
    let r = ok(&url, &["tenants", "list"]);
    let row = line(&r.stdout, "t1").unwrap_or_else(|| panic!("t1 listed: {r:?}"));
    assert!(
        row.contains("t1.example.test") && row.contains("2/2"),
        "{row}"
    );
    let bad = ctl_as(
        &url,
        Some(TOKEN),
        &["tenants", "set", "t1", "--quota", "nope=1"],
    );
    assert_eq!(bad.code, 2, "{bad:?}");

    // Rename and delete with a qualified name; the operator's dc-east is untouched.
    ok(&url, &["connectors", "move", "t1/c1", "dc-west"]);
    ok(&url, &["groups", "rename", "t1/dc-east", "dc-north"]);
    ok(
        &url,
        &["groups", "delete", "t1/dc-west", "--move-to", "dc-north"],
    );
    let j = ok(&url, &["--json", "connectors", "show", "t1/c1"]).json();
    assert_eq!(j["group"], "dc-north", "{j}");
    let j = ok(&url, &["--json", "groups", "list"]).json();
    let names: Vec<&str> = j["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|g| g["qualified"].as_str())
        .collect();
    assert_eq!(names, ["dc-east", "t1/dc-north"], "{j}");
}
