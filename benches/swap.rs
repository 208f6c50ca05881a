//! Routing-table hot swap at 1k and 100k apps, through the gateway's own `ArcSwap<Snapshot>`
//! in the gateway's `Live` state:
//! - `swap/snapshot/{n}`: storing a compiled `Arc<Snapshot>` in place of the one in service
//!   (the old one comes back; nothing is freed);
//! - `swap/publish/{n}`: that swap plus the registry republishing its live view for the new
//!   table (10 live connectors), as `Live::publish` does on every reload;
//! - `swap/load_full/{n}`: what each request pays to take the snapshot in service;
//! - `drop/snapshot/{n}` and `drop/table/100000`: freeing the last reference to an old
//!   snapshot (table + per-app metric handles) or to a bare table, which the gateway leaves to
//!   its reaper thread. Compiling what is freed is set-up, outside the timing.
//!
//! Run: `cargo bench --bench swap` (quick: `-- --warm-up-time 1 --measurement-time 2`).

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, SamplingMode};
use switchyard::catalog::Catalog;
use switchyard::config::gateway::GatewayConfig;
use switchyard::live::{Live, Settings, Snapshot};
use switchyard::metrics::Metrics;
use switchyard::routing::RoutingTable;
use switchyard::tls::CertStore;

#[path = "support/catalog.rs"]
mod fixture;
#[path = "support/live.rs"]
mod live;

const LIVE_CONNECTORS: usize = 10;

fn compile(catalog: &Catalog, version: u64) -> RoutingTable {
    RoutingTable::compile(catalog, version).expect("compiles")
}

/// What the gateway publishes for a table.
fn snapshot(metrics: &Metrics, table: RoutingTable) -> Arc<Snapshot> {
    let settings = Settings::of(&GatewayConfig::default());
    Arc::new(Snapshot::new(metrics, table, settings))
}

/// A gateway's state serving `apps` apps, version 1.
fn gateway(catalog: &Catalog) -> Arc<Live> {
    let settings = Settings::of(&GatewayConfig::default());
    Live::new(compile(catalog, 1), settings, CertStore::new(Vec::new()))
}

fn swap(c: &mut Criterion) {
    let mut group = c.benchmark_group("swap");
    for n in [1_000usize, 100_000] {
        let catalog = fixture::catalog(n, LIVE_CONNECTORS);
        let state = gateway(&catalog);
        let _tunnels = live::connect_all(&state.registry, &state.snapshot().table);
        assert_eq!(state.registry.snapshot().len(), LIVE_CONNECTORS);
        // Two tables take turns: each swap hands back the other one, so no table is freed.
        let mut spare = Some(snapshot(&state.metrics, compile(&catalog, 2)));
        group.bench_with_input(BenchmarkId::new("snapshot", n), &n, |b, _| {
            b.iter(|| {
                let next = spare.take().expect("a spare snapshot");
                spare = Some(state.snapshot.swap(black_box(next)));
            })
        });
        group.bench_with_input(BenchmarkId::new("publish", n), &n, |b, _| {
            b.iter(|| {
                let next = spare.take().expect("a spare snapshot");
                spare = Some(state.snapshot.swap(black_box(next)));
                state.registry.on_table_swap(&state.snapshot.load().table);
            })
        });
        group.bench_with_input(BenchmarkId::new("load_full", n), &n, |b, _| {
            b.iter(|| black_box(state.snapshot.load_full()))
        });
    }
    group.finish();
}

fn free_old(c: &mut Criterion) {
    let mut group = c.benchmark_group("drop");
    // Each iteration compiles a table first (0.7 s at 100k apps): one per sample is enough.
    group.sampling_mode(SamplingMode::Flat).sample_size(10);
    let metrics = Metrics::new();
    for n in [1_000usize, 100_000] {
        let catalog = fixture::catalog(n, LIVE_CONNECTORS);
        group.bench_with_input(BenchmarkId::new("snapshot", n), &n, |b, _| {
            b.iter_batched(
                || snapshot(&metrics, compile(&catalog, 2)),
                |old: Arc<Snapshot>| {
                    assert_eq!(Arc::strong_count(&old), 1, "the last reference");
                    drop(old)
                },
                BatchSize::PerIteration,
            )
        });
    }
    let n = 100_000usize;
    let catalog = fixture::catalog(n, LIVE_CONNECTORS);
    group.bench_with_input(BenchmarkId::new("table", n), &n, |b, _| {
        b.iter_batched(|| compile(&catalog, 2), drop, BatchSize::PerIteration)
    });
    group.finish();
}

criterion_group!(benches, swap, free_old);
criterion_main!(benches);
