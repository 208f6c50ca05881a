//! The etcd catalog writer: a gateway that shares its catalog with others through etcd (key
//! layout and crash guarantee in [`crate::catalog::etcd`]). At start it lists the catalog
//! keys at one revision (seeding an empty prefix from the configuration file, once across
//! gateways), compiles and publishes; then it watches from the next revision and
//! republishes once per burst of changes. A write is validated whole like the file store's,
//! then committed in one transaction that holds only while the catalog is still at the
//! version it was made against; it is published at once, and the watch skips it.
//!
//! etcd unavailable: requests never wait on etcd (they read the published snapshot); writes
//! fail with [`UpdateError::Unavailable`]; the watch retries and resumes from the last
//! revision it applied (re-listing when etcd compacted it). There is no local copy: a
//! gateway that starts while etcd is down refuses to start.
//!
//! Each gateway also publishes its live connectors under a lease ([`presence`]).

pub mod presence;
mod watch;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use arc_swap::ArcSwap;
use etcd_client::Client;

use super::catalog::{check_and_compile, LiveCatalog};
use super::Live;
use crate::catalog::etcd::client::{self, Commit, EtcdError};
use crate::catalog::etcd::{assemble, diff, objects, EtcdSettings, Mirror, Object};
use crate::catalog::store::Stored;
use crate::catalog::writer::{CatalogWriter, Edit, UpdateError};
use crate::catalog::{Catalog, CatalogError};
use crate::routing::RoutingTable;

/// Attempts of a write (without `If-Match`) that other gateways' writes keep overtaking.
const ATTEMPTS: u32 = 16;
/// Pause before attempt n: random, up to n times this, so that a gateway that lost a race
/// does not lose every following one to a busy peer.
const BACKOFF_STEP: Duration = Duration::from_millis(4);

/// A tokio runtime that is shut down without waiting when dropped, so that dropping it from
/// async code (a test, the control runtime) never panics.
struct OwnedRuntime(Option<tokio::runtime::Runtime>);

impl OwnedRuntime {
    fn handle(&self) -> Option<tokio::runtime::Handle> {
        self.0.as_ref().map(|r| r.handle().clone())
    }
}

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// Runs `fut` on `handle` and waits for it from this (blocking) thread.
fn block<T: Send + 'static>(
    handle: &tokio::runtime::Handle,
    fut: impl Future<Output = Result<T, EtcdError>> + Send + 'static,
) -> Result<T, EtcdError> {
    let (tx, rx) = std::sync::mpsc::channel();
    handle.spawn(async move {
        let _ = tx.send(fut.await);
    });
    // Every call inside is bounded; this only guards against a runtime that stopped.
    rx.recv_timeout(client::REQUEST_TIMEOUT * 4)
        .unwrap_or_else(|_| Err(EtcdError::Unavailable("the etcd client stopped".into())))
}

/// The catalog read from etcd at start-up, before the live state exists.
pub struct Started {
    runtime: OwnedRuntime,
    client: Client,
    settings: EtcdSettings,
    mirror: Mirror,
    /// The desired state and its version (`meta`'s `mod_revision`).
    pub stored: Stored,
    /// Its compiled table.
    pub table: RoutingTable,
}

