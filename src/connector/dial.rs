//! One tunnel slot's life: dial TCP + TLS to a gateway, exchange Hello/Welcome, serve h2
//! until the tunnel ends, back off, dial again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::server::Connection;
use rand::Rng;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::serve::{self, Forwarder};
use crate::tunnel::protocol::{
    read_frame, write_frame, FrameError, Hello, Welcome, PROTOCOL_VERSION,
};

/// Bound on TCP connect, and separately on the TLS handshake.
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on the Hello/Welcome exchange, and separately on the h2 handshake.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// A session that stayed up this long resets the backoff.
const STABLE_SESSION: Duration = Duration::from_secs(10);
/// How often the connector pings a gateway that announced no ping interval.
const DEFAULT_PING: Duration = Duration::from_secs(15);

/// State shared by every dial loop and the handle.
pub(super) struct Agent {
    pub(super) id: String,
    pub(super) secret: String,
    pub(super) tls: TlsConnector,
    pub(super) forwarder: Arc<Forwarder>,
    /// Authenticated tunnels right now.
    pub(super) tunnels: watch::Sender<usize>,
    pub(super) refusals: AtomicU64,
    pub(super) last_refusal: Mutex<Option<String>>,
    /// Turns true once a graceful shutdown starts.
    pub(super) stop: watch::Sender<bool>,
    pub(super) reconnect_initial_ms: u64,
    pub(super) reconnect_max_ms: u64,
}

/// One tunnel to keep open: a gateway address and the TLS name to verify there.
pub(super) struct Slot {
    pub(super) gateway: String,
    pub(super) server_name: ServerName<'static>,
    pub(super) index: usize,
}

