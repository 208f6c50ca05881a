//! One tunnel slot's life: dial TCP + TLS to a gateway, exchange Hello/Welcome, serve h2
//! until the tunnel ends, back off, dial again.
//!
//! When the gateway asks for a reconnect (`switchyard-control: reconnect`), the slot dials a
//! replacement at once while the old tunnel keeps serving. The replacement takes the slot's
//! place; the old tunnel stays open for the gateway process that asked (it is being replaced
//! by a new process and may still have requests to send) until that process closes it, or
//! drains (GOAWAY) after [`OLD_TUNNEL_LINGER`]. Without a replacement within
//! [`REPLACEMENT_GRACE`], the old tunnel drains at once. A slot may thus hold a few tunnels at a time, all served in
//! the slot's own task so that aborting it drops them all.
//!
//! A connector that is not enrolled yet sends its enrollment token in the hello of one slot
//! at a time (see [`super::enroll`]) and stores the secret of the welcome before the tunnel
//! is used; every later dial, of every slot, authenticates with that secret.

use std::future::{pending, Future};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};
use h2::server::Connection;
use rand::Rng;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::enroll::{Auth, Credentials};
use super::serve::{self, Forwarder, ServeError};
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
/// How long a tunnel the gateway asked to replace keeps taking new requests while its
/// replacement is not up yet.
pub(super) const REPLACEMENT_GRACE: Duration = Duration::from_secs(5);
/// How long a replaced tunnel stays open for the old gateway process before it drains.
pub(super) const OLD_TUNNEL_LINGER: Duration = Duration::from_secs(60);

/// State shared by every dial loop and the handle.
pub(super) struct Agent {
    pub(super) id: String,
    pub(super) credentials: Credentials,
    pub(super) tls: TlsConnector,
    pub(super) forwarder: Arc<Forwarder>,
    /// Authenticated tunnels right now, draining ones left out.
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
    #[error("enrollment: {0}")]
    Enrollment(&'static str),
    #[error("the secret received at enrollment could not be stored in secret_file: {0}")]
    Store(std::io::Error),
    #[error("h2 handshake: {0}")]
    H2(#[from] h2::Error),
}

/// An authenticated tunnel, ready to serve, and the ping interval to use on it.
type Established = (Connection<TlsStream<TcpStream>, Bytes>, Duration);

/// Keeps one tunnel slot connected until a shutdown starts (or the task is aborted); then
/// drains the slot's tunnels and returns once they are closed.
pub(super) async fn dial_loop(agent: Arc<Agent>, slot: Slot) {
    let mut stop = agent.stop.subscribe();
    let (reconnect_tx, mut reconnect_rx) = mpsc::unbounded_channel();
    let mut state = SlotState::new(&agent, &slot, reconnect_tx);
    // Tunnels being served; the slot's own task polls them, so aborting it drops them.
    let mut serving = FuturesUnordered::new();
    // The dial under way, if any: there is one whenever the slot has no current tunnel.
    let mut dial = Some(Box::pin(dial_after(&agent, &slot, Duration::ZERO)));
    loop {
        let retire_at = state.retire_at();
        tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            dialed = async {
                match dial.as_mut() {
                    Some(dialing) => dialing.await,
                    None => pending().await,
                }
            }, if dial.is_some() => {
                dial = match dialed {
                    Ok(established) => {
                        serving.push(state.tunnel_up(established));
                        None
                    }
                    Err(e) => Some(Box::pin(dial_after(&agent, &slot, state.dial_failed(e)))),
                };
            }
            Some((id, served)) = serving.next(), if !serving.is_empty() => {
                if let Some(delay) = state.tunnel_ended(id, served) {
                    dial = Some(Box::pin(dial_after(&agent, &slot, delay)));
                }
            }
            Some(id) = reconnect_rx.recv() => {
                if state.reconnect_requested(id) {
                    dial = Some(Box::pin(dial_after(&agent, &slot, Duration::ZERO)));
                }
            }
            _ = sleep_until(retire_at), if retire_at.is_some() => state.replacement_late(),
        }
    }
    drop(dial);
    state.drain_all();
    while let Some((id, served)) = serving.next().await {
        state.log_end(id, &served);
    }
}

/// A tunnel of the slot that is being served.
struct Live<'a> {
    id: u64,
    /// Set to start the tunnel's drain (GOAWAY).
    drain: watch::Sender<bool>,
    /// Its place in [`Agent::tunnels`]; given up when the drain starts.
    up: Option<TunnelUp<'a>>,
    since: Instant,
}

