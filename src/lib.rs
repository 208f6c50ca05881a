//! Switchyard: a reverse-proxy gateway that publishes private web apps through connector
//! groups whose connectors dial out to the gateway.
//!
//! The folder list follows a request: `config` → `catalog` → `routing` → `edge` →
//! `balance` → `tunnel` → connector agent → origin.
#![forbid(unsafe_code)]

pub mod admin;
pub mod balance;
pub mod catalog;
pub mod config;
pub mod connector;
pub mod ctl;
pub mod edge;
pub mod gateway;
pub mod live;
pub mod metrics;
pub mod net;
pub mod quickstart;
pub mod routing;
pub mod tls;
pub mod tunnel;

pub use connector::{run_connector, ConnectorHandle};
pub use gateway::{run_gateway, GatewayHandle};
