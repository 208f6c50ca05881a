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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::atomic::AtomicUsize;

    fn group(policy: BalancePolicy, ids: &[&str]) -> GroupLive {
        GroupLive {
            policy,
            members: ids.iter().map(|id| LiveConnector::detached(id)).collect(),
            rr: AtomicUsize::new(0),
        }
    }

    fn count(g: &GroupLive, n: usize, exclude: &[Arc<str>]) -> HashMap<String, usize> {
        let mut out = HashMap::new();
        for _ in 0..n {
            let c = pick_in_group(g, exclude).expect("a pick");
            *out.entry(c.id.to_string()).or_default() += 1;
        }
        out
    }

    #[test]
    fn round_robin_is_exact() {
        let g = group(BalancePolicy::RoundRobin, &["a", "b", "c"]);
        let c = count(&g, 300, &[]);
        assert_eq!(c.values().copied().collect::<Vec<_>>(), vec![100, 100, 100]);
    }

    #[test]
    fn p2c_spreads_and_avoids_the_busy_connector() {
        let g = group(BalancePolicy::P2c, &["a", "b", "c", "d"]);
        let c = count(&g, 4000, &[]);
        for id in ["a", "b", "c", "d"] {
            assert!(c[id] > 600, "{c:?}");
        }
        // Load one connector: it only wins when both candidates are it, which never happens.
        let _busy: Vec<_> = (0..10).map(|_| g.members[0].begin()).collect();
        let c = count(&g, 1000, &[]);
        assert_eq!(c.get("a"), None, "{c:?}");
    }

    #[test]
    fn exclusions_and_the_chain_order_are_honoured() {
        let g = group(BalancePolicy::P2c, &["a", "b"]);
        let c = count(&g, 50, &[Arc::from("a")]);
        assert_eq!(c.get("b"), Some(&50));
        assert!(pick_in_group(&g, &[Arc::from("a"), Arc::from("b")]).is_none());

        let mut view = LiveView::default();
        view.by_group
            .insert(Arc::from("primary"), group(BalancePolicy::P2c, &[]));
        view.by_group.insert(
            Arc::from("backup"),
            group(BalancePolicy::RoundRobin, &["z"]),
        );
        let chain: Vec<Arc<str>> = vec![Arc::from("primary"), Arc::from("backup")];
        let p = pick(&view, &chain, &[]).expect("backup serves");
        assert_eq!(
            (&*p.group, &*p.connector.id, p.chain_index),
            ("backup", "z", 1)
        );
        assert!(pick(&view, &chain, &[Arc::from("z")]).is_none());
    }
}
