//! Switchyard: a reverse-proxy gateway that publishes private web apps through connector
//! groups whose connectors dial out to the gateway.
//!
//! Modules are layered along a request's path and import only modules below them (checked
//! by `.ci/layers.py`): `net`, `metrics`, `tls` (plumbing) → `catalog` (desired state) →
//! `config` (file → typed config) → `routing` (compiled table) → `balance` (choice inside a
//! group) → `tunnel` (wire format, streams, registry) → `live` (published snapshot, catalog
//! writer) → `edge` (the user's session) and `connector` (the agent) → `admin` → `gateway`
//! (wiring only) → `quickstart`, `ctl`.
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
