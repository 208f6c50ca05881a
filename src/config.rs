//! Configuration files: TOML → validated config structs (`deny_unknown_fields`, every error
//! reported with its path).

pub mod connector;
pub mod gateway;
