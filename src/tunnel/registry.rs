//! Live connectors: which tunnels each connector holds and which connectors of each group are
//! live right now.
//!
//! The write side (tunnel up/down, group membership) is serialized by a mutex that the
//! request path never touches; it publishes an immutable [`LiveView`] through `ArcSwap`, which
//! the request path loads once. The registry keeps the group membership it receives on each
//! table swap, so tunnel events need no routing table. A tunnel found unusable on the request
//! path is marked atomically; the view is republished by a thread of the registry's own.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, Weak};

use arc_swap::ArcSwap;
use bytes::Bytes;
use prometheus::IntGauge;

use crate::balance::health::Health;
use crate::balance::{GroupLive, LiveGroups, Member};
use crate::catalog::BalancePolicy;
use crate::metrics::Metrics;
use crate::routing::RoutingTable;

/// Live connectors per group: what the balancer picks from.
pub type LiveView = LiveGroups<LiveConnector>;

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
    pub health: Health,
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

impl Member for LiveConnector {
    fn id(&self) -> &Arc<str> {
        &self.id
    }

    fn id_hash(&self) -> u64 {
        self.id_hash
    }

    fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    fn health(&self) -> &Health {
        &self.health
    }

    fn count_ejection(&self) {
        self.ejections.inc();
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

/// Which group each catalog connector belongs to and how each group balances: what the
/// registry needs of the routing table, taken on each table swap.
#[derive(Debug, Default, Clone)]
pub struct Membership {
    /// Connector id → its group.
    pub group_of: HashMap<Arc<str>, Arc<str>>,
    /// Every group of the catalog with its policy.
    pub groups: Vec<(Arc<str>, BalancePolicy)>,
}

impl Membership {
    /// The membership a routing table describes.
    pub fn of_table(table: &RoutingTable) -> Membership {
        Membership {
            group_of: table
                .connectors()
                .map(|c| (c.id.clone(), c.group.clone()))
                .collect(),
            groups: table
                .groups()
                .map(|g| (g.name.clone(), g.balance))
                .collect(),
        }
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

/// The write side: connectors with tunnels and the membership in service.
#[derive(Default)]
struct Inner {
    connectors: HashMap<Arc<str>, Arc<LiveConnector>>,
    membership: Membership,
}

/// The registry of tunnels and live connectors of one gateway.
pub struct Registry {
    write: Mutex<Inner>,
    /// When each connector's last tunnel closed (Unix seconds), for the admin API.
    gone_at: Mutex<HashMap<Arc<str>, u64>>,
    view: ArcSwap<LiveView>,
    next_id: AtomicU64,
    metrics: Arc<Metrics>,
    /// Wakes the republishing thread (request path: a channel send, no lock held).
    stale: Option<mpsc::Sender<()>>,
}

impl Registry {
    /// An empty registry, with its republishing thread.
    pub fn new(metrics: Arc<Metrics>) -> Arc<Registry> {
        Arc::new_cyclic(|weak: &Weak<Registry>| {
            let (tx, rx) = mpsc::channel::<()>();
            let weak = weak.clone();
            let spawned = std::thread::Builder::new()
                .name("switchyard-registry".into())
                .spawn(move || republisher(rx, weak));
            if let Err(e) = &spawned {
                tracing::warn!(error = %e, "no registry thread; unusable tunnels republish inline");
            }
            Registry {
                write: Mutex::new(Inner::default()),
                gone_at: Mutex::new(HashMap::new()),
                view: ArcSwap::from_pointee(LiveView::default()),
                next_id: AtomicU64::new(1),
                metrics,
                stale: spawned.ok().map(|_| tx),
            }
        })
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

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock only means another thread panicked mid-update; the map itself is
        // still consistent (every update is a single insert/remove).
        self.write.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds an authenticated tunnel and republishes the view.
    pub fn add_tunnel(&self, tunnel: Arc<Tunnel>) {
        let mut inner = self.lock();
        let conn = inner
            .connectors
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
        self.publish(&inner);
    }

    /// A tunnel that refused new streams (GOAWAY) or failed: stop picking it at once. Called
    /// on the request path: marks the tunnel and wakes the republishing thread, no lock.
    pub fn tunnel_unusable(&self, tunnel: &Tunnel) {
        if tunnel.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        match &self.stale {
            Some(tx) if tx.send(()).is_ok() => {}
            _ => self.republish(),
        }
    }

    /// Publishes the view again from the write side (after tunnels were marked unusable).
    pub fn republish(&self) {
        let inner = self.lock();
        self.publish(&inner);
    }

    /// Removes a tunnel (closed, failed pings, killed) and republishes the view.
    pub fn remove_tunnel(&self, tunnel: &Tunnel) {
        tunnel.mark_closed();
        let mut inner = self.lock();
        let Some(conn) = inner.connectors.get(&tunnel.connector).cloned() else {
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
            inner.connectors.remove(&tunnel.connector);
        }
        self.publish(&inner);
    }

    /// Takes the membership of a new routing table (see [`Registry::set_membership`]).
    pub fn on_table_swap(&self, table: &RoutingTable) {
        self.set_membership(Membership::of_table(table));
    }

    /// Keeps a new group membership and republishes the view (connectors may have moved
    /// groups or left the catalog: the tunnels of a connector no longer in it are closed).
    pub fn set_membership(&self, membership: Membership) {
        let mut inner = self.lock();
        for (id, conn) in inner.connectors.iter() {
            if !membership.group_of.contains_key(id) {
                for t in conn.tunnels.load().iter() {
                    t.mark_closed();
                    t.kill.notify_one();
                }
            }
        }
        inner.membership = membership;
        self.publish(&inner);
    }

    /// Asks every connector to dial replacement tunnels now (the gateway is handing over to
    /// a new process). The current tunnels keep serving until this process closes them.
    pub fn request_reconnect_all(&self) -> usize {
        let tunnels: Vec<Arc<Tunnel>> = self
            .lock()
            .connectors
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
        let inner = self.lock();
        let mut v: Vec<_> = inner
            .connectors
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
        for (id, c) in self.lock().connectors.iter() {
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

    fn publish(&self, inner: &Inner) {
        let membership = &inner.membership;
        let mut by_group: HashMap<Arc<str>, GroupLive<LiveConnector>> = membership
            .groups
            .iter()
            .map(|(name, policy)| (name.clone(), GroupLive::new(*policy, Vec::new())))
            .collect();
        for (id, conn) in inner.connectors.iter() {
            if conn.tunnel_count() == 0 {
                continue;
            }
            let Some(group) = membership.group_of.get(id) else {
                continue;
            };
            if let Some(g) = by_group.get_mut(group) {
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

/// Republishes the view whenever the request path marked a tunnel unusable; several marks
/// in a row cost one republish. Ends with the registry.
fn republisher(rx: mpsc::Receiver<()>, registry: Weak<Registry>) {
    while rx.recv().is_ok() {
        while rx.try_recv().is_ok() {}
        match registry.upgrade() {
            Some(r) => r.republish(),
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    async fn tunnel(registry: &Registry, connector: &str) -> Arc<Tunnel> {
        let (gateway_end, connector_end) = tokio::io::duplex(64 * 1024);
        tokio::spawn(async move {
            if let Ok(mut conn) = h2::server::handshake(connector_end).await {
                while let Some(Ok(_)) = conn.accept().await {}
            }
        });
        let (send, conn) = h2::client::handshake(gateway_end).await.expect("h2");
        tokio::spawn(conn);
        let remote = SocketAddr::from(([127, 0, 0, 1], 0));
        let id = registry.next_tunnel_id();
        Arc::new(Tunnel::new(
            id,
            Arc::from(connector),
            remote,
            "t".into(),
            send,
        ))
    }

    fn membership(pairs: &[(&str, &str)]) -> Membership {
        let mut m = Membership::default();
        for (connector, group) in pairs {
            m.group_of.insert(Arc::from(*connector), Arc::from(*group));
            if !m.groups.iter().any(|(g, _)| &**g == *group) {
                m.groups.push((Arc::from(*group), BalancePolicy::P2c));
            }
        }
        m
    }

    fn live_in(registry: &Registry, group: &str) -> Vec<String> {
        let view = registry.view();
        view.group(group)
            .map(|g| g.members.iter().map(|c| c.id.to_string()).collect())
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn membership_is_kept_and_an_unusable_tunnel_leaves_the_view_without_a_table() {
        let registry = Registry::new(Arc::new(Metrics::new()));
        registry.set_membership(membership(&[("c1", "g"), ("c2", "g")]));
        let t1 = tunnel(&registry, "c1").await;
        registry.add_tunnel(t1.clone());
        registry.add_tunnel(tunnel(&registry, "c2").await);
        assert_eq!(live_in(&registry, "g"), ["c1", "c2"]);

        // A group move arrives with the next membership; tunnels stay.
        registry.set_membership(membership(&[("c1", "h"), ("c2", "g")]));
        assert_eq!(live_in(&registry, "g"), ["c2"]);
        assert_eq!(live_in(&registry, "h"), ["c1"]);

        // Marked on the request path: the republishing thread drops c1 from the view.
        registry.tunnel_unusable(&t1);
        assert!(t1.is_closed());
        let deadline = Instant::now() + Duration::from_secs(5);
        while !live_in(&registry, "h").is_empty() {
            assert!(Instant::now() < deadline, "c1 still live in h");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(live_in(&registry, "g"), ["c2"]);
    }
}
