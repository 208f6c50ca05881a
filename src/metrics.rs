//! Prometheus metrics: names (all `switchyard_`), the registry of one gateway, and the
//! `/metrics` listener.
//!
//! Labels are bounded: app, group, connector, status class, reason. Per-app handles are
//! resolved once per routing-table swap ([`AppMetrics`]) so the request path only touches
//! atomics.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Latency buckets in seconds: 0.5 ms … 60 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

/// Every metric of one gateway instance.
pub struct Metrics {
    pub registry: Registry,
    pub requests: IntCounterVec,
    pub request_duration: HistogramVec,
    pub live_connectors: IntGaugeVec,
    pub tunnels: IntGauge,
    pub connector_in_flight: IntGaugeVec,
    pub retries: IntCounterVec,
    pub no_live_connector: IntCounterVec,
    pub table_version: IntGauge,
    pub table_swaps: IntCounter,
    pub reloads: IntCounter,
    pub reload_failures: IntCounter,
    /// 1 for each setting the file changed that only a restart applies.
    pub reload_restart_needed: IntGaugeVec,
    /// Catalog changes refused because they take a tenant past a quota, by tenant and kind.
    pub tenant_quota_refusals: IntCounterVec,
    /// 1 while the catalog store is reachable (always 1 for a file store), 0 during an outage.
    pub store_connected: IntGauge,
    pub tls_handshake_failures: IntCounterVec,
    pub tunnel_auth_failures: IntCounterVec,
    pub tunnel_disconnects: IntCounterVec,
    pub ejections: IntCounterVec,
    pub failovers: IntCounterVec,
    pub retry_budget_exhausted: IntCounter,
    /// Downstream (edge) connections open now.
    pub downstream_connections: IntGauge,
    /// Downstream connections closed at once because `limits.max_connections` were open.
    pub downstream_refused: IntCounter,
    /// Requests ended by a slow-client limit, by phase (`header`, `body`).
    pub slow_clients: IntCounterVec,
    /// Position in the group chain each app served from last (survives table swaps).
    chain_positions: std::sync::Mutex<HashMap<String, Arc<std::sync::atomic::AtomicUsize>>>,
}

fn reg<T: prometheus::core::Collector + Clone + 'static>(r: &Registry, m: T) -> T {
    // Names are static and unique, so registration cannot fail; a failure would be a
    // programming error caught by the tests.
    if let Err(e) = r.register(Box::new(m.clone())) {
        tracing::error!(error = %e, "metric registration failed");
    }
    m
}

fn counter_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    match IntCounterVec::new(Opts::new(name, help), labels) {
        Ok(m) => reg(r, m),
        Err(e) => unreachable_metric(name, e),
    }
}

fn gauge_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    match IntGaugeVec::new(Opts::new(name, help), labels) {
        Ok(m) => reg(r, m),
        Err(e) => unreachable_metric(name, e),
    }
}

fn counter(r: &Registry, name: &str, help: &str) -> IntCounter {
    match IntCounter::new(name, help) {
        Ok(m) => reg(r, m),
        Err(e) => unreachable_metric(name, e),
    }
}

fn gauge(r: &Registry, name: &str, help: &str) -> IntGauge {
    match IntGauge::new(name, help) {
        Ok(m) => reg(r, m),
        Err(e) => unreachable_metric(name, e),
    }
}

#[allow(clippy::panic)]
fn unreachable_metric(name: &str, e: prometheus::Error) -> ! {
    // Only reachable with an invalid static name: a bug, found by any test that starts a gateway.
    panic!("invalid metric definition {name}: {e}")
}

/// Requests answered, retried, failed over, or refused for want of a connector.
struct RequestMetrics {
    requests: IntCounterVec,
    request_duration: HistogramVec,
    retries: IntCounterVec,
    no_live_connector: IntCounterVec,
    failovers: IntCounterVec,
    retry_budget_exhausted: IntCounter,
}

