//! Cross-tenant attempts through the API and the tunnel: every attempt of `t2` on `t1`'s
//! objects, groups, hosts and scope gets exactly the answer (status and error body, names
//! aside) the same attempt on a name nobody has gets, and changes nothing.

use reqwest::Method;
use serde_json::json;
use switchyard::catalog::writer::CatalogWriter;

use super::attempts::{all, neutral};
use super::{enrolling, enrollment_token, expect, refusal, start, start_connector, Tokens};
use crate::admin::{app_json, Answer, Api};
use crate::support::world::{Spec, World};

pub const URL: &str = "http://127.0.0.1:9";

/// `t1` owns group `blue-dc` (connector `blue-c`, app `blue-app` on `blue.t1.example.test`,
/// an enrollment token); `t2` owns `green-dc`, `green-c`, `green-app`; the operator owns a
/// private group `ops-dc` and a shared one `dr`.
pub async fn populate(api: &Api, t: &Tokens) -> String {
    let posts = [
        (&t.t1, "/groups", json!({"name": "blue-dc"})),
        (
            &t.t1,
            "/connectors",
            json!({"id": "blue-c", "group": "blue-dc"}),
        ),
        (
            &t.t1,
            "/apps",
            app_json("blue-app", "blue.t1.example.test", URL, &["blue-dc"]),
        ),
        (&t.t2, "/groups", json!({"name": "green-dc"})),
        (
            &t.t2,
            "/connectors",
            json!({"id": "green-c", "group": "green-dc"}),
        ),
        (
            &t.t2,
            "/apps",
            app_json("green-app", "green.t2.example.test", URL, &["green-dc"]),
        ),
        (&t.admin, "/groups", json!({"name": "ops-dc"})),
        (&t.admin, "/groups", json!({"name": "dr", "shared": true})),
    ];
    for (token, path, body) in posts {
        expect(api, token, Method::POST, path, Some(body), 201).await;
    }
    let token = expect(
        api,
        &t.t1,
        Method::POST,
        "/enrollment-tokens",
        Some(json!({})),
        201,
    )
    .await;
    token.body["id"].as_str().expect("token id").to_string()
}

/// The objects of `t1` and the operator, as stored.
fn others(w: &World) -> String {
    let c = w.gw.catalog.desired().catalog.clone();
    let t2 = Some("t2".to_string());
    let json = json!({
        "groups": c.groups.iter().filter(|g| g.tenant != t2).map(|g| format!("{g:?}")).collect::<Vec<_>>(),
        "connectors": c.connectors.iter().filter(|x| x.tenant != t2).map(|x| format!("{x:?}")).collect::<Vec<_>>(),
        "apps": c.apps.iter().filter(|a| a.tenant != t2).map(|a| format!("{a:?}")).collect::<Vec<_>>(),
        "tokens": c.enrollment_tokens.iter().filter(|e| e.tenant != t2).map(|e| format!("{e:?}")).collect::<Vec<_>>(),
        "tenants": format!("{:?}", c.tenants),
    });
    json.to_string()
}

