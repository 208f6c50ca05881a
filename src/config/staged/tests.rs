//! Staging a gateway config: every error with its path, certificates loaded, restart diff.

use std::path::PathBuf;

use super::*;
use crate::tls::gen::{write_pair, Ca};

/// A scratch folder, removed when the test ends.
struct Dir(PathBuf);

impl std::ops::Deref for Dir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A folder with `edge`, `tunnel`, `admin` and `other` certificate pairs, and a `bad.pem`.
fn cert_dir(tag: &str) -> Dir {
    let dir = std::env::temp_dir().join(format!("switchyard-staged-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let ca = Ca::new("staging test CA").expect("CA");
    for stem in ["edge", "tunnel", "admin", "other"] {
        let issued = ca.issue(&[&format!("{stem}.example.com")]).expect("issue");
        write_pair(&dir, stem, &issued).expect("write pair");
    }
    std::fs::write(dir.join("bad.pem"), "not a certificate\n").expect("bad.pem");
    Dir(dir)
}

/// The file names `write_pair` gave a pair (relative to the folder).
fn pem_names(dir: &Path, stem: &str) -> (String, String) {
    let (cert, key) = (format!("{stem}.crt"), format!("{stem}.key"));
    assert!(
        dir.join(&cert).exists() && dir.join(&key).exists(),
        "{stem} pair in {dir:?}"
    );
    (cert, key)
}

fn parse(dir: &Path, text: &str) -> GatewayConfig {
    GatewayConfig::parse_toml(text, "t.toml", dir.to_path_buf()).expect("parses")
}

fn base(dir: &Path) -> String {
    let (c, k) = pem_names(dir, "edge");
    format!("[[certificates]]\ncert = \"{c}\"\nkey = \"{k}\"\n")
}

#[test]
fn a_valid_file_is_staged_whole() {
    let dir = cert_dir("valid");
    let (tc, tk) = pem_names(&dir, "tunnel");
    let (ac, ak) = pem_names(&dir, "admin");
    let text = format!(
        "[listen]\nhttps = \"127.0.0.1:0\"\nhttp = \"127.0.0.1:0\"\n{}\
         [tunnel]\ncert = \"{tc}\"\nkey = \"{tk}\"\nping_interval_ms = 250\n\
         [admin]\ntls_cert = \"{ac}\"\ntls_key = \"{ak}\"\n\
         [store]\ndir = \"state\"\n\
         [[groups]]\nname = \"dc1\"\n",
        base(&dir)
    );
    let cfg = parse(&dir, &text).stage().expect("valid");
    assert_eq!(cfg.listen.https, "127.0.0.1:0".parse().expect("addr"));
    assert!(cfg.listen.http.is_some());
    assert_eq!(cfg.edge_certs.len(), 1);
    assert_eq!(cfg.edge_certs[0].names, ["edge.example.com"]);
    assert_eq!(cfg.tunnel_cert.names, ["tunnel.example.com"]);
    let admin_tls = cfg.admin.tls.as_ref().expect("admin TLS loaded");
    assert_eq!(admin_tls.names, ["admin.example.com"]);
    assert_eq!(
        cfg.admin.listen,
        Some("127.0.0.1:9901".parse().expect("addr"))
    );
    assert_eq!(cfg.store_dir, Some(dir.join("state")));
    assert_eq!(
        cfg.settings.tunnel.ping_interval,
        Duration::from_millis(250)
    );
    assert_eq!(cfg.catalog.groups.len(), 1);
    assert_eq!(cfg.cert_store().len(), 1);
}

#[test]
fn the_tunnel_falls_back_to_the_first_edge_certificate() {
    let dir = cert_dir("fallback");
    let text = format!("{}[admin]\nlisten = \"\"\n", base(&dir));
    let cfg = parse(&dir, &text).stage().expect("valid");
    assert_eq!(cfg.tunnel_cert.names, ["edge.example.com"]);
    assert_eq!(cfg.admin.listen, None);
    assert!(cfg.admin.tls.is_none());
}

#[test]
fn every_problem_is_reported_with_its_path() {
    let dir = cert_dir("errors");
    let (c, k) = pem_names(&dir, "edge");
    let text = format!(
        "[listen]\nhttps = \"nope\"\nmetrics = \"1.2.3.4\"\n\
         [[certificates]]\ncert = \"{c}\"\nkey = \"{k}\"\n\
         [[certificates]]\ncert = \"missing.pem\"\nkey = \"{k}\"\n\
         [tunnel]\ncert = \"bad.pem\"\nkey = \"{k}\"\nhello_timeout_ms = 0\n\
         [admin]\nlisten = \"localhost\"\ntls_cert = \"bad.pem\"\ntls_key = \"{k}\"\n\
         [limits]\nmax_uri_bytes = 10\n"
    );
    let errors = parse(&dir, &text).stage().expect_err("invalid");
    let want = [
        "listen.https: \"nope\"",
        "listen.metrics: \"1.2.3.4\"",
        "admin.listen: \"localhost\"",
        "tunnel.hello_timeout_ms: must be > 0",
        "limits.max_uri_bytes",
        "certificates[1]: ",
        "tunnel.cert: ",
        "admin.tls_cert: ",
    ];
    for w in want {
        assert!(
            errors.iter().any(|e| e.starts_with(w)),
            "missing {w:?} in {errors:#?}"
        );
    }
    assert_eq!(errors.len(), want.len(), "{errors:#?}");
}

#[test]
fn validate_reports_the_checks_that_read_no_file() {
    let cfg = parse(Path::new("/nonexistent"), "[tunnel]\ncert = \"t.pem\"\n");
    let errors = cfg.validate();
    assert_eq!(
        errors,
        [
            "certificates: at least one edge certificate is required",
            "tunnel: cert and key go together"
        ]
    );
}

#[test]
fn restart_needed_names_what_a_reload_cannot_apply() {
    let dir = cert_dir("restart");
    let stage = |extra: &str| {
        parse(&dir, &format!("{}{extra}", base(&dir)))
            .stage()
            .expect("valid")
    };
    let old = stage("");
    assert!(old.restart_needed(&stage("")).is_empty());
    // Reloadable: settings, tokens-free catalog changes.
    let reloadable = stage(
        "[limits]\nmax_header_count = 50\n[tunnel]\nping_interval_ms = 99\n\
         [runtime]\naccess_log = false\n[[groups]]\nname = \"g\"\n",
    );
    assert!(old.restart_needed(&reloadable).is_empty());
    let (oc, ok) = pem_names(&dir, "other");
    let moved = stage(&format!(
        "[listen]\nhttps = \"127.0.0.1:1\"\nmetrics = \"127.0.0.1:2\"\n\
         [tunnel]\ncert = \"{oc}\"\nkey = \"{ok}\"\n\
         [admin]\nlisten = \"\"\n[store]\ndir = \"s\"\n\
         [runtime]\nthreads = 3\nupgrade_sock = \"/tmp/other.sock\"\n\
         [limits]\nmax_connections = 3\n"
    ));
    assert_eq!(
        old.restart_needed(&moved),
        [
            "listen.https",
            "listen.metrics",
            "tunnel.cert",
            "admin.listen",
            "store.dir",
            "runtime.threads",
            "runtime.upgrade_sock",
            "limits.max_connections"
        ]
    );
}

#[test]
fn the_etcd_store_is_staged_with_its_password_and_checked_whole() {
    let dir = cert_dir("etcd");
    std::fs::write(dir.join("etcd.pass"), "s3cret\n").expect("password file");
    let (ca, _) = pem_names(&dir, "other");
    let ok = parse(
        &dir,
        &format!(
            "{}[store.etcd]\nendpoints = [\"https://10.0.0.1:2379\", \"https://etcd-2:2379\"]\n\
             username = \"gw\"\npassword_file = \"etcd.pass\"\nca_file = \"{ca}\"\n",
            base(&dir)
        ),
    )
    .stage()
    .expect("valid");
    let etcd = ok.store_etcd.as_ref().expect("etcd settings");
    assert_eq!(etcd.prefix, "/switchyard", "the default prefix");
    assert_eq!(etcd.user, Some(("gw".into(), "s3cret".into())));
    assert!(etcd.ca_pem.is_some());
    assert_eq!(ok.store_dir, None);

    let bad = parse(
        &dir,
        &format!(
            "{}[store]\ndir = \"s\"\n[store.etcd]\nendpoints = [\"127.0.0.1:2379\", \
             \"https://x:1\", \"http://y:2\"]\nprefix = \"sy/\"\nusername = \"gw\"\n",
            base(&dir)
        ),
    );
    let errors = bad.stage().expect_err("invalid");
    for needle in [
        "store: set either `dir`",
        "store.etcd.endpoints[0]: \"127.0.0.1:2379\" is not http://HOST:PORT",
        "store.etcd.endpoints: all http:// or all https://",
        "store.etcd.ca_file: https endpoints need",
        "store.etcd.prefix: \"sy/\" must start with '/'",
        "store.etcd: username and password_file go together",
    ] {
        assert!(
            errors.iter().any(|e| e.contains(needle)),
            "{needle} in {errors:#?}"
        );
    }
    let empty = parse(&dir, &format!("{}[store.etcd]\n", base(&dir)));
    let errors = empty.stage().expect_err("no endpoints");
    assert!(
        errors[0].contains("store.etcd.endpoints: at least one endpoint"),
        "{errors:?}"
    );
}