/// The slot's tunnels and what each is for; the dial loop owns the futures.
struct SlotState<'a> {
    agent: &'a Agent,
    slot: &'a Slot,
    reconnect: mpsc::UnboundedSender<u64>,
    live: Vec<Live<'a>>,
    next_id: u64,
    /// The tunnel that takes the slot's new requests.
    current: Option<u64>,
    /// A tunnel the gateway asked to replace, and when it drains even without a replacement.
    retiring: Option<(u64, tokio::time::Instant)>,
    /// A replaced tunnel left open for the old gateway process, and when it drains.
    lingering: Option<(u64, tokio::time::Instant)>,
    /// Failed dials since the last stable tunnel, for the backoff.
    attempt: u32,
}

impl<'a> SlotState<'a> {
    fn new(
        agent: &'a Agent,
        slot: &'a Slot,
        reconnect: mpsc::UnboundedSender<u64>,
    ) -> SlotState<'a> {
        SlotState {
            agent,
            slot,
            reconnect,
            live: Vec::new(),
            next_id: 0,
            current: None,
            retiring: None,
            lingering: None,
            attempt: 0,
        }
    }

    fn retire_at(&self) -> Option<tokio::time::Instant> {
        match (
            self.retiring.map(|(_, at)| at),
            self.lingering.map(|(_, at)| at),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A dial succeeded: the new tunnel becomes current, and a tunnel it replaces drains.
    /// Returns the future that serves it.
    fn tunnel_up(
        &mut self,
        (conn, ping_every): Established,
    ) -> impl Future<Output = (u64, Result<(), ServeError>)> {
        let (agent, gateway, index) = (self.agent, &self.slot.gateway, self.slot.index);
        let id = self.next_id;
        self.next_id += 1;
        let (drain, drained) = watch::channel(false);
        self.live.push(Live {
            id,
            drain,
            up: Some(TunnelUp::new(agent)),
            since: Instant::now(),
        });
        self.current = Some(id);
        tracing::info!(connector = %agent.id, gateway, slot = index, tunnel = id, "tunnel up");
        if let Some((old, _)) = self.retiring.take() {
            tracing::info!(
                connector = %agent.id, gateway, slot = index, tunnel = old,
                "replacement tunnel up; the old one stays open until its gateway closes it"
            );
            if let Some((earlier, _)) = self.lingering.take() {
                self.start_drain(earlier);
            }
            self.lingering = Some((old, tokio::time::Instant::now() + OLD_TUNNEL_LINGER));
        }
        let fwd = Arc::clone(&agent.forwarder);
        let reconnect = self.reconnect.clone();
        async move {
            let on_reconnect = || {
                // The receiver lives as long as the slot that polls this future.
                let _ = reconnect.send(id);
            };
            let served = serve::serve(conn, fwd, drained, on_reconnect, Some(ping_every)).await;
            (id, served)
        }
    }

    /// A dial failed: logs it (a refusal is also counted) and returns the backoff before
    /// the next one.
    fn dial_failed(&mut self, error: DialError) -> Duration {
        let (agent, gateway, index) = (self.agent, &self.slot.gateway, self.slot.index);
        match error {
            DialError::Refused(reason) => {
                tracing::warn!(
                    connector = %agent.id, gateway, slot = index, %reason,
                    "gateway refused the connector"
                );
                agent.refusals.fetch_add(1, Ordering::Relaxed);
                *agent
                    .last_refusal
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(reason);
            }
            e @ DialError::Store(_) => {
                // The gateway has registered the connector; the secret stays in memory and
                // the next dial tries to store it again before using it.
                tracing::error!(
                    connector = %agent.id, gateway, slot = index, error = %e,
                    "enrolled, but the secret is not stored yet"
                );
            }
            e => {
                tracing::warn!(
                    connector = %agent.id, gateway, slot = index, error = %e,
                    "dial failed"
                );
            }
        }
        self.next_delay()
    }

    /// A tunnel's connection ended. Returns the backoff before a dial when the slot is left
    /// without a tunnel and no dial is under way.
    fn tunnel_ended(&mut self, id: u64, served: Result<(), ServeError>) -> Option<Duration> {
        self.log_end(id, &served);
        let since = self
            .live
            .iter()
            .position(|t| t.id == id)
            .map(|i| self.live.swap_remove(i).since);
        // A retiring tunnel is being replaced by the dial under way already.
        if self.retiring.is_some_and(|(old, _)| old == id) {
            self.retiring = None;
        }
        if self.lingering.is_some_and(|(old, _)| old == id) {
            self.lingering = None;
        }
        if self.current != Some(id) {
            return None;
        }
        self.current = None;
        if since.is_some_and(|since| since.elapsed() > STABLE_SESSION) {
            self.attempt = 0;
        }
        Some(self.next_delay())
    }

    /// The gateway asked tunnel `id` for a reconnect. True when a replacement is to be
    /// dialed now (only the current tunnel is replaced: any other is on its way out).
    fn reconnect_requested(&mut self, id: u64) -> bool {
        if self.current != Some(id) {
            return false;
        }
        let (agent, gateway, index) = (self.agent, &self.slot.gateway, self.slot.index);
        tracing::info!(
            connector = %agent.id, gateway, slot = index, tunnel = id,
            "gateway asked for a reconnect; dialing a replacement"
        );
        self.current = None;
        self.retiring = Some((id, tokio::time::Instant::now() + REPLACEMENT_GRACE));
        // Not a failure: the replacement's backoff, should it fail, starts from scratch.
        self.attempt = 0;
        true
    }

    /// A deadline passed: a lingering tunnel drains, and so does a retiring one whose
    /// replacement did not come up in time.
    fn replacement_late(&mut self) {
        let now = tokio::time::Instant::now();
        if let Some((old, at)) = self.lingering {
            if at <= now {
                self.lingering = None;
                self.start_drain(old);
            }
        }
        if let Some((old, _)) = self.retiring.filter(|(_, at)| *at <= now) {
            self.retiring = None;
            let (agent, gateway, index) = (self.agent, &self.slot.gateway, self.slot.index);
            tracing::warn!(
                connector = %agent.id, gateway, slot = index, tunnel = old,
                "no replacement within {REPLACEMENT_GRACE:?}; draining the old tunnel anyway"
            );
            self.start_drain(old);
        }
    }

    /// Shutdown: GOAWAY on every tunnel of the slot at once.
    fn drain_all(&mut self) {
        for tunnel in &mut self.live {
            tunnel.drain.send_replace(true);
            tunnel.up = None;
        }
        self.current = None;
        self.retiring = None;
        self.lingering = None;
    }

    /// Sends GOAWAY on tunnel `id` (its streams run on) and stops counting it as up.
    fn start_drain(&mut self, id: u64) {
        if let Some(tunnel) = self.live.iter_mut().find(|t| t.id == id) {
            tunnel.drain.send_replace(true);
            tunnel.up = None;
        }
    }

    fn log_end(&self, id: u64, served: &Result<(), ServeError>) {
        let (agent, gateway, index) = (self.agent, &self.slot.gateway, self.slot.index);
        match served {
            Ok(()) => tracing::info!(
                connector = %agent.id, gateway, slot = index, tunnel = id,
                "tunnel closed"
            ),
            Err(e) => tracing::warn!(
                connector = %agent.id, gateway, slot = index, tunnel = id, error = %e,
                "tunnel failed"
            ),
        }
    }

    /// The backoff before the next dial, counting it as one more attempt.
    fn next_delay(&mut self) -> Duration {
        let agent = self.agent;
        let (initial, max) = (agent.reconnect_initial_ms, agent.reconnect_max_ms);
        let delay = backoff_delay(self.attempt, initial, max, &mut rand::rng());
        self.attempt = self.attempt.saturating_add(1);
        delay
    }
}

/// Waits for `delay`, then dials.
async fn dial_after(agent: &Agent, slot: &Slot, delay: Duration) -> Result<Established, DialError> {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    establish(agent, slot).await
}

/// Resolves at `at`; never without one.
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => pending().await,
    }
}

/// Dials, authenticates and runs the h2 handshake; returns the ping interval to use.
async fn establish(agent: &Agent, slot: &Slot) -> Result<Established, DialError> {
    // Before connecting: this may wait for another slot's enrollment.
    let auth = agent
        .credentials
        .for_dial()
        .await
        .map_err(DialError::Store)?;
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
    let (secret, enroll) = match &auth {
        Auth::Secret(secret) => (secret.to_string(), None),
        Auth::Enroll(guard) => (String::new(), Some(guard.token().to_owned())),
    };
    let hello = Hello {
        proto: PROTOCOL_VERSION,
        id: agent.id.clone(),
        secret,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        enroll,
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
    if let Auth::Enroll(guard) = auth {
        let Some(secret) = welcome.secret else {
            return Err(DialError::Enrollment(
                "the gateway accepted the enrollment but sent no secret",
            ));
        };
        let file = guard.file().display().to_string();
        guard.enrolled(secret).await.map_err(DialError::Store)?;
        tracing::info!(
            connector = %agent.id, gateway = %slot.gateway, secret_file = %file,
            "enrolled: the gateway registered this connector; its secret is stored"
        );
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
