//! Reloads the configuration when its file changes (polling size and modification time, so
//! it works on every file system and with editors that replace the file).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::live::reload::Reloader;

fn stamp(path: &PathBuf) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// Polls `path` every `every` and reloads on change, until the task is dropped.
pub async fn watch_file(path: PathBuf, every: Duration, reloader: Arc<Reloader>) {
    let mut last = stamp(&path);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = stamp(&path);
        if now.is_none() || now == last {
            continue;
        }
        last = now;
        tracing::info!(path = %path.display(), "configuration file changed; reloading");
        let st = reloader.clone();
        // Reading files and compiling a large table is blocking work.
        let _ = tokio::task::spawn_blocking(move || st.reload_from_file()).await;
    }
}
