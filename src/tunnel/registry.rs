//! Live connectors: which tunnels each connector holds and which connectors of each group are
//! live right now.
//!
//! The write side (tunnel up/down, table swap) is serialized by a mutex that the request path
//! never touches; it publishes an immutable [`LiveView`] through `ArcSwap`, which the request
//! path loads once.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use bytes::Bytes;
use prometheus::IntGauge;

use crate::catalog::BalancePolicy;
use crate::metrics::Metrics;
use crate::routing::RoutingTable;

/// One authenticated tunnel: an HTTP/2 client session on a connection the connector dialed.
pub struct Tunnel {
    pub id: u64,
    pub connector: Arc<str>,
    pub remote: SocketAddr,
    pub version: String,
    pub send: h2::client::SendRequest<Bytes>,
    closed: AtomicBool,
    /// Set by the gateway when the tunnel must go (revoked, removed from catalog): the
    /// connection task watches it.
    pub kill: tokio::sync::Notify,
}

impl Tunnel {
    /// A new tunnel record.
    pub fn new(
        id: u64,
        connector: Arc<str>,
        remote: SocketAddr,
        version: String,
        send: h2::client::SendRequest<Bytes>,
    ) -> Tunnel {
        Tunnel {
            id,
            connector,
            remote,
            version,
            send,
            closed: AtomicBool::new(false),
            kill: tokio::sync::Notify::new(),
        }
    }

    /// True once the tunnel failed or was closed.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Marks the tunnel unusable (request path stops picking it at once).
    pub fn mark_closed(&self) {
        self.closed.store(true, Ordering::Release);
    }
}

/// A connector with at least one tunnel, as the request path sees it.
pub struct LiveConnector {
    pub id: Arc<str>,
    /// Hash of the id, for affinity (rendezvous hashing).
    pub id_hash: u64,
    /// Passive health (ejection).
    pub health: crate::balance::health::Health,
    ejections: prometheus::IntCounter,
    tunnels: ArcSwap<Vec<Arc<Tunnel>>>,
    in_flight: AtomicUsize,
    next_tunnel: AtomicUsize,
    served: AtomicU64,
    gauge: IntGauge,
}

impl LiveConnector {
    fn new(id: Arc<str>, gauge: IntGauge, ejections: prometheus::IntCounter) -> LiveConnector {
        LiveConnector {
            id_hash: crate::balance::hash_bytes(id.as_bytes()),
            health: Default::default(),
            ejections,
            id,
            tunnels: ArcSwap::from_pointee(Vec::new()),
            in_flight: AtomicUsize::new(0),
            next_tunnel: AtomicUsize::new(0),
            served: AtomicU64::new(0),
            gauge,
        }
    }

    /// A connector with no tunnel, for balancing tests.
    #[cfg(test)]
    pub(crate) fn detached(id: &str) -> Arc<LiveConnector> {
        let gauge = IntGauge::new("test_in_flight", "test").expect("gauge");
        let ejections = prometheus::IntCounter::new("test_ejections", "test").expect("counter");
        Arc::new(LiveConnector::new(Arc::from(id), gauge, ejections))
    }

    /// Counts a failure attributable to this connector; ejects it after too many.
    pub fn record_failure(&self, policy: &crate::config::gateway::ResilienceConfig) {
        let now = crate::balance::health::now_ms();
        if let Some(period) = self.health.record_failure(policy, now) {
            self.ejections.inc();
            tracing::warn!(connector = %self.id, period_ms = period, "connector ejected after consecutive failures");
        }
    }

    /// Requests in flight on this connector.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Requests started on this connector since it first connected.
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// Number of open tunnels.
    pub fn tunnel_count(&self) -> usize {
        self.tunnels
            .load()
            .iter()
            .filter(|t| !t.is_closed())
            .count()
    }

    /// An open tunnel, rotating among them.
    pub fn pick_tunnel(&self) -> Option<Arc<Tunnel>> {
        let tunnels = self.tunnels.load();
        let n = tunnels.len();
        if n == 0 {
            return None;
        }
        let start = self.next_tunnel.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|i| &tunnels[(start + i) % n])
            .find(|t| !t.is_closed())
            .cloned()
    }

    /// Counts a request in flight until the guard drops.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.served.fetch_add(1, Ordering::Relaxed);
        self.gauge.inc();
        InFlight { conn: self.clone() }
    }
}

/// Guard of one in-flight request on a connector.
pub struct InFlight {
    conn: Arc<LiveConnector>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.conn.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.conn.gauge.dec();
    }
}