#[derive(Debug, thiserror::Error)]
enum DialError {
    #[error("TCP connect: {0}")]
    Connect(std::io::Error),
    #[error("TLS: {0}")]
    Tls(std::io::Error),
    #[error("{0} timed out")]
    Timeout(&'static str),
    #[error("hello exchange: {0}")]
    Hello(#[from] FrameError),
    #[error("gateway refused the connector: {0}")]
    Refused(String),
    #[error("h2 handshake: {0}")]
    H2(#[from] h2::Error),
}

/// Keeps one tunnel slot connected until a shutdown starts (or the task is aborted).
pub(super) async fn dial_loop(agent: Arc<Agent>, slot: Slot) {
    let mut stop = agent.stop.subscribe();
    let (gateway, index) = (slot.gateway.as_str(), slot.index);
    let mut attempt: u32 = 0;
    loop {
        let established = tokio::select! {
            established = establish(&agent, &slot) => established,
            _ = stop.wait_for(|s| *s) => return,
        };
        match established {
            Ok((conn, ping_every)) => {
                let up_since = Instant::now();
                tracing::info!(connector = %agent.id, gateway, slot = index, "tunnel up");
                let up = TunnelUp::new(&agent);
                let served = serve::serve(
                    conn,
                    Arc::clone(&agent.forwarder),
                    agent.stop.subscribe(),
                    Some(ping_every),
                )
                .await;
                drop(up);
                match served {
                    Ok(()) => {
                        tracing::info!(connector = %agent.id, gateway, slot = index, "tunnel closed")
                    }
                    Err(e) => {
                        tracing::warn!(connector = %agent.id, gateway, slot = index, error = %e, "tunnel failed")
                    }
                }
                if up_since.elapsed() > STABLE_SESSION {
                    attempt = 0;
                }
            }
            Err(DialError::Refused(reason)) => {
                tracing::warn!(connector = %agent.id, gateway, %reason, "gateway refused the connector");
                agent.refusals.fetch_add(1, Ordering::Relaxed);
                *agent
                    .last_refusal
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(reason);
            }
            Err(e) => {
                tracing::warn!(connector = %agent.id, gateway, slot = index, error = %e, "dial failed");
            }
        }
        if *stop.borrow() {
            return;
        }
        let delay = backoff_delay(
            attempt,
            agent.reconnect_initial_ms,
            agent.reconnect_max_ms,
            &mut rand::rng(),
        );
        attempt = attempt.saturating_add(1);
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Dials, authenticates and runs the h2 handshake; returns the ping interval to use.
async fn establish(
    agent: &Agent,
    slot: &Slot,
) -> Result<(Connection<TlsStream<TcpStream>, Bytes>, Duration), DialError> {
    let tcp = tokio::time::timeout(DIAL_TIMEOUT, TcpStream::connect(&slot.gateway))
        .await
        .map_err(|_| DialError::Timeout("TCP connect"))?
        .map_err(DialError::Connect)?;
    tcp.set_nodelay(true).map_err(DialError::Connect)?;
    // Notices a vanished gateway even while no request and no ping is under way.
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(30))
        .with_interval(Duration::from_secs(10));
    if let Err(e) = socket2::SockRef::from(&tcp).set_tcp_keepalive(&keepalive) {
        tracing::debug!(error = %e, "TCP keep-alive not set");
    }
    let mut tls = tokio::time::timeout(
        DIAL_TIMEOUT,
        agent.tls.connect(slot.server_name.clone(), tcp),
    )
    .await
    .map_err(|_| DialError::Timeout("TLS handshake"))?
    .map_err(DialError::Tls)?;
    let hello = Hello {
        proto: PROTOCOL_VERSION,
        id: agent.id.clone(),
        secret: agent.secret.clone(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    let exchange = async {
        write_frame(&mut tls, &hello).await?;
        read_frame::<_, Welcome>(&mut tls).await
    };
    let welcome = tokio::time::timeout(HELLO_TIMEOUT, exchange)
        .await
        .map_err(|_| DialError::Timeout("hello exchange"))??;
    if !welcome.ok {
        let reason = welcome
            .reason
            .unwrap_or_else(|| "no reason given".to_owned());
        return Err(DialError::Refused(reason));
    }
    let conn = tokio::time::timeout(HELLO_TIMEOUT, serve::handshake(tls))
        .await
        .map_err(|_| DialError::Timeout("h2 handshake"))??;
    let ping_every = match welcome.ping_interval_ms {
        0 => DEFAULT_PING,
        ms => Duration::from_millis(ms),
    };
    Ok((conn, ping_every))
}

/// Counts one authenticated tunnel for as long as it lives (also when aborted).
struct TunnelUp<'a>(&'a Agent);

impl<'a> TunnelUp<'a> {
    fn new(agent: &'a Agent) -> TunnelUp<'a> {
        agent.tunnels.send_modify(|n| *n += 1);
        TunnelUp(agent)
    }
}

impl Drop for TunnelUp<'_> {
    fn drop(&mut self) {
        self.0.tunnels.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Largest delay before re-dial number `attempt` (0-based): `initial · 2^attempt`, capped.
fn backoff_ceiling(attempt: u32, initial_ms: u64, max_ms: u64) -> u64 {
    let factor = 1u64.checked_shl(attempt.min(63)).unwrap_or(u64::MAX);
    initial_ms.saturating_mul(factor).min(max_ms)
}

/// Exponential backoff with full jitter: uniform in `[0, ceiling]`.
fn backoff_delay(attempt: u32, initial_ms: u64, max_ms: u64, rng: &mut impl Rng) -> Duration {
    let ceiling = backoff_ceiling(attempt, initial_ms, max_ms);
    Duration::from_millis(rng.random_range(0..=ceiling))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_up_to_the_cap() {
        assert_eq!(backoff_ceiling(0, 250, 30_000), 250);
        assert_eq!(backoff_ceiling(1, 250, 30_000), 500);
        assert_eq!(backoff_ceiling(4, 250, 30_000), 4_000);
        assert_eq!(backoff_ceiling(7, 250, 30_000), 30_000);
        assert_eq!(backoff_ceiling(200, 250, 30_000), 30_000);
        assert_eq!(backoff_ceiling(u32::MAX, u64::MAX, u64::MAX), u64::MAX);
    }

    #[test]
    fn backoff_delay_stays_within_bounds_and_jitters() {
        let mut rng = rand::rng();
        for attempt in 0..40 {
            let ceiling = Duration::from_millis(backoff_ceiling(attempt, 250, 30_000));
            let delays: Vec<Duration> = (0..200)
                .map(|_| backoff_delay(attempt, 250, 30_000, &mut rng))
                .collect();
            assert!(delays.iter().all(|d| *d <= ceiling), "attempt {attempt}");
            assert!(
                delays.iter().any(|d| *d != delays[0]),
                "no jitter at {attempt}"
            );
        }
    }
}