/// Connects, lists the catalog (seeding an empty prefix from `seed` in one transaction that
/// only one gateway wins) and compiles it; every problem is one message for the operator.
pub fn start(settings: &EtcdSettings, seed: &Catalog) -> Result<Started, Vec<String>> {
    let whence = settings.describe();
    let fail = |e: String| vec![format!("catalog store {whence}: {e}")];
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("switchyard-etcd")
        .enable_all()
        .build()
        .map(|r| OwnedRuntime(Some(r)))
        .map_err(|e| fail(format!("runtime: {e}")))?;
    let handle = runtime.handle().ok_or_else(|| fail("no runtime".into()))?;
    let seed = objects(seed).map_err(&fail)?;
    let s = settings.clone();
    let listed = block(&handle, async move {
        let client = client::connect(&s).await?;
        let (revision, kvs) = client::list(&client, &s).await?;
        let mirror = Mirror::listed(revision, kvs);
        if !mirror.is_empty() {
            return Ok((client, mirror, false));
        }
        let changes: Vec<(String, Option<Object>)> =
            seed.into_iter().map(|(k, o)| (k, Some(o))).collect();
        let seeded = client::seed(&client, &s, &changes).await?;
        let (revision, kvs) = client::list(&client, &s).await?;
        Ok((client, Mirror::listed(revision, kvs), seeded))
    })
    .map_err(|e| {
        fail(format!(
            "{e}; the gateway keeps no local copy of the catalog, so it cannot start \
             without etcd"
        ))
    })?;
    let (client, mirror, seeded) = listed;
    if seeded {
        tracing::info!(store = %whence, "etcd catalog seeded from the configuration file");
    }
    let catalog = assemble(
        mirror
            .objects()
            .map_err(|bad| {
                bad.into_iter()
                    .map(|b| format!("catalog store {whence}: {b}"))
                    .collect::<Vec<_>>()
            })?
            .values(),
    );
    let version = mirror.version().max(0) as u64;
    let table = RoutingTable::compile(&catalog, version).map_err(|es| {
        es.iter()
            .map(|e| format!("catalog store {whence}: {e}"))
            .collect::<Vec<_>>()
    })?;
    Ok(Started {
        runtime,
        client,
        settings: settings.clone(),
        mirror,
        stored: Stored { version, catalog },
        table,
    })
}

/// What the writer, the watch and `/status` share.
struct Shared {
    live: Arc<Live>,
    settings: EtcdSettings,
    client: Client,
    handle: tokio::runtime::Handle,
    /// The desired state in service and its version.
    desired: ArcSwap<Stored>,
    /// Serializes writes, watch batches and reloads (never taken on the request path).
    serial: Mutex<()>,
    /// The catalog keys as last seen; taken only while `serial` is held.
    mirror: Mutex<Mirror>,
    connected: AtomicBool,
    /// Every live gateway's presence, as last read.
    peers: ArcSwap<Vec<presence::Presence>>,
}

/// The catalog of a gateway kept in etcd.
pub struct EtcdCatalog {
    shared: Arc<Shared>,
    /// Runs the etcd client and the watch; shut down with the writer.
    _runtime: OwnedRuntime,
}

impl EtcdCatalog {
    /// The writer of a catalog `started` read, publishing to `live`; starts the watch.
    pub fn new(live: Arc<Live>, started: Started) -> Result<Arc<EtcdCatalog>, String> {
        let handle = started
            .runtime
            .handle()
            .ok_or_else(|| "the etcd runtime is gone".to_string())?;
        live.metrics.store_connected.set(1);
        let shared = Arc::new(Shared {
            live,
            settings: started.settings,
            client: started.client,
            handle: handle.clone(),
            desired: ArcSwap::from_pointee(started.stored),
            serial: Mutex::new(()),
            mirror: Mutex::new(started.mirror),
            connected: AtomicBool::new(true),
            peers: ArcSwap::from_pointee(Vec::new()),
        });
        handle.spawn(watch::run(shared.clone()));
        Ok(Arc::new(EtcdCatalog {
            shared,
            _runtime: started.runtime,
        }))
    }

    /// Publishes this gateway's live connectors under `name` (see [`presence`]).
    pub fn announce(&self, name: String) {
        let s = &self.shared;
        s.handle.spawn(presence::run(s.clone(), name));
    }
}

/// A catalog that cannot be stored as keys, as a validation error.
fn unstorable(message: String) -> UpdateError<()> {
    UpdateError::Invalid(vec![CatalogError::new("catalog", message)])
}

fn from_etcd(e: EtcdError) -> UpdateError<()> {
    match e {
        EtcdError::Refused(m) => {
            UpdateError::Store(crate::catalog::store::StoreError::Inconsistent(format!(
                "etcd refused the change: {m}"
            )))
        }
        other => UpdateError::Unavailable(other.to_string()),
    }
}

