//! HTTPS origins: verified by default (against the connector's origin CA file), refused when
//! untrusted, and reachable without verification only where the app opts out.

use std::time::Duration;

use crate::support::origin;
use crate::support::world::{app, connector_config, Spec, World};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_origins_are_verified_unless_the_app_opts_out() {
    let internal_ca = switchyard::tls::gen::Ca::new("internal CA").expect("ca");
    let o = origin::spawn_tls("secure", &internal_ca).await;
    let url = format!("https://localhost:{}", o.addr.port());
    let mut lax = app("lax", "lax.example.test", None, &url, &["plain"]);
    lax.origin_tls_verify = false;
    let spec = Spec::default()
        .group("plain")
        .group("trusting")
        .connector("plain-1", "plain")
        .connector("trust-1", "trusting")
        .app("strict", "strict.example.test", &url, &["plain"])
        .app("trusted", "trusted.example.test", &url, &["trusting"])
        .app_with(lax);
    let mut w = World::start(spec);
    w.connect("plain-1").await;
    let ca_file = w.dir.path().join("internal-ca.pem");
    std::fs::write(&ca_file, internal_ca.cert_pem()).expect("write");
    let mut cfg = connector_config(
        "trust-1",
        &w.secrets["trust-1"],
        w.gw.tunnel_addr,
        &w.pki.ca_path,
    );
    cfg.origin_ca_file = Some(ca_file);
    let h = switchyard::run_connector(cfg).await.expect("starts");
    assert!(h.wait_tunnels(1, Duration::from_secs(10)).await);
    w.connectors.insert("trust-1".into(), h);
    let st = w.gw.live.clone();
    assert!(
        crate::support::eventually(|| st.registry.snapshot().len() == 2, Duration::from_secs(5))
            .await
    );

    let c = w.h1();
    let r = c
        .get(w.url("strict.example.test", "/"))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 502, "untrusted origin certificate");
    assert!(r.text().await.expect("body").contains("TLS"));

    let r = c
        .get(w.url("trusted.example.test", "/"))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.expect("body"), "secure");

    let r = c
        .get(w.url("lax.example.test", "/"))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 200, "explicit opt-out");
}
