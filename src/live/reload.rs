//! Reloading the configuration file: stage it whole, then publish the table, certificates,
//! admin tokens and every setting that can change without a restart in one step; name each
//! changed setting that only a restart applies, in the log line, the status and a gauge.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;

use super::catalog::LiveCatalog;
use super::{Live, ReloadStatus};
use crate::catalog::store::Stored;
use crate::catalog::Catalog;
use crate::config::gateway::{AdminToken, GatewayConfig};
use crate::config::staged::{Config, RESTART_ONLY};
use crate::routing::RoutingTable;

/// Applies configuration files to a running gateway.
pub struct Reloader {
    live: Arc<Live>,
    catalog: Arc<dyn LiveCatalog>,
    config_path: Option<PathBuf>,
    /// The admin tokens of the configuration in service.
    pub admin_tokens: Arc<ArcSwap<Vec<AdminToken>>>,
    /// The configuration the process started with (what its restart-only settings are),
    /// without its catalog (the live state holds the one in service).
    started: Config,
}

impl Reloader {
    /// A reloader for a gateway started with `started`.
    pub fn new(
        live: Arc<Live>,
        catalog: Arc<dyn LiveCatalog>,
        config_path: Option<PathBuf>,
        mut started: Config,
    ) -> Reloader {
        started.catalog = Catalog::default();
        Reloader {
            admin_tokens: Arc::new(ArcSwap::from_pointee(started.admin.tokens.clone())),
            live,
            catalog,
            config_path,
            started,
        }
    }

    /// Stages a configuration given in memory and applies it: all or nothing. A file that
    /// does not stage is reported with its catalog's problems too (when the file owns the
    /// catalog), so that one reading lists everything.
    pub fn apply_file(&self, cfg: &GatewayConfig) -> Result<u64, Vec<String>> {
        match cfg.clone().stage() {
            Ok(config) => self.apply(config),
            Err(mut errors) => {
                if self.catalog.file_owned() {
                    let compiled = RoutingTable::compile(&cfg.catalog(), 1);
                    let problems = compiled.err().into_iter().flatten();
                    errors.extend(problems.map(|e| e.to_string()));
                }
                Err(self.rejected(errors))
            }
        }
    }

    /// Applies a staged configuration: all or nothing. Returns the new table version, or
    /// every error (the old configuration keeps serving).
    pub fn apply(&self, new: Config) -> Result<u64, Vec<String>> {
        let _serial = self.catalog.lock();
        // With a store, the API owns the catalog: a reload takes certificates and settings
        // from the file and keeps the stored catalog.
        let stored = match self.catalog.file_owned() {
            false => Stored::clone(&self.catalog.desired()),
            true => Stored {
                version: self.live.snapshot().table.version() + 1,
                catalog: new.catalog.clone(),
            },
        };
        let table = match RoutingTable::compile(&stored.catalog, stored.version) {
            Ok(table) => table,
            Err(es) => return Err(self.rejected(es.iter().map(|e| e.to_string()).collect())),
        };
        let version = stored.version;
        self.live.certs.store(Arc::new(new.cert_store()));
        self.live.publish(table, new.settings);
        self.admin_tokens.store(Arc::new(new.admin.tokens.clone()));
        self.catalog.set_from_file(stored);
        let restart = self.note_restart_needed(&new);
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

    /// Reads the config file again, stages it and applies it.
    pub fn reload_from_file(&self) -> Result<u64, Vec<String>> {
        let Some(path) = &self.config_path else {
            return Err(vec!["no configuration file to reload".into()]);
        };
        match GatewayConfig::parse_file(path) {
            Ok(cfg) => self.apply_file(&cfg),
            Err(e) => Err(self.rejected(e.messages())),
        }
    }

    /// Sets the restart-needed gauge to the settings `new` changes; returns their names.
    fn note_restart_needed(&self, new: &Config) -> Vec<String> {
        let changed = self.started.restart_needed(new);
        let gauge = &self.live.metrics.reload_restart_needed;
        for name in RESTART_ONLY {
            gauge
                .with_label_values(&[name])
                .set(i64::from(changed.contains(&name)));
        }
        changed.into_iter().map(str::to_owned).collect()
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
