//! The connector's allow-list against a reference: generated entries (IPv4 and IPv6
//! networks, bracketed forms, names, `*.` suffixes, port ranges) are accepted and decide every
//! destination as a hand-written matcher does; any entry text parses without panic and every
//! bad entry is reported under its own index.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use proptest::sample::select;
use switchyard::net::allow::{AllowList, Decision};

const LABELS: &[&str] = &["a", "corp", "wiki", "x-1", "internal"];

#[derive(Debug, Clone)]
enum Target {
    /// Address bits and prefix length; `bare` renders an address without `/len`.
    V4(u32, u8, bool),
    V6(u128, u8, bool),
    Name(Vec<&'static str>, bool),
}

#[derive(Debug, Clone)]
struct Rule {
    target: Target,
    ports: Option<(u16, u16)>,
    /// How to write it: upper case names, a trailing dot, `[v6/len]` or `[v6]/len`.
    style: [bool; 3],
}

fn ports() -> impl Strategy<Value = Option<(u16, u16)>> {
    prop::option::of((1u16..100, 0u16..20).prop_map(|(a, w)| (a, a + w)))
}

fn v6_addr() -> impl Strategy<Value = u128> {
    prop_oneof![
        any::<u128>(),
        Just(1u128),
        (any::<u16>()).prop_map(|x| 0xfd00u128 << 112 | u128::from(x)),
        any::<u32>().prop_map(|v4| 0xffffu128 << 32 | u128::from(v4)),
    ]
}

fn rule() -> impl Strategy<Value = Rule> {
    let target = prop_oneof![
        (any::<u32>(), 0u8..=32, any::<bool>()).prop_map(|(a, l, b)| Target::V4(a, l, b)),
        (v6_addr(), 0u8..=128, any::<bool>()).prop_map(|(a, l, b)| Target::V6(a, l, b)),
        (prop::collection::vec(select(LABELS), 1..=3), any::<bool>())
            .prop_map(|(l, wild)| Target::Name(l, wild)),
    ];
    (target, ports(), any::<[bool; 3]>()).prop_map(|(target, ports, style)| Rule {
        target,
        ports,
        style,
    })
}

impl Rule {
    fn render(&self) -> String {
        let ports = match self.ports {
            None => String::new(),
            Some((a, b)) if a == b => format!(":{a}"),
            Some((a, b)) => format!(":{a}-{b}"),
        };
        let [upper, dot, outside] = self.style;
        match &self.target {
            Target::V4(a, _, true) => format!("{}{ports}", Ipv4Addr::from(*a)),
            Target::V4(a, l, false) => format!("{}/{l}{ports}", Ipv4Addr::from(*a)),
            Target::V6(a, _, true) if ports.is_empty() => Ipv6Addr::from(*a).to_string(),
            Target::V6(a, _, true) => format!("[{}]{ports}", Ipv6Addr::from(*a)),
            Target::V6(a, l, false) if ports.is_empty() && !outside => {
                format!("{}/{l}", Ipv6Addr::from(*a))
            }
            Target::V6(a, l, false) if outside => format!("[{}]/{l}{ports}", Ipv6Addr::from(*a)),
            Target::V6(a, l, false) => format!("[{}/{l}]{ports}", Ipv6Addr::from(*a)),
            Target::Name(labels, wild) => {
                let star = if *wild { "*." } else { "" };
                let dot = if dot { "." } else { "" };
                let name = format!("{star}{}{dot}", labels.join("."));
                let name = if upper { name.to_uppercase() } else { name };
                format!("{name}{ports}")
            }
        }
    }

    fn admits_port(&self, port: u16) -> bool {
        self.ports.is_none_or(|(a, b)| (a..=b).contains(&port))
    }

    /// Whether this rule's network holds `ip` (already canonical: mapped IPv6 as IPv4).
    fn holds(&self, ip: IpAddr) -> bool {
        match (&self.target, ip) {
            (Target::V4(a, l, bare), IpAddr::V4(ip)) => {
                let l = if *bare { 32 } else { u32::from(*l) };
                l == 0 || (u32::from(ip) ^ a) >> (32 - l) == 0
            }
            // A bare mapped address is the IPv4 address it carries.
            (Target::V6(a, _, true), IpAddr::V4(ip)) => {
                *a == 0xffffu128 << 32 | u128::from(u32::from(ip))
            }
            (Target::V6(a, l, bare), IpAddr::V6(ip)) => {
                let l = if *bare { 128 } else { u32::from(*l) };
                l == 0 || (u128::from(ip) ^ a) >> (128 - l) == 0
            }
            _ => false,
        }
    }

