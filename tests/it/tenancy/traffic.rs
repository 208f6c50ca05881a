//! Traffic per scope: the operator and both tenants enroll a connector with the same id `c1`
//! into their own `default` group, create a group and an app with the same names, and each
//! host is served by its own scope's connector and origin, never another's.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use switchyard::catalog::writer::CatalogWriter;
use switchyard::config::connector::ConnectorConfig;
use switchyard::ConnectorHandle;

use super::{
    enrolling, enrollment_token, expect, fetch, live, post, start, start_connector, T1, T2,
};
use crate::admin::{app_json, Api};
use crate::support::world::{metric, Spec, World};
use crate::support::{eventually, origin};

/// One scope of the test: its token, the host of its app, its origin and its connector.
struct Scope<'a> {
    tenant: Option<&'static str>,
    token: &'a str,
    host: &'static str,
    origin: &'a origin::Origin,
    /// The connector's qualified id (`c1` for the operator's).
    qualified: &'static str,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_scopes_enroll_c1_and_each_serves_only_its_own_hosts() {
    let (op_o, t1_o, t2_o) = (
        origin::spawn("operator-origin").await,
        origin::spawn("t1-origin").await,
        origin::spawn("t2-origin").await,
    );
    let (w, t, api) = start(Spec::default(), |_| {});
    let scopes = [
        Scope {
            tenant: None,
            token: &t.admin,
            host: "web.example.test",
            origin: &op_o,
            qualified: "c1",
        },
        Scope {
            tenant: Some(T1),
            token: &t.t1,
            host: "web.t1.example.test",
            origin: &t1_o,
            qualified: "t1/c1",
        },
        Scope {
            tenant: Some(T2),
            token: &t.t2,
            host: "web.t2.example.test",
            origin: &t2_o,
            qualified: "t2/c1",
        },
    ];
    let (mut handles, configs) = enroll_and_publish(&w, &api, &scopes).await;
    three_c1_in_three_defaults(&w);

    // Each host is answered by its own origin through its own connector.
    let client = w.h1();
    for _ in 0..4 {
        for s in &scopes {
            assert_eq!(
                fetch(&w, &client, s.host).await,
                (200, s.origin.name.clone()),
                "{}",
                s.host
            );
        }
    }
    for s in &scopes {
        assert_eq!(s.origin.requests(), 4, "{} saw only its own", s.origin.name);
        // The registry counts a request once its answer has ended.
        let served = || w.served().get(s.qualified) == Some(&4);
        assert!(
            eventually(served, Duration::from_secs(5)).await,
            "{}: {:?}",
            s.qualified,
            w.served()
        );
    }

    views_and_metrics_are_per_scope(&w, &api, &t).await;
    wildcard_stays_in_its_domain(&w, &api, &t.t1, &t1_o, &t2_o).await;

    handles.remove("t2/c1").expect("t2 connector").kill();
    no_other_c1_takes_over(&w, &api, &t, [&op_o, &t1_o, &t2_o]).await;

    // Restarted, it says only "c1" and its stored secret: the gateway admits it as t2's.
    let again = start_connector(&w, configs["t2/c1"].clone(), "t2/c1").await;
    assert_eq!(again.auth_refusals(), 0);
    assert_eq!(
        fetch(&w, &client, "web.t2.example.test").await,
        (200, "t2-origin".to_string())
    );
    assert_eq!(w.gw.catalog.desired().catalog.connectors.len(), 3);
    again.kill();
    for h in handles.values() {
        h.kill();
    }
}

/// A tenant's wildcard serves names of its own domain only: a name of the other tenant's
/// domain that no app publishes is not found, and never reaches the wildcard's origin.
async fn wildcard_stays_in_its_domain(
    w: &World,
    api: &Api,
    t1_token: &str,
    t1_o: &origin::Origin,
    t2_o: &origin::Origin,
) {
    let any = app_json("any", "*.t1.example.test", &t1_o.url(), &["default"]);
    expect(api, t1_token, Method::POST, "/apps", Some(any), 201).await;
    let client = w.h2();
    let (t1_before, t2_before) = (t1_o.requests(), t2_o.requests());
    assert_eq!(
        fetch(w, &client, "other.t1.example.test").await,
        (200, "t1-origin".to_string())
    );
    for host in [
        "other.t2.example.test",
        "web2.t2.example.test",
        "t2.example.test",
    ] {
        assert_eq!(fetch(w, &client, host).await.0, 404, "{host}");
    }
    assert_eq!(
        t1_o.requests(),
        t1_before + 1,
        "t1's wildcard took only its own"
    );
    assert_eq!(t2_o.requests(), t2_before);
}

