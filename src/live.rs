//! Live state below the edge: the published snapshot (routing table, per-app metrics and the
//! settings a reload may change, one `ArcSwap` loaded once per request), the registry of live
//! connectors, metrics, the retry budget, certificates and the last reload's outcome. The
//! edge, the tunnel acceptor and the admin API read it; `gateway/` only assembles it.

pub mod catalog;
pub mod etcd;
pub mod reload;

use std::collections::HashMap;
use std::sync::{mpsc, Arc, OnceLock};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;

use crate::balance::budget::RetryBudget;
use crate::metrics::{AppMetrics, Metrics};
use crate::routing::{ConnectorEntry, RoutingTable};
use crate::tls::CertStore;
use crate::tunnel::acceptor::{TunnelHost, TunnelTimings};
use crate::tunnel::registry::Registry;

pub use crate::config::staged::Settings;

/// Everything a request needs to be consistent, published with one store.
pub struct Snapshot {
    pub table: RoutingTable,
    pub app_metrics: HashMap<Arc<str>, AppMetrics>,
    /// Metrics of requests that matched no app.
    pub unrouted_metrics: AppMetrics,
    pub settings: Settings,
}

impl Snapshot {
    /// A snapshot of `table` with its per-app metric handles.
    pub fn new(metrics: &Metrics, table: RoutingTable, settings: Settings) -> Snapshot {
        Snapshot {
            app_metrics: metrics.for_apps(table.apps().map(|r| &*r.app)),
            unrouted_metrics: metrics.app("-"),
            table,
            settings,
        }
    }
}

/// Outcome of the last reload, for operators.
#[derive(Debug, Clone, Default)]
pub struct ReloadStatus {
    pub at: Option<SystemTime>,
    pub ok: bool,
    pub version: u64,
    pub errors: Vec<String>,
    /// Settings changed in the file that only a restart applies.
    pub restart_needed: Vec<String>,
}

/// The live state of one gateway.
pub struct Live {
    /// The snapshot in service; only [`Live::publish`] stores into it outside benches.
    pub snapshot: ArcSwap<Snapshot>,
    pub registry: Arc<Registry>,
    pub metrics: Arc<Metrics>,
    pub certs: Arc<ArcSwap<CertStore>>,
    pub retry_budget: RetryBudget,
    pub last_reload: ArcSwap<ReloadStatus>,
    /// Old snapshots are handed here so their memory is freed off the request path.
    retired: mpsc::Sender<Arc<Snapshot>>,
    /// The runtime of the HTTPS edge, once it runs. Tunnels are driven there, so that a
    /// request and the tunnel it travels on wake each other without crossing runtimes.
    pub edge_runtime: OnceLock<tokio::runtime::Handle>,
}

impl Live {
    /// Live state serving `table` with `settings` and `certs` (start-up).
    pub fn new(table: RoutingTable, settings: Settings, certs: CertStore) -> Arc<Live> {
        let metrics = Arc::new(Metrics::new());
        let (tx, rx) = mpsc::channel::<Arc<Snapshot>>();
        spawn_reaper(rx);
        let snapshot = Snapshot::new(&metrics, table, settings);
        metrics.table_version.set(snapshot.table.version() as i64);
        metrics.table_swaps.inc();
        let r = settings.resilience;
        let live = Live {
            registry: Registry::new(metrics.clone()),
            snapshot: ArcSwap::from_pointee(snapshot),
            certs: Arc::new(ArcSwap::from_pointee(certs)),
            retry_budget: RetryBudget::new(r.retry_budget_ratio, r.retry_budget_min_per_sec),
            last_reload: ArcSwap::from_pointee(ReloadStatus {
                at: Some(SystemTime::now()),
                ok: true,
                version: 1,
                ..ReloadStatus::default()
            }),
            retired: tx,
            edge_runtime: OnceLock::new(),
            metrics,
        };
        live.registry.on_table_swap(&live.snapshot.load().table);
        Arc::new(live)
    }

    /// The snapshot in service (an `Arc`: it lives across awaits).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// The settings in service.
    pub fn settings(&self) -> Settings {
        self.snapshot.load().settings
    }

    /// Publishes a new table with `settings`: one swap, then the registry takes the new
    /// membership and the retry budget its new ratio. The old snapshot goes to the reaper.
    pub fn publish(&self, table: RoutingTable, settings: Settings) {
        let version = table.version();
        let snapshot = Arc::new(Snapshot::new(&self.metrics, table, settings));
        let old = self.snapshot.swap(snapshot.clone());
        self.registry.on_table_swap(&snapshot.table);
        let r = settings.resilience;
        self.retry_budget
            .set(r.retry_budget_ratio, r.retry_budget_min_per_sec);
        self.metrics.table_version.set(version as i64);
        self.metrics.table_swaps.inc();
        let _ = self.retired.send(old);
    }

    /// Records the outcome of a reload for the admin API.
    pub fn record_reload(&self, status: ReloadStatus) {
        self.last_reload.store(Arc::new(status));
    }
}

impl TunnelHost for Live {
    fn registry(&self) -> &Registry {
        &self.registry
    }

    fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    fn timings(&self) -> TunnelTimings {
        let t = self.snapshot.load().settings.tunnel;
        TunnelTimings {
            ping_interval: t.ping_interval,
            ping_timeout: t.ping_timeout,
            hello_timeout: t.hello_timeout,
        }
    }

    fn connectors_named(&self, id: &str) -> Vec<ConnectorEntry> {
        let snapshot = self.snapshot.load();
        snapshot
            .table
            .connectors_named(id)
            .into_iter()
            .cloned()
            .collect()
    }

    fn edge_runtime(&self) -> Option<tokio::runtime::Handle> {
        self.edge_runtime.get().cloned()
    }
}

/// Frees retired snapshots once no request holds them any more, on a thread of its own:
/// dropping a large table takes milliseconds that no request should wait for.
fn spawn_reaper(rx: mpsc::Receiver<Arc<Snapshot>>) {
    let spawned = std::thread::Builder::new()
        .name("switchyard-reaper".into())
        .spawn(move || {
            let mut held: Vec<Arc<Snapshot>> = Vec::new();
            loop {
                match rx.recv_timeout(Duration::from_millis(200)) {
                    Ok(s) => held.push(s),
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
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
