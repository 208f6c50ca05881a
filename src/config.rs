//! Configuration files: TOML → file structs (`deny_unknown_fields`) → one `stage()` per file
//! kind that checks everything once, reports every error with its path, and returns the typed
//! config (addresses parsed, certificates loaded, allow-list parsed).

pub mod connector;
pub mod gateway;
pub mod staged;
