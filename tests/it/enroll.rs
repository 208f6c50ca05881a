//! Connector enrollment against a real gateway: a connector with a token and no secret
//! registers itself into the `default` group, stores its secret, serves, and authenticates
//! with the stored secret after a restart; bad tokens, known ids and gateways without a
//! catalog store are refused with a reason and counted.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use switchyard::catalog::writer::{CatalogWriter, UpdateCatalog};

use switchyard::catalog::{secret, ConnectorSpec, EnrollmentSpec};
use switchyard::config::connector::ConnectorConfig;
use switchyard::ConnectorHandle;

use crate::support::world::{app, connector_config, metric, Spec, World};
use crate::support::{eventually, origin, TempDir};

const TOKEN: &str = "fleet-token-0123456789";
const LIMIT: Duration = Duration::from_secs(10);

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// A gateway whose catalog store lives in `tmp`, with [`TOKEN`] valid for an hour.
fn gateway(spec: Spec, tmp: &TempDir) -> World {
    let store = tmp.path().join("store");
    let w = World::start_with(spec, |cfg| cfg.store.dir = Some(store));
    add_token(&w, "fleet", TOKEN, now() + 3600);
    w
}

fn add_token(w: &World, id: &str, token: &str, expires_at: u64) {
    w.gw.catalog
        .update_catalog(None, |c| {
            c.enrollment_tokens.push(EnrollmentSpec {
                id: id.into(),
                token_hash: secret::hash(token),
                tenant: None,
                expires_at,
            });
            Ok::<_, ()>(())
        })
        .expect("token added");
}

/// A connector config that enrolls `id` with `token`, storing its secret in `secret_file`.
fn enrolling(w: &World, id: &str, token: &str, secret_file: &Path) -> ConnectorConfig {
    let mut cfg = connector_config(id, "unused", w.gw.tunnel_addr, &w.pki.ca_path);
    cfg.secret = None;
    cfg.enrollment_token = Some(token.into());
    cfg.secret_file = Some(secret_file.to_path_buf());
    cfg
}

/// The catalog entries with this id.
fn registered(w: &World, id: &str) -> Vec<ConnectorSpec> {
    let desired = w.gw.catalog.desired();
    desired
        .catalog
        .connectors
        .iter()
        .filter(|c| c.id == id)
        .cloned()
        .collect()
}

/// True once the gateway has `n` live tunnels of `id`.
async fn live(w: &World, id: &str, n: usize) -> bool {
    let state = w.gw.live.clone();
    eventually(
        || {
            state
                .registry
                .snapshot()
                .iter()
                .any(|(c, t, _, _)| &**c == id && *t >= n)
        },
        LIMIT,
    )
    .await
}

/// The reason of the connector's first refusal.
async fn refusal(h: &ConnectorHandle) -> String {
    assert!(
        eventually(|| h.auth_refusals() >= 1, LIMIT).await,
        "refused in time"
    );
    h.last_refusal().expect("a reason")
}

