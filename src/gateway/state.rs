//! The gateway's shared state and how a configuration becomes live: stage everything
//! (routing table, certificates), and publish only when all of it is valid.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;

use crate::config::gateway::{GatewayConfig, LimitsConfig, ResilienceConfig};
use crate::metrics::{AppMetrics, Metrics};
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
    pub registry: Registry,
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
    /// Serializes reloads (never taken on the request path).
    reload_lock: Mutex<()>,
    /// Old snapshots are handed here so their memory is freed off the request path.
    retired: std::sync::mpsc::Sender<Arc<Snapshot>>,
}

/// A configuration checked and loaded, ready to publish.
pub struct Staged {
    pub table: RoutingTable,
    pub certs: CertStore,
}

/// Validates and loads everything a configuration needs; every error is returned.
pub fn stage(cfg: &GatewayConfig, version: u64) -> Result<Staged, Vec<String>> {
    let mut errors: Vec<String> = cfg.validate();
    let table = match RoutingTable::compile(&cfg.catalog(), version) {
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
            certs: CertStore::new(loaded),
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
            retired: tx,
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
        let version = self.snapshot.load().table.version() + 1;
        match stage(cfg, version) {
            Ok(staged) => {
                self.publish(staged);
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
                    version: version - 1,
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