fn request_metrics(r: &Registry) -> RequestMetrics {
    let request_duration = match HistogramVec::new(
        HistogramOpts::new(
            "switchyard_request_duration_seconds",
            "Time from request received to response finished, by app.",
        )
        .buckets(LATENCY_BUCKETS.to_vec()),
        &["app"],
    ) {
        Ok(m) => reg(r, m),
        Err(e) => unreachable_metric("switchyard_request_duration_seconds", e),
    };
    RequestMetrics {
        requests: counter_vec(
            r,
            "switchyard_requests_total",
            "Requests answered, by app and status class.",
            &["app", "class"],
        ),
        request_duration,
        retries: counter_vec(
            r,
            "switchyard_retries_total",
            "Requests retried on another connector, by app.",
            &["app"],
        ),
        no_live_connector: counter_vec(
            r,
            "switchyard_no_live_connector_total",
            "Requests answered 503 because no group of the app had a live connector.",
            &["app"],
        ),
        failovers: counter_vec(
            r,
            "switchyard_failovers_total",
            "Changes of the group serving an app: failover (to a later group of the chain) or failback.",
            &["app", "direction"],
        ),
        retry_budget_exhausted: counter(
            r,
            "switchyard_retry_budget_exhausted_total",
            "Retries not made because the retry budget was spent.",
        ),
    }
}

/// Connectors and their tunnels: liveness, load, refusals, losses, ejections.
struct TunnelMetrics {
    live_connectors: IntGaugeVec,
    tunnels: IntGauge,
    connector_in_flight: IntGaugeVec,
    tunnel_auth_failures: IntCounterVec,
    tunnel_disconnects: IntCounterVec,
    ejections: IntCounterVec,
}

fn tunnel_metrics(r: &Registry) -> TunnelMetrics {
    TunnelMetrics {
        live_connectors: gauge_vec(
            r,
            "switchyard_live_connectors",
            "Connectors with at least one live tunnel, by group.",
            &["group"],
        ),
        tunnels: gauge(r, "switchyard_tunnels", "Authenticated tunnels open now."),
        connector_in_flight: gauge_vec(
            r,
            "switchyard_connector_in_flight",
            "Requests in flight on each connector.",
            &["connector"],
        ),
        tunnel_auth_failures: counter_vec(
            r,
            "switchyard_tunnel_auth_failures_total",
            "Connector hellos refused, by reason.",
            &["reason"],
        ),
        tunnel_disconnects: counter_vec(
            r,
            "switchyard_tunnel_disconnects_total",
            "Tunnels lost, by cause.",
            &["cause"],
        ),
        ejections: counter_vec(
            r,
            "switchyard_connector_ejections_total",
            "Connectors ejected after consecutive failures.",
            &["connector"],
        ),
    }
}

/// The routing table in service and configuration reloads.
struct ConfigMetrics {
    table_version: IntGauge,
    table_swaps: IntCounter,
    reloads: IntCounter,
    reload_failures: IntCounter,
    reload_restart_needed: IntGaugeVec,
    tenant_quota_refusals: IntCounterVec,
    store_connected: IntGauge,
}

fn config_metrics(r: &Registry) -> ConfigMetrics {
    ConfigMetrics {
        table_version: gauge(
            r,
            "switchyard_routing_table_version",
            "Version of the routing table in service.",
        ),
        table_swaps: counter(
            r,
            "switchyard_routing_table_swaps_total",
            "Routing tables published.",
        ),
        store_connected: gauge(
            r,
            "switchyard_store_connected",
            "1 while the catalog store is reachable (a file store always is), 0 during an outage.",
        ),
        reloads: counter(
            r,
            "switchyard_config_reloads_total",
            "Configuration reloads applied.",
        ),
        reload_failures: counter(
            r,
            "switchyard_config_reload_failures_total",
            "Configuration reloads rejected (the previous configuration kept serving).",
        ),
        reload_restart_needed: gauge_vec(
            r,
            "switchyard_config_reload_restart_needed",
            "Settings changed in the configuration file that only a restart applies (1 while the file differs from what runs).",
            &["setting"],
        ),
        tenant_quota_refusals: counter_vec(
            r,
            "switchyard_tenant_quota_refusals_total",
            "Catalog changes (API writes, enrollments) refused because they take a tenant past its quota, by tenant and kind (apps, groups, connectors, enrollment_tokens).",
            &["tenant", "kind"],
        ),
    }
}

