//! Names and hosts per scope: a tenant takes any name another scope uses without a hint,
//! the admin addresses each scope's object by its qualified name, references never cross
//! scopes (even the admin's), and hosts stay inside the domains of the scope publishing
//! them.

use reqwest::Method;
use serde_json::json;
use switchyard::catalog::writer::CatalogWriter;

use super::isolation::{populate, URL};
use super::{expect, post, refused, start};
use crate::admin::app_json;
use crate::support::world::Spec;

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
        let a = post(&api, &t.t2, path, body).await;
        let view = a.body.get("connector").unwrap_or(&a.body);
        assert_eq!(view["tenant"], "t2", "{path}: {:?}", a.body);
    }
    // A conflict inside one's own scope names only one's own object.
    let body = Some(json!({"name": "blue-dc"}));
    let again = api.call(&t.t2, Method::POST, "/groups", body).await;
    let message = refused(&again, 409, "conflict");
    assert_eq!(message, "a group named \"blue-dc\" already exists");
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
async fn even_the_admin_cannot_tie_two_scopes_together() {
    let (_w, t, api) = start(Spec::default(), |_| {});
    populate(&api, &t).await;
    let path = "/connectors/t1%2Fblue-c/move";
    let across = api
        .call(
            &t.admin,
            Method::POST,
            path,
            Some(json!({"group": "green-dc"})),
        )
        .await;
    refused(&across, 400, "invalid");
    let mut app = app_json(
        "mixed",
        "mixed.t1.example.test",
        URL,
        &["blue-dc", "green-dc"],
    );
    app["tenant"] = json!("t1");
    let mixed = api.call(&t.admin, Method::POST, "/apps", Some(app)).await;
    let message = refused(&mixed, 400, "invalid");
    assert!(message.contains("unknown group \"green-dc\""), "{message}");
    let still = expect(
        &api,
        &t.admin,
        Method::GET,
        "/connectors/t1%2Fblue-c",
        None,
        200,
    )
    .await;
    assert_eq!(still.body["group"], "blue-dc");
    // A tenant's group is not shared, whoever asks.
    let shared = api
        .call(
            &t.admin,
            Method::POST,
            "/groups",
            Some(json!({"name": "s", "tenant": "t1", "shared": true})),
        )
        .await;
    refused(&shared, 400, "invalid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_apps_stay_outside_tenant_domains() {
    let (_w, t, api) = start(Spec::default(), |_| {});
    post(&api, &t.admin, "/groups", json!({"name": "g"})).await;
    let inside = "is inside domain \"t1.example.test\" of tenant \"t1\"";
    let cases = [
        ("x.t1.example.test", inside),
        ("*.t1.example.test", inside),
        ("*.example.test", "would capture names of domain"),
    ];
    for (host, want) in cases {
        let app = Some(app_json("op", host, URL, &["g"]));
        let a = api.call(&t.admin, Method::POST, "/apps", app).await;
        let message = refused(&a, 400, "invalid");
        assert_eq!(a.field(), "apps[0].host", "{host}");
        assert!(message.contains(want), "{host}: {message}");
    }
    // The admin publishes inside a tenant's domain only as that tenant's app.
    post(
        &api,
        &t.admin,
        "/groups",
        json!({"name": "g", "tenant": "t1"}),
    )
    .await;
    let mut app = app_json("op", "x.t1.example.test", URL, &["g"]);
    app["tenant"] = json!("t1");
    let a = post(&api, &t.admin, "/apps", app).await;
    assert_eq!(a.body["qualified"], "t1/op");
    post(
        &api,
        &t.admin,
        "/apps",
        app_json("op", "x.example.test", URL, &["g"]),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_publishes_only_inside_its_own_domains() {
    let (_w, t, api) = start(Spec::default(), |_| {});
    post(&api, &t.t2, "/groups", json!({"name": "default"})).await;
    let own = app_json("all", "*.t2.example.test", URL, &["default"]);
    post(&api, &t.t2, "/apps", own).await;
    for host in ["*.example.test", "t1.example.test", "elsewhere.test"] {
        let app = Some(app_json("wide", host, URL, &["default"]));
        let wide = api.call(&t.t2, Method::POST, "/apps", app).await;
        let message = refused(&wide, 400, "invalid");
        assert!(
            message.contains("outside this tenant's domains (t2.example.test)"),
            "{host}: {message}"
        );
        let rest = message.replace(host, "");
        assert!(
            !rest.contains("t1"),
            "names only its own domains: {message}"
        );
    }
}
