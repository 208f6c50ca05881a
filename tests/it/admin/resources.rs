//! Round trips of every resource, and changes live on the next request.

use std::time::{Duration, Instant};
use switchyard::catalog::writer::CatalogWriter;

use reqwest::Method;
use serde_json::{json, Value};

use super::{app_json, get, status_of, Api};
use crate::support::world::{Spec, World};
use crate::support::{eventually, origin};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_round_trip_rename_and_delete_with_move() {
    let (w, t) = World::start_admin(Spec::default().group("g"));
    let api = Api::of(&w);
    let v0 = get(&api, &t, "/status").await.etag.expect("etag");

    let created = api
        .call(
            &t.admin,
            Method::POST,
            "/groups",
            Some(json!({"name": "dc-east"})),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(
        created.body,
        json!({"name": "dc-east", "qualified": "dc-east", "balance": "p2c", "tenant": null,
               "shared": false, "connectors": [], "apps": []})
    );
    assert_eq!(created.etag, Some(v0 + 1));
    let list = get(&api, &t, "/groups").await;
    assert_eq!(
        list.names("name"),
        ["dc-east", "g"].map(String::from).into()
    );
    assert_eq!(list.etag, Some(v0 + 1));

    // Users of the group: a connector and an app.
    let c = api
        .call(
            &t.admin,
            Method::POST,
            "/connectors",
            Some(json!({"id": "c9", "group": "dc-east"})),
        )
        .await;
    assert_eq!(c.status, 201, "{:?}", c.body);
    let a = api
        .call(
            &t.admin,
            Method::POST,
            "/apps",
            Some(app_json(
                "wiki",
                "wiki.example.test",
                "http://127.0.0.1:9",
                &["dc-east", "g"],
            )),
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.body);

    let renamed = api
        .call(
            &t.admin,
            Method::PATCH,
            "/groups/dc-east",
            Some(json!({"name": "dc-e", "balance": "round_robin"})),
        )
        .await;
    assert_eq!(renamed.status, 200, "{:?}", renamed.body);
    assert_eq!(renamed.body["name"], "dc-e");
    assert_eq!(renamed.body["balance"], "round_robin");
    assert_eq!(renamed.body["connectors"], json!(["c9"]));
    assert_eq!(renamed.body["apps"], json!(["wiki"]));
    assert_eq!(get(&api, &t, "/connectors/c9").await.body["group"], "dc-e");
    assert_eq!(
        get(&api, &t, "/apps/wiki").await.body["groups"],
        json!(["dc-e", "g"])
    );
    let gone = api
        .call(&t.admin, Method::GET, "/groups/dc-east", None)
        .await;
    assert_eq!((gone.status, gone.code()), (404, "not_found"));

    let busy = api
        .call(&t.admin, Method::DELETE, "/groups/dc-e", None)
        .await;
    assert_eq!(
        (busy.status, busy.code()),
        (409, "conflict"),
        "{:?}",
        busy.body
    );
    let moved = api
        .call(&t.admin, Method::DELETE, "/groups/dc-e?move_to=g", None)
        .await;
    assert_eq!(moved.status, 200, "{:?}", moved.body);
    assert_eq!(moved.body, json!({"deleted": "dc-e", "moved_to": "g"}));
    assert_eq!(get(&api, &t, "/connectors/c9").await.body["group"], "g");
    // The chain had g already: it is not listed twice.
    assert_eq!(
        get(&api, &t, "/apps/wiki").await.body["groups"],
        json!(["g"])
    );

    let spare = api
        .call(
            &t.admin,
            Method::POST,
            "/groups",
            Some(json!({"name": "spare"})),
        )
        .await;
    assert_eq!(spare.status, 201);
    let deleted = api
        .call(&t.admin, Method::DELETE, "/groups/spare", None)
        .await;
    assert_eq!(deleted.status, 204);
    assert_eq!(deleted.etag, Some(spare.etag.expect("etag") + 1));
    assert_eq!(
        api.call(&t.admin, Method::GET, "/groups/spare", None)
            .await
            .status,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connectors_round_trip_with_live_state() {
    let (mut w, t) = World::start_admin(Spec::default().group("g").group("h"));
    let api = Api::of(&w);
    let created = api
        .call(
            &t.admin,
            Method::POST,
            "/connectors",
            Some(json!({"id": "c-new", "group": "g"})),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let secret = created.body["secret"].as_str().expect("secret").to_string();
    assert_eq!(secret.len(), 64);
    assert_eq!(created.body["connector"]["live"], false);
    assert_eq!(created.body["connector"]["revoked"], false);
    assert_eq!(created.body["connector"]["last_seen_unix"], Value::Null);
    // The secret is shown once: never in a read.
    let one = get(&api, &t, "/connectors/c-new").await;
    assert!(!one.body.to_string().contains(&secret));

    w.secrets.insert("c-new".into(), secret);
    w.connect("c-new").await;
    let live = get(&api, &t, "/connectors/c-new").await.body;
    assert_eq!(live["live"], true, "{live}");
    assert!(live["tunnels"].as_u64().expect("tunnels") >= 1);
    assert!(live["remote"]
        .as_str()
        .expect("remote")
        .starts_with("127.0.0.1:"));
    assert!(live["version"].is_string(), "{live}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    assert!(live["last_seen_unix"].as_u64().expect("last seen") + 5 >= now);
    assert_eq!(
        get(&api, &t, "/connectors").await.names("id"),
        ["c-new".to_string()].into()
    );

    let moved = api
        .call(
            &t.admin,
            Method::POST,
            "/connectors/c-new/move",
            Some(json!({"group": "h"})),
        )
        .await;
    assert_eq!(moved.status, 200, "{:?}", moved.body);
    assert_eq!(moved.body["group"], "h");
    assert_eq!(moved.body["live"], true);

    let deleted = api
        .call(&t.admin, Method::DELETE, "/connectors/c-new", None)
        .await;
    assert_eq!(deleted.status, 204);
    let state = w.gw.live.clone();
    assert!(
        eventually(
            || !state
                .registry
                .snapshot()
                .iter()
                .any(|(id, n, _, _)| &**id == "c-new" && *n > 0),
            Duration::from_secs(2)
        )
        .await,
        "a deleted connector's tunnels close"
    );
    assert_eq!(
        api.call(&t.admin, Method::GET, "/connectors/c-new", None)
            .await
            .status,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_connector_cuts_its_tunnels_within_a_second() {
    let o = origin::spawn("o").await;
    let spec = Spec::default().group("g").connector("c1", "g").app(
        "o",
        "o.example.test",
        &o.url(),
        &["g"],
    );
    let (mut w, t) = World::start_admin(spec);
    w.connect("c1").await;
    assert_eq!(status_of(&w, "o.example.test").await, 200);
    let api = Api::of(&w);

    let started = Instant::now();
    let revoked = api
        .call(&t.admin, Method::POST, "/connectors/c1/revoke", None)
        .await;
    assert_eq!(revoked.status, 200, "{:?}", revoked.body);
    assert_eq!(revoked.body["revoked"], true);
    assert_eq!(revoked.body["live"], false);
    let state = w.gw.live.clone();
    assert!(
        eventually(
            || !state
                .registry
                .snapshot()
                .iter()
                .any(|(id, n, _, _)| &**id == "c1" && *n > 0),
            Duration::from_secs(1)
        )
        .await,
        "tunnels of a revoked connector are closed within 1 s"
    );
    eprintln!(
        "revoke → no tunnel in the registry: {:?}",
        started.elapsed()
    );
    assert_eq!(status_of(&w, "o.example.test").await, 503);
    // It stays out: its reconnects are refused (wait for one refusal, with a deadline).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let m = w.metrics().await;
        let refused = crate::support::world::metric(
            &m,
            "switchyard_tunnel_auth_failures_total{reason=\"unknown_connector\"}",
        )
        .unwrap_or(0.0);
        if refused >= 1.0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no refused reconnect: {m}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!state
        .registry
        .snapshot()
        .iter()
        .any(|(id, n, _, _)| &**id == "c1" && *n > 0));
    assert_eq!(get(&api, &t, "/connectors/c1").await.body["live"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apps_round_trip_and_route_on_the_next_request() {
    let o = origin::spawn("o").await;
    let spec = Spec::default()
        .group("g")
        .connector("c1", "g")
        .group("empty");
    let (mut w, t) = World::start_admin(spec);
    w.connect("c1").await;
    let api = Api::of(&w);
    assert_eq!(status_of(&w, "web.example.test").await, 404);

    let body = app_json("web", "web.example.test", &o.url(), &["g"]);
    let created = api.call(&t.admin, Method::POST, "/apps", Some(body)).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["name"], "web");
    assert_eq!(created.body["origin_tls_verify"], true);
    assert_eq!(status_of(&w, "web.example.test").await, 200, "live at once");
    assert_eq!(
        get(&api, &t, "/apps").await.names("name"),
        ["web".to_string()].into()
    );

    let mut replaced = get(&api, &t, "/apps/web").await.body;
    replaced["preserve_host"] = json!(true);
    replaced["path_prefix"] = json!("/x");
    let put = api
        .call(&t.admin, Method::PUT, "/apps/web", Some(replaced.clone()))
        .await;
    assert_eq!(put.status, 200, "{:?}", put.body);
    assert_eq!(put.body, replaced);
    assert_eq!(status_of(&w, "web.example.test").await, 404, "only /x now");
    let renamed_in_put = api
        .call(
            &t.admin,
            Method::PUT,
            "/apps/web",
            Some(app_json("other", "web.example.test", &o.url(), &["g"])),
        )
        .await;
    assert_eq!(
        (renamed_in_put.status, renamed_in_put.field()),
        (400, "name")
    );

    // PATCH merges: the chain changes, everything else stays.
    let patched = api
        .call(
            &t.admin,
            Method::PATCH,
            "/apps/web",
            Some(json!({"groups": ["empty"], "path_prefix": null})),
        )
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    assert_eq!(patched.body["groups"], json!(["empty"]));
    assert_eq!(patched.body["preserve_host"], true);
    assert_eq!(patched.body["path_prefix"], Value::Null);
    assert_eq!(
        status_of(&w, "web.example.test").await,
        503,
        "no live connector in empty"
    );
    let back = api
        .call(
            &t.admin,
            Method::PATCH,
            "/apps/web",
            Some(json!({"groups": ["g"]})),
        )
        .await;
    assert_eq!(back.status, 200);
    assert_eq!(status_of(&w, "web.example.test").await, 200);

    let deleted = api.call(&t.admin, Method::DELETE, "/apps/web", None).await;
    assert_eq!(deleted.status, 204);
    assert_eq!(status_of(&w, "web.example.test").await, 404);
    assert_eq!(
        api.call(&t.admin, Method::GET, "/apps/web", None)
            .await
            .status,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrollment_tokens_and_tenants_round_trip() {
    let (w, t) = World::start_admin(Spec::default().group("g"));
    let api = Api::of(&w);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let created = api
        .call(
            &t.admin,
            Method::POST,
            "/enrollment-tokens",
            Some(json!({})),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["id"].as_str().expect("id").to_string();
    let token = created.body["token"].as_str().expect("token").to_string();
    assert_eq!(token.len(), 64);
    let expires = created.body["expires_at_unix"].as_u64().expect("expiry");
    assert!(
        (now + 86_400..now + 86_410).contains(&expires),
        "{expires} vs {now}"
    );
    // No body at all is the same as {}; a TTL is honoured.
    let short = api
        .raw(
            Some(&t.admin),
            Method::POST,
            "/enrollment-tokens",
            None,
            None,
        )
        .await;
    assert_eq!(short.status, 201, "{:?}", short.body);
    let ttl = api
        .call(
            &t.admin,
            Method::POST,
            "/enrollment-tokens",
            Some(json!({"ttl_secs": 60, "tenant": "acme"})),
        )
        .await;
    assert_eq!(ttl.status, 201);
    let short_expiry = ttl.body["expires_at_unix"].as_u64().expect("expiry");
    assert!(
        (now + 60..now + 70).contains(&short_expiry),
        "{short_expiry} vs {now}"
    );
    let zero = api
        .call(
            &t.admin,
            Method::POST,
            "/enrollment-tokens",
            Some(json!({"ttl_secs": 0})),
        )
        .await;
    assert_eq!((zero.status, zero.field()), (400, "ttl_secs"));

    let list = get(&api, &t, "/enrollment-tokens").await;
    assert_eq!(list.body["items"].as_array().expect("items").len(), 3);
    assert!(
        !list.body.to_string().contains(&token),
        "tokens are never listed"
    );
    let stored = &w.gw.catalog.desired().catalog.enrollment_tokens;
    assert!(stored
        .iter()
        .any(|e| e.id == id && e.token_hash == switchyard::catalog::secret::hash(&token)));
    // The tenant token sees only its tenant's token.
    let mine = api
        .call(&t.tenant, Method::GET, "/enrollment-tokens", None)
        .await;
    assert_eq!(mine.body["items"].as_array().expect("items").len(), 1);

    let del = api
        .call(
            &t.admin,
            Method::DELETE,
            &format!("/enrollment-tokens/{id}"),
            None,
        )
        .await;
    assert_eq!(del.status, 204);
    let again = api
        .call(
            &t.admin,
            Method::DELETE,
            &format!("/enrollment-tokens/{id}"),
            None,
        )
        .await;
    assert_eq!(again.status, 404);

    let tenant = api
        .call(
            &t.admin,
            Method::POST,
            "/tenants",
            Some(json!({"name": "globex"})),
        )
        .await;
    assert_eq!(tenant.status, 201, "{:?}", tenant.body);
    assert_eq!(
        get(&api, &t, "/tenants").await.names("name"),
        ["acme", "globex"].map(String::from).into()
    );
    let by_tenant = api
        .call(
            &t.tenant,
            Method::POST,
            "/tenants",
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(by_tenant.status, 403);
    // acme owns an enrollment token: refused; globex owns nothing.
    assert_eq!(
        api.call(&t.admin, Method::DELETE, "/tenants/acme", None)
            .await
            .status,
        409
    );
    assert_eq!(
        api.call(&t.admin, Method::DELETE, "/tenants/globex", None)
            .await
            .status,
        204
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moved_connector_serves_its_new_group_on_the_next_request() {
    let o = origin::spawn("o").await;
    let spec = Spec::default()
        .group("g1")
        .group("g2")
        .connector("c1", "g1")
        .app("one", "one.example.test", &o.url(), &["g1"])
        .app("two", "two.example.test", &o.url(), &["g2"]);
    let (mut w, t) = World::start_admin(spec);
    w.connect("c1").await;
    assert_eq!(status_of(&w, "one.example.test").await, 200);
    assert_eq!(status_of(&w, "two.example.test").await, 503);
    let api = Api::of(&w);
    let moved = api
        .call(
            &t.admin,
            Method::POST,
            "/connectors/c1/move",
            Some(json!({"group": "g2"})),
        )
        .await;
    assert_eq!(moved.status, 200, "{:?}", moved.body);
    // No wait: the table and the live view were swapped before the answer.
    assert_eq!(status_of(&w, "two.example.test").await, 200);
    assert_eq!(status_of(&w, "one.example.test").await, 503);
    assert_eq!(w.served()["c1"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_served_without_a_token() {
    let (w, _t) = World::start_admin(Spec::default());
    let api = Api::of(&w);
    let doc = api
        .raw(None, Method::GET, "/openapi.json", None, None)
        .await;
    assert_eq!(doc.status, 200);
    assert_eq!(doc.headers["content-type"], "application/json");
    assert_eq!(doc.body["openapi"], "3.0.3");
    let paths = doc.body["paths"].as_object().expect("paths");
    for p in [
        "/api/v1/status",
        "/api/v1/apps/{name}",
        "/api/v1/connectors/{id}/revoke",
    ] {
        assert!(paths.contains_key(p), "{p}");
    }
}
