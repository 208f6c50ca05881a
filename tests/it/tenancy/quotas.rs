//! Tenant quotas: an enrollment or an API write that takes a tenant past its quota is
//! refused (`quota_exceeded`) and counted per tenant and kind; defaults come from
//! `[tenant_quotas]`, a tenant's `quotas` override them, and only growth is refused.

use reqwest::Method;
use serde_json::{json, Value};
use switchyard::catalog::quota::Quotas;
use switchyard::catalog::writer::CatalogWriter;

use super::{
    counter, enrolling, enrollment_token, expect, post, refusal, refused, start, start_connector,
    T1,
};
use crate::support::world::Spec;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolling_past_the_connectors_quota_is_refused_and_counted() {
    let (w, t, api) = start(Spec::default(), |cfg| {
        let t1 = cfg.tenants.iter_mut().find(|x| x.name == T1).expect("t1");
        t1.quotas = Quotas {
            connectors: Some(1),
            ..Quotas::default()
        };
    });
    let dir = w.dir.path();
    let t1_token = enrollment_token(&api, &t.t1).await;
    let t2_token = enrollment_token(&api, &t.t2).await;
    let first = start_connector(&w, enrolling(&w, dir, "a1", "a", &t1_token), "t1/a").await;

    let h = switchyard::run_connector(enrolling(&w, dir, "b1", "b", &t1_token))
        .await
        .expect("starts");
    let reason = refusal(&h).await;
    assert!(
        reason.contains("the tenant's quota of 1 connectors is reached"),
        "{reason}"
    );
    assert_eq!(h.tunnels_up(), 0);
    h.kill();
    assert!(
        !dir.join("b1").exists(),
        "no secret for a refused enrollment"
    );
    let series = "switchyard_tenant_quota_refusals_total{kind=\"connectors\",tenant=\"t1\"}";
    assert!(counter(&w, series).await >= 1.0, "{series}");
    let auth = "switchyard_tunnel_auth_failures_total{reason=\"quota_exceeded\"}";
    assert!(counter(&w, auth).await >= 1.0, "{auth}");
    let catalog = w.gw.catalog.desired().catalog.clone();
    let t1_ids: Vec<&str> = catalog
        .connectors
        .iter()
        .filter(|c| c.tenant.as_deref() == Some(T1))
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(t1_ids, ["a"]);

    // The other tenant has the default quota: the same ids enroll.
    let mut t2 = Vec::new();
    for id in ["a", "b"] {
        let cfg = enrolling(&w, dir, &format!("{id}2"), id, &t2_token);
        t2.push(start_connector(&w, cfg, &format!("t2/{id}")).await);
    }
    assert_eq!(
        counter(
            &w,
            "switchyard_tenant_quota_refusals_total{kind=\"connectors\",tenant=\"t2\"}"
        )
        .await,
        0.0
    );
    first.kill();
    for h in t2 {
        h.kill();
    }
}

/// `PATCH /tenants/{name}` with a whole quota override object, as the admin.
async fn set_quotas(api: &crate::admin::Api, admin: &str, tenant: &str, quotas: Value) -> Value {
    let path = format!("/tenants/{tenant}");
    let body = Some(json!({ "quotas": quotas }));
    expect(api, admin, Method::PATCH, &path, body, 200)
        .await
        .body
}

/// A group creation that must be refused over quota.
async fn over_quota(api: &crate::admin::Api, token: &str, body: Value) -> String {
    let a = api.call(token, Method::POST, "/groups", Some(body)).await;
    let message = refused(&a, 409, "quota_exceeded");
    assert_eq!(a.field(), "groups");
    message
}

const T2_GROUPS: &str = "switchyard_tenant_quota_refusals_total{kind=\"groups\",tenant=\"t2\"}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_writes_past_a_quota_answer_409_until_the_admin_raises_it() {
    let (w, t, api) = start(Spec::default(), |cfg| cfg.tenant_quotas.groups = 2);
    for g in ["g1", "g2"] {
        post(&api, &t.t2, "/groups", json!({"name": g})).await;
    }
    let message = over_quota(&api, &t.t2, json!({"name": "g3"})).await;
    assert!(
        message.starts_with("the tenant's quota of 2 groups is reached"),
        "{message}"
    );
    // The quota binds every writer, admin tokens included.
    over_quota(&api, &t.admin, json!({"name": "g3", "tenant": "t2"})).await;
    assert_eq!(counter(&w, T2_GROUPS).await, 2.0);
    // t1 has its own quota of 2.
    for g in ["g1", "g2"] {
        post(&api, &t.t1, "/groups", json!({"name": g})).await;
    }

    let raised = set_quotas(&api, &t.admin, "t2", json!({"groups": 3})).await;
    assert_eq!(raised["quotas"]["groups"], 3);
    assert_eq!(raised["overrides"]["groups"], 3);
    assert!(
        raised["overrides"]["apps"].is_null(),
        "only groups overridden"
    );
    assert_eq!(raised["usage"]["groups"], 2);
    let seen = expect(&api, &t.t2, Method::GET, "/tenants/t2", None, 200).await;
    assert_eq!(seen.body["quotas"]["groups"], 3);
    assert_eq!(seen.body["quotas"]["apps"], 100, "defaults for the rest");
    post(&api, &t.t2, "/groups", json!({"name": "g3"})).await;
    // A tenant cannot raise its own.
    let body = Some(json!({"quotas": {"groups": 50}}));
    let own = api.call(&t.t2, Method::PATCH, "/tenants/t2", body).await;
    refused(&own, 403, "forbidden");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_lowered_below_the_usage_stops_growth_only() {
    let (w, t, api) = start(Spec::default(), |_| {});
    for g in ["g1", "g2", "g3"] {
        post(&api, &t.t2, "/groups", json!({"name": g})).await;
    }
    set_quotas(&api, &t.admin, "t2", json!({"groups": 1})).await;
    // Nothing breaks; edits and deletes go on; growth does not.
    let rename = Some(json!({"name": "g3b"}));
    expect(&api, &t.t2, Method::PATCH, "/groups/g3", rename, 200).await;
    expect(&api, &t.t2, Method::DELETE, "/groups/g3b", None, 204).await;
    over_quota(&api, &t.t2, json!({"name": "g4"})).await;
    assert_eq!(counter(&w, T2_GROUPS).await, 1.0);

    // Enrollment tokens count too (an override for this kind only).
    set_quotas(&api, &t.admin, "t1", json!({"enrollment_tokens": 1})).await;
    post(&api, &t.t1, "/enrollment-tokens", json!({})).await;
    let tokens = api
        .call(&t.t1, Method::POST, "/enrollment-tokens", Some(json!({})))
        .await;
    refused(&tokens, 409, "quota_exceeded");
    assert_eq!(tokens.field(), "enrollment_tokens");
    let series = "switchyard_tenant_quota_refusals_total{kind=\"enrollment_tokens\",tenant=\"t1\"}";
    assert_eq!(counter(&w, series).await, 1.0);
}
