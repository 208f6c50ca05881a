//! The connector's allow-list: which internal destinations the gateway may ask it to reach.
//!
//! Entries (each may end with `:port` or `:first-last`; no port = every port):
//! `10.0.0.0/8`, `10.1.2.3`, `::1`, `fd00::/8`, `[::1]:8080`, `[fd00::/8]:443`,
//! `wiki.internal`, `*.corp.internal` (any name ending in `.corp.internal`, not the bare
//! suffix), `localhost`. A bare `*` or an empty entry is refused: `0.0.0.0/0` and `::/0`
//! are the explicit ways to allow everything.

use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::str::FromStr;

use ipnet::IpNet;

/// What the allow-list says about a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// An IP literal inside an allowed network, or a name matching a name rule.
    Allowed,
    /// Nothing admits this destination: the origin must not be contacted.
    Denied,
    /// A name that no name rule matches, but some network rule admits the port: only its
    /// resolved addresses that [`AllowList::ip_allowed`] admits may be connected to.
    Resolve,
}

/// A parsed allow-list.
#[derive(Debug, Clone)]
pub struct AllowList {
    nets: Vec<Rule<IpNet>>,
    names: Vec<Rule<NamePattern>>,
}

#[derive(Debug, Clone)]
struct Rule<T> {
    target: T,
    /// `None` admits every port.
    ports: Option<RangeInclusive<u16>>,
}

impl<T> Rule<T> {
    fn admits_port(&self, port: u16) -> bool {
        self.ports.as_ref().is_none_or(|r| r.contains(&port))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum NamePattern {
    /// Lower-case name, matched exactly.
    Exact(String),
    /// Lower-case suffix including its leading dot (`.corp.internal`).
    Suffix(String),
}

impl NamePattern {
    fn matches(&self, name: &str) -> bool {
        match self {
            NamePattern::Exact(n) => n == name,
            NamePattern::Suffix(s) => name.len() > s.len() && name.ends_with(s.as_str()),
        }
    }
}

enum Target {
    Net(IpNet),
    Name(NamePattern),
}

impl AllowList {
    /// Parses every entry; errors name the entry as `allow[i]: …`, and every bad entry is
    /// reported, not only the first.
    pub fn parse(entries: &[String]) -> Result<AllowList, Vec<String>> {
        let mut list = AllowList {
            nets: Vec::new(),
            names: Vec::new(),
        };
        let mut errors = Vec::new();
        if entries.is_empty() {
            errors.push("allow: the allow-list is empty; list the destinations this connector may reach (0.0.0.0/0 allows every IPv4 address)".to_owned());
        }
        for (i, entry) in entries.iter().enumerate() {
            match parse_entry(entry) {
                Ok((Target::Net(target), ports)) => list.nets.push(Rule { target, ports }),
                Ok((Target::Name(target), ports)) => list.names.push(Rule { target, ports }),
                Err(reason) => errors.push(format!("allow[{i}]: {entry:?} {reason}")),
            }
        }
        if errors.is_empty() {
            Ok(list)
        } else {
            Err(errors)
        }
    }

    /// Decides about `host` (a name, an IP literal, or a bracketed IPv6 literal as found in
    /// a URI authority) and `port`.
    pub fn check(&self, host: &str, port: u16) -> Decision {
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if let Ok(ip) = IpAddr::from_str(host) {
            return if self.ip_allowed(ip, port) {
                Decision::Allowed
            } else {
                Decision::Denied
            };
        }
        let name = host.trim_end_matches('.').to_ascii_lowercase();
        if self.name_allowed(&name, port) {
            Decision::Allowed
        } else if self.nets.iter().any(|r| r.admits_port(port)) {
            Decision::Resolve
        } else {
            Decision::Denied
        }
    }

    /// Whether a network rule admits this address and port (IPv4-mapped IPv6 addresses are
    /// judged as the IPv4 address they carry).
    pub fn ip_allowed(&self, ip: IpAddr, port: u16) -> bool {
        let ip = ip.to_canonical();
        self.nets
            .iter()
            .any(|r| r.target.contains(&ip) && r.admits_port(port))
    }

    /// Whether a name rule admits this lower-case name without a trailing dot.
    fn name_allowed(&self, name: &str, port: u16) -> bool {
        self.names
            .iter()
            .any(|r| r.target.matches(name) && r.admits_port(port))
    }
}

type Entry = (Target, Option<RangeInclusive<u16>>);

fn parse_entry(entry: &str) -> Result<Entry, String> {
    let entry = entry.trim();
    if entry.is_empty() {
        return Err("is empty".to_owned());
    }
    let (host, ports) = split_ports(entry)?;
    let ports = ports.map(parse_ports).transpose()?;
    Ok((parse_target(&host)?, ports))
}

/// Splits `host[:ports]`, where a host with colons (IPv6) must be bracketed to carry ports.
/// Both `[fd00::/8]:443` and `[fd00::]/8:443` are accepted.
fn split_ports(entry: &str) -> Result<(String, Option<&str>), String> {
    let Some(rest) = entry.strip_prefix('[') else {
        return Ok(match entry.matches(':').count() {
            1 => match entry.split_once(':') {
                Some((host, ports)) => (host.to_owned(), Some(ports)),
                None => (entry.to_owned(), None),
            },
            // No colon, or a bare IPv6 address/network that cannot carry a port.
            _ => (entry.to_owned(), None),
        });
    };
    let Some((inside, after)) = rest.split_once(']') else {
        return Err("has '[' without a closing ']'".to_owned());
    };
    if !inside.contains(':') {
        return Err("uses brackets, which are only for IPv6 addresses".to_owned());
    }
    let (len, ports) = match after.strip_prefix('/') {
        Some(tail) => match tail.split_once(':') {
            Some((len, ports)) => (Some(len), Some(ports)),
            None => (Some(tail), None),
        },
        None if after.is_empty() => (None, None),
        None => match after.strip_prefix(':') {
            Some(ports) => (None, Some(ports)),
            None => return Err("has text after ']' that is not \":port\"".to_owned()),
        },
    };
    match len {
        Some(_) if inside.contains('/') => Err("has two prefix lengths".to_owned()),
        Some(len) => Ok((format!("{inside}/{len}"), ports)),
        None => Ok((inside.to_owned(), ports)),
    }
}

fn parse_ports(text: &str) -> Result<RangeInclusive<u16>, String> {
    let port = |p: &str| match p.trim().parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("has an invalid port {p:?} (1-65535)")),
        Ok(n) => Ok(n),
    };
    match text.split_once('-') {
        None => {
            let p = port(text)?;
            Ok(p..=p)
        }
        Some((first, last)) => {
            let (first, last) = (port(first)?, port(last)?);
            if first > last {
                return Err(format!("has an empty port range {first}-{last}"));
            }
            Ok(first..=last)
        }
    }
}

