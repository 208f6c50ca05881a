//! Slow and greedy clients: a cap on open downstream connections, a deadline for the whole
//! request head, and idle limits for bodies in both directions.
//!
//! The cap is taken in [`crate::edge::EdgeApp`]'s `ServerApp::process_new`, which pingora
//! calls once per connection after the TLS handshake (pingora bounds the handshake itself at
//! 60 s) and which returns only when the connection is done, h1 keep-alive and h2 alike; a
//! refused connection is dropped at once, which closes it. Body idle limits are pingora's own
//! per-read and per-write session timeouts; pingora's writes wait for the socket (h1) or for
//! the client's flow-control window (h2), and the tunnel stream's window is only released
//! after a write completes, so a slow reader pushes back to the connector instead of being
//! buffered.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use pingora::protocols::http::ServerSession;
use prometheus::{IntCounter, IntGauge};

use crate::config::gateway::LimitsConfig;

/// Counts open downstream connections and refuses those beyond `limits.max_connections`.
pub struct ConnectionCap {
    open: Arc<AtomicUsize>,
    max: usize,
    gauge: IntGauge,
    refused: IntCounter,
}

/// One admitted connection; dropping it frees its place.
pub struct Admitted {
    open: Arc<AtomicUsize>,
    gauge: IntGauge,
}

impl ConnectionCap {
    /// A cap of `max` open connections (0: no cap).
    pub fn new(max: usize, gauge: IntGauge, refused: IntCounter) -> ConnectionCap {
        ConnectionCap {
            open: Arc::new(AtomicUsize::new(0)),
            max,
            gauge,
            refused,
        }
    }

    /// A place for a new connection, or `None` (counted) when all are taken.
    pub fn admit(&self) -> Option<Admitted> {
        let before = self.open.fetch_add(1, Ordering::AcqRel);
        if self.max != 0 && before >= self.max {
            self.open.fetch_sub(1, Ordering::AcqRel);
            self.refused.inc();
            return None;
        }
        self.gauge.inc();
        Some(Admitted {
            open: self.open.clone(),
            gauge: self.gauge.clone(),
        })
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
        self.gauge.dec();
    }
}

/// Marks a connection handed back for keep-alive reuse (pingora carries it to the next
/// session), so the next head's deadline also covers the idle wait before it.
pub struct Reused;

/// How long reading the next request head may take on this session. A fresh connection gets
/// `header_timeout_secs`; a reused one first waits up to `keepalive_secs` idle (pingora closes
/// it quietly then) and then gets the same head deadline.
pub fn head_deadline(session: &mut ServerSession, limits: &LimitsConfig) -> Duration {
    let head = Duration::from_secs(limits.header_timeout_secs);
    let reused = session
        .take_connection_user_context()
        .is_some_and(|c| c.is::<Reused>());
    if reused {
        head + Duration::from_secs(limits.keepalive_secs)
    } else {
        head
    }
}

/// Applies the body idle limit to both directions of a session whose head was read.
/// Upgrade requests keep pingora's defaults: a WebSocket may be quiet for long.
pub fn set_body_timeouts(session: &mut ServerSession, limits: &LimitsConfig) {
    if crate::edge::headers::upgrade_protocol(session.req_header()).is_some() {
        return;
    }
    let idle = Some(Duration::from_secs(limits.body_idle_timeout_secs));
    // A no-op on h2, whose request body reads are bounded in `forward`.
    session.set_read_timeout(idle);
    session.set_write_timeout(idle);
}

/// The next piece of the request body, within the body idle limit: pingora applies it to h1
/// reads itself, while h2 reads have no timeout of their own (the limit is the session's
/// write timeout, set for both directions by [`set_body_timeouts`]).
pub async fn read_body(session: &mut ServerSession) -> pingora::Result<Option<Bytes>> {
    match session.get_write_timeout().filter(|_| session.is_http2()) {
        Some(idle) => match tokio::time::timeout(idle, session.read_request_body()).await {
            Ok(r) => r,
            Err(_) => pingora::Error::e_explain(
                pingora::ErrorType::ReadTimedout,
                "request body idle too long",
            ),
        },
        None => session.read_request_body().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_refuses_beyond_max_and_frees_on_drop() {
        let gauge = IntGauge::new("g", "g").expect("gauge");
        let refused = IntCounter::new("r", "r").expect("counter");
        let cap = ConnectionCap::new(2, gauge.clone(), refused.clone());
        let a = cap.admit().expect("first");
        let _b = cap.admit().expect("second");
        assert!(cap.admit().is_none());
        assert_eq!((gauge.get(), refused.get()), (2, 1));
        drop(a);
        assert!(cap.admit().is_some());
        assert_eq!(gauge.get(), 1);
    }

    #[test]
    fn zero_means_no_cap() {
        let gauge = IntGauge::new("g", "g").expect("gauge");
        let refused = IntCounter::new("r", "r").expect("counter");
        let cap = ConnectionCap::new(0, gauge, refused.clone());
        let held: Vec<_> = (0..100).filter_map(|_| cap.admit()).collect();
        assert_eq!((held.len(), refused.get()), (100, 0));
    }
}