impl Shared {
    fn serial(&self) -> MutexGuard<'_, ()> {
        // Poisoned: a thread panicked mid-change; the mirror is replaced or re-read whole.
        self.serial.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn mirror(&self) -> MutexGuard<'_, Mirror> {
        self.mirror.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The stored objects and their version; keys this version cannot read refuse writes.
    fn base(&self) -> Result<(BTreeMap<String, Object>, i64), UpdateError<()>> {
        let m = self.mirror();
        let objects = m.objects().map_err(|bad| {
            UpdateError::Store(crate::catalog::store::StoreError::Corrupt {
                path: self.settings.describe(),
                message: bad.join("; "),
            })
        })?;
        Ok((objects, m.version()))
    }

    /// Marks etcd reachable or not; `true` when that changed.
    fn set_connected(&self, up: bool) -> bool {
        self.live.metrics.store_connected.set(i64::from(up));
        self.connected.swap(up, Ordering::SeqCst) != up
    }

    /// Lists the catalog again (caller holds `serial`) and publishes it when it changed.
    fn relist(&self) -> Result<(), EtcdError> {
        let (client, s) = (self.client.clone(), self.settings.clone());
        let (revision, kvs) = block(&self.handle, async move { client::list(&client, &s).await })?;
        *self.mirror() = Mirror::listed(revision, kvs);
        self.republish();
        Ok(())
    }

    /// Applies a batch of watched changes and republishes once when they changed anything.
    fn apply(&self, changes: Vec<crate::catalog::etcd::Change>) {
        let _serial = self.serial();
        let changed = self.mirror().apply(changes);
        if changed {
            self.republish();
        }
    }

    /// Compiles the mirror and publishes it (caller holds `serial`). A catalog in etcd that
    /// does not read or validate keeps the table in service, loudly.
    fn republish(&self) {
        let (objects, version) = {
            let m = self.mirror();
            (m.objects(), m.version().max(0) as u64)
        };
        let objects = match objects {
            Ok(o) => o,
            Err(bad) => {
                tracing::error!(problems = %bad.join("; "), "the catalog in etcd has keys this version cannot read; the routing table in service is kept");
                return;
            }
        };
        let catalog = assemble(objects.values());
        let current = self.desired.load_full();
        if current.version == version && current.catalog == catalog {
            return;
        }
        match RoutingTable::compile(&catalog, version) {
            Ok(table) => {
                self.live.publish(table, self.live.settings());
                self.desired.store(Arc::new(Stored { version, catalog }));
                tracing::info!(version, "catalog changed in etcd; routing table published");
            }
            Err(es) => {
                let problems: Vec<String> = es.iter().map(ToString::to_string).collect();
                tracing::error!(version, problems = %problems.join("; "), "the catalog in etcd is invalid; the routing table in service is kept");
            }
        }
    }

    /// Publishes a change this gateway committed at `revision` (caller holds `serial`).
    fn committed(&self, revision: i64, changes: &[(String, Option<Object>)], table: RoutingTable) {
        let version = revision.max(0) as u64;
        let catalog = {
            let mut m = self.mirror();
            m.committed(revision, changes);
            m.objects().map(|o| assemble(o.values()))
        };
        match catalog {
            Ok(catalog) => {
                self.live
                    .publish(table.with_version(version), self.live.settings());
                self.desired.store(Arc::new(Stored { version, catalog }));
            }
            // Cannot happen (the base read whole under the same lock); re-read to be sure.
            Err(_) => self.republish(),
        }
    }

    /// Commits `changes` against `version` in one transaction.
    fn commit(
        &self,
        version: i64,
        changes: &[(String, Option<Object>)],
    ) -> Result<Commit, UpdateError<()>> {
        let (client, s, changes) = (self.client.clone(), self.settings.clone(), changes.to_vec());
        block(&self.handle, async move {
            client::commit(&client, &s, version, &changes).await
        })
        .map_err(from_etcd)
    }
}

impl CatalogWriter for EtcdCatalog {
    fn desired(&self) -> Arc<Stored> {
        self.shared.desired.load_full()
    }

    fn location(&self) -> Option<String> {
        Some(self.shared.settings.describe())
    }