fn parse_target(host: &str) -> Result<Target, String> {
    if host.contains('/') {
        return IpNet::from_str(host)
            .map(|net| Target::Net(net.trunc()))
            .map_err(|_| "is not a valid CIDR".to_owned());
    }
    if let Ok(ip) = IpAddr::from_str(host) {
        return Ok(Target::Net(IpNet::from(ip.to_canonical())));
    }
    if host.contains(':') {
        return Err("is not a valid IPv6 address".to_owned());
    }
    let lower = host.trim_end_matches('.').to_ascii_lowercase();
    if lower == "*" {
        return Err(
            "allows everything: list networks instead (0.0.0.0/0 allows every IPv4 address)"
                .to_owned(),
        );
    }
    if let Some(suffix) = lower.strip_prefix("*.") {
        check_name(suffix)?;
        return Ok(Target::Name(NamePattern::Suffix(format!(".{suffix}"))));
    }
    if lower.contains('*') {
        return Err("has a '*' that is not a leading \"*.\" label".to_owned());
    }
    check_name(&lower)?;
    Ok(Target::Name(NamePattern::Exact(lower)))
}

fn check_name(name: &str) -> Result<(), String> {
    let bad = || Err("is not a valid host name, IP address or CIDR".to_owned());
    if name.is_empty() || name.len() > 253 {
        return bad();
    }
    let labels: Vec<&str> = name.split('.').collect();
    for label in &labels {
        let valid_chars = label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if label.is_empty()
            || label.len() > 63
            || !valid_chars
            || label.starts_with('-')
            || label.ends_with('-')
        {
            return bad();
        }
    }
    // `10.0.0.300` is a mistyped address, not a name.
    if labels
        .last()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        return bad();
    }
    Ok(())
}

#[cfg(test)]
mod tests;
