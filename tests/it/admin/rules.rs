//! What the API refuses: every class of validation error, tokens and roles, writes without
//! a store.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{json, Value};

use super::{app_json, get, Api};
use crate::support::world::{admin_setup, Spec, World};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_validation_error_class_is_answered_and_changes_nothing() {
    let spec =
        Spec::default()
            .group("g")
            .app("taken", "taken.example.test", "http://127.0.0.1:9", &["g"]);
    let (w, t) = World::start_admin(spec);
    let api = Api::of(&w);
    let before = get(&api, &t, "/status").await.etag.expect("etag");
    let post = |body: Value| {
        let api = api.clone();
        let token = t.admin.clone();
        async move { api.call(&token, Method::POST, "/apps", Some(body)).await }
    };

    // Unique names: 409 conflict naming the field.
    let dup = post(app_json(
        "taken",
        "new.example.test",
        "http://127.0.0.1:9",
        &["g"],
    ))
    .await;
    assert_eq!(
        (dup.status, dup.code(), dup.field()),
        (409, "conflict", "name")
    );
    let dup_group = api
        .call(
            &t.admin,
            Method::POST,
            "/groups",
            Some(json!({"name": "g"})),
        )
        .await;
    assert_eq!((dup_group.status, dup_group.code()), (409, "conflict"));

    // Catalog validation: 400 invalid, the catalog path of the first error, all in details.
    let host = post(app_json(
        "b",
        "taken.example.test",
        "http://127.0.0.1:9",
        &["g"],
    ))
    .await;
    assert_eq!(
        (host.status, host.code(), host.field()),
        (400, "invalid", "apps[1].host"),
        "{:?}",
        host.body
    );
    let group = post(app_json(
        "b",
        "b.example.test",
        "http://127.0.0.1:9",
        &["nope"],
    ))
    .await;
    assert_eq!((group.status, group.field()), (400, "apps[1].groups[0]"));
    assert!(group.body["error"]["message"]
        .as_str()
        .expect("message")
        .contains("unknown group"));
    let url = post(app_json("b", "b.example.test", "ftp://x", &["g"])).await;
    assert_eq!((url.status, url.field()), (400, "apps[1].internal_url"));
    let several = post(app_json("b", "b..test", "ftp://x", &["nope"])).await;
    assert_eq!(several.status, 400);
    let fields: BTreeSet<&str> = several.body["error"]["details"]
        .as_array()
        .expect("details")
        .iter()
        .filter_map(|d| d["field"].as_str())
        .collect();
    assert_eq!(
        fields,
        ["apps[1].host", "apps[1].internal_url", "apps[1].groups[0]"].into(),
        "{:?}",
        several.body
    );

    // Request errors.
    let malformed = api
        .raw(
            Some(&t.admin),
            Method::POST,
            "/apps",
            Some(("application/json", b"{\"name\":".to_vec())),
            None,
        )
        .await;
    assert_eq!((malformed.status, malformed.code()), (400, "invalid"));
    let mut unknown = app_json("b", "b.example.test", "http://127.0.0.1:9", &["g"]);
    unknown["colour"] = json!("blue");
    let unknown = post(unknown).await;
    assert_eq!((unknown.status, unknown.field()), (400, "colour"));
    let missing = post(json!({"name": "b"})).await;
    assert_eq!(missing.status, 400);
    let big = vec![b' '; 1024 * 1024 + 10];
    let oversized = api
        .raw(
            Some(&t.admin),
            Method::POST,
            "/apps",
            Some(("application/json", big)),
            None,
        )
        .await;
    assert_eq!(
        (oversized.status, oversized.code()),
        (413, "payload_too_large")
    );
    let text = api
        .raw(
            Some(&t.admin),
            Method::POST,
            "/apps",
            Some(("text/plain", b"{}".to_vec())),
            None,
        )
        .await;
    assert_eq!((text.status, text.code()), (415, "unsupported_media_type"));
    let untyped = api
        .raw(
            Some(&t.admin),
            Method::POST,
            "/apps",
            Some(("", b"{}".to_vec())),
            None,
        )
        .await;
    assert_eq!(untyped.status, 415);
    let nowhere = api.call(&t.admin, Method::GET, "/nowhere", None).await;
    assert_eq!((nowhere.status, nowhere.code()), (404, "not_found"));
    let wrong = api
        .call(&t.admin, Method::PUT, "/groups", Some(json!({})))
        .await;
    assert_eq!((wrong.status, wrong.code()), (405, "method_not_allowed"));
    assert_eq!(wrong.headers["allow"], "GET, POST");
    let bad_etag = api
        .call_if(&t.admin, Method::DELETE, "/apps/taken", None, Some("\"x\""))
        .await;
    assert_eq!((bad_etag.status, bad_etag.field()), (400, "If-Match"));

    let after = get(&api, &t, "/status").await;
    assert_eq!(
        after.etag,
        Some(before),
        "no failed write changed the catalog"
    );
    assert_eq!(after.body["apps"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_roles() {
    let spec = Spec::default().group("ops-g").app(
        "ops-app",
        "ops.example.test",
        "http://127.0.0.1:9",
        &["ops-g"],
    );
    let (w, t) = World::start_admin(spec);
    let api = Api::of(&w);

    let none = api.raw(None, Method::GET, "/groups", None, None).await;
    assert_eq!((none.status, none.code()), (401, "unauthorized"));
    assert_eq!(none.headers["www-authenticate"], "Bearer");
    let wrong = api.call("not-a-token", Method::GET, "/groups", None).await;
    assert_eq!(wrong.status, 401);

    assert_eq!(
        api.call(&t.read_only, Method::GET, "/groups", None)
            .await
            .status,
        200
    );
    let ro_write = api
        .call(
            &t.read_only,
            Method::POST,
            "/groups",
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!((ro_write.status, ro_write.code()), (403, "forbidden"));

    // Another tenant with objects of its own.
    let admin_post = |path: &'static str, body: Value| {
        let api = api.clone();
        let token = t.admin.clone();
        async move {
            let a = api.call(&token, Method::POST, path, Some(body)).await;
            assert_eq!(a.status, 201, "{path}: {:?}", a.body);
            a
        }
    };
    admin_post("/tenants", json!({"name": "globex"})).await;
    admin_post("/groups", json!({"name": "globex-g", "tenant": "globex"})).await;
    let gc = admin_post(
        "/connectors",
        json!({"id": "globex-c", "group": "globex/globex-g"}),
    )
    .await;
    assert_eq!(
        (
            &gc.body["connector"]["tenant"],
            &gc.body["connector"]["group"],
            &gc.body["connector"]["qualified"]
        ),
        (
            &json!("globex"),
            &json!("globex-g"),
            &json!("globex/globex-c")
        ),
        "a connector named into a tenant's group by its qualified name is that tenant's"
    );

    // The tenant token creates into its own tenant.
    let g = api
        .call(
            &t.tenant,
            Method::POST,
            "/groups",
            Some(json!({"name": "acme-g"})),
        )
        .await;
    assert_eq!(g.status, 201, "{:?}", g.body);
    assert_eq!(g.body["tenant"], "acme");
    let foreign = api
        .call(
            &t.tenant,
            Method::POST,
            "/groups",
            Some(json!({"name": "x", "tenant": "globex"})),
        )
        .await;
    assert_eq!((foreign.status, foreign.code()), (403, "forbidden"));
    let a = api
        .call(
            &t.tenant,
            Method::POST,
            "/apps",
            Some(app_json(
                "acme-app",
                "acme.example.test",
                "http://127.0.0.1:9",
                &["acme-g"],
            )),
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    assert_eq!(a.body["tenant"], "acme");
    let c = api
        .call(
            &t.tenant,
            Method::POST,
            "/connectors",
            Some(json!({"id": "acme-c", "group": "acme-g"})),
        )
        .await;
    assert_eq!(c.status, 201, "{:?}", c.body);

    // It sees only its own objects.
    let groups = api.call(&t.tenant, Method::GET, "/groups", None).await;
    assert_eq!(groups.names("name"), ["acme-g".to_string()].into());
    let apps = api.call(&t.tenant, Method::GET, "/apps", None).await;
    assert_eq!(apps.names("name"), ["acme-app".to_string()].into());
    let conns = api.call(&t.tenant, Method::GET, "/connectors", None).await;
    assert_eq!(conns.names("id"), ["acme-c".to_string()].into());
    let status = api.call(&t.tenant, Method::GET, "/status", None).await;
    assert_eq!(status.body["apps"], 1);
    assert_eq!(
        status.body["groups"],
        json!([{"name": "acme-g", "live_connectors": 0}])
    );
    let tenants = api.call(&t.tenant, Method::GET, "/tenants", None).await;
    assert_eq!(tenants.names("name"), ["acme".to_string()].into());

    // Everything else is 404, exactly like what does not exist.
    for (method, path, body) in [
        (Method::GET, "/groups/ops-g", None),
        (Method::GET, "/groups/globex-g", None),
        (
            Method::PATCH,
            "/groups/globex-g",
            Some(json!({"balance": "round_robin"})),
        ),
        (Method::DELETE, "/groups/ops-g", None),
        (Method::GET, "/apps/ops-app", None),
        (
            Method::PATCH,
            "/apps/ops-app",
            Some(json!({"groups": ["acme-g"]})),
        ),
        (Method::DELETE, "/apps/ops-app", None),
        (Method::GET, "/connectors/globex-c", None),
        (Method::POST, "/connectors/globex-c/revoke", None),
        (Method::DELETE, "/connectors/globex-c", None),
        (Method::GET, "/tenants/globex", None),
    ] {
        let hidden = api
            .call(&t.tenant, method.clone(), path, body.clone())
            .await;
        let missing = api
            .call(
                &t.tenant,
                method.clone(),
                &path.replace("globex", "nope").replace("ops", "nope"),
                body,
            )
            .await;
        assert_eq!(
            (hidden.status, hidden.code()),
            (404, "not_found"),
            "{method} {path}"
        );
        assert_eq!(hidden.status, missing.status, "{method} {path}");
    }
    // Naming another tenant's group reads like naming no group at all.
    let hidden = api
        .call(
            &t.tenant,
            Method::POST,
            "/connectors",
            Some(json!({"id": "acme-c2", "group": "globex-g"})),
        )
        .await;
    let missing = api
        .call(
            &t.tenant,
            Method::POST,
            "/connectors",
            Some(json!({"id": "acme-c2", "group": "nope-g"})),
        )
        .await;
    assert_eq!(hidden.status, 400);
    assert_eq!(
        hidden.body.to_string().replace("globex-g", "G"),
        missing.body.to_string().replace("nope-g", "G"),
        "no hint that globex-g exists"
    );

    // The admin sees everything.
    let all = get(&api, &t, "/groups").await;
    assert_eq!(
        all.names("name"),
        ["acme-g", "globex-g", "ops-g"].map(String::from).into()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_store_the_api_reads_and_refuses_writes() {
    let mut tokens = None;
    let w = World::start_with(Spec::default().group("g"), |cfg| {
        tokens = Some(admin_setup(cfg));
        cfg.store.dir = None;
    });
    let t = tokens.expect("tokens");
    let api = Api::of(&w);
    let status = get(&api, &t, "/status").await;
    assert_eq!(status.body["store"], Value::Null);
    let refused = api
        .call(
            &t.admin,
            Method::POST,
            "/groups",
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!((refused.status, refused.code()), (409, "read_only"));
}