    fn store_state(&self) -> serde_json::Value {
        let s = &self.shared;
        serde_json::json!({
            "kind": "etcd",
            "endpoints": s.settings.endpoints,
            "prefix": s.settings.prefix,
            "connected": s.connected.load(Ordering::SeqCst),
            "revision": s.mirror().revision(),
            "gateways": **s.peers.load(),
        })
    }

    fn connector_gateways(&self) -> Option<BTreeMap<String, Vec<String>>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for p in self.shared.peers.load().iter() {
            for id in p.connectors.keys() {
                out.entry(id.clone()).or_default().push(p.gateway.clone());
            }
        }
        Some(out)
    }

    fn write(&self, expected: Option<u64>, edit: Edit<'_>) -> Result<u64, UpdateError<()>> {
        let s = &self.shared;
        let _serial = s.serial();
        let seen = s.mirror().version();
        if expected.is_some_and(|v| v as i64 > seen) {
            // Another gateway's write that the watch has not brought yet.
            s.relist().map_err(from_etcd)?;
        }
        let (base, version) = s.base()?;
        if let Some(v) = expected.filter(|v| *v as i64 != version) {
            tracing::debug!(expected = v, version, "If-Match is not the current version");
            return Err(UpdateError::Conflict {
                current: version.max(0) as u64,
            });
        }
        let current = assemble(base.values());
        let mut next = current.clone();
        if !edit(&mut next) {
            return Err(UpdateError::Rejected(()));
        }
        let target = objects(&next).map_err(unstorable)?;
        let changes = diff(&base, &target);
        if changes.is_empty() {
            return Ok(version.max(0) as u64);
        }
        self.commit_rebased(expected, (base, version), current, changes)
    }
}

impl EtcdCatalog {
    /// Validates and commits `changes` made against `base`; when another gateway's write
    /// overtook them (and no `If-Match` pinned the version), re-reads and re-applies the
    /// same changes on the new state, as long as that write touched none of their keys.
    fn commit_rebased(
        &self,
        expected: Option<u64>,
        (mut base, mut version): (BTreeMap<String, Object>, i64),
        mut current: Catalog,
        changes: Vec<(String, Option<Object>)>,
    ) -> Result<u64, UpdateError<()>> {
        let s = &self.shared;
        for attempt in 0..ATTEMPTS {
            let mut merged = base.clone();
            for (key, object) in &changes {
                match object {
                    Some(o) => merged.insert(key.clone(), o.clone()),
                    None => merged.remove(key),
                };
            }
            let candidate = assemble(merged.values());
            let table = check_and_compile(&s.live, &current, &candidate, 0)?;
            match s.commit(version, &changes)? {
                Commit::Done(revision) => {
                    s.committed(revision, &changes, table);
                    tracing::info!(version = revision, "catalog changed through the admin API");
                    return Ok(revision.max(0) as u64);
                }
                Commit::Stale => {
                    if expected.is_none() {
                        // Not on the request path: an admin handler or enrollment, off
                        // the async workers.
                        let most = BACKOFF_STEP.as_micros() as u64 * u64::from(attempt + 1);
                        std::thread::sleep(Duration::from_micros(rand::random_range(0..=most)));
                    }
                    s.relist().map_err(from_etcd)?;
                    let (fresh, v) = s.base()?;
                    let touched = changes.iter().any(|(k, _)| fresh.get(k) != base.get(k));
                    if expected.is_some() || touched {
                        return Err(UpdateError::Conflict {
                            current: v.max(0) as u64,
                        });
                    }
                    current = assemble(fresh.values());
                    (base, version) = (fresh, v);
                }
            }
        }
        Err(UpdateError::Conflict {
            current: version.max(0) as u64,
        })
    }
}

impl LiveCatalog for EtcdCatalog {
    fn lock(&self) -> MutexGuard<'_, ()> {
        self.shared.serial()
    }

    fn file_owned(&self) -> bool {
        false
    }

    fn set_from_file(&self, _stored: Stored) {}

    fn writer(self: Arc<Self>) -> Arc<dyn CatalogWriter> {
        self
    }
}

/// How long the watch waits between attempts while etcd is unreachable, at most.
const RETRY_MAX: Duration = Duration::from_secs(1);
