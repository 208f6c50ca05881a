//! Following etcd: watch the catalog keys from the revision after the last one applied,
//! gather a burst of changes into one batch (one compile, one swap), and when the watch
//! breaks, retry and resume from where it stopped, re-listing when etcd compacted that
//! revision away.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::{Shared, RETRY_MAX};
use crate::catalog::etcd::client::{self, EtcdError};
use crate::catalog::etcd::Change;

/// A batch closes when no change came for this long…
const QUIET: Duration = Duration::from_millis(15);
/// …or when it has been open this long.
const BATCH_MAX: Duration = Duration::from_millis(250);
/// First pause between attempts while etcd is unreachable.
const RETRY_MIN: Duration = Duration::from_millis(100);

/// Follows etcd for as long as the gateway runs.
pub(super) async fn run(shared: Arc<Shared>) {
    let mut pause = RETRY_MIN;
    loop {
        let from = shared.mirror().horizon() + 1;
        let outcome = match client::watch(&shared.client, &shared.settings, from).await {
            Ok(stream) => {
                if shared.set_connected(true) {
                    tracing::info!(from, "etcd reachable again; watching the catalog");
                }
                pause = RETRY_MIN;
                follow(&shared, stream).await
            }
            Err(e) => e,
        };
        match outcome {
            EtcdError::Compacted(at) => {
                tracing::warn!(
                    from,
                    compacted = at,
                    "etcd compacted past the catalog's watch; listing it again"
                );
                let s = shared.clone();
                let relisted = tokio::task::spawn_blocking(move || {
                    let _serial = s.serial();
                    s.relist()
                })
                .await;
                if let Ok(Err(e)) = relisted {
                    lost(&shared, &e);
                    tokio::time::sleep(pause).await;
                }
            }
            e => {
                lost(&shared, &e);
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(RETRY_MAX);
            }
        }
    }
}

fn lost(shared: &Shared, e: &EtcdError) {
    if shared.set_connected(false) {
        tracing::error!(error = %e, "etcd unreachable: serving the last catalog; writes are refused until it returns");
    }
}

/// Applies the watch's changes batch by batch until it breaks; returns why.
async fn follow(shared: &Arc<Shared>, mut stream: etcd_client::WatchStream) -> EtcdError {
    loop {
        let mut batch: Vec<Change> = Vec::new();
        let broke = match next(shared, &mut stream).await {
            Ok(changes) => {
                batch.extend(changes);
                gather(shared, &mut stream, &mut batch).await
            }
            Err(e) => Some(e),
        };
        if !batch.is_empty() {
            let s = shared.clone();
            let _ = tokio::task::spawn_blocking(move || s.apply(batch)).await;
        }
        if let Some(e) = broke {
            return e;
        }
    }
}

/// Adds to `batch` whatever else comes within the batching window; the error that broke
/// the watch meanwhile, if any.
async fn gather(
    shared: &Shared,
    stream: &mut etcd_client::WatchStream,
    batch: &mut Vec<Change>,
) -> Option<EtcdError> {
    let until = Instant::now() + BATCH_MAX;
    loop {
        let wait = QUIET.min(until.saturating_duration_since(Instant::now()));
        match tokio::time::timeout(wait, next(shared, stream)).await {
            Err(_) => return None,
            Ok(Ok(changes)) => batch.extend(changes),
            Ok(Err(e)) => return Some(e),
        }
        if Instant::now() >= until {
            return None;
        }
    }
}

/// The next answer's changes.
async fn next(
    shared: &Shared,
    stream: &mut etcd_client::WatchStream,
) -> Result<Vec<Change>, EtcdError> {
    match stream.message().await {
        Ok(Some(r)) => client::changes(&shared.settings, &r),
        Ok(None) => Err(EtcdError::Unavailable("the watch ended".into())),
        Err(e) => Err(e.into()),
    }
}
