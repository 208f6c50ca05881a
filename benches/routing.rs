//! Route lookup and table compile at 10, 1k and 100k apps (exact, wildcard, path prefix).
//! Run: `cargo bench --bench routing`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use switchyard::catalog::{AppSpec, Catalog, ConnectorSpec, GroupSpec};
use switchyard::routing::RoutingTable;

fn catalog(apps: usize) -> Catalog {
    let mut c = Catalog {
        groups: vec![GroupSpec {
            tenant: None,
            name: "g".into(),
            balance: Default::default(),
        }],
        connectors: vec![ConnectorSpec {
            tenant: None,
            revoked: false,
            id: "c".into(),
            group: "g".into(),
            secret_hash: switchyard::catalog::secret::hash("s"),
        }],
        apps: Vec::with_capacity(apps),
        ..Catalog::default()
    };
    for i in 0..apps {
        let (host, prefix) = match i % 3 {
            0 => (format!("app{i}.example.com"), None),
            1 => (format!("*.w{i}.example.com"), None),
            _ => (format!("p{}.example.com", i / 30), Some(format!("/svc{i}"))),
        };
        c.apps.push(AppSpec {
            tenant: None,
            name: format!("app{i}"),
            host,
            path_prefix: prefix,
            internal_url: format!("http://10.0.{}.{}:8080", (i / 250) % 250, i % 250),
            groups: vec!["g".into()],
            preserve_host: false,
            backend_timeout_secs: None,
            origin_tls_verify: true,
            min_live_connectors: None,
            affinity: None,
        });
    }
    c
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