/// The edge listener: TLS handshakes, open and refused connections, slow clients.
struct EdgeMetrics {
    tls_handshake_failures: IntCounterVec,
    downstream_connections: IntGauge,
    downstream_refused: IntCounter,
    slow_clients: IntCounterVec,
}

fn edge_metrics(r: &Registry) -> EdgeMetrics {
    EdgeMetrics {
        tls_handshake_failures: counter_vec(
            r,
            "switchyard_tls_handshake_failures_total",
            "TLS handshakes refused on the edge listener, by reason.",
            &["reason"],
        ),
        downstream_connections: gauge(
            r,
            "switchyard_downstream_connections",
            "Edge connections open now (after the TLS handshake).",
        ),
        downstream_refused: counter(
            r,
            "switchyard_downstream_connections_refused_total",
            "Edge connections closed at once because limits.max_connections were open.",
        ),
        slow_clients: counter_vec(
            r,
            "switchyard_slow_client_timeouts_total",
            "Requests ended by a slow-client time limit, by phase (header, body).",
            &["phase"],
        ),
    }
}

impl Metrics {
    /// Creates and registers every metric in a fresh registry.
    pub fn new() -> Metrics {
        let r = Registry::new();
        let RequestMetrics {
            requests,
            request_duration,
            retries,
            no_live_connector,
            failovers,
            retry_budget_exhausted,
        } = request_metrics(&r);
        let TunnelMetrics {
            live_connectors,
            tunnels,
            connector_in_flight,
            tunnel_auth_failures,
            tunnel_disconnects,
            ejections,
        } = tunnel_metrics(&r);
        let ConfigMetrics {
            table_version,
            table_swaps,
            reloads,
            reload_failures,
            reload_restart_needed,
            tenant_quota_refusals,
            store_connected,
        } = config_metrics(&r);
        let EdgeMetrics {
            tls_handshake_failures,
            downstream_connections,
            downstream_refused,
            slow_clients,
        } = edge_metrics(&r);
        Metrics {
            requests,
            request_duration,
            live_connectors,
            tunnels,
            connector_in_flight,
            retries,
            no_live_connector,
            table_version,
            table_swaps,
            reloads,
            reload_failures,
            reload_restart_needed,
            tenant_quota_refusals,
            store_connected,
            tls_handshake_failures,
            tunnel_auth_failures,
            tunnel_disconnects,
            ejections,
            failovers,
            retry_budget_exhausted,
            downstream_connections,
            downstream_refused,
            slow_clients,
            chain_positions: std::sync::Mutex::new(HashMap::new()),
            registry: r,
        }
    }

    /// Per-app handles for every app of a table, resolved once.
    pub fn for_apps<'a>(
        &self,
        apps: impl Iterator<Item = &'a str>,
    ) -> HashMap<Arc<str>, AppMetrics> {
        apps.map(|app| (Arc::<str>::from(app), self.app(app)))
            .collect()
    }

    /// Handles for one app (or `"-"` for requests that matched no app).
    pub fn app(&self, app: &str) -> AppMetrics {
        let class = |c: &str| self.requests.with_label_values(&[app, c]);
        AppMetrics {
            by_class: [
                class("1xx"),
                class("2xx"),
                class("3xx"),
                class("4xx"),
                class("5xx"),
            ],
            duration: self.request_duration.with_label_values(&[app]),
            retries: self.retries.with_label_values(&[app]),
            no_live: self.no_live_connector.with_label_values(&[app]),
            failover: self.failovers.with_label_values(&[app, "failover"]),
            failback: self.failovers.with_label_values(&[app, "failback"]),
            chain_position: self
                .chain_positions
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(app.to_string())
                .or_default()
                .clone(),
        }
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(16 * 1024);
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::warn!(error = %e, "metrics encoding failed");
        }
        buf
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Metric handles of one app.
#[derive(Clone)]
pub struct AppMetrics {
    by_class: [IntCounter; 5],
    pub duration: Histogram,
    pub retries: IntCounter,
    pub no_live: IntCounter,
    failover: IntCounter,
    failback: IntCounter,
    chain_position: Arc<std::sync::atomic::AtomicUsize>,
}

