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
    let m = w.metrics().await;
    assert_eq!(
        metric(
            &m,
            "switchyard_tls_handshake_failures_total{reason=\"unknown_sni\"}"
        ),
        Some(2.0),
        "{m}"
    );

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
