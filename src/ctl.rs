//! `switchyard ctl`: the admin CLI, a client of the gateway's admin API (`/api/v1`).
//!
//! The command line (`CtlArgs`) → one HTTP call through [`client::Client`] → the reply as a
//! table ([`view`], [`table`]) or, with `--json`, the raw body. Every failure ends in one
//! exit code a script can trust ([`client::CtlError::exit_code`]).

pub mod client;
mod commands;
pub mod table;
mod view;

use std::path::PathBuf;

use clap::{Args, Subcommand};

pub use client::{exit_for_status, CtlError};

/// Where `--url` points when neither it nor `SWITCHYARD_URL` is set.
pub const DEFAULT_URL: &str = "http://127.0.0.1:9901";

/// Exit codes (also in `--help` and the README).
pub mod exit {
    /// The command succeeded.
    pub const OK: i32 = 0;
    /// The server could not be reached (connection, TLS, time-out) or a local file failed.
    pub const UNREACHABLE: i32 = 1;
    /// Usage error, or the server rejected the request as invalid or conflicting
    /// (400, 409, 412, 413, 415).
    pub const REJECTED: i32 = 2;
    /// Missing, wrong or insufficient token (401, 403).
    pub const UNAUTHORIZED: i32 = 3;
    /// The object does not exist (404).
    pub const NOT_FOUND: i32 = 4;
    /// The server failed (5xx).
    pub const SERVER: i32 = 5;
}

/// The `ctl --help` text: where to connect, output, exit codes.
pub const LONG_ABOUT: &str = "\
Manage a running gateway through its admin API: tenants, groups, connectors, apps, enrollment
tokens.

Names are unique per scope: the operator's, or one tenant's. With an admin or read-only token,
name a tenant's object by its qualified name (`t1/dc-east`) and the operator's by its plain name
(`dc-east`); with a tenant token, name your own objects by their plain names. Names inside an
object (an app's groups, a connector's group, --move-to) are relative to its scope: a plain name
is a group of the same scope, `/name` (from a tenant's app) an operator group marked shared.

The server is --url (else $SWITCHYARD_URL, else http://127.0.0.1:9901); the bearer token is
--token (else $SWITCHYARD_TOKEN). Output is a table; --json prints the response body as the
server sent it. Errors go to stderr as `error: <message>`, followed by one `  <field>: <message>`
line per invalid field.

Exit codes:
  0  success
  1  the server cannot be reached (connection refused, TLS, time-out) or a local file failed
  2  usage error, or the request was rejected as invalid or conflicting (400, 409, 412, 413, 415)
  3  unauthorized or forbidden: missing, wrong or insufficient token (401, 403)
  4  not found (404)
  5  server error (5xx)";

/// `switchyard ctl [OPTIONS] <COMMAND>`.
#[derive(Debug, Args)]
pub struct CtlArgs {
    // Not global, unlike the others: after `apps create`, `--url` is the app's internal URL.
    /// Admin API address, given before the command [env: SWITCHYARD_URL]
    /// [default: http://127.0.0.1:9901].
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Bearer token [env: SWITCHYARD_TOKEN].
    #[arg(long, global = true, value_name = "TOKEN")]
    pub token: Option<String>,
    /// Print the response body as JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// CA (PEM) that signed the admin API's certificate, for https URLs (default: public roots).
    #[arg(long, global = true, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Writes only: apply the change only if the catalog is still at this version (the
    /// `ETag` of a read; `show` prints it). Otherwise the server refuses with 412 (exit 2).
    #[arg(long, global = true, value_name = "VERSION")]
    pub if_match: Option<String>,
    #[command(subcommand)]
    pub command: CtlCommand,
}

/// What to manage.
#[derive(Debug, Subcommand)]
pub enum CtlCommand {
    /// Gateway version, app count, live connectors per group, last reload, store.
    Status,
    /// Tenants: their domains, quotas and usage.
    #[command(subcommand)]
    Tenants(TenantsCmd),
    /// Connector groups.
    #[command(subcommand)]
    Groups(GroupsCmd),
    /// Connectors (the agents inside private networks).
    #[command(subcommand)]
    Connectors(ConnectorsCmd),
    /// Published apps.
    #[command(subcommand)]
    Apps(AppsCmd),
    /// One-time enrollment tokens for new connectors.
    #[command(subcommand)]
    Enroll(EnrollCmd),
}

/// `ctl tenants …`.
#[derive(Debug, Subcommand)]
pub enum TenantsCmd {
    /// Every tenant with its domains and usage against its quotas.
    List,
    /// One tenant: domains, quotas in force, overrides, usage.
    Show { name: String },
    /// A new tenant (admin only).
    Create {
        name: String,
        /// A domain the tenant may publish under (covers every name below it); repeatable.
        #[arg(long = "domain", value_name = "DOMAIN")]
        domains: Vec<String>,
        /// A quota override, KIND=N with KIND one of apps, groups, connectors,
        /// enrollment_tokens; repeatable. Kinds not named take the gateway's default.
        #[arg(long = "quota", value_name = "KIND=N", value_parser = quota_arg)]
        quotas: Vec<(String, u32)>,
    },
    /// Changes a tenant (admin only): --domain replaces all its domains, --quota replaces all
    /// its overrides (kinds not named return to the default); what is not given stays.
    Set {
        name: String,
        /// A domain of the new list; repeatable.
        #[arg(long = "domain", value_name = "DOMAIN", conflicts_with = "no_domains")]
        domains: Vec<String>,
        /// Removes every domain of the tenant.
        #[arg(long)]
        no_domains: bool,
        /// A quota override of the new set, KIND=N; repeatable.
        #[arg(long = "quota", value_name = "KIND=N", value_parser = quota_arg,
              conflicts_with = "default_quotas")]
        quotas: Vec<(String, u32)>,
        /// Removes every override: the tenant takes the gateway's default quotas.
        #[arg(long)]
        default_quotas: bool,
    },
    /// Deletes a tenant that owns nothing (admin only).
    Delete { name: String },
}

