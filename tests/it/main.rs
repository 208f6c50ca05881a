//! Integration tests: real gateways, connectors and origins on 127.0.0.1, certificates made
//! with rcgen at test time, real clients.

mod support;

mod admin;
mod balance;
mod conf;
mod connector;
mod console;
mod ctl;
mod early;
mod enroll;
mod errors;
mod etcd;
mod failover;
mod framing;
mod ha;
mod handshakes;
mod headers;
mod metrics;
mod ops;
mod origin_tls;
mod process;
mod props;
mod protocols;
mod quickstart;
mod reload;
mod resilience;
mod routing;
mod slow;
mod tenancy;
mod tls;
