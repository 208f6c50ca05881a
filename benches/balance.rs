//! Picking a live connector for a request with 2, 10 and 100 live connectors in the app's
//! group: `balance::pick` as the request path calls it (P2C, and rendezvous hashing when the
//! app uses affinity), and `balance::pick_in_group` alone (the P2C choice without the
//! chain walk and its `min_live` count). The live view is the gateway's own: real tunnels
//! (HTTP/2 over in-memory pipes) registered in a `Registry`, with uneven in-flight counts so
//! P2C compares real loads.
//!
//! Ids: `pick/p2c/{2,10,100}`, `pick/affinity/{2,10,100}`, `pick_in_group/p2c/{2,10,100}`.
//! Run: `cargo bench --bench balance` (quick: `-- --warm-up-time 1 --measurement-time 2`).

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use switchyard::balance::{self, health::now_ms, Ask};
use switchyard::metrics::Metrics;
use switchyard::routing::RoutingTable;
use switchyard::tunnel::registry::{InFlight, LiveView, Registry};

#[path = "support/catalog.rs"]
mod fixture;
#[path = "support/live.rs"]
mod live;

/// A gateway's live view with `connectors` live connectors in group `g`, plus what keeps it
/// live: the tunnels and the in-flight guards.
struct Live {
    table: RoutingTable,
    view: Arc<LiveView>,
    _tunnels: live::Tunnels,
    _in_flight: Vec<InFlight>,
}

fn live_view(connectors: usize) -> Live {
    let table = RoutingTable::compile(&fixture::catalog(1, connectors), 1).expect("compiles");
    let registry = Registry::new(Arc::new(Metrics::new()));
    let tunnels = live::connect_all(&registry, &table);
    let view = registry.view();
    let members = &view.group("g").expect("group g is live").members;
    assert_eq!(members.len(), connectors, "every connector is live");
    // 0 to 3 requests in flight per connector.
    let in_flight = members
        .iter()
        .enumerate()
        .flat_map(|(i, c)| (0..i % 4).map(|_| c.begin()))
        .collect();
    Live {
        table,
        view,
        _tunnels: tunnels,
        _in_flight: in_flight,
    }
}

fn pick(c: &mut Criterion) {
    let mut group = c.benchmark_group("pick");
    for n in [2usize, 10, 100] {
        let live = live_view(n);
        let route = live.table.apps().next().expect("one app");
        let now = now_ms();
        group.bench_with_input(BenchmarkId::new("p2c", n), &n, |b, _| {
            b.iter(|| {
                let ask = Ask::for_route(route, None, &[], now);
                balance::pick(black_box(&live.view), &ask)
            })
        });
        let key = balance::hash_bytes(b"session-7f3a9c");
        group.bench_with_input(BenchmarkId::new("affinity", n), &n, |b, _| {
            b.iter(|| {
                let ask = Ask::for_route(route, Some(black_box(key)), &[], now);
                balance::pick(black_box(&live.view), &ask)
            })
        });
    }
    group.finish();
}

fn pick_in_group(c: &mut Criterion) {
    let mut group = c.benchmark_group("pick_in_group");
    for n in [2usize, 10, 100] {
        let live = live_view(n);
        let members = live.view.group("g").expect("group g is live");
        let now = now_ms();
        group.bench_with_input(BenchmarkId::new("p2c", n), &n, |b, _| {
            b.iter(|| {
                black_box(balance::pick_in_group(
                    black_box(members),
                    |c| !c.health.is_ejected(now),
                    None,
                ))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, pick, pick_in_group);
criterion_main!(benches);