fn line(what: &str, a: &Answer) -> String {
    let message = a.body["error"]["message"].as_str().unwrap_or("");
    format!("{what}: {} {} {message:?}", a.status, a.code())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cross_tenant_attempt_answers_like_a_missing_object() {
    let (w, t, api) = start(Spec::default(), |_| {});
    let t1_token_id = populate(&api, &t).await;
    let before = others(&w);
    let mut report = Vec::new();
    for a in all(&t1_token_id) {
        let hidden = api
            .call(&t.t2, a.method.clone(), &a.hidden.0, a.hidden.1.clone())
            .await;
        let missing = api
            .call(&t.t2, a.method.clone(), &a.missing.0, a.missing.1.clone())
            .await;
        assert!(hidden.status >= 400, "{}: {:?}", a.what, hidden.body);
        assert_eq!(
            hidden.status, missing.status,
            "{}: {:?} / {:?}",
            a.what, hidden.body, missing.body
        );
        assert_eq!(
            neutral(&hidden.body, a.names.iter().map(|n| n.0.as_str())),
            neutral(&missing.body, a.names.iter().map(|n| n.1.as_str())),
            "{}: the answers differ beyond the names",
            a.what
        );
        report.push(line(a.what, &hidden));
    }
    // Nothing of t1 or the operator changed.
    assert_eq!(others(&w), before);
    // t2's lists show nothing of t1's or the operator's.
    for (path, key) in [
        ("/groups", "name"),
        ("/connectors", "id"),
        ("/apps", "name"),
    ] {
        let list = expect(&api, &t.t2, Method::GET, path, None, 200).await;
        let text = list.body.to_string();
        for foreign in ["blue", "ops-dc", "\"dr\""] {
            assert!(!text.contains(foreign), "{path} shows {foreign}: {text}");
        }
        assert!(!list.names(key).is_empty(), "{path} lists t2's own");
    }
    let tenants = expect(&api, &t.t2, Method::GET, "/tenants", None, 200).await;
    assert_eq!(tenants.names("name"), ["t2".to_string()].into());
    let tokens = expect(&api, &t.t2, Method::GET, "/enrollment-tokens", None, 200).await;
    assert!(!tokens.body.to_string().contains(&t1_token_id));
    eprintln!("cross-tenant attempts of t2 on t1 (status, code, message):");
    for l in &report {
        eprintln!("  {l}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolling_into_another_tenants_scope_is_refused_like_a_missing_one() {
    let (w, t, api) = start(Spec::default(), |_| {});
    populate(&api, &t).await;
    let before = others(&w);
    let token = enrollment_token(&api, &t.t2).await;
    let dir = w.dir.path();
    // A qualified id naming t1's scope, and one naming a tenant nobody has.
    let mut reasons = Vec::new();
    for (id, name) in [
        ("t1/intruder", "t1/intruder"),
        ("t9/intruder", "t9/intruder"),
    ] {
        let file = format!("{}.secret", id.replace('/', "-"));
        let h = switchyard::run_connector(enrolling(&w, dir, &file, id, &token))
            .await
            .expect("starts");
        let reason = refusal(&h).await;
        h.kill();
        assert!(!dir.join(&file).exists(), "{id}: no secret");
        assert!(!reason.contains("connectors["), "no catalog path: {reason}");
        reasons.push(reason.replace(name, "<id>"));
    }
    assert_eq!(reasons[0], reasons[1], "refused alike");
    eprintln!("enroll with t2's token as \"t1/intruder\": {}", reasons[0]);
    // The plain id of t1's connector lands in t2's own scope; t1's entry is untouched.
    let h = start_connector(
        &w,
        enrolling(&w, dir, "blue-c.secret", "blue-c", &token),
        "t2/blue-c",
    )
    .await;
    assert_eq!(others(&w), before, "t1 and the operator unchanged");
    let mine = expect(&api, &t.t2, Method::GET, "/connectors/blue-c", None, 200).await;
    assert_eq!(mine.body["group"], "default");
    assert_eq!(mine.body["live"], true);
    let theirs = expect(&api, &t.t1, Method::GET, "/connectors/blue-c", None, 200).await;
    assert_eq!(
        theirs.body["live"], false,
        "t1's blue-c is not the one that connected"
    );
    h.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hello_with_another_tenants_connector_id_learns_nothing() {
    use switchyard::catalog::{secret, ConnectorSpec, GroupSpec};
    let real = secret::generate();
    let (w, _t, _api) = start(Spec::default(), |cfg| {
        cfg.groups.push(GroupSpec::new("blue-dc", Some("t1")));
        cfg.connectors.push(ConnectorSpec {
            id: "blue-c".into(),
            group: "blue-dc".into(),
            secret_hash: secret::hash(&real),
            tenant: Some("t1".into()),
            revoked: false,
        });
    });
    let mut reasons = Vec::new();
    for (id, name) in [
        ("blue-c", "blue-c"),
        ("ghost-c", "ghost-c"),
        ("t1/blue-c", "t1/blue-c"),
        ("t9/ghost-c", "t9/ghost-c"),
    ] {
        let cfg = crate::support::world::connector_config(
            id,
            "a-guessed-secret",
            w.gw.tunnel_addr,
            &w.pki.ca_path,
        );
        let h = switchyard::run_connector(cfg).await.expect("starts");
        let reason = refusal(&h).await;
        h.kill();
        reasons.push(reason.replace(&format!("\"{name}\""), "<id>"));
    }
    eprintln!(
        "hello as t1's \"blue-c\" with a wrong secret: {}",
        reasons[0]
    );
    assert!(reasons.iter().all(|r| *r == reasons[0]), "{reasons:?}");
    // The real secret still admits it, under its qualified id.
    let cfg =
        crate::support::world::connector_config("blue-c", &real, w.gw.tunnel_addr, &w.pki.ca_path);
    start_connector(&w, cfg, "t1/blue-c").await.kill();
}