/// The kinds a tenant quota counts.
pub const QUOTA_KINDS: [&str; 4] = ["apps", "groups", "connectors", "enrollment_tokens"];

/// `KIND=N` of `--quota`.
fn quota_arg(raw: &str) -> Result<(String, u32), String> {
    let (kind, n) = raw
        .split_once('=')
        .ok_or_else(|| format!("{raw:?}: expected KIND=N (for example apps=10)"))?;
    let kind = kind.trim().replace('-', "_");
    if !QUOTA_KINDS.contains(&kind.as_str()) {
        return Err(format!(
            "{kind:?} is not a quota kind ({})",
            QUOTA_KINDS.join(", ")
        ));
    }
    let n = n
        .trim()
        .parse()
        .map_err(|_| format!("{n:?} is not a count (0 or more)"))?;
    Ok((kind, n))
}

/// `ctl groups …`.
#[derive(Debug, Subcommand)]
pub enum GroupsCmd {
    /// Every group with its connectors and apps.
    List,
    /// One group (qualified name: `t1/dc-east`, or `dc-east` for the operator's).
    Show { name: String },
    /// A new, empty group.
    Create {
        name: String,
        /// How the group spreads requests over its live connectors.
        #[arg(long, value_parser = ["p2c", "round_robin"])]
        balance: Option<String>,
        /// The tenant the group belongs to (admin only).
        #[arg(long)]
        tenant: Option<String>,
        /// Let tenants' apps use this operator group (as `/NAME`; admin only).
        #[arg(long, conflicts_with = "tenant")]
        shared: bool,
    },
    /// Renames a group; apps and connectors follow. NEW is a plain name: the group stays
    /// in its scope.
    Rename { old: String, new: String },
    /// Deletes a group (refused while apps or connectors use it, unless --move-to).
    Delete {
        name: String,
        /// Move the group's connectors and app references to this group first (a group of
        /// the same scope, by its plain name).
        #[arg(long, value_name = "GROUP")]
        move_to: Option<String>,
    },
}

/// `ctl connectors …`.
#[derive(Debug, Subcommand)]
pub enum ConnectorsCmd {
    /// Every connector with its live state.
    List,
    /// One connector.
    Show { id: String },
    /// Registers a connector and prints its secret (shown only this once). GROUP is of the
    /// connector's scope; an admin may write `t1/GROUP` instead of --tenant t1.
    Create {
        id: String,
        group: String,
        /// The tenant the connector belongs to.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Moves a connector to another group of its own scope (GROUP is a plain name).
    Move { id: String, group: String },
    /// Revokes a connector: its tunnels are closed and its secret refused from now on.
    Revoke { id: String },
    /// Deletes a connector.
    Delete { id: String },
}

/// `ctl apps …`.
#[derive(Debug, Subcommand)]
pub enum AppsCmd {
    /// Every app.
    List,
    /// One app.
    Show { name: String },
    /// Publishes an app.
    Create {
        name: String,
        /// External host: `wiki.example.com` or `*.apps.example.com`.
        #[arg(long)]
        host: String,
        /// Internal URL the connector forwards to (`http://` or `https://`).
        #[arg(long)]
        url: String,
        /// Ordered group chain (comma separated): the first group with a live connector serves.
        /// Plain names are groups of the app's scope; `/NAME` is an operator's shared group.
        #[arg(long, value_delimiter = ',', required = true, num_args = 1..)]
        groups: Vec<String>,
        /// Only requests under this path (segment boundaries).
        #[arg(long, value_name = "P")]
        path_prefix: Option<String>,
        /// Send the external Host header to the origin.
        #[arg(long)]
        preserve_host: bool,
        /// Seconds to wait for the origin's response headers (fractions allowed: 2.5).
        #[arg(long, value_name = "SECS")]
        timeout: Option<f64>,
        /// The tenant the app belongs to.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Replaces an app's group chain (G1,G2 or G1 G2, in order).
    Assign {
        name: String,
        #[arg(value_delimiter = ',', required = true, num_args = 1.., value_name = "GROUP")]
        groups: Vec<String>,
    },
    /// Unpublishes an app.
    Delete { name: String },
}

/// `ctl enroll …`.
#[derive(Debug, Subcommand)]
pub enum EnrollCmd {
    /// Creates a one-time token with which a new connector registers itself.
    Create {
        /// The tenant the enrolled connector will belong to.
        #[arg(long)]
        tenant: Option<String>,
        /// Lifetime of the token in seconds.
        #[arg(long, value_name = "SECS")]
        ttl: Option<u64>,
    },
    /// Unused, unexpired tokens (never the token itself).
    List,
    /// Deletes a token.
    Delete { id: String },
}

/// Runs one `ctl` command; returns the process exit code (see [`exit`]).
pub fn run(args: CtlArgs) -> i32 {
    match commands::execute(args) {
        Ok(()) => exit::OK,
        Err(e) => {
            for line in e.report() {
                eprintln!("{line}");
            }
            e.exit_code()
        }
    }
}
