//! The gateway's shared state and how a configuration becomes live: stage everything
//! (routing table, certificates), and publish only when all of it is valid.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;

use crate::catalog::store::{FileStore, StoreError, Stored};
use crate::catalog::Catalog;
use crate::config::gateway::{GatewayConfig, LimitsConfig, ResilienceConfig};
use crate::metrics::{AppMetrics, Metrics};
use crate::routing::CatalogError;
use crate::routing::RoutingTable;
use crate::tls::{CertStore, LoadedCert};
use crate::tunnel::registry::Registry;

/// Everything a request needs to be consistent, published with one store.
pub struct Snapshot {
    pub table: RoutingTable,
    pub app_metrics: HashMap<Arc<str>, AppMetrics>,
    /// Metrics of requests that matched no app.
    pub unrouted_metrics: AppMetrics,
}

/// Outcome of the last reload, for operators.
#[derive(Debug, Clone, Default)]
pub struct ReloadStatus {
    pub at: Option<SystemTime>,
    pub ok: bool,
    pub version: u64,
    pub errors: Vec<String>,
}

/// State shared by the edge, the tunnel acceptor and the control tasks of one gateway.
pub struct GatewayState {
    pub snapshot: ArcSwap<Snapshot>,
    pub registry: Arc<Registry>,
    pub metrics: Arc<Metrics>,
    pub certs: Arc<ArcSwap<CertStore>>,
    pub limits: LimitsConfig,
    pub resilience: ResilienceConfig,
    pub retry_budget: crate::balance::budget::RetryBudget,
    pub access_log: bool,
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    pub hello_timeout: Duration,
    pub config_path: Option<PathBuf>,
    pub last_reload: ArcSwap<ReloadStatus>,
    /// The desired state and its version (the routing table in service compiles it).
    pub desired: ArcSwap<Stored>,
    /// Where API changes are persisted; `None`: the config file owns the catalog.
    pub store: Option<FileStore>,
    /// The admin tokens of the configuration in service.
    pub admin_tokens: ArcSwap<Vec<crate::config::gateway::AdminToken>>,
    /// Serializes reloads (never taken on the request path).
    reload_lock: Mutex<()>,
    /// Old snapshots are handed here so their memory is freed off the request path.
    retired: std::sync::mpsc::Sender<Arc<Snapshot>>,
    /// The runtime of the HTTPS edge, once it runs. Tunnels are driven there, so that a
    /// request and the tunnel it travels on wake each other without crossing runtimes.
    pub edge_runtime: std::sync::OnceLock<tokio::runtime::Handle>,
}

/// A configuration checked and loaded, ready to publish.
pub struct Staged {
    pub table: RoutingTable,
    pub certs: CertStore,
}

/// Validates and loads everything a configuration needs; every error is returned.
pub fn stage(cfg: &GatewayConfig, version: u64) -> Result<Staged, Vec<String>> {
    stage_with(cfg, &cfg.catalog(), version)
}

/// Like [`stage`], with the catalog taken from elsewhere (the store).
pub fn stage_with(
    cfg: &GatewayConfig,
    catalog: &Catalog,
    version: u64,
) -> Result<Staged, Vec<String>> {
    let mut errors: Vec<String> = cfg.validate();
    let table = match RoutingTable::compile(catalog, version) {
        Ok(t) => Some(t),
        Err(es) => {
            errors.extend(es.into_iter().map(|e| e.to_string()));
            None
        }
    };
    let mut loaded: Vec<LoadedCert> = Vec::new();
    for (i, pair) in cfg.certificates.iter().enumerate() {
        match crate::tls::load_cert_pair(&cfg.resolve(&pair.cert), &cfg.resolve(&pair.key)) {
            Ok(c) => loaded.push(c),
            Err(e) => errors.push(format!("certificates[{i}]: {e}")),
        }
    }
    match (errors.is_empty(), table) {
        (true, Some(table)) => Ok(Staged {
            table,
            certs: CertStore::with_default(loaded, cfg.default_certificate()),
        }),
        _ => Err(errors),
    }
}

