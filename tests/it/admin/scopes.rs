//! Scopes through the admin API: the same names in two tenants and the operator, qualified
//! addressing for operator tokens, plain names only for a tenant token (anything else is the
//! 404 a missing object gets), renames, moves and deletions that stay in their scope, shared
//! operator groups, quotas, tenant domains, and errors renumbered for a tenant.

use reqwest::Method;
use serde_json::{json, Value};

use super::{app_json, get, status_of, Answer, Api};
use crate::support::origin;
use crate::support::world::{AdminTokens, Spec, World, ADMIN_TENANT_DOMAIN};

/// A second tenant, created by the admin, with its own domain.
const OTHER: &str = "t1";
const OTHER_DOMAIN: &str = "t1.example.test";

async fn call(api: &Api, token: &str, method: Method, path: &str, body: Option<Value>) -> Answer {
    api.call(token, method, path, body).await
}

/// `POST` expecting 201.
async fn created(api: &Api, token: &str, path: &str, body: Value) -> Answer {
    let a = call(api, token, Method::POST, path, Some(body.clone())).await;
    assert_eq!(a.status, 201, "POST {path} {body}: {:?}", a.body);
    a
}

/// The operator, tenant `acme` (the fixture's) and tenant `t1` each with a group `dc-east`,
/// a connector `c1` in it and a group `dc-west`.
async fn three_scopes(api: &Api, t: &AdminTokens) {
    created(
        api,
        &t.admin,
        "/tenants",
        json!({"name": OTHER, "domains": [OTHER_DOMAIN]}),
    )
    .await;
    for (token, tenant) in [(&t.admin, None), (&t.tenant, None), (&t.admin, Some(OTHER))] {
        for g in ["dc-east", "dc-west"] {
            created(api, token, "/groups", json!({"name": g, "tenant": tenant})).await;
        }
        created(
            api,
            token,
            "/connectors",
            json!({"id": "c1", "group": "dc-east", "tenant": tenant}),
        )
        .await;
    }
}

