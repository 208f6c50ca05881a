//! Cross-tenant attempts through the API and the tunnel: every attempt of `t2` on `t1`'s
//! objects, groups, hosts and scope gets exactly the answer (status and error body, names
//! aside) the same attempt on a name nobody has gets, and changes nothing.

use reqwest::Method;
use serde_json::{json, Value};
use switchyard::catalog::writer::CatalogWriter;

use super::{enrolling, enrollment_token, expect, refusal, start, start_connector, Tokens};
use crate::admin::{app_json, Answer, Api};
use crate::support::world::{Spec, World};

const URL: &str = "http://127.0.0.1:9";

/// One attempt and its control: the same request on names nobody has.
struct Attempt {
    what: &'static str,
    method: Method,
    /// Path and body of the attempt on `t1`'s object.
    hidden: (String, Option<Value>),
    /// Path and body of the control.
    missing: (String, Option<Value>),
    /// The names that differ between the two, as `(in the attempt, in the control)`.
    names: Vec<(String, String)>,
}

fn attempt(
    what: &'static str,
    method: Method,
    hidden: (&str, Option<Value>),
    missing: (&str, Option<Value>),
    names: &[(&str, &str)],
) -> Attempt {
    Attempt {
        what,
        method,
        hidden: (hidden.0.to_string(), hidden.1),
        missing: (missing.0.to_string(), missing.1),
        names: names
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
    }
}

/// The body with each name (as it appears quoted inside a JSON string) made neutral.
fn neutral<'a>(body: &Value, names: impl Iterator<Item = &'a str>) -> String {
    let mut text = body.to_string();
    for (i, n) in names.enumerate() {
        text = text.replace(&format!("\\\"{n}\\\""), &format!("<name{i}>"));
    }
    text
}

