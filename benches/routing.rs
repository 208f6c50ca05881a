//! Route lookup (exact host, wildcard, path prefix, unknown host) at 10, 1k and 100k apps, and
//! table compile.
//! Ids: `lookup/{exact,wildcard,path_prefix,miss}/{10,1000,100000}`, `compile/{1000,100000}`.
//! Run: `cargo bench --bench routing` (quick: `-- --warm-up-time 1 --measurement-time 2`).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use switchyard::routing::RoutingTable;

#[path = "support/catalog.rs"]
mod fixture;

fn catalog(apps: usize) -> switchyard::catalog::Catalog {
    fixture::catalog(apps, 1)
}

fn lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("lookup");
    for n in [10usize, 1_000, 100_000] {
        let table = RoutingTable::compile(&catalog(n), 1).expect("compiles");
        let exact = "app0.example.com".to_string();
        let wild = "x.w1.example.com".to_string();
        let prefixed = format!("p{}.example.com", (n.saturating_sub(1)) / 30);
        let path = format!("/svc{}/items?q=1", (n / 3) * 3 - 1);
        group.bench_with_input(BenchmarkId::new("exact", n), &n, |b, _| {
            b.iter(|| black_box(table.lookup(black_box(&exact), black_box("/"))))
        });
        group.bench_with_input(BenchmarkId::new("wildcard", n), &n, |b, _| {
            b.iter(|| black_box(table.lookup(black_box(&wild), black_box("/a"))))
        });
        group.bench_with_input(BenchmarkId::new("path_prefix", n), &n, |b, _| {
            b.iter(|| black_box(table.lookup(black_box(&prefixed), black_box(&path))))
        });
        // A host no app publishes (scanners, stale DNS): every wildcard suffix is probed.
        group.bench_with_input(BenchmarkId::new("miss", n), &n, |b, _| {
            b.iter(|| black_box(table.lookup(black_box("a.b.unknown.example.org"), black_box("/"))))
        });
    }
    group.finish();
}

fn compile(c: &mut Criterion) {
    let mut group = c.benchmark_group("compile");
    group.sample_size(10);
    for n in [1_000usize, 100_000] {
        let cat = catalog(n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| black_box(RoutingTable::compile(&cat, 1).expect("compiles")))
        });
    }
    group.finish();
}

criterion_group!(benches, lookup, compile);
criterion_main!(benches);
