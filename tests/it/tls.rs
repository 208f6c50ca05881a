//! TLS at the edge: the certificate is chosen by SNI, unknown names are refused (and counted),
//! certificates are swapped by a reload without a restart.

use switchyard::config::gateway::CertPaths;
use switchyard::tls::gen;

use crate::support::client;
use crate::support::world::{metric, Spec, World};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sni_picks_the_certificate_and_unknown_names_are_refused() {
    let mut w = World::start(Spec::default());
    let ca = w.pki.ca_pem.clone();
    let addr = w.gw.https_addr;

    assert!(client::tls_connect(&ca, addr, "a.example.test")
        .await
        .is_ok());
    let err = client::tls_connect(&ca, addr, "unknown.invalid").await;
    assert!(err.is_err(), "unknown SNI refused");
    let err = client::tls_connect(&ca, addr, "alt.test").await;
    assert!(err.is_err(), "not yet served");
    // Counted on the gateway's side, after the client saw the refusal.
    let unknown = "switchyard_tls_handshake_failures_total{reason=\"unknown_sni\"}";
    let m = w.metrics_when(|m| metric(m, unknown) >= Some(2.0)).await;
    assert_eq!(metric(&m, unknown), Some(2.0), "{m}");

    // Hot swap: add a certificate for alt.test through a reload.
    let leaf = w.pki.ca.issue(&["alt.test"]).expect("leaf");
    let (cert, key) = gen::write_pair(w.dir.path(), "alt", &leaf).expect("write");
    let mut cfg = w.cfg.clone();
    cfg.certificates.push(CertPaths {
        cert,
        key,
        default: false,
    });
    w.rewrite(cfg).expect("reload applies");
    let s = client::tls_connect(&ca, addr, "alt.test")
        .await
        .expect("alt.test now served");
    let (_, conn) = s.get_ref();
    let chain = conn.peer_certificates().expect("certs");
    assert_eq!(chain.len(), 1);
    assert!(
        client::tls_connect(&ca, addr, "a.example.test")
            .await
            .is_ok(),
        "old cert still served"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_certificate_in_a_reload_keeps_the_old_ones() {
    let mut w = World::start(Spec::default());
    let bad = w.dir.path().join("bad.pem");
    std::fs::write(
        &bad,
        "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
    )
    .expect("write");
    let mut cfg = w.cfg.clone();
    cfg.certificates.push(CertPaths {
        cert: bad.clone(),
        key: bad,
        default: false,
    });
    let errors = w.rewrite(cfg).expect_err("rejected");
    assert!(
        errors.iter().any(|e| e.starts_with("certificates[1]")),
        "{errors:?}"
    );
    assert!(
        client::tls_connect(&w.pki.ca_pem, w.gw.https_addr, "a.example.test")
            .await
            .is_ok()
    );
}

/// The leaf certificate the edge serves for `sni`.
async fn served_leaf(w: &World, sni: &str) -> Vec<u8> {
    let s = client::tls_connect(&w.pki.ca_pem, w.gw.https_addr, sni)
        .await
        .expect("handshake");
    let (_, conn) = s.get_ref();
    conn.peer_certificates().expect("certs")[0].to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_edge_certificate_at_the_same_path_is_served_after_reload() {
    let mut w = World::start(Spec::default());
    let before = served_leaf(&w, "a.example.test").await;
    // Renewal: new content, same file names, same configuration.
    let renewed = w.pki.ca.issue(&["a.example.test"]).expect("leaf");
    let (cert, key) = gen::write_pair(w.dir.path(), "edge", &renewed).expect("write");
    assert_eq!((&cert, &key), (&w.pki.edge.cert, &w.pki.edge.key));
    let on_disk = switchyard::tls::load_cert_pair(&cert, &key).expect("loads");
    w.rewrite(w.cfg.clone()).expect("reload applies");
    let after = served_leaf(&w, "a.example.test").await;
    assert_ne!(after, before, "the old certificate is still served");
    assert_eq!(after, on_disk.certified_key.cert[0].to_vec());
    // The tunnel listener uses the first edge certificate and only a restart changes it.
    assert_eq!(
        w.gw.live.last_reload.load().restart_needed,
        ["tunnel.cert"],
        "a renewed tunnel certificate is named"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_with_a_bad_tunnel_or_admin_certificate_is_refused_whole_and_names_it() {
    let mut w = World::start(Spec::default());
    let bad = w.dir.path().join("bad.pem");
    std::fs::write(
        &bad,
        "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
    )
    .expect("write");
    let version = w.gw.live.snapshot().table.version();
    let renewed = w.pki.ca.issue(&["alt.test"]).expect("leaf");
    let (alt_cert, alt_key) = gen::write_pair(w.dir.path(), "alt", &renewed).expect("write");
    // Each file also adds an edge certificate: a half-applied reload would serve it.
    let mut with_alt = w.cfg.clone();
    with_alt.certificates.push(CertPaths {
        cert: alt_cert,
        key: alt_key,
        default: false,
    });
    let mut bad_tunnel = with_alt.clone();
    bad_tunnel.tunnel.cert = Some(bad.clone());
    bad_tunnel.tunnel.key = Some(bad.clone());
    let mut bad_admin = with_alt;
    bad_admin.admin.tls_cert = Some(bad.clone());
    bad_admin.admin.tls_key = Some(bad);
    for (cfg, field) in [(bad_tunnel, "tunnel.cert"), (bad_admin, "admin.tls_cert")] {
        let errors = w.rewrite(cfg).expect_err("rejected");
        assert!(
            errors.iter().any(|e| e.starts_with(field)),
            "{field}: {errors:?}"
        );
        assert_eq!(w.gw.live.snapshot().table.version(), version);
        assert!(
            client::tls_connect(&w.pki.ca_pem, w.gw.https_addr, "alt.test")
                .await
                .is_err(),
            "{field}: the edge certificate of a refused file is served"
        );
        let status = w.gw.live.last_reload.load();
        assert!(!status.ok && status.errors == errors, "{status:?}");
    }
    let m = w.metrics().await;
    assert_eq!(
        metric(&m, "switchyard_config_reload_failures_total"),
        Some(2.0)
    );
}