/// The live connectors of one group.
pub struct GroupLive {
    pub policy: BalancePolicy,
    pub members: Vec<Arc<LiveConnector>>,
    pub rr: AtomicUsize,
}

/// Immutable snapshot: live connectors per group.
#[derive(Default)]
pub struct LiveView {
    pub by_group: HashMap<Arc<str>, GroupLive>,
}

impl LiveView {
    /// Live connectors of a group (empty when none).
    pub fn group(&self, name: &str) -> Option<&GroupLive> {
        self.by_group.get(name).filter(|g| !g.members.is_empty())
    }
}

/// One connector as the admin API shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectorStatus {
    pub tunnels: usize,
    pub in_flight: usize,
    pub served: u64,
    /// Address of one of its open tunnels.
    pub remote: Option<SocketAddr>,
    /// Version its hello announced.
    pub version: Option<String>,
    /// Now while it has a tunnel; else when its last tunnel closed.
    pub last_seen_unix: Option<u64>,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The registry of tunnels and live connectors of one gateway.
pub struct Registry {
    write: Mutex<HashMap<Arc<str>, Arc<LiveConnector>>>,
    /// When each connector's last tunnel closed (Unix seconds), for the admin API.
    gone_at: Mutex<HashMap<Arc<str>, u64>>,
    view: ArcSwap<LiveView>,
    next_id: AtomicU64,
    metrics: Arc<Metrics>,
}

impl Registry {
    /// An empty registry.
    pub fn new(metrics: Arc<Metrics>) -> Registry {
        Registry {
            write: Mutex::new(HashMap::new()),
            gone_at: Mutex::new(HashMap::new()),
            view: ArcSwap::from_pointee(LiveView::default()),
            next_id: AtomicU64::new(1),
            metrics,
        }
    }

    /// The current live view (request path: one atomic load; an `Arc` because it lives
    /// across awaits).
    pub fn view(&self) -> Arc<LiveView> {
        self.view.load_full()
    }