/// The API shows each scope its own `c1` with its own live state, `GET /status` names groups
/// qualified for the operator and plainly for a tenant, and metrics label apps and
/// connectors by qualified name.
async fn views_and_metrics_are_per_scope(w: &World, api: &Api, t: &super::Tokens) {
    let all = expect(api, &t.admin, Method::GET, "/connectors", None, 200).await;
    assert_eq!(
        all.names("qualified"),
        ["c1", "t1/c1", "t2/c1"].map(String::from).into()
    );
    for c in all.body["items"].as_array().expect("items") {
        assert_eq!(c["live"], true, "{c}");
        assert_eq!(c["served"], 4, "{c}");
    }
    let mine = expect(api, &t.t1, Method::GET, "/connectors", None, 200).await;
    assert_eq!(mine.names("qualified"), ["t1/c1".to_string()].into());
    let status = |token: &str| {
        let token = token.to_string();
        async move {
            let a = expect(api, &token, Method::GET, "/status", None, 200).await;
            let mut groups: Vec<(String, u64)> = a.body["groups"]
                .as_array()
                .expect("groups")
                .iter()
                .filter(|g| g["name"].as_str().is_some_and(|n| n.ends_with("default")))
                .map(|g| {
                    let name = g["name"].as_str().unwrap_or("").to_string();
                    (name, g["live_connectors"].as_u64().unwrap_or(0))
                })
                .collect();
            groups.sort();
            groups
        }
    };
    let want = |names: &[&str]| -> Vec<(String, u64)> {
        names.iter().map(|n| (n.to_string(), 1)).collect()
    };
    assert_eq!(
        status(&t.admin).await,
        want(&["default", "t1/default", "t2/default"])
    );
    assert_eq!(status(&t.t2).await, want(&["default"]));
    let ok = |app: &str| format!("switchyard_requests_total{{app=\"{app}\",class=\"2xx\"}}");
    let m = w
        .metrics_when(|m| {
            ["web", "t1/web", "t2/web"]
                .iter()
                .all(|a| metric(m, &ok(a)) == Some(4.0))
        })
        .await;
    for (app, connector) in [("web", "c1"), ("t1/web", "t1/c1"), ("t2/web", "t2/c1")] {
        assert_eq!(metric(&m, &ok(app)), Some(4.0), "{}", ok(app));
        let series = format!("switchyard_connector_in_flight{{connector=\"{connector}\"}}");
        assert!(metric(&m, &series).is_some(), "{series}");
    }
}

/// Each scope enrolls `c1` with an enrollment token of its own and publishes app `web` on
/// its `default` group, beside a group `dc-east`: the same names in every scope.
async fn enroll_and_publish(
    w: &World,
    api: &Api,
    scopes: &[Scope<'_>],
) -> (
    HashMap<&'static str, ConnectorHandle>,
    HashMap<&'static str, ConnectorConfig>,
) {
    let (mut handles, mut configs) = (HashMap::new(), HashMap::new());
    for s in scopes {
        let token = enrollment_token(api, s.token).await;
        let file = format!("{}.secret", s.tenant.unwrap_or("operator"));
        let cfg = enrolling(w, w.dir.path(), &file, "c1", &token);
        let h = start_connector(w, cfg.clone(), s.qualified).await;
        assert!(h.enrolled(), "{}", s.qualified);
        handles.insert(s.qualified, h);
        configs.insert(s.qualified, cfg);
        let g = post(api, s.token, "/groups", json!({"name": "dc-east"})).await;
        assert_eq!(g.body["name"], "dc-east");
        assert_eq!(g.body["tenant"], json!(s.tenant));
        let a = app_json("web", s.host, &s.origin.url(), &["default"]);
        let a = post(api, s.token, "/apps", a).await;
        assert_eq!(a.body["groups"], json!(["default"]));
    }
    (handles, configs)
}

/// Three catalog entries named `c1`, each in its own scope's own `default`.
fn three_c1_in_three_defaults(w: &World) {
    let catalog = w.gw.catalog.desired().catalog.clone();
    let mut c1s: Vec<(Option<String>, String)> = catalog
        .connectors
        .iter()
        .filter(|c| c.id == "c1")
        .map(|c| (c.tenant.clone(), c.group.clone()))
        .collect();
    c1s.sort();
    let want = |t: Option<&str>| (t.map(str::to_string), "default".to_string());
    assert_eq!(c1s, [want(None), want(Some(T1)), want(Some(T2))]);
    let defaults = catalog.groups.iter().filter(|g| g.name == "default");
    assert_eq!(defaults.count(), 3, "one default group per scope");
}

/// Without t2's connector, t2's host has no live connector: the two other `c1` (live, same
/// id) never take its traffic, and each scope's `c1` shows its own live state.
async fn no_other_c1_takes_over(
    w: &World,
    api: &Api,
    t: &super::Tokens,
    origins: [&origin::Origin; 3],
) {
    assert!(live(w, "t2/c1", 0).await, "gateway saw t2/c1 go");
    let count = || origins.map(|o| o.requests());
    let before = count();
    let client = w.h1();
    for _ in 0..3 {
        assert_eq!(fetch(w, &client, "web.t2.example.test").await.0, 503);
    }
    assert_eq!(count(), before, "no origin saw t2's requests");
    let t2_c1 = expect(api, &t.t2, Method::GET, "/connectors/c1", None, 200).await;
    assert_eq!(t2_c1.body["live"], false);
    let op_c1 = expect(api, &t.admin, Method::GET, "/connectors/c1", None, 200).await;
    assert_eq!(op_c1.body["live"], true);
}