impl AppMetrics {
    /// Notes which group of the chain served; logs and counts a change.
    pub fn note_chain_position(&self, app: &str, group: &str, position: usize) {
        use std::sync::atomic::Ordering;
        if self.chain_position.load(Ordering::Relaxed) == position {
            return;
        }
        let before = self.chain_position.swap(position, Ordering::Relaxed);
        if before == position {
            return;
        }
        if position > before {
            self.failover.inc();
            tracing::warn!(
                app,
                group,
                from = before,
                to = position,
                "failover to a backup group"
            );
        } else {
            self.failback.inc();
            tracing::info!(
                app,
                group,
                from = before,
                to = position,
                "failback to a preferred group"
            );
        }
    }

    /// Counts one answered request.
    pub fn observe(&self, status: u16, seconds: f64) {
        let idx = (status / 100).clamp(1, 5) as usize - 1;
        self.by_class[idx].inc();
        self.duration.observe(seconds);
    }
}

/// Serves `GET /metrics` (and `/healthz`) on an already bound listener until the task is
/// dropped. A tiny HTTP/1.0-style server: one request per connection.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    loop {
        let (mut sock, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "metrics accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let mut used = 0;
            let read = tokio::time::timeout(std::time::Duration::from_secs(5), async {
                while used < buf.len() {
                    let n = sock.read(&mut buf[used..]).await?;
                    if n == 0 {
                        break;
                    }
                    used += n;
                    if buf[..used].windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                Ok::<_, std::io::Error>(())
            })
            .await;
            if !matches!(read, Ok(Ok(()))) {
                return;
            }
            let line = buf[..used]
                .split(|b| *b == b'\r')
                .next()
                .unwrap_or_default();
            let line = String::from_utf8_lossy(line);
            let mut parts = line.split_whitespace();
            let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let path = path.split('?').next().unwrap_or("");
            let (status, ctype, body) = match (method, path) {
                ("GET", "/metrics") => (
                    "200 OK",
                    "text/plain; version=0.0.4; charset=utf-8",
                    metrics.render(),
                ),
                ("GET", "/healthz") => ("200 OK", "text/plain", b"ok\n".to_vec()),
                ("GET", _) => ("404 Not Found", "text/plain", b"not found\n".to_vec()),
                _ => (
                    "405 Method Not Allowed",
                    "text/plain",
                    b"method not allowed\n".to_vec(),
                ),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = sock.write_all(head.as_bytes()).await;
            let _ = sock.write_all(&body).await;
            let _ = sock.shutdown().await;
        });
    }
}

/// Address helper for logs.
pub fn describe(addr: &SocketAddr) -> String {
    format!("http://{addr}/metrics")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_prefixed_and_observations_land() {
        let m = Metrics::new();
        let app = m.app("wiki");
        app.observe(204, 0.002);
        app.observe(503, 0.001);
        m.tunnels.set(3);
        let text = String::from_utf8(m.render()).expect("utf8");
        assert!(
            text.contains("switchyard_requests_total{app=\"wiki\",class=\"2xx\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("switchyard_requests_total{app=\"wiki\",class=\"5xx\"} 1"),
            "{text}"
        );
        assert!(text.contains("switchyard_tunnels 3"), "{text}");
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            assert!(line.starts_with("switchyard_"), "{line}");
        }
    }
}
