//! The retry budget: retries may add at most a share of the requests (plus a small floor per
//! second), so an outage cannot multiply the load on what is left.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::balance::health::now_ms;

/// Counts requests and retries in one-second windows; lock-free.
pub struct RetryBudget {
    /// The ratio's `f64` bits: a reload changes it without a lock.
    ratio: AtomicU64,
    floor: AtomicU64,
    window_start: AtomicU64,
    requests: AtomicU64,
    retries: AtomicU64,
    /// Requests of the previous window, so the budget does not collapse at a boundary.
    previous: AtomicU64,
}

impl RetryBudget {
    /// A budget of `ratio` extra requests plus `floor` retries per second.
    pub fn new(ratio: f64, floor: u32) -> RetryBudget {
        RetryBudget {
            ratio: AtomicU64::new(ratio.to_bits()),
            floor: AtomicU64::new(u64::from(floor)),
            window_start: AtomicU64::new(now_ms()),
            requests: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            previous: AtomicU64::new(0),
        }
    }

    /// Takes a new ratio and floor (a reload); counts in the current window stay.
    pub fn set(&self, ratio: f64, floor: u32) {
        self.ratio.store(ratio.to_bits(), Ordering::Relaxed);
        self.floor.store(u64::from(floor), Ordering::Relaxed);
    }

    fn roll(&self) {
        let now = now_ms();
        let start = self.window_start.load(Ordering::Relaxed);
        if now.saturating_sub(start) >= 1000
            && self
                .window_start
                .compare_exchange(start, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let done = self.requests.swap(0, Ordering::Relaxed);
            self.previous.store(done, Ordering::Relaxed);
            self.retries.store(0, Ordering::Relaxed);
        }
    }

    /// Counts a new request.
    pub fn on_request(&self) {
        self.roll();
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes one retry from the budget; false when it is spent.
    pub fn try_retry(&self) -> bool {
        self.roll();
        let seen = self
            .requests
            .load(Ordering::Relaxed)
            .max(self.previous.load(Ordering::Relaxed));
        let ratio = f64::from_bits(self.ratio.load(Ordering::Relaxed));
        let allowed = self.floor.load(Ordering::Relaxed) + (seen as f64 * ratio) as u64;
        let used = self.retries.fetch_add(1, Ordering::Relaxed);
        if used < allowed {
            true
        } else {
            self.retries.fetch_sub(1, Ordering::Relaxed);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_are_bounded_by_ratio_plus_floor() {
        let b = RetryBudget::new(0.2, 5);
        for _ in 0..100 {
            b.on_request();
        }
        let granted = (0..100).filter(|_| b.try_retry()).count();
        assert_eq!(granted, 25, "5 + 20% of 100");
        b.set(0.5, 5);
        let more = (0..100).filter(|_| b.try_retry()).count();
        assert_eq!(more, 30, "5 + 50% of 100, 25 already taken");
    }
}
