//! Tenancy end to end: two tenants (`t1`, `t2`) and the operator on one store-backed gateway,
//! driven through the admin API with one token per role, with real connectors enrolled over
//! the tunnel with each scope's enrollment token, real origins and real HTTPS clients.

mod attempts;
mod config;
mod ctl;
mod isolation;
mod migration;
mod names;
mod quotas;
mod traffic;

use std::path::Path;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use switchyard::catalog::{secret, TenantSpec};
use switchyard::config::connector::ConnectorConfig;
use switchyard::config::gateway::{AdminRole, GatewayConfig};
use switchyard::ConnectorHandle;

use crate::admin::{Answer, Api};
use crate::support::eventually;
use crate::support::world::{add_tokens, connector_config, metric, Spec, World};

pub const T1: &str = "t1";
pub const T2: &str = "t2";
/// The domain `t1` owns (the test certificate covers the names one label below it).
pub const T1_DOMAIN: &str = "t1.example.test";
/// The domain `t2` owns.
pub const T2_DOMAIN: &str = "t2.example.test";
const LIMIT: Duration = Duration::from_secs(10);

/// Bearer tokens of the admin API: one per operator role and one per tenant.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub admin: String,
    pub read_only: String,
    pub t1: String,
    pub t2: String,
}

/// Gives `cfg` a catalog store (`store/` beside the config file), the tenants `t1` and `t2`
/// (each owning its domain) and the tokens.
pub fn setup(cfg: &mut GatewayConfig) -> Tokens {
    let tokens = Tokens {
        admin: secret::generate(),
        read_only: secret::generate(),
        t1: secret::generate(),
        t2: secret::generate(),
    };
    cfg.store.dir = Some("store".into());
    for (name, domain) in [(T1, T1_DOMAIN), (T2, T2_DOMAIN)] {
        cfg.tenants.push(TenantSpec {
            domains: vec![domain.into()],
            ..TenantSpec::named(name)
        });
    }
    add_tokens(
        cfg,
        &[
            ("ops", &tokens.admin, AdminRole::Admin, None),
            ("auditor", &tokens.read_only, AdminRole::ReadOnly, None),
            ("t1-token", &tokens.t1, AdminRole::Tenant, Some(T1)),
            ("t2-token", &tokens.t2, AdminRole::Tenant, Some(T2)),
        ],
    );
    tokens
}

/// A store-backed gateway with the two tenants; `tweak` runs after [`setup`].
pub fn start(spec: Spec, tweak: impl FnOnce(&mut GatewayConfig)) -> (World, Tokens, Api) {
    let mut tokens = None;
    let w = World::start_with(spec, |cfg| {
        tokens = Some(setup(cfg));
        tweak(cfg);
    });
    let api = Api::of(&w);
    (w, tokens.expect("tokens"), api)
}

/// A JSON request that must answer `want`.
pub async fn expect(
    api: &Api,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
    want: u16,
) -> Answer {
    let what = format!("{method} {path}");
    let a = api.call(token, method, path, body).await;
    assert_eq!(a.status, want, "{what}: {:?}", a.body);
    a
}

/// `POST path` with a JSON body, expecting 201.
pub async fn post(api: &Api, token: &str, path: &str, body: Value) -> Answer {
    expect(api, token, Method::POST, path, Some(body), 201).await
}

/// Asserts an error answer's status and code; returns its message.
pub fn refused(a: &Answer, status: u16, code: &str) -> String {
    assert_eq!((a.status, a.code()), (status, code), "{:?}", a.body);
    a.body["error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// A fresh enrollment token of the caller's scope, created through the API.
pub async fn enrollment_token(api: &Api, token: &str) -> String {
    let a = expect(
        api,
        token,
        Method::POST,
        "/enrollment-tokens",
        Some(json!({})),
        201,
    )
    .await;
    a.body["token"]
        .as_str()
        .expect("token shown once")
        .to_string()
}

/// A connector `id` that enrolls with `token` and keeps its secret in `dir/file`.
pub fn enrolling(w: &World, dir: &Path, file: &str, id: &str, token: &str) -> ConnectorConfig {
    let mut cfg = connector_config(id, "unused", w.gw.tunnel_addr, &w.pki.ca_path);
    cfg.secret = None;
    cfg.enrollment_token = Some(token.into());
    cfg.secret_file = Some(dir.join(file));
    cfg
}

/// Starts a connector and waits until the gateway holds all its tunnels under `qualified`.
pub async fn start_connector(w: &World, cfg: ConnectorConfig, qualified: &str) -> ConnectorHandle {
    let tunnels = cfg.tunnels_per_gateway;
    let h = switchyard::run_connector(cfg)
        .await
        .expect("connector starts");
    assert!(
        h.wait_tunnels(tunnels, LIMIT).await,
        "{qualified}: tunnels up (refusal: {:?})",
        h.last_refusal()
    );
    assert!(live(w, qualified, tunnels).await, "{qualified} registered");
    h
}

/// True once the gateway has at least `n` tunnels of the connector `qualified` (`0`: none).
pub async fn live(w: &World, qualified: &str, n: usize) -> bool {
    let state = w.gw.live.clone();
    eventually(
        || {
            let tunnels = state
                .registry
                .snapshot()
                .iter()
                .filter(|(c, _, _, _)| &**c == qualified)
                .map(|(_, t, _, _)| *t)
                .max()
                .unwrap_or(0);
            if n == 0 {
                tunnels == 0
            } else {
                tunnels >= n
            }
        },
        LIMIT,
    )
    .await
}

/// The reason of a connector's first refusal.
pub async fn refusal(h: &ConnectorHandle) -> String {
    assert!(
        eventually(|| h.auth_refusals() >= 1, LIMIT).await,
        "refused in time"
    );
    h.last_refusal().expect("a reason")
}

/// The value of a counter series, 0 when absent.
pub async fn counter(w: &World, series: &str) -> f64 {
    metric(&w.metrics().await, series).unwrap_or(0.0)
}

/// One GET through the edge: status and body.
pub async fn fetch(w: &World, client: &reqwest::Client, host: &str) -> (u16, String) {
    let resp = client
        .get(w.url(host, "/"))
        .send()
        .await
        .expect("edge answers");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}