impl GatewayState {
    /// Builds the state from a staged configuration (start-up).
    pub fn new(
        cfg: &GatewayConfig,
        staged: Staged,
        config_path: Option<PathBuf>,
        desired: Stored,
        store: Option<FileStore>,
    ) -> Arc<GatewayState> {
        let metrics = Arc::new(Metrics::new());
        let (tx, rx) = std::sync::mpsc::channel::<Arc<Snapshot>>();
        spawn_reaper(rx);
        let snapshot = make_snapshot(&metrics, staged.table);
        metrics.table_version.set(snapshot.table.version() as i64);
        metrics.table_swaps.inc();
        let state = GatewayState {
            registry: Registry::new(metrics.clone()),
            snapshot: ArcSwap::from_pointee(snapshot),
            certs: Arc::new(ArcSwap::from_pointee(staged.certs)),
            limits: cfg.limits,
            resilience: cfg.resilience,
            retry_budget: crate::balance::budget::RetryBudget::new(
                cfg.resilience.retry_budget_ratio,
                cfg.resilience.retry_budget_min_per_sec,
            ),
            access_log: cfg.runtime.access_log,
            ping_interval: cfg.ping_interval(),
            ping_timeout: cfg.ping_timeout(),
            hello_timeout: Duration::from_millis(cfg.tunnel.hello_timeout_ms),
            config_path,
            last_reload: ArcSwap::from_pointee(ReloadStatus {
                at: Some(SystemTime::now()),
                ok: true,
                version: 1,
                errors: Vec::new(),
            }),
            reload_lock: Mutex::new(()),
            desired: ArcSwap::from_pointee(desired),
            store,
            admin_tokens: ArcSwap::from_pointee(cfg.admin.tokens.clone()),
            retired: tx,
            edge_runtime: std::sync::OnceLock::new(),
            metrics,
        };
        let state = Arc::new(state);
        state.registry.on_table_swap(&state.snapshot.load().table);
        state
    }

