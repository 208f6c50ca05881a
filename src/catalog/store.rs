//! The catalog store: the desired state with a version number, in a file written atomically
//! (temporary file, fsync, rename, fsync of the folder). A crash at any moment leaves either
//! the old or the new catalog, never a torn one.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::catalog::{migrate, Catalog};

/// A catalog and its version.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Stored {
    pub version: u64,
    pub catalog: Catalog,
}

/// The file's form: the catalog, its version and the layout it was written in.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct OnDisk<C> {
    /// Absent in files written before tenant scopes (schema 1).
    #[serde(default = "schema_v1")]
    schema: u32,
    version: u64,
    catalog: C,
}

fn schema_v1() -> u32 {
    1
}

/// Why the store could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("catalog store {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("catalog store {path} is corrupt ({message}); fix or remove it (nothing was changed)")]
    Corrupt { path: String, message: String },
    #[error("catalog writer: {0}")]
    Inconsistent(String),
}

/// The embedded store: one JSON file in a data folder.
#[derive(Debug, Clone)]
pub struct FileStore {
    path: PathBuf,
}

impl FileStore {
    /// The store file `catalog.json` inside `dir`.
    pub fn in_dir(dir: &Path) -> FileStore {
        FileStore {
            path: dir.join("catalog.json"),
        }
    }

    /// Where the catalog lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: self.path.display().to_string(),
            source,
        }
    }

    /// The stored catalog, or `None` when the store is empty (no file yet). A file of an
    /// older schema is migrated in memory (see [`migrate`]); the next write saves it in
    /// today's schema.
    pub fn load(&self) -> Result<Option<Stored>, StoreError> {
        let bytes = match fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io(e)),
        };
        let corrupt = |message: String| StoreError::Corrupt {
            path: self.path.display().to_string(),
            message,
        };
        let on_disk: OnDisk<Catalog> =
            serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        let mut catalog = on_disk.catalog;
        match on_disk.schema {
            migrate::SCHEMA => {}
            1 => {
                let m = migrate::from_v1(&mut catalog);
                tracing::warn!(
                    path = %self.path.display(),
                    shared_groups = ?m.shared,
                    domains = ?m.domains,
                    "catalog store of schema 1 (before tenant scopes) migrated in memory; \
                     the next change saves it in schema {}",
                    migrate::SCHEMA
                );
            }
            other => {
                return Err(corrupt(format!(
                    "schema {other} is not one this version reads (it writes schema {}); \
                     was it written by a newer version?",
                    migrate::SCHEMA
                )))
            }
        }
        Ok(Some(Stored {
            version: on_disk.version,
            catalog,
        }))
    }

    /// Writes atomically: after it returns, the new catalog survives a crash.
    pub fn save(&self, stored: &Stored) -> Result<(), StoreError> {
        let dir = self
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        fs::create_dir_all(&dir).map_err(|e| self.io(e))?;
        let on_disk = OnDisk {
            schema: migrate::SCHEMA,
            version: stored.version,
            catalog: &stored.catalog,
        };
        let body =
            serde_json::to_vec_pretty(&on_disk).map_err(|e| self.io(std::io::Error::other(e)))?;
        let tmp = dir.join(format!(
            ".catalog.json.{}.{}.tmp",
            std::process::id(),
            stored.version
        ));
        let write = || -> std::io::Result<()> {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)?;
            f.write_all(&body)?;
            f.sync_all()?;
            fs::rename(&tmp, &self.path)?;
            File::open(&dir)?.sync_all()
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            self.io(e)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("switchyard-store-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn empty_then_round_trip_then_corrupt() {
        let d = dir("rt");
        let store = FileStore::in_dir(&d);
        assert!(store.load().expect("load").is_none());
        let mut stored = Stored {
            version: 7,
            ..Stored::default()
        };
        stored
            .catalog
            .groups
            .push(crate::catalog::GroupSpec::new("g", None));
        store.save(&stored).expect("save");
        assert_eq!(store.load().expect("load"), Some(stored));
        let leftovers: Vec<_> = fs::read_dir(&d)
            .expect("dir")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
        fs::write(store.path(), b"{\"version\": 1, \"catal").expect("write");
        let err = store.load().expect_err("corrupt");
        assert!(err.to_string().contains("corrupt"), "{err}");
        let _ = fs::remove_dir_all(&d);
    }
}
