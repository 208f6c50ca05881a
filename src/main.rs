//! The `switchyard` binary: parse the command line, call the library, map errors to exit
//! codes (0 ok, 1 runtime failure, 2 invalid configuration or usage).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "switchyard",
    version,
    about = "Publish private web apps through connector groups that dial out to a gateway",
    long_about = None
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway: HTTPS edge, tunnel listener, metrics.
    Gateway {
        /// Configuration file (TOML); see conf/gateway.toml.
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
        /// Check the configuration as start-up does (addresses, every certificate, catalog) and
        /// exit: 0 valid, 2 invalid, every problem listed.
        #[arg(long)]
        test: bool,
        /// Take the listening sockets over from a running gateway (send it SIGQUIT).
        #[arg(short, long)]
        upgrade: bool,
    },
    /// Run a connector: dial out to the gateway and serve its requests.
    Connector {
        /// Configuration file (TOML); see conf/connector.toml.
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Everything in one process with generated certificates: a gateway, two demo origins and
    /// three connectors in two groups. Runs until Ctrl-C.
    Quickstart {
        /// HTTPS address of the gateway.
        #[arg(long, default_value = "127.0.0.1:8443")]
        https: String,
        /// Metrics address.
        #[arg(long, default_value = "127.0.0.1:9100")]
        metrics: String,
        /// Admin API address (for `switchyard ctl`).
        #[arg(long, default_value = "127.0.0.1:9901")]
        admin: String,
        /// Where to write the generated CA certificate (and the catalog store).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Generate a connector secret and print it with the hash to put in the gateway config.
    Secret,
    /// Manage a running gateway through its admin API (groups, connectors, apps, enrollment).
    #[command(long_about = switchyard::ctl::LONG_ABOUT)]
    Ctl(switchyard::ctl::CtlArgs),
}

fn init_logging() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    let directives = std::env::var("RUST_LOG").ok();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Failed edge handshakes are counted and logged at debug by Switchyard; pingora's own
    // ERROR line per failed handshake is dropped unless RUST_LOG names its target.
    let quiet = switchyard::tls::QuietHandshakeErrors::from_directives(directives.as_deref());
    tracing_subscriber::registry()
        .with(quiet)
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_target(true)
                // Colour codes only on a terminal: a log file or a collector gets plain text.
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .with_writer(std::io::stderr),
        )
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Gateway {
            config,
            test,
            upgrade,
        } => gateway(config, test, upgrade),
        Command::Connector { config } => connector(config),
        Command::Quickstart {
            https,
            metrics,
            admin,
            dir,
        } => {
            let opts = switchyard::quickstart::QuickstartOptions {
                https,
                metrics,
                admin,
                dir,
                ..Default::default()
            };
            switchyard::quickstart::run_blocking(opts).map_err(anyhow::Error::msg)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Secret => {
            let secret = switchyard::catalog::secret::generate();
            println!("secret      = \"{secret}\"   # connector.toml");
            println!(
                "secret_hash = \"{}\"   # gateway.toml [[connectors]]",
                switchyard::catalog::secret::hash(&secret)
            );
            Ok(ExitCode::SUCCESS)
        }
        // The admin client prints its own errors and owns its exit codes (`ctl --help`).
        Command::Ctl(args) => Ok(ExitCode::from(
            u8::try_from(switchyard::ctl::run(args)).unwrap_or(1),
        )),
    }
}

fn gateway(config: PathBuf, test: bool, upgrade: bool) -> anyhow::Result<ExitCode> {
    use switchyard::config::gateway::GatewayConfig;
    if test {
        return Ok(test_config(&config));
    }
    // Parsed only: start-up checks the whole file once while staging it.
    let cfg = match GatewayConfig::parse_file(&config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(2));
        }
    };
    let opts = switchyard::gateway::GatewayOptions {
        config_path: Some(config.clone()),
        upgrade,
        unix_signals: true,
        owns_process_log: true,
    };
    let handle = match switchyard::run_gateway(cfg, opts) {
        Ok(h) => h,
        Err(switchyard::gateway::GatewayError::Invalid(errors)) => {
            eprintln!("{}: invalid configuration:", config.display());
            for e in errors {
                eprintln!("  {e}");
            }
            return Ok(ExitCode::from(2));
        }
        Err(e) => return Err(e).context("gateway failed to start"),
    };
    // SIGHUP (reload), SIGTERM, SIGINT and SIGQUIT are handled by the gateway.
    handle.wait();
    Ok(ExitCode::SUCCESS)
}

/// `gateway --test`: the same staging as start-up (every address parsed, every certificate
/// loaded) plus the routing compile of the file's catalog; every problem listed, exit 2.
fn test_config(config: &std::path::Path) -> ExitCode {
    use switchyard::config::gateway::GatewayConfig;
    let cfg = match GatewayConfig::parse_file(config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    // Compiled before staging (which moves the catalog) so that every problem is listed at
    // once, even when the rest of the file is not valid.
    let table = switchyard::routing::RoutingTable::compile(&cfg.catalog(), 1);
    let staged = cfg.stage();
    let mut errors = staged.as_ref().err().cloned().unwrap_or_default();
    errors.extend(
        table
            .as_ref()
            .err()
            .into_iter()
            .flatten()
            .map(|e| e.to_string()),
    );
    match (&staged, &table) {
        (Ok(c), Ok(t)) if errors.is_empty() => {
            println!(
                "{}: configuration is valid ({} apps, {} certificates)",
                config.display(),
                t.app_count(),
                c.edge_certs.len()
            );
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{}: invalid configuration:", config.display());
            for e in errors {
                eprintln!("  {e}");
            }
            ExitCode::from(2)
        }
    }
}

fn connector(config: PathBuf) -> anyhow::Result<ExitCode> {
    use switchyard::config::connector::ConnectorConfig;
    let staged = match ConnectorConfig::stage_file(&config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(2));
        }
    };
    let threads = staged.file.threads;
    // One thread: a current-thread runtime, without a work-stealing scheduler's bookkeeping.
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    if threads > 1 {
        builder.worker_threads(threads);
    }
    let rt = builder
        .enable_all()
        .thread_name("switchyard-connector")
        .build()
        .context("tokio runtime")?;
    rt.block_on(async move {
        let handle = switchyard::connector::start_connector(staged)
            .await
            .context("connector failed to start")?;
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("signal handler")?;
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: draining"),
            _ = tokio::signal::ctrl_c() => tracing::info!("interrupt: draining"),
        }
        handle.shutdown().await;
        Ok::<_, anyhow::Error>(ExitCode::SUCCESS)
    })
}
