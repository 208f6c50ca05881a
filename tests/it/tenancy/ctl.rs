//! `switchyard ctl` (the real binary) with a tenant token: another tenant's objects get the
//! exit code and stderr a missing object gets (names aside); with the admin token, the
//! same names of two scopes are told apart by their qualified names.

use std::process::Command;

use super::isolation::populate;
use super::start;
use crate::support::world::Spec;

/// One finished `switchyard ctl` run: exit code, stdout, stderr.
fn ctl(url: &str, token: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("ctl")
        .args(["--url", url])
        .args(args)
        .env_remove("SWITCHYARD_URL")
        .env("SWITCHYARD_TOKEN", token)
        .env("NO_COLOR", "1")
        .output()
        .expect("run switchyard ctl");
    (
        out.status.code().expect("exited"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A `ctl` command on `t1`'s object, the same on a name nobody has, and the two names.
struct Case {
    hidden: &'static [&'static str],
    missing: &'static [&'static str],
    names: (&'static str, &'static str),
}

const BLUE: (&str, &str) = ("blue-dc", "ghost-dc");

const CASES: &[Case] = &[
    Case {
        hidden: &["groups", "show", "blue-dc"],
        missing: &["groups", "show", "ghost-dc"],
        names: BLUE,
    },
    Case {
        hidden: &["groups", "show", "t1/blue-dc"],
        missing: &["groups", "show", "t9/ghost-dc"],
        names: ("t1/blue-dc", "t9/ghost-dc"),
    },
    Case {
        hidden: &["groups", "rename", "blue-dc", "mine"],
        missing: &["groups", "rename", "ghost-dc", "mine"],
        names: BLUE,
    },
    Case {
        hidden: &["groups", "delete", "blue-dc"],
        missing: &["groups", "delete", "ghost-dc"],
        names: BLUE,
    },
    Case {
        hidden: &["connectors", "move", "green-c", "blue-dc"],
        missing: &["connectors", "move", "green-c", "ghost-dc"],
        names: BLUE,
    },
    Case {
        hidden: &["connectors", "revoke", "blue-c"],
        missing: &["connectors", "revoke", "ghost-c"],
        names: ("blue-c", "ghost-c"),
    },
    Case {
        hidden: &["apps", "delete", "blue-app"],
        missing: &["apps", "delete", "ghost-app"],
        names: ("blue-app", "ghost-app"),
    },
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_with_a_tenant_token_cannot_tell_another_tenants_objects_from_missing_ones() {
    let (w, t, api) = start(Spec::default(), |_| {});
    populate(&api, &t).await;
    let (url, token) = (w.admin_url(""), t.t2.clone());
    let runs = tokio::task::spawn_blocking(move || {
        CASES
            .iter()
            .map(|c| (c, ctl(&url, &token, c.hidden), ctl(&url, &token, c.missing)))
            .collect::<Vec<_>>()
    })
    .await
    .expect("ctl runs");
    for (c, hidden, missing) in runs {
        let args = c.hidden.join(" ");
        assert_ne!(hidden.0, 0, "{args}: {hidden:?}");
        assert_eq!(hidden.0, missing.0, "{args}: exit codes");
        assert_eq!(
            hidden.2.replace(c.names.0, "<name>"),
            missing.2.replace(c.names.1, "<name>"),
            "{args}: stderr"
        );
        eprintln!("ctl {args} → exit {}: {}", hidden.0, hidden.2.trim());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_with_the_admin_token_tells_the_same_names_apart_by_qualified_name() {
    let (w, t, api) = start(Spec::default(), |_| {});
    populate(&api, &t).await;
    let (url, admin) = (w.admin_url(""), t.admin.clone());
    let (list, shown) = tokio::task::spawn_blocking(move || {
        let r = ctl(
            &url,
            &admin,
            &["groups", "create", "blue-dc", "--tenant", "t2"],
        );
        assert_eq!(r.0, 0, "{r:?}");
        (
            ctl(&url, &admin, &["groups", "list"]),
            ctl(&url, &admin, &["--json", "groups", "show", "t2/blue-dc"]),
        )
    })
    .await
    .expect("ctl runs");
    assert_eq!(list.0, 0, "{list:?}");
    for q in ["t1/blue-dc", "t2/blue-dc", "t2/green-dc", "ops-dc", "dr"] {
        let listed = list.1.lines().any(|l| l.split_whitespace().any(|c| c == q));
        assert!(listed, "{q} in {}", list.1);
    }
    assert_eq!(shown.0, 0, "{shown:?}");
    let j: serde_json::Value = serde_json::from_str(&shown.1).expect("json");
    assert_eq!(j["tenant"], "t2");
    assert_eq!(j["qualified"], "t2/blue-dc");
}
