//! Picking a live connector for a request: the first group of the app's chain with enough
//! live, non-ejected connectors serves; inside it, rendezvous hashing on the affinity key
//! when the app asks for affinity, else power-of-two-choices on in-flight requests (default)
//! or round robin. When every connector of every group is ejected, ejected ones are tried
//! rather than answering 503.

pub mod budget;
pub mod health;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::catalog::BalancePolicy;
use crate::routing::Route;

pub use health::Member;

/// The live members of one group, as the request path sees them.
pub struct GroupLive<M> {
    pub policy: BalancePolicy,
    pub members: Vec<Arc<M>>,
    /// Rotating counter for round robin and the first P2C candidate.
    pub rr: AtomicUsize,
}

impl<M> GroupLive<M> {
    /// An empty group with a policy.
    pub fn new(policy: BalancePolicy, members: Vec<Arc<M>>) -> GroupLive<M> {
        GroupLive {
            policy,
            members,
            rr: AtomicUsize::new(0),
        }
    }
}

/// Immutable view: live members per group.
pub struct LiveGroups<M> {
    pub by_group: HashMap<Arc<str>, GroupLive<M>>,
}

impl<M> Default for LiveGroups<M> {
    fn default() -> Self {
        LiveGroups {
            by_group: HashMap::new(),
        }
    }
}

impl<M> LiveGroups<M> {
    /// Live members of a group (`None` when it has none).
    pub fn group(&self, name: &str) -> Option<&GroupLive<M>> {
        self.by_group.get(name).filter(|g| !g.members.is_empty())
    }
}

/// A chosen connector and the group it serves from.
pub struct Pick<M> {
    pub connector: Arc<M>,
    pub group: Arc<str>,
    /// Position of the group in the app's chain (0 = primary).
    pub chain_index: usize,
}

/// FNV-1a: a stable hash for ids and affinity keys.
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// splitmix64 finalizer: spreads combined hashes.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What a request asks of the balancer.
pub struct Ask<'a> {
    pub chain: &'a [Arc<str>],
    pub min_live: usize,
    /// Hash of the affinity key, when the app uses affinity and the request has one.
    pub affinity: Option<u64>,
    /// Connectors this request already tried.
    pub exclude: &'a [Arc<str>],
    pub now_ms: u64,
}

impl<'a> Ask<'a> {
    /// The ask for a route.
    pub fn for_route(
        route: &'a Route,
        affinity: Option<u64>,
        exclude: &'a [Arc<str>],
        now_ms: u64,
    ) -> Ask<'a> {
        Ask {
            chain: &route.groups,
            min_live: route.min_live,
            affinity,
            exclude,
            now_ms,
        }
    }
}

/// Picks a connector, or `None` when no group has a usable live connector. When no group
/// meets `min_live`, the first group with a healthy connector serves (degraded beats 503);
/// when every connector is ejected, ejected ones are tried.
pub fn pick<M: Member>(view: &LiveGroups<M>, ask: &Ask<'_>) -> Option<Pick<M>> {
    pick_pass(view, ask, true, true)
        .or_else(|| pick_pass(view, ask, false, true))
        .or_else(|| pick_pass(view, ask, false, false))
}

fn pick_pass<M: Member>(
    view: &LiveGroups<M>,
    ask: &Ask<'_>,
    honour_min_live: bool,
    honour_ejection: bool,
) -> Option<Pick<M>> {
    for (chain_index, group) in ask.chain.iter().enumerate() {
        let Some(live) = view.group(group) else {
            continue;
        };
        let healthy = |c: &M| !honour_ejection || !c.health().is_ejected(ask.now_ms);
        if honour_min_live {
            let up = live.members.iter().filter(|c| healthy(c)).count();
            if up < ask.min_live {
                continue;
            }
        }
        let usable = |c: &M| healthy(c) && !ask.exclude.iter().any(|e| **e == **c.id());
        if let Some(connector) = pick_in_group(live, usable, ask.affinity) {
            return Some(Pick {
                connector,
                group: group.clone(),
                chain_index,
            });
        }
    }
    None
}

