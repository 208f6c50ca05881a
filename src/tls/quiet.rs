//! Keeps pingora's per-connection handshake errors out of the log.
//!
//! pingora 0.9 logs `Downstream handshake error from <peer>: …` and `Downstream handshake
//! timeout` at ERROR (target `pingora_core::services::listening`) for every edge connection
//! whose TLS handshake fails, so a port scan fills the log. Switchyard counts those failures in
//! `switchyard_tls_handshake_failures_total{reason}` and logs its own line at debug (target
//! `switchyard::tls`). [`QuietHandshakeErrors`] drops pingora's lines and nothing else from that
//! target (its `Accept() failed` errors stay). Naming pingora's target in `RUST_LOG`, e.g.
//! `RUST_LOG=info,pingora_core::services::listening=error`, brings the lines back.
//!
//! Failures after a ClientHello was read and a certificate chosen (the client rejects the
//! certificate, no common parameters, the client leaves mid-handshake) are seen only in
//! pingora's line, so the layer counts those itself, as `aborted` (the peer went away) or
//! `protocol` (a TLS error), into the counters given to [`attach`]: the gateway binary runs
//! one gateway, so the process-wide logger has exactly one set of counters to feed.

use std::sync::OnceLock;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use super::handshake::{FailureReason, HandshakeFailures};

/// Where the layer counts the failures only pingora's line reveals.
static COUNTERS: OnceLock<HandshakeFailures> = OnceLock::new();

/// Counts post-ClientHello handshake failures seen in pingora's lines into `failures` (the
/// first call wins: one gateway per process).
pub fn attach(failures: HandshakeFailures) {
    let _ = COUNTERS.set(failures);
}

/// The module of pingora that logs each failed downstream handshake.
pub const PINGORA_LISTENING_TARGET: &str = "pingora_core::services::listening";

/// A layer that filters out pingora's per-connection handshake error lines, unless `keep`.
#[derive(Debug, Clone, Copy)]
pub struct QuietHandshakeErrors {
    keep: bool,
}

impl QuietHandshakeErrors {
    /// Drops the lines unless the log filter `directives` (the `RUST_LOG` syntax) name
    /// pingora's listening target, which is how an operator asks to see them.
    pub fn from_directives(directives: Option<&str>) -> QuietHandshakeErrors {
        QuietHandshakeErrors {
            keep: directives.is_some_and(|d| d.contains(PINGORA_LISTENING_TARGET)),
        }
    }
}

impl<S: Subscriber> Layer<S> for QuietHandshakeErrors {
    fn event_enabled(&self, event: &Event<'_>, _ctx: Context<'_, S>) -> bool {
        // pingora logs through the `log` crate: such events have the target "log", the real
        // target in a `log.target` field and the text in `message`. Only ERROR ones are
        // inspected, so other events cost one comparison.
        let meta = event.metadata();
        if meta.target() != "log" || *meta.level() != Level::ERROR {
            return true;
        }
        let mut seen = Seen::default();
        event.record(&mut seen);
        let Some(message) = seen.message.filter(|_| seen.pingora_listening) else {
            return true;
        };
        if !message.starts_with("Downstream handshake") {
            return true;
        }
        if let (Some(reason), Some(counters)) = (uncounted(&message), COUNTERS.get()) {
            counters.count(reason);
        }
        self.keep
    }
}

/// The reason of a failure that nothing else counted, from pingora's message; `None` for
/// those counted already: by the pre-TLS check (its `HandshakeError`, and timeouts before a
/// ClientHello) or by the resolver (no certificate chosen).
fn uncounted(message: &str) -> Option<FailureReason> {
    let counted = ["HandshakeError", "no server certificate chain resolved"];
    if message.starts_with("Downstream handshake timeout")
        || counted.iter().any(|c| message.contains(c))
    {
        return None;
    }
    let lower = message.to_ascii_lowercase();
    let gone = ["eof", "reset", "broken pipe", "unexpected end"];
    Some(if gone.iter().any(|g| lower.contains(g)) {
        FailureReason::Aborted
    } else {
        FailureReason::Protocol
    })
}

#[derive(Default)]
struct Seen {
    pingora_listening: bool,
    message: Option<String>,
}

impl Visit for Seen {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "log.target" && value == PINGORA_LISTENING_TARGET {
            self.pingora_listening = true;
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = Some(format!("{value:?}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pingora_messages_are_classified_once() {
        let from =
            "Downstream handshake error from 127.0.0.1:34014:  TLSHandshakeFailure context: \
                    TLS accept() failed:  TLSHandshakeFailure context: tls connect error:";
        let cases = [
            (
                format!("{from} Connection reset by peer (os error 104)"),
                Some(FailureReason::Aborted),
            ),
            (
                format!("{from} tls handshake eof"),
                Some(FailureReason::Aborted),
            ),
            (
                format!("{from} received fatal alert: UnknownCA"),
                Some(FailureReason::Protocol),
            ),
            (
                format!("{from} peer is incompatible: NoCipherSuitesInCommon"),
                Some(FailureReason::Protocol),
            ),
            // Counted already, by the resolver and by the pre-TLS check.
            (format!("{from} no server certificate chain resolved"), None),
            (
                "Downstream handshake error from 127.0.0.1:1:  HandshakeError context: aborted"
                    .into(),
                None,
            ),
            ("Downstream handshake timeout".into(), None),
        ];
        for (message, want) in cases {
            assert_eq!(uncounted(&message), want, "{message}");
        }
    }
}
