//! Picking a live connector for a request: the first group of the app's chain that has a live
//! connector serves; inside it, power-of-two-choices on in-flight requests (default) or round
//! robin.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::catalog::BalancePolicy;
use crate::tunnel::registry::{GroupLive, LiveConnector, LiveView};

/// A chosen connector and the group it serves from.
pub struct Pick {
    pub connector: Arc<LiveConnector>,
    pub group: Arc<str>,
    /// Position of the group in the app's chain (0 = primary).
    pub chain_index: usize,
}

/// Picks a connector for a chain of groups, skipping connectors in `exclude` (already tried
/// by this request). Returns `None` when no group has a usable live connector.
pub fn pick(view: &LiveView, chain: &[Arc<str>], exclude: &[Arc<str>]) -> Option<Pick> {
    for (chain_index, group) in chain.iter().enumerate() {
        let Some(live) = view.group(group) else {
            continue;
        };
        if let Some(connector) = pick_in_group(live, exclude) {
            return Some(Pick {
                connector,
                group: group.clone(),
                chain_index,
            });
        }
    }
    None
}

fn usable(c: &LiveConnector, exclude: &[Arc<str>]) -> bool {
    !exclude.iter().any(|e| **e == *c.id)
}

/// Picks inside one group.
pub fn pick_in_group(live: &GroupLive, exclude: &[Arc<str>]) -> Option<Arc<LiveConnector>> {
    let members = &live.members;
    let n = members.len();
    if n == 0 {
        return None;
    }
    let tick = live.rr.fetch_add(1, Ordering::Relaxed);
    if n == 1 {
        let only = &members[0];
        return usable(only, exclude).then(|| only.clone());
    }
    match live.policy {
        BalancePolicy::RoundRobin => (0..n)
            .map(|i| &members[(tick + i) % n])
            .find(|c| usable(c, exclude))
            .cloned(),
        BalancePolicy::P2c => {
            // Two distinct candidates from a cheap sequence: the rotating counter gives
            // the first, a multiplicative hash of it the offset of the second.
            let a = tick % n;
            let offset = 1 + (tick.wrapping_mul(0x9E37_79B9) >> 7) % (n - 1);
            let b = (a + offset) % n;
            let (ca, cb) = (&members[a], &members[b]);
            let best = match (usable(ca, exclude), usable(cb, exclude)) {
                (true, true) => {
                    if cb.in_flight() < ca.in_flight() {
                        cb
                    } else {
                        ca
                    }
                }
                (true, false) => ca,
                (false, true) => cb,
                (false, false) => {
                    return members.iter().find(|c| usable(c, exclude)).cloned();
                }
            };
            Some(best.clone())
        }
    }
}