/// Picks inside one group among the members `usable` admits.
pub fn pick_in_group<M: Member>(
    live: &GroupLive<M>,
    usable: impl Fn(&M) -> bool,
    affinity: Option<u64>,
) -> Option<Arc<M>> {
    let members = &live.members;
    if let Some(key) = affinity {
        // Rendezvous hashing: the key stays on its connector while that one is usable,
        // and only the keys of a connector that leaves move.
        return members
            .iter()
            .filter(|c| usable(c))
            .max_by_key(|c| mix(key ^ c.id_hash()))
            .cloned();
    }
    let n = members.len();
    if n == 0 {
        return None;
    }
    let tick = live.rr.fetch_add(1, Ordering::Relaxed);
    if n == 1 {
        let only = &members[0];
        return usable(only).then(|| only.clone());
    }
    match live.policy {
        BalancePolicy::RoundRobin => (0..n)
            .map(|i| &members[(tick + i) % n])
            .find(|c| usable(c))
            .cloned(),
        BalancePolicy::P2c => {
            // Two distinct candidates from a cheap sequence: the rotating counter gives
            // the first, a hash of it the offset of the second.
            let a = tick % n;
            let offset = 1 + (mix(tick as u64) as usize) % (n - 1);
            let b = (a + offset) % n;
            let (ca, cb) = (&members[a], &members[b]);
            let best = match (usable(ca), usable(cb)) {
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
                    // Rotate from the first candidate so fallbacks spread too.
                    return (0..n)
                        .map(|i| &members[(a + i) % n])
                        .find(|c| usable(c))
                        .cloned();
                }
            };
            Some(best.clone())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::health::Health;
    use super::*;

    /// A member with no tunnel behind it.
    struct Fake {
        id: Arc<str>,
        id_hash: u64,
        health: Health,
        in_flight: AtomicUsize,
    }

    impl Member for Fake {
        fn id(&self) -> &Arc<str> {
            &self.id
        }
        fn id_hash(&self) -> u64 {
            self.id_hash
        }
        fn in_flight(&self) -> usize {
            self.in_flight.load(Ordering::Relaxed)
        }
        fn health(&self) -> &Health {
            &self.health
        }
        fn count_ejection(&self) {}
    }

    type LiveView = LiveGroups<Fake>;

    fn group(policy: BalancePolicy, ids: &[&str]) -> GroupLive<Fake> {
        let members = ids
            .iter()
            .map(|id| {
                Arc::new(Fake {
                    id: Arc::from(*id),
                    id_hash: hash_bytes(id.as_bytes()),
                    health: Health::default(),
                    in_flight: AtomicUsize::new(0),
                })
            })
            .collect();
        GroupLive::new(policy, members)
    }

    fn count(g: &GroupLive<Fake>, n: usize, exclude: &[Arc<str>]) -> HashMap<String, usize> {
        let mut out = HashMap::new();
        for _ in 0..n {
            let c =
                pick_in_group(g, |c| !exclude.iter().any(|e| **e == *c.id), None).expect("a pick");
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
        g.members[0].in_flight.store(10, Ordering::Relaxed);
        let c = count(&g, 1000, &[]);
        assert_eq!(c.get("a"), None, "{c:?}");
    }

    #[test]
    fn exclusions_and_the_chain_order_are_honoured() {
        let g = group(BalancePolicy::P2c, &["a", "b"]);
        let c = count(&g, 50, &[Arc::from("a")]);
        assert_eq!(c.get("b"), Some(&50));
        assert!(pick_in_group(&g, |_| false, None).is_none());

        let mut view = LiveView::default();
        view.by_group
            .insert(Arc::from("primary"), group(BalancePolicy::P2c, &[]));
        view.by_group.insert(
            Arc::from("backup"),
            group(BalancePolicy::RoundRobin, &["z"]),
        );
        let chain: Vec<Arc<str>> = vec![Arc::from("primary"), Arc::from("backup")];
        let z: Vec<Arc<str>> = vec![Arc::from("z")];
        let ask = |exclude: &[Arc<str>]| -> Option<Pick<Fake>> {
            let ask = Ask {
                chain: &chain,
                min_live: 1,
                affinity: None,
                exclude,
                now_ms: 0,
            };
            pick(&view, &ask)
        };
        let p = ask(&[]).expect("backup serves");
        assert_eq!(
            (&*p.group, &*p.connector.id, p.chain_index),
            ("backup", "z", 1)
        );
        assert!(ask(&z).is_none());
    }

    fn chain(names: &[&str]) -> Vec<Arc<str>> {
        names.iter().map(|n| Arc::from(*n)).collect()
    }

    #[test]
    fn min_live_and_ejection_decide_which_group_serves() {
        let mut view = LiveView::default();
        view.by_group
            .insert(Arc::from("east"), group(BalancePolicy::P2c, &["e1", "e2"]));
        view.by_group
            .insert(Arc::from("west"), group(BalancePolicy::P2c, &["w1"]));
        let chain = chain(&["east", "west"]);
        let ask = |min_live| Ask {
            chain: &chain,
            min_live,
            affinity: None,
            exclude: &[],
            now_ms: 10,
        };
        assert_eq!(&*pick(&view, &ask(2)).expect("east").group, "east");
        assert_eq!(
            &*pick(&view, &ask(3)).expect("degraded").group,
            "east",
            "none meets 3"
        );
        view.by_group.insert(
            Arc::from("west"),
            group(BalancePolicy::P2c, &["w1", "w2", "w3"]),
        );
        assert_eq!(&*pick(&view, &ask(3)).expect("west").group, "west");
        view.by_group
            .insert(Arc::from("west"), group(BalancePolicy::P2c, &["w1"]));

        let policy = crate::config::gateway::ResilienceConfig {
            eject_after_failures: 1,
            ..Default::default()
        };
        let east: Vec<Arc<Fake>> = view.group("east").expect("east").members.clone();
        east[0].health.record_failure(&policy, 10);
        for _ in 0..20 {
            let p = pick(&view, &ask(1)).expect("pick");
            assert_eq!(&*p.connector.id, "e2", "ejected e1 is skipped");
        }
        let p = pick(&view, &ask(2)).expect("degraded");
        assert_eq!(
            &*p.connector.id, "e2",
            "no group meets 2: first healthy one serves"
        );
        view.by_group
            .insert(Arc::from("west"), group(BalancePolicy::P2c, &["w1", "w2"]));
        assert_eq!(
            &*pick(&view, &ask(2)).expect("west").group,
            "west",
            "east has one up"
        );
        view.by_group
            .insert(Arc::from("west"), group(BalancePolicy::P2c, &["w1"]));
        east[1].health.record_failure(&policy, 10);
        view.group("west").expect("west").members[0]
            .health
            .record_failure(&policy, 10);
        assert!(pick(&view, &ask(1)).is_some(), "all ejected: still try one");
    }

    #[test]
    fn affinity_sticks_and_moves_only_when_its_connector_leaves() {
        let g = group(BalancePolicy::P2c, &["a", "b", "c", "d"]);
        let mut owners = HashMap::new();
        for key in 0..400u64 {
            let c =
                pick_in_group(&g, |_| true, Some(hash_bytes(&key.to_le_bytes()))).expect("pick");
            for _ in 0..3 {
                let again = pick_in_group(&g, |_| true, Some(hash_bytes(&key.to_le_bytes())));
                assert_eq!(again.expect("pick").id, c.id, "stable");
            }
            owners.insert(key, c.id.to_string());
        }
        let mut per: HashMap<&str, usize> = HashMap::new();
        for o in owners.values() {
            *per.entry(o.as_str()).or_default() += 1;
        }
        assert!(per.values().all(|n| *n > 50), "keys spread: {per:?}");
        // "b" leaves: only its keys move.
        for (key, owner) in &owners {
            let c = pick_in_group(&g, |c| &*c.id != "b", Some(hash_bytes(&key.to_le_bytes())))
                .expect("pick");
            if owner != "b" {
                assert_eq!(&*c.id, owner.as_str());
            } else {
                assert_ne!(&*c.id, "b");
            }
        }
    }
}