/// The error body with `name` written as `X`: two answers that differ only by the name
/// asked for are the same answer.
fn shape(a: &Answer, name: &str) -> (u16, String) {
    (a.status, a.body.to_string().replace(name, "X"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_names_live_in_three_scopes_and_are_addressed_per_caller() {
    let (w, t) = World::start_admin(Spec::default());
    let api = Api::of(&w);
    three_scopes(&api, &t).await;

    // Creating a name again conflicts in its own scope only.
    let again = call(
        &api,
        &t.tenant,
        Method::POST,
        "/groups",
        Some(json!({"name": "dc-east"})),
    )
    .await;
    assert_eq!(
        (again.status, again.code(), again.field()),
        (409, "conflict", "name")
    );
    assert_eq!(
        again.body["error"]["message"],
        "a group named \"dc-east\" already exists"
    );

    // The admin sees all three, qualified; addresses each by its qualified name.
    let all = get(&api, &t, "/groups").await;
    assert_eq!(
        all.names("qualified"),
        [
            "acme/dc-east",
            "acme/dc-west",
            "dc-east",
            "dc-west",
            "t1/dc-east",
            "t1/dc-west"
        ]
        .map(String::from)
        .into()
    );
    for (path, tenant) in [
        ("/groups/dc-east", Value::Null),
        ("/groups/%2Fdc-east", Value::Null),
        ("/groups/t1%2Fdc-east", json!("t1")),
        ("/groups/acme%2Fdc-east", json!("acme")),
    ] {
        let g = get(&api, &t, path).await;
        assert_eq!(g.body["tenant"], tenant, "{path}");
        assert_eq!(g.body["connectors"], json!(["c1"]), "{path}");
        let ro = call(&api, &t.read_only, Method::GET, path, None).await;
        assert_eq!(ro.body, g.body, "read-only addresses like admin: {path}");
    }
    let c = get(&api, &t, "/connectors/t1%2Fc1").await;
    assert_eq!(
        (&c.body["qualified"], &c.body["group"]),
        (&json!("t1/c1"), &json!("dc-east"))
    );
    assert_eq!(
        get(&api, &t, "/connectors").await.names("qualified"),
        ["acme/c1", "c1", "t1/c1"].map(String::from).into()
    );

    // The tenant sees its own, by plain name.
    let mine = call(&api, &t.tenant, Method::GET, "/groups/dc-east", None).await;
    assert_eq!(
        (mine.status, &mine.body["qualified"]),
        (200, &json!("acme/dc-east"))
    );
    let listed = call(&api, &t.tenant, Method::GET, "/groups", None).await;
    assert_eq!(
        listed.names("name"),
        ["dc-east", "dc-west"].map(String::from).into()
    );
    let status = call(&api, &t.tenant, Method::GET, "/status", None).await;
    let names: Vec<&Value> = status.body["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| &g["name"])
        .collect();
    assert_eq!(names, [&json!("dc-east"), &json!("dc-west")]);
    let status = get(&api, &t, "/status").await;
    assert_eq!(status.body["groups"].as_array().map(Vec::len), Some(6));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_addressing_another_scope_gets_the_answer_a_missing_object_gets() {
    let (w, t) = World::start_admin(Spec::default());
    let api = Api::of(&w);
    three_scopes(&api, &t).await;
    let missing = |kind: &str| format!("/{kind}/nothing-here");
    for (kind, raw) in [
        ("groups", "t1%2Fdc-east"),
        ("groups", "acme%2Fdc-east"),
        ("groups", "%2Fdc-east"),
        ("connectors", "t1%2Fc1"),
        ("connectors", "acme%2Fc1"),
    ] {
        let name = raw.replace("%2F", "/");
        for (method, suffix, body) in [
            (Method::GET, "", None),
            (Method::DELETE, "", None),
            (
                if kind == "groups" {
                    Method::PATCH
                } else {
                    Method::POST
                },
                if kind == "groups" { "" } else { "/revoke" },
                if kind == "groups" {
                    Some(json!({"balance": "round_robin"}))
                } else {
                    None
                },
            ),
        ] {
            let hidden = call(
                &api,
                &t.tenant,
                method.clone(),
                &format!("/{kind}/{raw}{suffix}"),
                body.clone(),
            )
            .await;
            let absent = call(
                &api,
                &t.tenant,
                method.clone(),
                &format!("{}{suffix}", missing(kind)),
                body,
            )
            .await;
            assert_eq!(
                hidden.status, 404,
                "{method} {kind}/{raw}: {:?}",
                hidden.body
            );
            assert_eq!(
                shape(&hidden, &name),
                shape(&absent, "nothing-here"),
                "{method} {kind}/{raw}"
            );
        }
    }
    // Nothing was changed by any of it.
    let t1 = get(&api, &t, "/groups/t1%2Fdc-east").await;
    assert_eq!(t1.body["balance"], "p2c");
    get(&api, &t, "/connectors/t1%2Fc1").await;

    // Moving its connector into another scope's group is the missing group's answer.
    let into = |group: &'static str| {
        let api = api.clone();
        let token = t.tenant.clone();
        async move {
            call(
                &api,
                &token,
                Method::POST,
                "/connectors/c1/move",
                Some(json!({ "group": group })),
            )
            .await
        }
    };
    let absent = into("nope").await;
    assert_eq!(absent.status, 400, "{:?}", absent.body);
    for other in ["t1/dc-west", "/dc-west"] {
        let hidden = into(other).await;
        assert_eq!(shape(&hidden, other), shape(&absent, "nope"), "{other}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renames_moves_and_deletions_stay_in_their_scope() {
    let (w, t) = World::start_admin(Spec::default());
    let api = Api::of(&w);
    three_scopes(&api, &t).await;
    let app = |host: &str| app_json("wiki", host, "http://127.0.0.1:9", &["dc-east", "dc-west"]);
    created(&api, &t.admin, "/apps", app("wiki.example.test")).await;
    created(&api, &t.tenant, "/apps", app(ADMIN_TENANT_DOMAIN)).await;
    created(
        &api,
        &t.admin,
        "/apps",
        json!({"tenant": OTHER, "name": "wiki", "host": OTHER_DOMAIN,
               "internal_url": "http://127.0.0.1:9", "groups": ["dc-east"]}),
    )
    .await;

    // The tenant renames its dc-east: its app and connector follow, nobody else's.
    let renamed = call(
        &api,
        &t.tenant,
        Method::PATCH,
        "/groups/dc-east",
        Some(json!({"name": "dc-north"})),
    )
    .await;
    assert_eq!(renamed.status, 200, "{:?}", renamed.body);
    assert_eq!(
        (&renamed.body["connectors"], &renamed.body["apps"]),
        (&json!(["c1"]), &json!(["wiki"]))
    );
    let groups_of = |path: &'static str| {
        let (api, t) = (api.clone(), t.clone());
        async move { get(&api, &t, path).await.body["groups"].clone() }
    };
    assert_eq!(
        groups_of("/apps/acme%2Fwiki").await,
        json!(["dc-north", "dc-west"])
    );
    assert_eq!(groups_of("/apps/wiki").await, json!(["dc-east", "dc-west"]));
    assert_eq!(groups_of("/apps/t1%2Fwiki").await, json!(["dc-east"]));
    let c = get(&api, &t, "/connectors/acme%2Fc1").await;
    assert_eq!(c.body["group"], "dc-north");
    assert_eq!(
        get(&api, &t, "/connectors/c1").await.body["group"],
        "dc-east"
    );

    // The admin renames t1's dc-east by its qualified name.
    let r = call(
        &api,
        &t.admin,
        Method::PATCH,
        "/groups/t1%2Fdc-east",
        Some(json!({"name": "dc-south"})),
    )
    .await;
    assert_eq!(
        (r.status, &r.body["qualified"]),
        (200, &json!("t1/dc-south"))
    );
    assert_eq!(groups_of("/apps/t1%2Fwiki").await, json!(["dc-south"]));
    assert_eq!(
        get(&api, &t, "/connectors/t1%2Fc1").await.body["group"],
        "dc-south"
    );

    // The tenant moves its connector to its own dc-west, by plain name.
    let m = call(
        &api,
        &t.tenant,
        Method::POST,
        "/connectors/c1/move",
        Some(json!({"group": "dc-west"})),
    )
    .await;
    assert_eq!((m.status, &m.body["group"]), (200, &json!("dc-west")));

    // Deleting with a move: `move_to` is of the group's own scope.
    let d = call(
        &api,
        &t.tenant,
        Method::DELETE,
        "/groups/dc-west?move_to=dc-north",
        None,
    )
    .await;
    assert_eq!(d.status, 200, "{:?}", d.body);
    assert_eq!(groups_of("/apps/acme%2Fwiki").await, json!(["dc-north"]));
    assert_eq!(
        get(&api, &t, "/connectors/acme%2Fc1").await.body["group"],
        "dc-north"
    );
    assert_eq!(groups_of("/apps/wiki").await, json!(["dc-east", "dc-west"]));
    get(&api, &t, "/groups/dc-west").await;
    get(&api, &t, "/groups/t1%2Fdc-west").await;
    // The operator's dc-west exists, but not in the tenant's scope.
    let d = call(
        &api,
        &t.tenant,
        Method::DELETE,
        "/groups/dc-north?move_to=%2Fdc-west",
        None,
    )
    .await;
    assert_eq!((d.status, d.field()), (400, "move_to"), "{:?}", d.body);
    let d = call(
        &api,
        &t.admin,
        Method::DELETE,
        "/groups/t1%2Fdc-south?move_to=dc-west",
        None,
    )
    .await;
    assert_eq!(d.status, 200, "{:?}", d.body);
    assert_eq!(groups_of("/apps/t1%2Fwiki").await, json!(["dc-west"]));
    assert_eq!(
        get(&api, &t, "/connectors/t1%2Fc1").await.body["group"],
        "dc-west"
    );
    assert_eq!(
        get(&api, &t, "/groups").await.names("qualified"),
        ["acme/dc-north", "dc-east", "dc-west", "t1/dc-west"]
            .map(String::from)
            .into()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_operator_group_serves_a_tenant_app_named_with_a_slash() {
    let o = origin::spawn("shared-origin").await;
    let spec = Spec::default()
        .group("dr")
        .group("private")
        .connector("dr-1", "dr");
    let (mut w, t) = World::start_admin(spec);
    w.connect("dr-1").await;
    let api = Api::of(&w);
    let portal = |groups: &[&str]| app_json("portal", ADMIN_TENANT_DOMAIN, &o.url(), groups);

    // Before the admin shares it, `/dr` is the answer a missing group gets.
    let absent = call(
        &api,
        &t.tenant,
        Method::POST,
        "/apps",
        Some(portal(&["/nope"])),
    )
    .await;
    assert_eq!(
        (absent.status, absent.field()),
        (400, "apps[0].groups[0]"),
        "{:?}",
        absent.body
    );
    for hidden in ["/dr", "/private", "dr"] {
        let a = call(
            &api,
            &t.tenant,
            Method::POST,
            "/apps",
            Some(portal(&[hidden])),
        )
        .await;
        assert_eq!(shape(&a, hidden), shape(&absent, "/nope"), "{hidden}");
    }
    let by_tenant = call(
        &api,
        &t.tenant,
        Method::POST,
        "/groups",
        Some(json!({"name": "mine", "shared": true})),
    )
    .await;
    assert_eq!(by_tenant.status, 403, "only an admin shares");
    let shared = call(
        &api,
        &t.admin,
        Method::PATCH,
        "/groups/dr",
        Some(json!({"shared": true})),
    )
    .await;
    assert_eq!((shared.status, &shared.body["shared"]), (200, &json!(true)));

    created(&api, &t.tenant, "/apps", portal(&["/dr"])).await;
    let answer = w
        .h1()
        .get(w.url(ADMIN_TENANT_DOMAIN, "/"))
        .send()
        .await
        .expect("edge answers");
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["x-origin"], "shared-origin");
    // The admin sees which tenant apps use it; unsharing it now would break them.
    let dr = get(&api, &t, "/groups/dr").await;
    assert_eq!(dr.body["apps"], json!(["acme/portal"]));
    let unshare = call(
        &api,
        &t.admin,
        Method::PATCH,
        "/groups/dr",
        Some(json!({"shared": false})),
    )
    .await;
    assert_eq!(unshare.status, 400, "{:?}", unshare.body);
    assert_eq!(status_of(&w, ADMIN_TENANT_DOMAIN).await, 200);
}

/// The value of `switchyard_tenant_quota_refusals_total` for `tenant` and `kind`.
fn refusals(metrics: &str, tenant: &str, kind: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| {
            l.starts_with("switchyard_tenant_quota_refusals_total{")
                && l.contains(&format!("tenant=\"{tenant}\""))
                && l.contains(&format!("kind=\"{kind}\""))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_refuse_growth_with_quota_exceeded_and_count_each_refusal() {
    let (w, t) = World::start_admin(Spec::default());
    let api = Api::of(&w);
    let set = call(
        &api,
        &t.admin,
        Method::PATCH,
        "/tenants/acme",
        Some(json!({"quotas": {"groups": 1}})),
    )
    .await;
    assert_eq!(set.status, 200, "{:?}", set.body);
    assert_eq!(set.body["overrides"], json!({"groups": 1}));
    assert_eq!(set.body["quotas"]["groups"], 1);
    assert_eq!(set.body["quotas"]["apps"], 100, "the default of the others");

    created(&api, &t.tenant, "/groups", json!({"name": "g1"})).await;
    for (token, body) in [
        (&t.tenant, json!({"name": "g2"})),
        // The admin writing into the tenant is held to the quota too.
        (&t.admin, json!({"name": "g2", "tenant": "acme"})),
    ] {
        let refused = call(&api, token, Method::POST, "/groups", Some(body)).await;
        assert_eq!(
            (refused.status, refused.code(), refused.field()),
            (409, "quota_exceeded", "groups"),
            "{:?}",
            refused.body
        );
        let message = refused.body["error"]["message"].as_str().unwrap_or("");
        assert!(
            message.starts_with("the tenant's quota of 1 groups is reached"),
            "{message}"
        );
    }
    let m = w
        .metrics_when(|m| refusals(m, "acme", "groups") == Some(2.0))
        .await;
    assert_eq!(refusals(&m, "acme", "groups"), Some(2.0), "{m}");
    // The operator's scope has no quota.
    created(&api, &t.admin, "/groups", json!({"name": "g2"})).await;

    // Every create path is held to its kind's quota.
    let zero = call(
        &api,
        &t.admin,
        Method::PATCH,
        "/tenants/acme",
        Some(json!({"quotas": {"groups": 1, "apps": 0, "connectors": 0, "enrollment_tokens": 0}})),
    )
    .await;
    assert_eq!(zero.status, 200, "{:?}", zero.body);
    for (path, body, kind) in [
        (
            "/apps",
            app_json("a", ADMIN_TENANT_DOMAIN, "http://127.0.0.1:9", &["g1"]),
            "apps",
        ),
        (
            "/connectors",
            json!({"id": "c", "group": "g1"}),
            "connectors",
        ),
        ("/enrollment-tokens", json!({}), "enrollment_tokens"),
    ] {
        let refused = call(&api, &t.tenant, Method::POST, path, Some(body)).await;
        assert_eq!(
            (refused.status, refused.code(), refused.field()),
            (409, "quota_exceeded", kind),
            "{path}: {:?}",
            refused.body
        );
    }
    let m = w
        .metrics_when(|m| refusals(m, "acme", "enrollment_tokens") == Some(1.0))
        .await;
    for kind in ["apps", "connectors", "enrollment_tokens"] {
        assert_eq!(refusals(&m, "acme", kind), Some(1.0), "{kind}: {m}");
    }
    let tenant = call(&api, &t.tenant, Method::GET, "/tenants/acme", None).await;
    assert_eq!(
        tenant.body["usage"],
        json!({"apps": 0, "groups": 1, "connectors": 0, "enrollment_tokens": 0})
    );
    // Back to the defaults: growth passes again.
    let reset = call(
        &api,
        &t.admin,
        Method::PATCH,
        "/tenants/acme",
        Some(json!({"quotas": {}})),
    )
    .await;
    assert_eq!(reset.body["overrides"], json!({}));
    created(&api, &t.tenant, "/groups", json!({"name": "g2"})).await;
    let by_tenant = call(
        &api,
        &t.tenant,
        Method::PATCH,
        "/tenants/acme",
        Some(json!({"quotas": {"groups": 99}})),
    )
    .await;
    assert_eq!(by_tenant.status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_domains_set_by_patch_decide_what_its_apps_may_publish() {
    let (w, t) = World::start_admin(Spec::default().group("ops"));
    let api = Api::of(&w);
    created(&api, &t.tenant, "/groups", json!({"name": "g"})).await;
    let app =
        |name: &str, host: &str, group: &str| app_json(name, host, "http://127.0.0.1:9", &[group]);

    // Outside its domains: refused, naming only its own domains.
    let outside = call(
        &api,
        &t.tenant,
        Method::POST,
        "/apps",
        Some(app("extra", "extra.example.test", "g")),
    )
    .await;
    assert_eq!(
        (outside.status, outside.field()),
        (400, "apps[0].host"),
        "{:?}",
        outside.body
    );
    let message = outside.body["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains(ADMIN_TENANT_DOMAIN), "{message}");

    let patched = call(
        &api,
        &t.admin,
        Method::PATCH,
        "/tenants/acme",
        Some(json!({"domains": [ADMIN_TENANT_DOMAIN, "extra.example.test"]})),
    )
    .await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    assert_eq!(
        patched.body["domains"],
        json!([ADMIN_TENANT_DOMAIN, "extra.example.test"])
    );
    created(
        &api,
        &t.tenant,
        "/apps",
        app("extra", "extra.example.test", "g"),
    )
    .await;
    // Published and routed (no connector yet: 503, not the 404 of an unknown host).
    assert_eq!(status_of(&w, "extra.example.test").await, 503);
    let by_operator = call(
        &api,
        &t.admin,
        Method::POST,
        "/apps",
        Some(app("x", "extra.example.test", "ops")),
    )
    .await;
    assert_eq!(
        (by_operator.status, by_operator.field()),
        (400, "apps[1].host")
    );

    // A domain another tenant owns, or dropping one an app still publishes under: refused
    // whole.
    created(&api, &t.admin, "/tenants", json!({"name": "t1"})).await;
    let overlap = call(
        &api,
        &t.admin,
        Method::PATCH,
        "/tenants/t1",
        Some(json!({"domains": ["example.test"]})),
    )
    .await;
    assert_eq!(overlap.status, 400, "{:?}", overlap.body);
    let drop = call(
        &api,
        &t.admin,
        Method::PATCH,
        "/tenants/acme",
        Some(json!({"domains": [ADMIN_TENANT_DOMAIN]})),
    )
    .await;
    assert_eq!(drop.status, 400, "{:?}", drop.body);
    assert_eq!(status_of(&w, "extra.example.test").await, 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_catalog_errors_are_numbered_in_its_own_lists() {
    let (w, t) = World::start_admin(Spec::default().group("ops"));
    let api = Api::of(&w);
    for (name, host) in [("op-a", "op-a.example.test"), ("op-b", "op-b.example.test")] {
        created(
            &api,
            &t.admin,
            "/apps",
            app_json(name, host, "http://127.0.0.1:9", &["ops"]),
        )
        .await;
    }
    created(&api, &t.tenant, "/groups", json!({"name": "g"})).await;
    created(
        &api,
        &t.tenant,
        "/apps",
        app_json("first", ADMIN_TENANT_DOMAIN, "http://127.0.0.1:9", &["g"]),
    )
    .await;
    // Catalog places 2 and 3 are the tenant's apps 0 and 1.
    let dup = call(
        &api,
        &t.tenant,
        Method::POST,
        "/apps",
        Some(app_json(
            "second",
            ADMIN_TENANT_DOMAIN,
            "http://127.0.0.1:9",
            &["g"],
        )),
    )
    .await;
    assert_eq!(
        (dup.status, dup.field()),
        (400, "apps[1].host"),
        "{:?}",
        dup.body
    );
    let message = dup.body["error"]["message"].as_str().unwrap_or("");
    assert!(message.ends_with("by app \"first\" (apps[0])"), "{message}");
    // The admin sees the catalog's own numbering.
    let dup = call(
        &api,
        &t.admin,
        Method::POST,
        "/apps",
        Some(
            json!({"tenant": "acme", "name": "second", "host": ADMIN_TENANT_DOMAIN,
                    "internal_url": "http://127.0.0.1:9", "groups": ["g"]}),
        ),
    )
    .await;
    assert_eq!(
        (dup.status, dup.field()),
        (400, "apps[3].host"),
        "{:?}",
        dup.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_read_and_sent_back_keeps_its_scope() {
    let (w, t) = World::start_admin(Spec::default());
    let api = Api::of(&w);
    three_scopes(&api, &t).await;
    created(
        &api,
        &t.tenant,
        "/apps",
        app_json(
            "wiki",
            ADMIN_TENANT_DOMAIN,
            "http://127.0.0.1:9",
            &["dc-east"],
        ),
    )
    .await;
    // A read, `qualified` included, is a valid PUT body; without `tenant` the app stays
    // where the URL says.
    let mut read = get(&api, &t, "/apps/acme%2Fwiki").await.body;
    assert_eq!(read["qualified"], "acme/wiki");
    read["groups"] = json!(["dc-west"]);
    let put = call(
        &api,
        &t.admin,
        Method::PUT,
        "/apps/acme%2Fwiki",
        Some(read.clone()),
    )
    .await;
    assert_eq!(
        (put.status, &put.body["tenant"]),
        (200, &json!("acme")),
        "{:?}",
        put.body
    );
    read.as_object_mut().map(|m| m.remove("tenant"));
    let put = call(
        &api,
        &t.admin,
        Method::PUT,
        "/apps/acme%2Fwiki",
        Some(read.clone()),
    )
    .await;
    assert_eq!(
        (put.status, &put.body["groups"]),
        (200, &json!(["dc-west"]))
    );
    assert_eq!(put.body["tenant"], "acme");
    // Moving it to another scope is refused: 403 for a tenant token (as on create), 400
    // for the admin; nothing changes.
    read["tenant"] = json!(OTHER);
    let by_tenant = call(
        &api,
        &t.tenant,
        Method::PUT,
        "/apps/wiki",
        Some(read.clone()),
    )
    .await;
    assert_eq!(by_tenant.status, 403, "{:?}", by_tenant.body);
    let by_admin = call(
        &api,
        &t.admin,
        Method::PATCH,
        "/apps/acme%2Fwiki",
        Some(json!({"tenant": OTHER})),
    )
    .await;
    assert_eq!(
        (by_admin.status, by_admin.field()),
        (400, "tenant"),
        "{:?}",
        by_admin.body
    );
    assert_eq!(
        get(&api, &t, "/apps/acme%2Fwiki").await.body["tenant"],
        "acme"
    );
    assert_eq!(
        call(&api, &t.admin, Method::GET, "/apps/t1%2Fwiki", None)
            .await
            .status,
        404
    );
}
