//! Passive health: consecutive failures attributable to a connector eject it for a period
//! that doubles while failures continue; a success clears it.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use crate::config::gateway::ResilienceConfig;

/// Milliseconds since the process started (monotonic).
pub fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// Failure and ejection state of one connector.
#[derive(Default)]
pub struct Health {
    failures: AtomicU32,
    ejections: AtomicU32,
    ejected_until_ms: AtomicU64,
}

impl Health {
    /// True while the connector sits out an ejection.
    pub fn is_ejected(&self, now: u64) -> bool {
        self.ejected_until_ms.load(Ordering::Relaxed) > now
    }

    /// A request went through: failures are forgotten.
    pub fn record_success(&self) {
        // Reads first so the common healthy case writes nothing shared.
        if self.failures.load(Ordering::Relaxed) != 0 {
            self.failures.store(0, Ordering::Relaxed);
        }
        if self.ejections.load(Ordering::Relaxed) != 0 {
            self.ejections.store(0, Ordering::Relaxed);
        }
    }

    /// A failure attributable to the connector. Returns the ejection period in
    /// milliseconds when this failure ejected it.
    pub fn record_failure(&self, policy: &ResilienceConfig, now: u64) -> Option<u64> {
        let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if failures < policy.eject_after_failures {
            return None;
        }
        self.failures.store(0, Ordering::Relaxed);
        let n = self.ejections.fetch_add(1, Ordering::Relaxed).min(20);
        let period = policy
            .eject_base_ms
            .saturating_mul(1u64 << n)
            .min(policy.eject_max_ms);
        self.ejected_until_ms.store(now + period, Ordering::Relaxed);
        Some(period)
    }
}

/// What the balancer picks over: a connector with an id, a load and a health record. The
/// registry's live connector implements it, so the choice and the ejection policy stay here.
pub trait Member {
    /// The connector's id.
    fn id(&self) -> &Arc<str>;
    /// Hash of the id, for affinity (rendezvous hashing).
    fn id_hash(&self) -> u64;
    /// Requests in flight on it now.
    fn in_flight(&self) -> usize;
    /// Its passive-health record.
    fn health(&self) -> &Health;
    /// Counts one ejection (metrics).
    fn count_ejection(&self);

    /// Counts a failure attributable to this member; ejects it after too many.
    fn record_failure(&self, policy: &ResilienceConfig) {
        if let Some(period) = self.health().record_failure(policy, now_ms()) {
            self.count_ejection();
            tracing::warn!(connector = %self.id(), period_ms = period, "connector ejected after consecutive failures");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ejection_grows_while_failures_continue_and_success_clears_it() {
        let policy = ResilienceConfig {
            eject_after_failures: 2,
            eject_base_ms: 100,
            eject_max_ms: 350,
            ..ResilienceConfig::default()
        };
        let h = Health::default();
        assert_eq!(h.record_failure(&policy, 0), None);
        assert_eq!(h.record_failure(&policy, 0), Some(100));
        assert!(h.is_ejected(50));
        assert!(!h.is_ejected(100));
        h.record_failure(&policy, 100);
        assert_eq!(h.record_failure(&policy, 100), Some(200));
        h.record_failure(&policy, 300);
        assert_eq!(h.record_failure(&policy, 300), Some(350), "capped");
        h.record_success();
        h.record_failure(&policy, 700);
        assert_eq!(
            h.record_failure(&policy, 700),
            Some(100),
            "reset by a success"
        );
    }
}