async fn auth_failures(w: &World, reason: &str) -> f64 {
    let series = format!("switchyard_tunnel_auth_failures_total{{reason=\"{reason}\"}}");
    metric(&w.metrics().await, &series).unwrap_or(0.0)
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_enrolls_into_default_serves_and_restarts_with_its_stored_secret() {
    let o = origin::spawn("o").await;
    let tmp = TempDir::new("enroll");
    let w = gateway(Spec::default(), &tmp);
    let file = tmp.path().join("azure-1.secret");
    let cfg = enrolling(&w, "azure-1", TOKEN, &file);
    let tunnels = cfg.tunnels_per_gateway;
    assert!(tunnels >= 2, "several slots share one enrollment");

    let h = switchyard::run_connector(cfg.clone())
        .await
        .expect("starts");
    assert!(h.wait_tunnels(tunnels, LIMIT).await, "tunnels up");
    assert!(h.enrolled());
    assert_eq!(h.auth_refusals(), 0);

    // The secret is on disk, private, and is the one the gateway stored the hash of.
    let stored = std::fs::read_to_string(&file).expect("secret file");
    let stored = stored.trim();
    assert_eq!(stored.len(), 64, "{stored:?}");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert_eq!(
        files_in(tmp.path()),
        std::slice::from_ref(&file),
        "no temporary file left"
    );
    let entries = registered(&w, "azure-1");
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].group, "default");
    assert_eq!(entries[0].secret_hash, secret::hash(stored));
    assert!(!entries[0].revoked && entries[0].tenant.is_none());
    let groups = w.gw.catalog.desired().catalog.groups.clone();
    assert_eq!(groups.len(), 1, "{groups:?}");
    assert_eq!(groups[0].name, "default");
    assert!(
        live(&w, "azure-1", tunnels).await,
        "gateway registered the tunnels"
    );

    // An app assigned to `default` is served through the enrolled connector.
    w.gw.catalog
        .update_catalog(None, |c| {
            c.apps
                .push(app("a", "a.example.test", None, &o.url(), &["default"]));
            Ok::<_, ()>(())
        })
        .expect("app added");
    let client = w.h1();
    let get = || client.get(w.url("a.example.test", "/")).send();
    let resp = get().await.expect("answer");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.expect("body"), "o");

    // A restart authenticates with the stored secret: no second registration.
    let version = w.gw.catalog.desired().version;
    h.kill();
    let state = w.gw.live.clone();
    assert!(
        eventually(|| state.registry.snapshot().is_empty(), LIMIT).await,
        "gateway noticed the kill"
    );
    let again = switchyard::run_connector(cfg).await.expect("restarts");
    assert!(again.enrolled(), "enrolled from the start");
    assert!(again.wait_tunnels(tunnels, LIMIT).await, "tunnels up again");
    assert_eq!(again.auth_refusals(), 0);
    assert_eq!(std::fs::read_to_string(&file).expect("file").trim(), stored);
    assert_eq!(registered(&w, "azure-1").len(), 1);
    assert_eq!(w.gw.catalog.desired().version, version, "catalog unchanged");
    assert!(live(&w, "azure-1", tunnels).await);
    let resp = get().await.expect("answer");
    assert_eq!(resp.status(), 200);

    // The token is not used up: a second connector enrolls into the same group.
    let file2 = tmp.path().join("azure-2.secret");
    let second = switchyard::run_connector(enrolling(&w, "azure-2", TOKEN, &file2))
        .await
        .expect("starts");
    assert!(second.wait_tunnels(tunnels, LIMIT).await);
    assert_eq!(registered(&w, "azure-2")[0].group, "default");
    assert_eq!(w.gw.catalog.desired().catalog.groups.len(), 1);
    assert_ne!(
        std::fs::read_to_string(&file2).expect("file").trim(),
        stored,
        "every connector gets its own secret"
    );
    assert_eq!(auth_failures(&w, "bad_enrollment").await, 0.0);
    again.kill();
    second.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_or_expired_tokens_are_refused_with_a_reason_and_counted() {
    let tmp = TempDir::new("enroll-bad");
    let w = gateway(Spec::default(), &tmp);
    add_token(&w, "old", "old-token-0123456789", now().saturating_sub(1));
    let cases = [
        ("wrong", "not-a-token", "unknown enrollment token"),
        ("late", "old-token-0123456789", "expired"),
    ];
    for (id, token, want) in cases {
        let file = tmp.path().join(format!("{id}.secret"));
        let h = switchyard::run_connector(enrolling(&w, id, token, &file))
            .await
            .expect("starts");
        let reason = refusal(&h).await;
        assert!(reason.contains(want), "{id}: {reason}");
        assert_eq!(h.tunnels_up(), 0);
        assert!(!h.enrolled());
        h.kill();
        assert!(!file.exists(), "{id}: no secret file");
        assert!(registered(&w, id).is_empty(), "{id}: not registered");
    }
    assert!(auth_failures(&w, "bad_enrollment").await >= 2.0);
    assert!(files_in(tmp.path()).is_empty(), "no file left behind");
    assert!(w.gw.live.registry.snapshot().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolling_an_id_that_exists_is_refused() {
    let tmp = TempDir::new("enroll-taken");
    let mut w = gateway(Spec::default().group("g").connector("c1", "g"), &tmp);
    let before = registered(&w, "c1");
    let file = tmp.path().join("c1.secret");
    let h = switchyard::run_connector(enrolling(&w, "c1", TOKEN, &file))
        .await
        .expect("starts");
    let reason = refusal(&h).await;
    assert!(
        reason.contains("already registered; use its secret"),
        "{reason}"
    );
    h.kill();
    assert!(!file.exists());
    assert_eq!(registered(&w, "c1"), before, "entry untouched");
    assert!(auth_failures(&w, "already_registered").await >= 1.0);
    // The registered connector still authenticates with its own secret.
    w.connect("c1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_without_a_store_refuses_enrollment() {
    let tmp = TempDir::new("enroll-nostore");
    let w = World::start(Spec::default());
    let file = tmp.path().join("c.secret");
    let h = switchyard::run_connector(enrolling(&w, "c", TOKEN, &file))
        .await
        .expect("starts");
    let reason = refusal(&h).await;
    assert!(
        reason.contains("enrollment needs a catalog store on the gateway"),
        "{reason}"
    );
    assert_eq!(h.tunnels_up(), 0);
    h.kill();
    assert!(!file.exists());
    assert!(auth_failures(&w, "enrollment_unavailable").await >= 1.0);
}