    /// The routing table in service.
    pub fn table(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Applies a new configuration: all or nothing. Returns the new table version, or every
    /// error (the old configuration keeps serving).
    pub fn apply(&self, cfg: &GatewayConfig) -> Result<u64, Vec<String>> {
        let _serial = self.reload_lock.lock().unwrap_or_else(|p| p.into_inner());
        // With a store, the API owns the catalog: a reload takes certificates and settings
        // from the file and keeps the stored catalog.
        let (catalog, version) = match &self.store {
            Some(_) => {
                let d = self.desired.load();
                (d.catalog.clone(), d.version)
            }
            None => (cfg.catalog(), self.snapshot.load().table.version() + 1),
        };
        match stage_with(cfg, &catalog, version) {
            Ok(staged) => {
                self.publish(staged);
                self.admin_tokens.store(Arc::new(cfg.admin.tokens.clone()));
                if self.store.is_none() {
                    self.desired.store(Arc::new(Stored { version, catalog }));
                }
                self.metrics.reloads.inc();
                self.last_reload.store(Arc::new(ReloadStatus {
                    at: Some(SystemTime::now()),
                    ok: true,
                    version,
                    errors: Vec::new(),
                }));
                tracing::info!(version, "configuration applied");
                Ok(version)
            }
            Err(errors) => {
                self.metrics.reload_failures.inc();
                for e in &errors {
                    tracing::error!(error = %e, "configuration rejected");
                }
                self.last_reload.store(Arc::new(ReloadStatus {
                    at: Some(SystemTime::now()),
                    ok: false,
                    version: self.snapshot.load().table.version(),
                    errors: errors.clone(),
                }));
                Err(errors)
            }
        }
    }

    /// Reads the config file again and applies it.
    pub fn reload_from_file(&self) -> Result<u64, Vec<String>> {
        let Some(path) = &self.config_path else {
            return Err(vec!["no configuration file to reload".into()]);
        };
        match GatewayConfig::from_file(path) {
            Ok(cfg) => self.apply(&cfg),
            Err(e) => {
                let errors = e.messages();
                self.metrics.reload_failures.inc();
                for e in &errors {
                    tracing::error!(error = %e, "configuration rejected");
                }
                let version = self.snapshot.load().table.version();
                self.last_reload.store(Arc::new(ReloadStatus {
                    at: Some(SystemTime::now()),
                    ok: false,
                    version,
                    errors: errors.clone(),
                }));
                Err(errors)
            }
        }
    }

    /// Changes the catalog through the API: `change` edits a copy; the result is validated
    /// whole, persisted, and only then published. `expected` is the version the caller saw
    /// (`If-Match`); a different current version is a conflict. Writers are serialized, so
    /// none loses another's change.
    pub fn update_catalog<T, E>(
        &self,
        expected: Option<u64>,
        change: impl FnOnce(&mut Catalog) -> Result<T, E>,
    ) -> Result<(u64, T), UpdateError<E>> {
        let Some(store) = &self.store else {
            return Err(UpdateError::ReadOnly);
        };
        let _serial = self.reload_lock.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.desired.load_full();
        // During a `gateway -u` hand-over two processes share the store: refuse to write over
        // a version this process has not seen.
        match store.load() {
            Ok(Some(on_disk)) if on_disk.version != current.version => {
                tracing::warn!(
                    on_disk = on_disk.version,
                    in_service = current.version,
                    "the catalog store was changed by another process; write refused"
                );
                return Err(UpdateError::Conflict {
                    current: on_disk.version,
                });
            }
            Ok(_) => {}
            Err(e) => return Err(UpdateError::Store(e)),
        }
        if let Some(v) = expected {
            if v != current.version {
                return Err(UpdateError::Conflict {
                    current: current.version,
                });
            }
        }
        let mut catalog = current.catalog.clone();
        let out = change(&mut catalog).map_err(UpdateError::Rejected)?;
        let version = current.version + 1;
        let table = RoutingTable::compile(&catalog, version).map_err(UpdateError::Invalid)?;
        let stored = Stored { version, catalog };
        store.save(&stored).map_err(UpdateError::Store)?;
        let snapshot = make_snapshot(&self.metrics, table);
        let old = self.snapshot.swap(Arc::new(snapshot));
        self.desired.store(Arc::new(stored));
        self.registry.on_table_swap(&self.snapshot.load().table);
        self.metrics.table_version.set(version as i64);
        self.metrics.table_swaps.inc();
        let _ = self.retired.send(old);
        tracing::info!(version, "catalog changed through the admin API");
        Ok((version, out))
    }

    fn publish(&self, staged: Staged) {
        let snapshot = make_snapshot(&self.metrics, staged.table);
        let version = snapshot.table.version();
        self.certs.store(Arc::new(staged.certs));
        let old = self.snapshot.swap(Arc::new(snapshot));
        self.registry.on_table_swap(&self.snapshot.load().table);
        self.metrics.table_version.set(version as i64);
        self.metrics.table_swaps.inc();
        let _ = self.retired.send(old);
    }
}

fn make_snapshot(metrics: &Metrics, table: RoutingTable) -> Snapshot {
    let app_metrics = metrics.for_apps(table.apps().map(|r| &*r.app));
    Snapshot {
        app_metrics,
        unrouted_metrics: metrics.app("-"),
        table,
    }
}

/// Frees retired snapshots once no request holds them any more, on a thread of its own:
/// dropping a large table takes milliseconds that no request should wait for.
fn spawn_reaper(rx: std::sync::mpsc::Receiver<Arc<Snapshot>>) {
    let spawned = std::thread::Builder::new()
        .name("switchyard-reaper".into())
        .spawn(move || {
            let mut held: Vec<Arc<Snapshot>> = Vec::new();
            loop {
                match rx.recv_timeout(Duration::from_millis(200)) {
                    Ok(s) => held.push(s),
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                        if held.is_empty() {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(200));
                    }
                }
                held.retain(|s| Arc::strong_count(s) > 1);
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "could not start the table reaper; old tables are freed inline");
    }
}

/// Why an API change was not applied (nothing was changed).
#[derive(Debug, thiserror::Error)]
pub enum UpdateError<E> {
    #[error("the catalog is managed in the configuration file (no store configured)")]
    ReadOnly,
    #[error("the catalog changed meanwhile (now at version {current})")]
    Conflict { current: u64 },
    #[error("the change makes the catalog invalid")]
    Invalid(Vec<CatalogError>),
    #[error("{0}")]
    Rejected(E),
    #[error("{0}")]
    Store(StoreError),
}