    /// A fresh tunnel id.
    pub fn next_tunnel_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Arc<LiveConnector>>> {
        // A poisoned lock only means another thread panicked mid-update; the map itself is
        // still consistent (every update is a single insert/remove).
        self.write.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds an authenticated tunnel and republishes the view.
    pub fn add_tunnel(&self, tunnel: Arc<Tunnel>, table: &RoutingTable) {
        let mut map = self.lock();
        let conn = map
            .entry(tunnel.connector.clone())
            .or_insert_with(|| {
                let gauge = self
                    .metrics
                    .connector_in_flight
                    .with_label_values(&[&tunnel.connector]);
                let ejections = self
                    .metrics
                    .ejections
                    .with_label_values(&[&tunnel.connector]);
                Arc::new(LiveConnector::new(
                    tunnel.connector.clone(),
                    gauge,
                    ejections,
                ))
            })
            .clone();
        let mut list: Vec<Arc<Tunnel>> = conn
            .tunnels
            .load()
            .iter()
            .filter(|t| !t.is_closed())
            .cloned()
            .collect();
        list.push(tunnel);
        conn.tunnels.store(Arc::new(list));
        self.metrics.tunnels.inc();
        self.publish(&map, table);
    }

    /// A tunnel that refused new streams (GOAWAY) or failed: stop picking it at once.
    pub fn tunnel_unusable(&self, tunnel: &Tunnel, table: &RoutingTable) {
        if tunnel.is_closed() {
            return;
        }
        tunnel.mark_closed();
        let map = self.lock();
        self.publish(&map, table);
    }

    /// Removes a tunnel (closed, failed pings, killed) and republishes the view.
    pub fn remove_tunnel(&self, tunnel: &Tunnel, table: &RoutingTable) {
        tunnel.mark_closed();
        let mut map = self.lock();
        let Some(conn) = map.get(&tunnel.connector).cloned() else {
            return;
        };
        let before = conn.tunnels.load().len();
        let list: Vec<Arc<Tunnel>> = conn
            .tunnels
            .load()
            .iter()
            .filter(|t| t.id != tunnel.id && !t.is_closed())
            .cloned()
            .collect();
        if list.len() < before {
            self.metrics.tunnels.sub((before - list.len()) as i64);
        }
        let empty = list.is_empty();
        conn.tunnels.store(Arc::new(list));
        if empty {
            self.gone_at
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(tunnel.connector.clone(), unix_now());
        }
        if empty && conn.in_flight() == 0 {
            map.remove(&tunnel.connector);
        }
        self.publish(&map, table);
    }

    /// Republishes the view after a routing-table swap (connectors may have moved groups or
    /// left the catalog: the tunnels of a connector no longer in the catalog are closed).
    pub fn on_table_swap(&self, table: &RoutingTable) {
        let map = self.lock();
        for (id, conn) in map.iter() {
            if table.connector(id).is_none() {
                for t in conn.tunnels.load().iter() {
                    t.mark_closed();
                    t.kill.notify_one();
                }
            }
        }
        self.publish(&map, table);
    }

    /// Asks every connector to dial replacement tunnels now (the gateway is handing over to
    /// a new process). The current tunnels keep serving until this process closes them.
    pub fn request_reconnect_all(&self) -> usize {
        let tunnels: Vec<Arc<Tunnel>> = self
            .lock()
            .values()
            .flat_map(|c| c.tunnels.load().iter().cloned().collect::<Vec<_>>())
            .filter(|t| !t.is_closed())
            .collect();
        let n = tunnels.len();
        for t in tunnels {
            tokio::spawn(async move {
                let request = http::Request::builder()
                    .method(http::Method::POST)
                    .uri("https://switchyard.control/reconnect")
                    .header(crate::tunnel::protocol::CONTROL_HEADER, "reconnect")
                    .body(());
                let Ok(request) = request else {
                    return;
                };
                let Ok(mut send) = t.send.clone().ready().await else {
                    return;
                };
                match send.send_request(request, true) {
                    Ok((response, _)) => {
                        if let Err(e) = response.await {
                            tracing::debug!(connector = %t.connector, error = %e, "reconnect request failed");
                        }
                    }
                    Err(e) => {
                        tracing::debug!(connector = %t.connector, error = %e, "reconnect request not sent")
                    }
                }
            });
        }
        n
    }

    /// Every connector with a tunnel: (id, tunnels, in flight, served).
    pub fn snapshot(&self) -> Vec<(Arc<str>, usize, usize, u64)> {
        let map = self.lock();
        let mut v: Vec<_> = map
            .values()
            .map(|c| (c.id.clone(), c.tunnel_count(), c.in_flight(), c.served()))
            .collect();
        v.sort();
        v
    }

    /// What the admin API shows of every connector this process has seen: live ones with
    /// their tunnels, and those whose last tunnel closed with the time it did.
    pub fn statuses(&self) -> HashMap<Arc<str>, ConnectorStatus> {
        let now = unix_now();
        let mut out: HashMap<Arc<str>, ConnectorStatus> = self
            .gone_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(id, at)| {
                let status = ConnectorStatus {
                    last_seen_unix: Some(*at),
                    ..ConnectorStatus::default()
                };
                (id.clone(), status)
            })
            .collect();
        for (id, c) in self.lock().iter() {
            let tunnels = c.tunnels.load();
            let open = tunnels.iter().find(|t| !t.is_closed());
            let entry = out.entry(id.clone()).or_default();
            entry.tunnels = c.tunnel_count();
            entry.in_flight = c.in_flight();
            entry.served = c.served();
            if let Some(t) = open {
                entry.remote = Some(t.remote);
                entry.version = Some(t.version.clone());
                // A tunnel stays registered only while it answers PINGs: seen just now.
                entry.last_seen_unix = Some(now);
            }
        }
        out
    }

    fn publish(&self, map: &HashMap<Arc<str>, Arc<LiveConnector>>, table: &RoutingTable) {
        let mut by_group: HashMap<Arc<str>, GroupLive> = table
            .groups()
            .map(|g| {
                (
                    g.name.clone(),
                    GroupLive {
                        policy: g.balance,
                        members: Vec::new(),
                        rr: AtomicUsize::new(0),
                    },
                )
            })
            .collect();
        for (id, conn) in map.iter() {
            if conn.tunnel_count() == 0 {
                continue;
            }
            let Some(entry) = table.connector(id) else {
                continue;
            };
            if let Some(g) = by_group.get_mut(&entry.group) {
                g.members.push(conn.clone());
            }
        }
        // Groups that left the catalog must not keep reporting their last count.
        self.metrics.live_connectors.reset();
        for (name, g) in by_group.iter_mut() {
            g.members.sort_by(|a, b| a.id.cmp(&b.id));
            self.metrics
                .live_connectors
                .with_label_values(&[name])
                .set(g.members.len() as i64);
        }
        self.view.store(Arc::new(LiveView { by_group }));
    }
}
