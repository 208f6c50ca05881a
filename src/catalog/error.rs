//! One problem found in a catalog: what the routing compiler reports and what a catalog
//! writer refuses a change with.

/// One problem found in a catalog, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct CatalogError {
    /// Where the problem is: `apps[3].groups[0]`, `connectors[1].secret_hash`, …
    pub path: String,
    /// What is wrong: `unknown group "dc-est"`.
    pub message: String,
}

impl CatalogError {
    /// A problem at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> CatalogError {
        CatalogError {
            path: path.into(),
            message: message.into(),
        }
    }
}
