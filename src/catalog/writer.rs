//! The catalog writer seam: the desired state with its version, and whole-catalog changes
//! that are validated, persisted and published all or nothing, honouring `If-Match`. The
//! file store is one implementation; a shared store (etcd: list + watch, transactional
//! compare-on-revision writes, see [`super::etcd`]) is another.

use std::sync::Arc;

use super::quota::Exceeded;
use super::store::{StoreError, Stored};
use super::{Catalog, CatalogError};

/// Why a change was not applied (nothing was changed).
#[derive(Debug, thiserror::Error)]
pub enum UpdateError<E> {
    #[error("the catalog is managed in the configuration file (no store configured)")]
    ReadOnly,
    #[error("the catalog changed meanwhile (now at version {current})")]
    Conflict { current: u64 },
    #[error("the change makes the catalog invalid")]
    Invalid(Vec<CatalogError>),
    #[error("{0}")]
    Quota(Exceeded),
    #[error("{0}")]
    Rejected(E),
    #[error("{0}")]
    Store(StoreError),
    /// The shared store cannot be reached: nothing was written; try again later.
    #[error("the catalog store is unavailable: {0}")]
    Unavailable(String),
}

/// An edit of a copy of the catalog; `false` refuses the change (the caller keeps why).
pub type Edit<'a> = &'a mut dyn FnMut(&mut Catalog) -> bool;

/// Where the desired state lives and how it changes.
pub trait CatalogWriter: Send + Sync {
    /// The desired state in service and its version.
    fn desired(&self) -> Arc<Stored>;

    /// Where the catalog is stored, for operators (`None`: the configuration file).
    fn location(&self) -> Option<String>;

    /// The store's state for `/status`: its location, or for a shared store an object
    /// saying whether it is reachable and which revision this gateway applied.
    fn store_state(&self) -> serde_json::Value {
        serde_json::json!(self.location())
    }

    /// With a store shared by several gateways: qualified connector id → the gateways it
    /// holds tunnels to, as they publish it (`None`: one gateway, nothing to join).
    fn connector_gateways(&self) -> Option<std::collections::BTreeMap<String, Vec<String>>> {
        None
    }

    /// Applies `edit` to a copy of the current catalog: when `expected` is given it must be
    /// the current version. The result is held to the tenants' quotas (growth past a quota
    /// is refused, see [`super::quota`]), validated whole, persisted, and published before
    /// this returns the new version; writers never lose each other's changes. `edit` runs at
    /// most once per attempt; a refusal is `Rejected(())`.
    fn write(&self, expected: Option<u64>, edit: Edit<'_>) -> Result<u64, UpdateError<()>>;
}

/// Typed changes over any [`CatalogWriter`].
pub trait UpdateCatalog {
    /// Like [`CatalogWriter::write`], with a change that returns a value or a typed refusal.
    fn update_catalog<T, E>(
        &self,
        expected: Option<u64>,
        change: impl FnOnce(&mut Catalog) -> Result<T, E>,
    ) -> Result<(u64, T), UpdateError<E>>;
}

impl<W: CatalogWriter + ?Sized> UpdateCatalog for W {
    fn update_catalog<T, E>(
        &self,
        expected: Option<u64>,
        change: impl FnOnce(&mut Catalog) -> Result<T, E>,
    ) -> Result<(u64, T), UpdateError<E>> {
        let mut change = Some(change);
        let mut outcome: Option<Result<T, E>> = None;
        let written = self.write(expected, &mut |catalog| match change.take() {
            Some(f) => {
                let r = f(catalog);
                let ok = r.is_ok();
                outcome = Some(r);
                ok
            }
            // A second attempt cannot replay a one-shot change: refuse it.
            None => false,
        });
        match (written, outcome) {
            (Ok(version), Some(Ok(value))) => Ok((version, value)),
            (Err(UpdateError::Rejected(())), Some(Err(e))) => Err(UpdateError::Rejected(e)),
            (Err(UpdateError::ReadOnly), _) => Err(UpdateError::ReadOnly),
            (Err(UpdateError::Conflict { current }), _) => Err(UpdateError::Conflict { current }),
            (Err(UpdateError::Invalid(e)), _) => Err(UpdateError::Invalid(e)),
            (Err(UpdateError::Quota(e)), _) => Err(UpdateError::Quota(e)),
            (Err(UpdateError::Store(e)), _) => Err(UpdateError::Store(e)),
            (Err(UpdateError::Unavailable(e)), _) => Err(UpdateError::Unavailable(e)),
            (Ok(_), _) | (Err(UpdateError::Rejected(())), _) => Err(UpdateError::Store(
                StoreError::Inconsistent("the catalog writer skipped the change".into()),
            )),
        }
    }
}
