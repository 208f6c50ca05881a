//! The connector agent: dials out to the gateways over TLS, authenticates, and serves each
//! tunnel's request streams to internal origins through the allow-list.
//!
//! Path of a request: gateway h2 stream → [`serve`] (control headers, allow-list) →
//! [`origin`] (pooled client) → `relay` (answer streamed back under flow control).
//!
//! Each gateway gets `tunnels_per_gateway` slots, each kept connected by its own dial loop
//! (`dial`), which also replaces its tunnel when the gateway asks for a reconnect. A
//! connector configured with an enrollment token and no stored secret yet registers itself
//! on its first accepted hello (`enroll`).

/// The allow-list lives in [`crate::net::allow`] (the config parses it too); re-exported
/// here for callers that name it through the connector.
pub use crate::net::allow;
mod body;
mod dial;
mod enroll;
pub mod origin;
mod relay;
pub mod serve;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;

pub use allow::{AllowList, Decision};

use crate::config::connector::{ConnectorConfig, StagedConnector};
use dial::{dial_loop, Agent, Slot};
use enroll::Credentials;
use origin::Origins;
use serve::Forwarder;

/// Why a connector could not start.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// The config is invalid; every problem is listed with its field path.
    #[error("invalid connector config:\n{}", .0.join("\n"))]
    Config(Vec<String>),
    /// The secret file could not be read.
    #[error("cannot read secret file {}: {source}", path.display())]
    Secret {
        /// The file named by `secret_file`.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The connector is to enroll, but the secret file it would store its secret in cannot
    /// be written.
    #[error("cannot write secret file {} (needed to enroll): {source}", path.display())]
    SecretWrite {
        /// The file named by `secret_file`.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A TLS config (gateway trust or origin trust) could not be built.
    #[error("TLS: {0}")]
    Tls(String),
}

/// A running connector. Dropping it leaves the connector running; call
/// [`shutdown`](ConnectorHandle::shutdown) or [`kill`](ConnectorHandle::kill) to stop it.
pub struct ConnectorHandle {
    agent: Arc<Agent>,
    tasks: Vec<JoinHandle<()>>,
    drain_timeout: Duration,
}

/// Stages the config (every check, allow-list, gateway CA), then starts as
/// [`start_connector`] does.
pub async fn run_connector(cfg: ConnectorConfig) -> Result<ConnectorHandle, ConnectorError> {
    start_connector(cfg.stage().map_err(ConnectorError::Config)?).await
}

/// Builds clients from a staged config, spawns one dial loop per (gateway, tunnel slot) on
/// the current tokio runtime, returns at once.
pub async fn start_connector(staged: StagedConnector) -> Result<ConnectorHandle, ConnectorError> {
    let StagedConnector {
        file: cfg,
        allow,
        gateways,
        gateway_tls,
    } = staged;
    let credentials = Credentials::load(&cfg).await?;
    let origins = Origins::new(
        allow,
        cfg.origin_ca_file.as_deref(),
        Duration::from_millis(cfg.origin_connect_timeout_ms),
    )
    .map_err(ConnectorError::Tls)?;

    let mut slots = Vec::new();
    for gateway in gateways {
        for index in 0..cfg.tunnels_per_gateway {
            slots.push(Slot {
                gateway: gateway.addr.clone(),
                server_name: gateway.server_name.clone(),
                index,
            });
        }
    }

    let agent = Arc::new(Agent {
        id: cfg.id.clone(),
        credentials,
        tls: TlsConnector::from(Arc::new(gateway_tls)),
        forwarder: Arc::new(Forwarder::new(origins)),
        tunnels: watch::Sender::new(0),
        refusals: AtomicU64::new(0),
        last_refusal: Mutex::new(None),
        stop: watch::Sender::new(false),
        reconnect_initial_ms: cfg.reconnect_initial_ms,
        reconnect_max_ms: cfg.reconnect_max_ms,
    });
    let tasks = slots
        .into_iter()
        .map(|slot| tokio::spawn(dial_loop(Arc::clone(&agent), slot)))
        .collect();
    tracing::info!(connector = %cfg.id, gateways = cfg.gateways.len(), "connector started");
    Ok(ConnectorHandle {
        agent,
        tasks,
        drain_timeout: Duration::from_millis(cfg.drain_timeout_ms),
    })
}

impl ConnectorHandle {
    /// The connector's id.
    pub fn id(&self) -> &str {
        &self.agent.id
    }

    /// Authenticated tunnels right now, not counting draining ones (GOAWAY sent).
    pub fn tunnels_up(&self) -> usize {
        *self.agent.tunnels.borrow()
    }

    /// Waits until at least `n` tunnels are up; false if `timeout` passed first.
    pub async fn wait_tunnels(&self, n: usize, timeout: Duration) -> bool {
        let mut tunnels = self.agent.tunnels.subscribe();
        let reached = tokio::time::timeout(timeout, tunnels.wait_for(|up| *up >= n)).await;
        matches!(reached, Ok(Ok(_)))
    }

    /// False while the connector waits to enroll (it has no secret yet).
    pub fn enrolled(&self) -> bool {
        !self.agent.credentials.enrolling()
    }

    /// Refusals (`Welcome { ok: false }`) received so far.
    pub fn auth_refusals(&self) -> u64 {
        self.agent.refusals.load(Ordering::Relaxed)
    }

    /// The reason given with the latest refusal.
    pub fn last_refusal(&self) -> Option<String> {
        self.agent
            .last_refusal
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Request streams being served right now.
    pub fn in_flight(&self) -> usize {
        self.agent.forwarder.in_flight()
    }

    /// Aborts every task at once, dropping all tunnels and origin requests (like SIGKILL).
    pub fn kill(&self) {
        self.agent.stop.send_replace(true);
        for task in &self.tasks {
            task.abort();
        }
    }

    /// Graceful stop: no more dialing, GOAWAY on every tunnel at once (the gateway stops
    /// sending requests there), wait for in-flight streams (at most `drain_timeout_ms`), then
    /// close whatever is left.
    pub async fn shutdown(mut self) {
        let started = std::time::Instant::now();
        tracing::info!(
            connector = %self.agent.id,
            tunnels = self.tunnels_up(),
            in_flight = self.in_flight(),
            "draining: GOAWAY on every tunnel"
        );
        // Each dial loop stops dialing, drains its tunnels and returns once they closed.
        self.agent.stop.send_replace(true);
        let drained = futures_util::future::join_all(self.tasks.iter_mut());
        if tokio::time::timeout(self.drain_timeout, drained)
            .await
            .is_err()
        {
            tracing::warn!(
                connector = %self.agent.id,
                in_flight = self.in_flight(),
                "drain timeout; closing the remaining tunnels"
            );
            for task in &self.tasks {
                task.abort();
            }
            // Aborted tasks finish at once; waiting makes the counters final on return.
            futures_util::future::join_all(self.tasks.iter_mut()).await;
        }
        tracing::info!(
            connector = %self.agent.id,
            in_flight = self.in_flight(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "drained; connector stopped"
        );
    }
}

#[cfg(test)]
mod tests;