    fn names(&self, name: &str) -> bool {
        match &self.target {
            Target::Name(labels, false) => name == labels.join("."),
            Target::Name(labels, true) => {
                let suffix = format!(".{}", labels.join("."));
                name.len() > suffix.len() && name.ends_with(&suffix)
            }
            _ => false,
        }
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn reference_ip(rules: &[Rule], ip: IpAddr, port: u16) -> bool {
    let ip = canonical(ip);
    rules.iter().any(|r| r.holds(ip) && r.admits_port(port))
}

fn reference_check(rules: &[Rule], host: &str, port: u16) -> Decision {
    let inner = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = inner.parse::<IpAddr>() {
        return if reference_ip(rules, ip, port) {
            Decision::Allowed
        } else {
            Decision::Denied
        };
    }
    let name = inner.trim_end_matches('.').to_ascii_lowercase();
    let is_net = |r: &&Rule| !matches!(r.target, Target::Name(..));
    if rules.iter().any(|r| r.names(&name) && r.admits_port(port)) {
        Decision::Allowed
    } else if rules.iter().filter(is_net).any(|r| r.admits_port(port)) {
        Decision::Resolve
    } else {
        Decision::Denied
    }
}

/// Destinations near the rules: their addresses with low bits flipped, their names with
/// extra labels, other case and trailing dots, plus anything at all.
fn destination(rules: &[Rule]) -> BoxedStrategy<String> {
    let near: Vec<String> = rules
        .iter()
        .map(|r| match &r.target {
            Target::V4(a, ..) => Ipv4Addr::from(*a).to_string(),
            Target::V6(a, ..) => format!("[{}]", Ipv6Addr::from(*a)),
            Target::Name(labels, _) => labels.join("."),
        })
        .collect();
    let near = if near.is_empty() {
        vec!["a".to_string()]
    } else {
        near
    };
    let tweaked = (
        select(near),
        any::<u8>(),
        select(&["", "x.", "a.", "X."][..]),
        any::<bool>(),
    )
        .prop_map(|(base, flip, label, dot)| {
            if let Ok(ip) = base.trim_matches(['[', ']']).parse::<IpAddr>() {
                return match ip {
                    IpAddr::V4(v4) => Ipv4Addr::from(u32::from(v4) ^ u32::from(flip)).to_string(),
                    IpAddr::V6(v6) => {
                        format!("[{}]", Ipv6Addr::from(u128::from(v6) ^ u128::from(flip)))
                    }
                };
            }
            let dot = if dot { "." } else { "" };
            let name = format!("{label}{base}{dot}");
            if flip & 1 == 1 {
                name.to_uppercase()
            } else {
                name
            }
        });
    prop_oneof![
        6 => tweaked,
        1 => any::<[u8; 4]>().prop_map(|a| Ipv4Addr::from(a).to_string()),
        1 => any::<u32>().prop_map(|a| Ipv6Addr::from(0xffffu128 << 32 | u128::from(a)).to_string()),
        1 => "[a-zA-Z0-9.:\\[\\]*-]{0,16}",
    ]
    .boxed()
}

fn list_and_queries() -> impl Strategy<Value = (Vec<Rule>, Vec<(String, u16)>)> {
    prop::collection::vec(rule(), 1..6).prop_flat_map(|rules| {
        let queries = prop::collection::vec((destination(&rules), 0u16..130), 1..12);
        (Just(rules), queries)
    })
}

/// Entries that must be refused, one per error class.
fn bad_entry() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("*".to_string()),
        Just("  ".to_string()),
        (any::<[u8; 4]>(), 33u8..=255).prop_map(|(a, l)| format!("{}/{l}", Ipv4Addr::from(a))),
        (any::<[u8; 4]>(), 0u16..1).prop_map(|(a, p)| format!("{}:{p}", Ipv4Addr::from(a))),
        (70_000u32..100_000).prop_map(|p| format!("10.0.0.1:{p}")),
        (2u16..1000).prop_map(|p| format!("10.0.0.1:{p}-{}", p - 1)),
        Just("[10.0.0.1]:80".to_string()),
        Just("[::1".to_string()),
        Just("a.*.corp".to_string()),
        Just("10.0.0.300".to_string()),
        Just("-a.corp".to_string()),
        Just("a..corp".to_string()),
        "[a-z]{1,8}\\.[a-z]{1,8}[/!@]",
        Just("[fd00::/8]/8".to_string()),
        Just("[::1]x".to_string()),
    ]
}

proptest! {
    #![proptest_config(crate::props::runner(2000))]

    /// Generated lists parse, and every decision is the reference's.
    #[test]
    fn decisions_match_the_reference((rules, queries) in list_and_queries()) {
        let entries: Vec<String> = rules.iter().map(Rule::render).collect();
        let list = AllowList::parse(&entries)
            .map_err(|e| TestCaseError::fail(format!("refused {entries:?}: {e:?}")))?;
        for (host, port) in &queries {
            prop_assert_eq!(list.check(host, *port), reference_check(&rules, host, *port),
                "entries {:?} host {:?} port {}", &entries, host, port);
            if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
                prop_assert_eq!(list.ip_allowed(ip, *port), reference_ip(&rules, ip, *port));
            }
        }
    }

    /// Every bad entry among good ones is refused and reported under its own index, once.
    #[test]
    fn every_bad_entry_is_reported_with_its_index(
        rules in prop::collection::vec(rule(), 0..4),
        bad in prop::collection::vec((any::<prop::sample::Index>(), bad_entry()), 1..4),
    ) {
        let mut entries: Vec<String> = rules.iter().map(Rule::render).collect();
        for (at, entry) in &bad {
            let i = at.index(entries.len() + 1);
            entries.insert(i, entry.clone());
        }
        let good: std::collections::HashSet<String> = rules.iter().map(Rule::render).collect();
        let errors = match AllowList::parse(&entries) {
            Ok(_) => return Err(TestCaseError::fail(format!("accepted {entries:?}"))),
            Err(e) => e,
        };
        for (i, entry) in entries.iter().enumerate() {
            let tag = format!("allow[{i}]: ");
            let reported = errors.iter().filter(|e| e.starts_with(&tag)).count();
            let want = usize::from(!good.contains(entry));
            prop_assert_eq!(reported, want, "entry {} {:?} in {:?}", i, entry, &errors);
        }
    }

    /// Any entry text and any destination: no panic.
    #[test]
    fn any_entry_and_destination_never_panic(entries in prop::collection::vec(any::<String>(), 0..4), host in any::<String>(), port in any::<u16>()) {
        if let Ok(list) = AllowList::parse(&entries) {
            let _ = list.check(&host, port);
        }
    }
}
