//! The file-store catalog writer: the desired state in memory, persisted to the store's
//! file when one is configured, published to the live state on every change. Also what
//! every writer shares: the quota check and whole-catalog compile before a change is
//! persisted, and what a configuration reload needs from the writer.

use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;

use super::Live;
use crate::catalog::quota;
use crate::catalog::store::{FileStore, Stored};
use crate::catalog::writer::{CatalogWriter, Edit, UpdateError};
use crate::catalog::Catalog;
use crate::routing::RoutingTable;

/// A catalog writer a gateway runs: besides writing, what a configuration reload needs.
pub trait LiveCatalog: CatalogWriter {
    /// Serializes publishing: writes, store changes and reloads (never the request path).
    fn lock(&self) -> MutexGuard<'_, ()>;

    /// Whether the configuration file owns the catalog (no store: reloads replace it).
    fn file_owned(&self) -> bool;

    /// Records the desired state a reload published from the configuration file (only when
    /// the file owns the catalog). The caller holds [`LiveCatalog::lock`].
    fn set_from_file(&self, stored: Stored);

    /// The same writer as the plain seam (what the admin API and the tunnel acceptor take).
    fn writer(self: Arc<Self>) -> Arc<dyn CatalogWriter>;
}

/// The catalog writer a gateway runs, whichever store it uses (none, a file, etcd), as one
/// type: what the gateway's handle and tests hold.
pub struct GatewayCatalog(Arc<dyn LiveCatalog>);

impl GatewayCatalog {
    /// The gateway's writer.
    pub fn new(writer: Arc<dyn LiveCatalog>) -> GatewayCatalog {
        GatewayCatalog(writer)
    }
}

impl CatalogWriter for GatewayCatalog {
    fn desired(&self) -> Arc<Stored> {
        self.0.desired()
    }

    fn location(&self) -> Option<String> {
        self.0.location()
    }

    fn store_state(&self) -> serde_json::Value {
        self.0.store_state()
    }

    fn connector_gateways(&self) -> Option<std::collections::BTreeMap<String, Vec<String>>> {
        self.0.connector_gateways()
    }

    fn write(&self, expected: Option<u64>, edit: Edit<'_>) -> Result<u64, UpdateError<()>> {
        self.0.write(expected, edit)
    }
}

/// Holds `next` (a change of `current`) to the tenants' quotas, counting a refusal, and
/// compiles it whole: what every writer does before it persists a change.
pub fn check_and_compile(
    live: &Live,
    current: &Catalog,
    next: &Catalog,
    version: u64,
) -> Result<RoutingTable, UpdateError<()>> {
    let settings = live.settings();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if let Err(e) = quota::check(current, next, &settings.tenant_quotas, now) {
        live.metrics
            .tenant_quota_refusals
            .with_label_values(&[e.tenant.as_str(), e.kind.as_str()])
            .inc();
        return Err(UpdateError::Quota(e));
    }
    RoutingTable::compile(next, version).map_err(UpdateError::Invalid)
}

/// The catalog of one gateway, kept in a file store (or in the configuration file).
pub struct FileCatalog {
    live: Arc<Live>,
    /// The desired state and its version (the routing table in service compiles it).
    desired: ArcSwap<Stored>,
    /// Where API changes are persisted; `None`: the config file owns the catalog.
    store: Option<FileStore>,
    /// Serializes writers and reloads (never taken on the request path).
    lock: Mutex<()>,
}

impl FileCatalog {
    /// A writer publishing to `live`, starting from `desired`.
    pub fn new(live: Arc<Live>, desired: Stored, store: Option<FileStore>) -> FileCatalog {
        FileCatalog {
            live,
            desired: ArcSwap::from_pointee(desired),
            store,
            lock: Mutex::new(()),
        }
    }

    /// The store, when the API owns the catalog.
    pub fn store(&self) -> Option<&FileStore> {
        self.store.as_ref()
    }

    /// Refuses a write when another process (a `gateway -u` hand-over shares the store)
    /// changed the store since this one loaded it.
    fn check_on_disk(&self, store: &FileStore, current: u64) -> Result<(), UpdateError<()>> {
        match store.load() {
            Ok(Some(on_disk)) if on_disk.version != current => {
                tracing::warn!(
                    on_disk = on_disk.version,
                    in_service = current,
                    "the catalog store was changed by another process; write refused"
                );
                Err(UpdateError::Conflict {
                    current: on_disk.version,
                })
            }
            Ok(_) => Ok(()),
            Err(e) => Err(UpdateError::Store(e)),
        }
    }
}

impl CatalogWriter for FileCatalog {
    fn desired(&self) -> Arc<Stored> {
        self.desired.load_full()
    }

    fn location(&self) -> Option<String> {
        self.store.as_ref().map(|s| s.path().display().to_string())
    }

    fn write(&self, expected: Option<u64>, edit: Edit<'_>) -> Result<u64, UpdateError<()>> {
        let Some(store) = &self.store else {
            return Err(UpdateError::ReadOnly);
        };
        let _serial = LiveCatalog::lock(self);
        let current = self.desired.load_full();
        self.check_on_disk(store, current.version)?;
        if let Some(v) = expected {
            if v != current.version {
                return Err(UpdateError::Conflict {
                    current: current.version,
                });
            }
        }
        let mut catalog = current.catalog.clone();
        if !edit(&mut catalog) {
            return Err(UpdateError::Rejected(()));
        }
        let version = current.version + 1;
        let table = check_and_compile(&self.live, &current.catalog, &catalog, version)?;
        let stored = Stored { version, catalog };
        store.save(&stored).map_err(UpdateError::Store)?;
        self.live.publish(table, self.live.settings());
        self.desired.store(Arc::new(stored));
        tracing::info!(version, "catalog changed through the admin API");
        Ok(version)
    }
}

impl LiveCatalog for FileCatalog {
    fn lock(&self) -> MutexGuard<'_, ()> {
        // A poisoned lock only means another thread panicked mid-change; nothing was
        // half-published (publishing is one swap).
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn file_owned(&self) -> bool {
        self.store.is_none()
    }

    fn set_from_file(&self, stored: Stored) {
        if self.store.is_none() {
            self.desired.store(Arc::new(stored));
        }
    }

    fn writer(self: Arc<Self>) -> Arc<dyn CatalogWriter> {
        self
    }
}