/// `t1` owns group `blue-dc` (connector `blue-c`, app `blue-app` on `blue.t1.example.test`,
/// an enrollment token); `t2` owns `green-dc`, `green-c`, `green-app`; the operator owns a
/// private group `ops-dc` and a shared one `dr`.
async fn populate(api: &Api, t: &Tokens) -> String {
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

fn attempts(t1_token_id: &str) -> Vec<Attempt> {
    use Method as M;
    let blue = &[("blue-dc", "ghost-dc")];
    let blue_c = &[("blue-c", "ghost-c")];
    let blue_app = &[("blue-app", "ghost-app")];
    let app_in = |groups: &[&str]| Some(app_json("new-app", "new.t2.example.test", URL, groups));
    let app_at = |host: &str| Some(app_json("new-app", host, URL, &["green-dc"]));
    let rename = Some(json!({"name": "mine"}));
    let whole = Some(app_json("x", "x.t2.example.test", URL, &["green-dc"]));
    let tid = t1_token_id;
    vec![
        attempt(
            "read a group",
            M::GET,
            ("/groups/blue-dc", None),
            ("/groups/ghost-dc", None),
            blue,
        ),
        attempt(
            "read a group by its qualified name",
            M::GET,
            ("/groups/t1%2Fblue-dc", None),
            ("/groups/t9%2Fghost-dc", None),
            &[("t1/blue-dc", "t9/ghost-dc")],
        ),
        attempt(
            "read a connector",
            M::GET,
            ("/connectors/blue-c", None),
            ("/connectors/ghost-c", None),
            blue_c,
        ),
        attempt(
            "read an app",
            M::GET,
            ("/apps/blue-app", None),
            ("/apps/ghost-app", None),
            blue_app,
        ),
        attempt(
            "read a tenant",
            M::GET,
            ("/tenants/t1", None),
            ("/tenants/t9", None),
            &[("t1", "t9")],
        ),
        attempt(
            "change a group",
            M::PATCH,
            ("/groups/blue-dc", Some(json!({"balance": "round_robin"}))),
            ("/groups/ghost-dc", Some(json!({"balance": "round_robin"}))),
            blue,
        ),
        attempt(
            "rename a group",
            M::PATCH,
            ("/groups/blue-dc", rename.clone()),
            ("/groups/ghost-dc", rename),
            blue,
        ),
        attempt(
            "delete a group",
            M::DELETE,
            ("/groups/blue-dc", None),
            ("/groups/ghost-dc", None),
            blue,
        ),
        attempt(
            "delete a group, moving its members into another tenant's group",
            M::DELETE,
            ("/groups/green-dc?move_to=blue-dc", None),
            ("/groups/green-dc?move_to=ghost-dc", None),
            blue,
        ),
        attempt(
            "move another tenant's connector",
            M::POST,
            (
                "/connectors/blue-c/move",
                Some(json!({"group": "green-dc"})),
            ),
            (
                "/connectors/ghost-c/move",
                Some(json!({"group": "green-dc"})),
            ),
            blue_c,
        ),
        attempt(
            "move a connector into another tenant's group",
            M::POST,
            (
                "/connectors/green-c/move",
                Some(json!({"group": "blue-dc"})),
            ),
            (
                "/connectors/green-c/move",
                Some(json!({"group": "ghost-dc"})),
            ),
            blue,
        ),
        attempt(
            "create a connector in another tenant's group",
            M::POST,
            (
                "/connectors",
                Some(json!({"id": "new-c", "group": "blue-dc"})),
            ),
            (
                "/connectors",
                Some(json!({"id": "new-c", "group": "ghost-dc"})),
            ),
            blue,
        ),
        attempt(
            "revoke a connector",
            M::POST,
            ("/connectors/blue-c/revoke", None),
            ("/connectors/ghost-c/revoke", None),
            blue_c,
        ),
        attempt(
            "delete a connector",
            M::DELETE,
            ("/connectors/blue-c", None),
            ("/connectors/ghost-c", None),
            blue_c,
        ),
        attempt(
            "an app naming another tenant's group",
            M::POST,
            ("/apps", app_in(&["blue-dc"])),
            ("/apps", app_in(&["ghost-dc"])),
            blue,
        ),
        attempt(
            "an app naming another tenant's group qualified",
            M::POST,
            ("/apps", app_in(&["t1/blue-dc"])),
            ("/apps", app_in(&["t9/ghost-dc"])),
            &[("t1/blue-dc", "t9/ghost-dc")],
        ),
        attempt(
            "an app naming an operator group that is not shared",
            M::POST,
            ("/apps", app_in(&["/ops-dc"])),
            ("/apps", app_in(&["/ghost-dc"])),
            &[("/ops-dc", "/ghost-dc")],
        ),
        attempt(
            "re-point an app at another tenant's group",
            M::PATCH,
            ("/apps/green-app", Some(json!({"groups": ["blue-dc"]}))),
            ("/apps/green-app", Some(json!({"groups": ["ghost-dc"]}))),
            blue,
        ),
        attempt(
            "replace an app",
            M::PUT,
            ("/apps/blue-app", whole.clone()),
            ("/apps/ghost-app", whole),
            blue_app,
        ),
        attempt(
            "change an app",
            M::PATCH,
            ("/apps/blue-app", Some(json!({"preserve_host": true}))),
            ("/apps/ghost-app", Some(json!({"preserve_host": true}))),
            blue_app,
        ),
        attempt(
            "delete an app",
            M::DELETE,
            ("/apps/blue-app", None),
            ("/apps/ghost-app", None),
            blue_app,
        ),
        attempt(
            "publish a host of another tenant's domain",
            M::POST,
            ("/apps", app_at("new.t1.example.test")),
            ("/apps", app_at("new.nobody.example.test")),
            &[("new.t1.example.test", "new.nobody.example.test")],
        ),
        attempt(
            "publish the exact host another tenant publishes",
            M::POST,
            ("/apps", app_at("blue.t1.example.test")),
            ("/apps", app_at("blue.nobody.example.test")),
            &[("blue.t1.example.test", "blue.nobody.example.test")],
        ),
        attempt(
            "publish a wildcard over another tenant's domain",
            M::POST,
            ("/apps", app_at("*.t1.example.test")),
            ("/apps", app_at("*.nobody.example.test")),
            &[("*.t1.example.test", "*.nobody.example.test")],
        ),
        attempt(
            "delete another tenant's enrollment token",
            M::DELETE,
            (&format!("/enrollment-tokens/{tid}"), None),
            ("/enrollment-tokens/et-ghost0000000", None),
            &[(tid, "et-ghost0000000")],
        ),
        attempt(
            "create a group in another tenant's scope",
            M::POST,
            ("/groups", Some(json!({"name": "x", "tenant": "t1"}))),
            ("/groups", Some(json!({"name": "x", "tenant": "t9"}))),
            &[],
        ),
        attempt(
            "create a connector in another tenant's scope",
            M::POST,
            (
                "/connectors",
                Some(json!({"id": "x", "group": "green-dc", "tenant": "t1"})),
            ),
            (
                "/connectors",
                Some(json!({"id": "x", "group": "green-dc", "tenant": "t9"})),
            ),
            &[],
        ),
        attempt(
            "an enrollment token for another tenant's scope",
            M::POST,
            ("/enrollment-tokens", Some(json!({"tenant": "t1"}))),
            ("/enrollment-tokens", Some(json!({"tenant": "t9"}))),
            &[],
        ),
        attempt(
            "change another tenant's quotas",
            M::PATCH,
            ("/tenants/t1", Some(json!({"quotas": {"apps": 1000}}))),
            ("/tenants/t9", Some(json!({"quotas": {"apps": 1000}}))),
            &[("t1", "t9")],
        ),
    ]
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
    for a in attempts(&t1_token_id) {
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
    let tokens = expect(&api, &t.t2, Method::GET, "/enrollment-tokens", None, 200).await;
    assert!(!tokens.body.to_string().contains(&t1_token_id));
    eprintln!("cross-tenant attempts of t2 on t1 (status, code, message):");
    for l in &report {
        eprintln!("  {l}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_names_in_another_scope_are_created_without_revealing_anything() {
    let (w, t, api) = start(Spec::default(), |_| {});
    populate(&api, &t).await;
    // t2 takes every name t1 (and the operator) uses: no conflict, no hint.
    for (path, body) in [
        ("/groups", json!({"name": "blue-dc"})),
        ("/groups", json!({"name": "ops-dc"})),
        ("/connectors", json!({"id": "blue-c", "group": "blue-dc"})),
        (
            "/apps",
            app_json("blue-app", "blue.t2.example.test", URL, &["blue-dc", "/dr"]),
        ),
    ] {
        let a = expect(&api, &t.t2, Method::POST, path, Some(body), 201).await;
        let view = a.body.get("connector").unwrap_or(&a.body);
        assert_eq!(view["tenant"], "t2", "{path}: {:?}", a.body);
    }
    // A conflict inside one's own scope names only one's own object.
    let again = api
        .call(
            &t.t2,
            Method::POST,
            "/groups",
            Some(json!({"name": "blue-dc"})),
        )
        .await;
    assert_eq!(
        (again.status, again.code()),
        (409, "conflict"),
        "{:?}",
        again.body
    );
    assert_eq!(
        again.body["error"]["message"],
        "a group named \"blue-dc\" already exists"
    );
    // Each tenant reads its own under the plain name; the admin reads both qualified.
    let mine = expect(&api, &t.t2, Method::GET, "/groups/blue-dc", None, 200).await;
    assert_eq!(mine.body["tenant"], "t2");
    assert_eq!(mine.body["qualified"], "t2/blue-dc");
    assert_eq!(mine.body["connectors"], json!(["blue-c"]));
    assert_eq!(mine.body["apps"], json!(["blue-app"]));
    for tenant in ["t1", "t2"] {
        let path = format!("/groups/{tenant}%2Fblue-dc");
        let a = expect(&api, &t.admin, Method::GET, &path, None, 200).await;
        assert_eq!(a.body["tenant"], tenant);
        assert_eq!(a.body["qualified"], format!("{tenant}/blue-dc"));
        let read_only = expect(&api, &t.read_only, Method::GET, &path, None, 200).await;
        assert_eq!(read_only.body, a.body);
        let c = format!("/connectors/{tenant}%2Fblue-c");
        let c = expect(&api, &t.admin, Method::GET, &c, None, 200).await;
        assert_eq!(c.body["qualified"], format!("{tenant}/blue-c"));
    }
    // The operator's shared group lists the tenant apps using it, qualified.
    let dr = expect(&api, &t.admin, Method::GET, "/groups/dr", None, 200).await;
    assert_eq!(dr.body["shared"], true);
    assert_eq!(dr.body["apps"], json!(["t2/blue-app"]));
    let app = expect(&api, &t.t2, Method::GET, "/apps/blue-app", None, 200).await;
    assert_eq!(app.body["groups"], json!(["blue-dc", "/dr"]));
    assert_eq!(w.gw.catalog.desired().catalog.groups.len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_belong_to_their_domains_for_the_operator_too() {
    let (_w, t, api) = start(Spec::default(), |_| {});
    expect(
        &api,
        &t.admin,
        Method::POST,
        "/groups",
        Some(json!({"name": "g"})),
        201,
    )
    .await;
    let cases = [
        (
            "x.t1.example.test",
            "is inside domain \"t1.example.test\" of tenant \"t1\"",
        ),
        (
            "*.t1.example.test",
            "is inside domain \"t1.example.test\" of tenant \"t1\"",
        ),
        ("*.example.test", "would capture names of domain"),
    ];
    for (host, want) in cases {
        let a = api
            .call(
                &t.admin,
                Method::POST,
                "/apps",
                Some(app_json("op", host, URL, &["g"])),
            )
            .await;
        assert_eq!(
            (a.status, a.code()),
            (400, "invalid"),
            "{host}: {:?}",
            a.body
        );
        assert_eq!(a.field(), "apps[0].host", "{host}");
        let message = a.body["error"]["message"].as_str().unwrap_or("");
        assert!(message.contains(want), "{host}: {message}");
    }
    // The admin publishes inside a tenant's domain only as that tenant's app.
    expect(
        &api,
        &t.admin,
        Method::POST,
        "/groups",
        Some(json!({"name": "g", "tenant": "t1"})),
        201,
    )
    .await;
    let mut app = app_json("op", "x.t1.example.test", URL, &["g"]);
    app["tenant"] = json!("t1");
    let a = expect(&api, &t.admin, Method::POST, "/apps", Some(app), 201).await;
    assert_eq!(a.body["qualified"], "t1/op");
    expect(
        &api,
        &t.admin,
        Method::POST,
        "/apps",
        Some(app_json("op", "x.example.test", URL, &["g"])),
        201,
    )
    .await;
    // A tenant's own wildcard inside its domain is fine; a wider one is outside it.
    let own = app_json("all", "*.t2.example.test", URL, &["default"]);
    expect(
        &api,
        &t.t2,
        Method::POST,
        "/groups",
        Some(json!({"name": "default"})),
        201,
    )
    .await;
    expect(&api, &t.t2, Method::POST, "/apps", Some(own), 201).await;
    let wide = api
        .call(
            &t.t2,
            Method::POST,
            "/apps",
            Some(app_json("wide", "*.example.test", URL, &["default"])),
        )
        .await;
    assert_eq!(
        (wide.status, wide.code()),
        (400, "invalid"),
        "{:?}",
        wide.body
    );
    let message = wide.body["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("outside this tenant's domains (t2.example.test)"),
        "{message}"
    );
    assert!(
        !message.contains("t1"),
        "names only its own domains: {message}"
    );
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
