//! The lookup structures: hosts to apps, and one host's apps by path prefix.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use super::Route;

/// A hash map with a fast, unkeyed hasher.
///
/// Keys come from the operator's catalog, never from requests, so there is nothing for a
/// client to flood; the request only chooses which single key to probe.
pub(super) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

/// Word-at-a-time multiply-rotate hash (FxHash style) with a final avalanche step so the
/// high bits, which hashbrown uses for its control bytes, are well mixed.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct FastHasher(u64);

const SEED: u64 = 0xf135_7aea_2e62_a9c5;

impl FastHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(26) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let tail = chunks.remainder();
        let mut word = [0u8; 8];
        word[..tail.len()].copy_from_slice(tail);
        // The length keeps "ab" and "ab\0" apart.
        self.add(u64::from_le_bytes(word) ^ ((bytes.len() as u64) << 56));
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn finish(&self) -> u64 {
        // MurmurHash3's fmix64.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// Above this many prefixes on one host, probe a map instead of scanning the list.
const SCAN_LIMIT: usize = 8;

/// The apps of one host (exact or wildcard).
#[derive(Debug, Default)]
pub(super) struct HostRoutes {
    /// Apps with a real prefix (not `/`), longest prefix first.
    prefixed: Vec<(Box<str>, Arc<Route>)>,
    /// Prefix → index in `prefixed`, built only for hosts with many prefixes.
    by_prefix: Option<FastMap<Box<str>, usize>>,
    /// Length of the longest prefix: longer path segments need not be probed.
    longest: usize,
    /// The app without a prefix (or with `/`).
    catch_all: Option<Arc<Route>>,
}

impl HostRoutes {
    fn add(&mut self, route: &Arc<Route>) {
        match route.path_prefix.as_deref() {
            None | Some("/") => self.catch_all = Some(route.clone()),
            Some(prefix) => {
                self.longest = self.longest.max(prefix.len());
                self.prefixed.push((prefix.into(), route.clone()));
            }
        }
    }

    fn seal(&mut self) {
        self.prefixed
            .sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
        if self.prefixed.len() > SCAN_LIMIT {
            let map = self
                .prefixed
                .iter()
                .enumerate()
                .map(|(i, (p, _))| (p.clone(), i))
                .collect();
            self.by_prefix = Some(map);
        }
    }

    /// The app whose prefix is the longest match for `path` (query already removed).
    #[inline]
    pub(super) fn find(&self, path: &str) -> Option<&Arc<Route>> {
        let found = match &self.by_prefix {
            None => self
                .prefixed
                .iter()
                .find(|(p, _)| prefix_matches(path, p))
                .map(|(_, r)| r),
            Some(map) => self.probe(map, path),
        };
        found.or(self.catch_all.as_ref())
    }

    /// Tries `path` itself, then each of its segment-boundary prefixes, longest first.
    fn probe(&self, map: &FastMap<Box<str>, usize>, path: &str) -> Option<&Arc<Route>> {
        let bytes = path.as_bytes();
        let top = self.longest.min(path.len().saturating_sub(1));
        let ends = std::iter::once(path.len())
            .filter(|&end| end <= self.longest)
            .chain((1..=top).rev().filter(|&i| bytes[i] == b'/'));
        for end in ends {
            if let Some(&i) = map.get(&path[..end]) {
                return self.prefixed.get(i).map(|(_, r)| r);
            }
        }
        None
    }
}

/// True when `prefix` matches `path` on a segment boundary (`/api` matches `/api/x`, not `/apix`).
#[inline]
pub(super) fn prefix_matches(path: &str, prefix: &str) -> bool {
    path.starts_with(prefix) && matches!(path.as_bytes().get(prefix.len()), None | Some(b'/'))
}

/// All hosts of a table.
pub(super) struct HostIndex {
    pub(super) exact: FastMap<Box<str>, HostRoutes>,
    pub(super) wildcard: FastMap<Box<str>, HostRoutes>,
    pub(super) wildcard_labels: u128,
}

impl HostIndex {
    /// Indexes validated routes (hosts well-formed, (host, prefix) pairs unique).
    pub(super) fn build(routes: &[Arc<Route>]) -> HostIndex {
        let mut exact: FastMap<Box<str>, HostRoutes> = FastMap::default();
        let mut wildcard: FastMap<Box<str>, HostRoutes> = FastMap::default();
        let mut wildcard_labels = 0u128;
        for route in routes {
            let entry = match route.host.strip_prefix("*.") {
                Some(suffix) => {
                    let labels = suffix.bytes().filter(|&b| b == b'.').count() + 1;
                    if labels < 128 {
                        wildcard_labels |= 1u128 << labels;
                    }
                    wildcard.entry(suffix.into()).or_default()
                }
                None => exact.entry(route.host.as_str().into()).or_default(),
            };
            entry.add(route);
        }
        for entry in exact.values_mut().chain(wildcard.values_mut()) {
            entry.seal();
        }
        HostIndex {
            exact,
            wildcard,
            wildcard_labels,
        }
    }
}
