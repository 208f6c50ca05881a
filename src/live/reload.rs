//! Reloading the configuration file: stage it whole, then publish the table, certificates,
//! admin tokens and every setting that can change without a restart in one step; name each
//! changed setting that only a restart applies, in the log line, the status and a gauge.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;

use super::catalog::FileCatalog;
use super::stage::stage_with;
use super::{Live, ReloadStatus, Settings};
use crate::catalog::store::Stored;
use crate::catalog::writer::CatalogWriter;
use crate::config::gateway::{AdminToken, GatewayConfig};

/// A setting that only a restart applies: its name and how to read it for comparison.
type RestartOnly = (&'static str, fn(&GatewayConfig) -> String);

/// Settings read once at start-up (listeners, runtimes, the store, pingora's options).
const RESTART_ONLY: &[RestartOnly] = &[
    ("listen.https", |c| c.listen.https.clone()),
    ("listen.http", |c| format!("{:?}", c.listen.http)),
    ("listen.tunnel", |c| c.listen.tunnel.clone()),
    ("listen.metrics", |c| c.listen.metrics.clone()),
    ("tunnel.cert", |c| format!("{:?}", c.tunnel_cert())),
    ("admin.listen", |c| c.admin.listen.clone()),
    ("admin.tls_cert", |c| format!("{:?}", c.admin.tls_cert)),
    ("admin.tls_key", |c| format!("{:?}", c.admin.tls_key)),
    ("admin.max_body_bytes", |c| {
        c.admin.max_body_bytes.to_string()
    }),
    ("store.dir", |c| format!("{:?}", c.store.dir)),
    ("runtime.threads", |c| c.runtime.threads.to_string()),
    ("runtime.control_threads", |c| {
        c.runtime.control_threads.to_string()
    }),
    ("runtime.upgrade_sock", |c| c.runtime.upgrade_sock.clone()),
    ("runtime.shutdown_grace_secs", |c| {
        c.runtime.shutdown_grace_secs.to_string()
    }),
    ("runtime.watch_interval_ms", |c| {
        c.runtime.watch_interval_ms.to_string()
    }),
    ("limits.h2_idle_secs", |c| c.limits.h2_idle_secs.to_string()),
    ("limits.max_connections", |c| {
        c.limits.max_connections.to_string()
    }),
];

/// The restart-only settings in which `file` differs from `running`.
pub fn restart_needed(running: &GatewayConfig, file: &GatewayConfig) -> Vec<String> {
    RESTART_ONLY
        .iter()
        .filter(|(_, read)| read(running) != read(file))
        .map(|(name, _)| (*name).to_owned())
        .collect()
}

/// Applies configuration files to a running gateway.
pub struct Reloader {
    live: Arc<Live>,
    catalog: Arc<FileCatalog>,
    config_path: Option<PathBuf>,
    /// The admin tokens of the configuration in service.
    pub admin_tokens: Arc<ArcSwap<Vec<AdminToken>>>,
    /// The configuration the process started with (what its restart-only settings are).
    started: GatewayConfig,
}

impl Reloader {
    /// A reloader for a gateway started with `started`.
    pub fn new(
        live: Arc<Live>,
        catalog: Arc<FileCatalog>,
        config_path: Option<PathBuf>,
        started: GatewayConfig,
    ) -> Reloader {
        Reloader {
            admin_tokens: Arc::new(ArcSwap::from_pointee(started.admin.tokens.clone())),
            live,
            catalog,
            config_path,
            started,
        }
    }

    /// Applies a new configuration: all or nothing. Returns the new table version, or every
    /// error (the old configuration keeps serving).
    pub fn apply(&self, cfg: &GatewayConfig) -> Result<u64, Vec<String>> {
        let _serial = self.catalog.lock();
        // With a store, the API owns the catalog: a reload takes certificates and settings
        // from the file and keeps the stored catalog.
        let (catalog, version) = match self.catalog.store() {
            Some(_) => {
                let d = self.catalog.desired();
                (d.catalog.clone(), d.version)
            }
            None => (cfg.catalog(), self.live.snapshot().table.version() + 1),
        };
        let staged = match stage_with(cfg, &catalog, version) {
            Ok(staged) => staged,
            Err(errors) => return Err(self.rejected(errors)),
        };
        self.live.certs.store(Arc::new(staged.certs));
        self.live.publish(staged.table, Settings::of(cfg));
        self.admin_tokens.store(Arc::new(cfg.admin.tokens.clone()));
        self.catalog.set_from_file(Stored { version, catalog });
        let restart = self.note_restart_needed(cfg);
        self.live.metrics.reloads.inc();
        self.live.record_reload(ReloadStatus {
            at: Some(SystemTime::now()),
            ok: true,
            version,
            errors: Vec::new(),
            restart_needed: restart.clone(),
        });
        if restart.is_empty() {
            tracing::info!(version, "configuration applied");
        } else {
            tracing::warn!(
                version,
                restart_needed = %restart.join(", "),
                "configuration applied; changed settings that only a restart applies"
            );
        }
        Ok(version)
    }

    /// Reads the config file again and applies it.
    pub fn reload_from_file(&self) -> Result<u64, Vec<String>> {
        let Some(path) = &self.config_path else {
            return Err(vec!["no configuration file to reload".into()]);
        };
        match GatewayConfig::from_file(path) {
            Ok(cfg) => self.apply(&cfg),
            Err(e) => Err(self.rejected(e.messages())),
        }
    }

    /// Sets the restart-needed gauge to the settings `cfg` changes; returns their names.
    fn note_restart_needed(&self, cfg: &GatewayConfig) -> Vec<String> {
        let changed = restart_needed(&self.started, cfg);
        let gauge = &self.live.metrics.reload_restart_needed;
        for (name, _) in RESTART_ONLY {
            gauge
                .with_label_values(&[name])
                .set(i64::from(changed.iter().any(|c| c == name)));
        }
        changed
    }

    /// Counts and logs a rejected configuration; keeps the old one in service.
    fn rejected(&self, errors: Vec<String>) -> Vec<String> {
        self.live.metrics.reload_failures.inc();
        for e in &errors {
            tracing::error!(error = %e, "configuration rejected");
        }
        let previous = self.live.last_reload.load();
        self.live.record_reload(ReloadStatus {
            at: Some(SystemTime::now()),
            ok: false,
            version: self.live.snapshot().table.version(),
            errors: errors.clone(),
            restart_needed: previous.restart_needed.clone(),
        });
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_only_changes_are_named_and_reloadable_ones_are_not() {
        let running = GatewayConfig::default();
        let mut file = running.clone();
        file.limits.max_header_bytes += 1;
        file.resilience.max_attempts += 1;
        file.runtime.access_log = !file.runtime.access_log;
        file.tunnel.hello_timeout_ms += 1;
        assert!(restart_needed(&running, &file).is_empty());
        file.listen.https = "127.0.0.1:1".into();
        file.runtime.threads = 7;
        file.limits.h2_idle_secs += 1;
        assert_eq!(
            restart_needed(&running, &file),
            ["listen.https", "runtime.threads", "limits.h2_idle_secs"]
        );
    }
}
