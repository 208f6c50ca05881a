//! Catalog fixtures shared by the benches: `apps` apps mixing exact hosts, wildcards and path
//! prefixes, all served by one P2C group `g` of `connectors` connectors (`c000`, `c001`, …).

use switchyard::catalog::{AppSpec, Catalog, ConnectorSpec, GroupSpec};

/// The catalog: app `i` is `app{i}.example.com` (i % 3 == 0), `*.w{i}.example.com`
/// (i % 3 == 1) or `p{i / 30}.example.com` under prefix `/svc{i}` (i % 3 == 2).
pub fn catalog(apps: usize, connectors: usize) -> Catalog {
    let secret_hash = switchyard::catalog::secret::hash("s");
    let mut c = Catalog {
        groups: vec![GroupSpec::new("g", None)],
        connectors: (0..connectors)
            .map(|i| ConnectorSpec {
                tenant: None,
                revoked: false,
                id: format!("c{i:03}"),
                group: "g".into(),
                secret_hash: secret_hash.clone(),
            })
            .collect(),
        apps: Vec::with_capacity(apps),
        ..Catalog::default()
    };
    for i in 0..apps {
        let (host, prefix) = match i % 3 {
            0 => (format!("app{i}.example.com"), None),
            1 => (format!("*.w{i}.example.com"), None),
            _ => (format!("p{}.example.com", i / 30), Some(format!("/svc{i}"))),
        };
        let internal = format!("http://10.0.{}.{}:8080", (i / 250) % 250, i % 250);
        c.apps
            .push(app(&format!("app{i}"), &host, prefix.as_deref(), &internal));
    }
    c
}

/// One app of group `g`, with the catalog's defaults.
pub fn app(name: &str, host: &str, path_prefix: Option<&str>, internal_url: &str) -> AppSpec {
    AppSpec {
        tenant: None,
        name: name.into(),
        host: host.into(),
        path_prefix: path_prefix.map(Into::into),
        internal_url: internal_url.into(),
        groups: vec!["g".into()],
        preserve_host: false,
        backend_timeout_secs: None,
        origin_tls_verify: true,
        min_live_connectors: None,
        affinity: None,
    }
}
