//! The connector's staged configuration: its file checked once, the allow-list parsed, each
//! gateway address split with the TLS name to verify, and the gateways' CA loaded.

use rustls::ClientConfig;
use rustls_pki_types::ServerName;

use super::{server_name, split_host_port, ConnectorConfig, MAX_TUNNELS_PER_GATEWAY};
use crate::net::allow::AllowList;

/// A connector configuration that passed every check, ready to start.
#[derive(Debug, Clone)]
pub struct StagedConnector {
    /// The file as read (id, credentials, timings, thread count).
    pub file: ConnectorConfig,
    /// The parsed allow-list.
    pub allow: AllowList,
    /// Every gateway to dial, in file order.
    pub gateways: Vec<GatewayTarget>,
    /// TLS settings for the tunnels, trusting `ca_file` (or the webpki roots).
    pub gateway_tls: ClientConfig,
}

/// One gateway tunnel listener.
#[derive(Debug, Clone)]
pub struct GatewayTarget {
    /// `host:port` as written in the file (what is dialed).
    pub addr: String,
    /// The name its certificate must carry (`server_name`, or the host part).
    pub server_name: ServerName<'static>,
}

impl ConnectorConfig {
    /// Checks everything once and loads what the connector needs before it dials: the
    /// allow-list, the gateway addresses and names, the gateways' CA. Every problem is
    /// returned, each with its field path.
    pub fn stage(self) -> Result<StagedConnector, Vec<String>> {
        let mut errors = Vec::new();
        let (allow, gateways) = self.check(&mut errors);
        let gateway_tls = crate::tls::client_config(self.ca_file.as_deref())
            .map_err(|e| errors.push(format!("ca_file: {e}")))
            .ok();
        match (allow, gateway_tls, errors.is_empty()) {
            (Some(allow), Some(gateway_tls), true) => Ok(StagedConnector {
                file: self,
                allow,
                gateways,
                gateway_tls,
            }),
            _ => Err(errors),
        }
    }

    /// Every problem that reading no file finds, each with its field path, e.g.
    /// `allow[2]: "10.0.0.0/33" is not a valid CIDR`. [`ConnectorConfig::stage`] runs the
    /// same checks, so a caller that stages never needs this.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut errors = Vec::new();
        self.check(&mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The checks of `validate`; the parsed allow-list and gateways come back.
    fn check(&self, errors: &mut Vec<String>) -> (Option<AllowList>, Vec<GatewayTarget>) {
        if self.id.trim().is_empty() {
            errors.push("id: must not be empty".to_owned());
        } else if self.id.chars().any(|c| c.is_control() || c.is_whitespace()) {
            errors.push(format!(
                "id: {:?} must not contain spaces or control characters",
                self.id
            ));
        }
        errors.extend(self.credential_errors());
        let gateways = self.gateway_targets(errors);
        let allow = AllowList::parse(&self.allow)
            .map_err(|allow_errors| errors.extend(allow_errors))
            .ok();
        self.check_numbers(errors);
        (allow, gateways)
    }

    /// Each gateway with the TLS name to verify; problems reported.
    fn gateway_targets(&self, errors: &mut Vec<String>) -> Vec<GatewayTarget> {
        if self.gateways.is_empty() {
            errors
                .push("gateways: list at least one gateway tunnel address (host:port)".to_owned());
        }
        // `Some(None)`: a bad `server_name`, reported once after the gateways.
        let fixed = self.server_name.as_deref().map(server_name);
        let mut targets = Vec::new();
        for (i, gw) in self.gateways.iter().enumerate() {
            let Some((host, _)) = split_host_port(gw) else {
                errors.push(format!("gateways[{i}]: {gw:?} is not host:port"));
                continue;
            };
            let name = match &fixed {
                Some(name) => name.clone(),
                None => server_name(host).or_else(|| {
                    errors.push(format!(
                        "gateways[{i}]: {host:?} is not a valid TLS server name"
                    ));
                    None
                }),
            };
            if let Some(server_name) = name {
                targets.push(GatewayTarget {
                    addr: gw.clone(),
                    server_name,
                });
            }
        }
        if let (Some(None), Some(name)) = (&fixed, &self.server_name) {
            errors.push(format!(
                "server_name: {name:?} is not a valid TLS server name"
            ));
        }
        targets
    }

    fn check_numbers(&self, errors: &mut Vec<String>) {
        if !(1..=MAX_TUNNELS_PER_GATEWAY).contains(&self.tunnels_per_gateway) {
            errors.push(format!(
                "tunnels_per_gateway: {} is not between 1 and {MAX_TUNNELS_PER_GATEWAY}",
                self.tunnels_per_gateway
            ));
        }
        if self.reconnect_initial_ms == 0 {
            errors.push("reconnect_initial_ms: must be at least 1".to_owned());
        }
        if self.reconnect_max_ms < self.reconnect_initial_ms {
            errors.push(format!(
                "reconnect_max_ms: {} is less than reconnect_initial_ms ({})",
                self.reconnect_max_ms, self.reconnect_initial_ms
            ));
        }
        if self.origin_connect_timeout_ms == 0 {
            errors.push("origin_connect_timeout_ms: must be at least 1".to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "id = \"east-1\"\nsecret = \"s\"\nallow = [\"10.0.0.0/8\"]\n";

    fn parse(extra: &str) -> ConnectorConfig {
        ConnectorConfig::parse_toml(&format!("{BASE}{extra}"), "t.toml").expect("parses")
    }

    #[test]
    fn staging_parses_the_allow_list_and_names_each_gateway() {
        let staged = parse("gateways = [\"gw.example.com:7443\", \"[::1]:7443\"]\n")
            .stage()
            .expect("valid");
        let names: Vec<String> = staged
            .gateways
            .iter()
            .map(|g| format!("{} {}", g.addr, g.server_name.to_str()))
            .collect();
        assert_eq!(
            names,
            ["gw.example.com:7443 gw.example.com", "[::1]:7443 ::1"]
        );
        assert!(staged.allow.ip_allowed("10.1.2.3".parse().expect("ip"), 80));
        assert!(!staged
            .allow
            .ip_allowed("192.168.0.1".parse().expect("ip"), 80));

        let fixed = parse("gateways = [\"10.0.0.1:7443\"]\nserver_name = \"gw.internal\"\n")
            .stage()
            .expect("valid");
        assert_eq!(fixed.gateways[0].server_name.to_str(), "gw.internal");
    }

    #[test]
    fn a_bad_ca_file_is_reported_with_every_other_problem() {
        let errors = parse(
            "gateways = [\"gw:7443\", \"nope\"]\nca_file = \"/nonexistent/ca.pem\"\n\
             tunnels_per_gateway = 0\n",
        )
        .stage()
        .expect_err("invalid");
        let want = ["gateways[1]: ", "tunnels_per_gateway: 0", "ca_file: "];
        assert_eq!(errors.len(), want.len(), "{errors:#?}");
        for (got, w) in errors.iter().zip(want) {
            assert!(got.starts_with(w), "{got:?} is not {w:?}");
        }
    }
}
