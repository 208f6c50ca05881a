//! Keeps pingora's per-connection handshake errors out of the log.
//!
//! pingora 0.9 logs `Downstream handshake error from <peer>: …` and `Downstream handshake
//! timeout` at ERROR (target `pingora_core::services::listening`) for every edge connection
//! whose TLS handshake fails, so a port scan fills the log. Switchyard counts those failures in
//! `switchyard_tls_handshake_failures_total{reason}` and logs its own line at debug (target
//! `switchyard::tls`). [`QuietHandshakeErrors`] drops pingora's lines and nothing else from that
//! target (its `Accept() failed` errors stay). Naming pingora's target in `RUST_LOG`, e.g.
//! `RUST_LOG=info,pingora_core::services::listening=error`, brings the lines back.

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

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
        if self.keep || meta.target() != "log" || *meta.level() != Level::ERROR {
            return true;
        }
        let mut seen = Seen::default();
        event.record(&mut seen);
        !(seen.pingora_listening && seen.handshake)
    }
}

#[derive(Default)]
struct Seen {
    pingora_listening: bool,
    handshake: bool,
}

impl Visit for Seen {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "log.target" && value == PINGORA_LISTENING_TARGET {
            self.pingora_listening = true;
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.handshake = format!("{value:?}").starts_with("Downstream handshake");
        }
    }
}
