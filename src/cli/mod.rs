//! Command-line interface: clap types and one file per command. Besides `report`, this is
//! the only place that talks to the terminal, reads the environment or uses `anyhow`.

mod auth;
mod check;
#[cfg(feature = "sandbox")]
mod demo;
mod exit;
mod fleet;
mod fleet_admin;
pub(crate) mod progress;
mod pull;
mod revert;
mod runs;
#[cfg(feature = "sandbox")]
mod sandbox;
mod serve;
mod sync;
mod watch;
#[cfg(feature = "sandbox")]
mod woo_demo;
mod woocommerce;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::Config;
use crate::report::ExitStatus;

/// Keeps a Shopify store in step with a Google spreadsheet.
#[derive(Debug, Parser)]
#[command(name = "sheetsync", version, about)]
pub struct Cli {
    /// Config file [default: ./sheetsync.toml, then ./config/sheetsync.toml]
    #[arg(long, global = true, env = "SHEETSYNC_CONFIG")]
    pub config: Option<PathBuf>,
    /// More log output (-v debug, -vv trace); SHEETSYNC_LOG overrides
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Shared state on PostgreSQL (postgres://…) instead of SQLite in sync.state_dir;
    /// beats `[state] url`
    #[arg(
        long,
        global = true,
        env = "SHEETSYNC_STATE_URL",
        hide_env_values = true
    )]
    pub state_url: Option<String>,
    /// Connections to the shared state per process (at least 1) [default: 8]; beats
    /// `[state] pool_size`
    #[arg(
        long,
        global = true,
        env = "SHEETSYNC_STATE_POOL_SIZE",
        value_parser = crate::config::parse_pool_size
    )]
    pub state_pool_size: Option<usize>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read the sheet and the store, plan, and apply the plan
    Sync(SyncArgs),
    /// Write the store's catalog into the sheet: bootstrap an empty tab, or refresh rows
    Pull {
        /// JSON output
        #[arg(long)]
        json: bool,
    },
    /// Validate the config, credentials, scopes, sheet headers and locations; writes nothing
    Check,
    /// Run a dry run and then a sync against a built-in local sandbox; needs no account
    #[cfg(feature = "sandbox")]
    Demo {
        /// Which store the sandbox plays
        #[arg(long, value_enum, default_value_t = StoreArg::Shopify)]
        store: StoreArg,
    },
    /// Start the local sandbox (Sheets and a store fake) and serve until stopped
    #[cfg(feature = "sandbox")]
    Sandbox {
        /// First port to listen on (the store); Sheets uses the next one. 0 picks free ports
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Which store the sandbox plays
        #[arg(long, value_enum, default_value_t = StoreArg::Shopify)]
        store: StoreArg,
    },
    /// Put back the values a past run replaced (compare-and-set against what it wrote)
    Revert {
        /// The run to revert, as `sheetsync runs` lists it
        id: String,
        /// Plan and print; write nothing anywhere
        #[arg(long)]
        dry_run: bool,
        /// Machine-readable report on stdout; human output goes to stderr
        #[arg(long)]
        json: bool,
    },
    /// Store and Google access: `auth status`, `auth shopify`, `auth google`
    Auth {
        #[command(subcommand)]
        command: AuthCommand,
    },
    /// Follow the sheet: a cheap change check each interval, the changed rows synced, a
    /// full sync every --full-every; runs until SIGINT/SIGTERM
    Watch {
        /// Between two change checks
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        interval: std::time::Duration,
        /// Between two full syncs (these pull sales made in the store)
        #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
        full_every: std::time::Duration,
    },
    /// `watch`, woken at once by the sheet's signed change notifications, plus an HTTP
    /// server: `POST /hooks/sheet`, `/healthz`, `/metrics` and the status page (with a
    /// state URL, a `fleet run` worker instead of `watch`)
    Serve {
        /// Address to listen on; anything but loopback needs serve.token
        #[arg(long, default_value_t = crate::serve::default_listen())]
        listen: std::net::SocketAddr,
        /// Between two change checks (the fallback for edits no notification announces)
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        interval: std::time::Duration,
        /// Between two full syncs (these pull sales made in the store)
        #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
        full_every: std::time::Duration,
    },
    /// A full sync on a schedule, in-process, until SIGINT/SIGTERM
    Schedule {
        /// A 5-field cron expression in UTC, e.g. "*/30 * * * *"
        cron: Option<String>,
        /// A fixed period instead, e.g. 1h (the first sync runs at once)
        #[arg(long, value_parser = humantime::parse_duration, conflicts_with = "cron")]
        every: Option<std::time::Duration>,
    },
    /// Many pairs on many machines over shared PostgreSQL state: `fleet migrate`
    Fleet {
        #[command(subcommand)]
        command: FleetCommand,
    },
    /// Past runs from the local journal, newest first
    Runs {
        #[command(subcommand)]
        show: Option<RunsCommand>,
        /// JSON output
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Per side: the method, the token's kind and expiry, granted vs needed scopes, and
    /// what to do about anything that would fail
    Status,
    /// Set up store access: `--method oauth` runs the install flow and stores the token;
    /// `client_credentials` mints and caches a token; `token` explains where it goes
    Shopify {
        /// token | client_credentials | oauth [default: shopify.auth.method]
        #[arg(long, value_parser = ["token", "client_credentials", "oauth"])]
        method: Option<String>,
        /// Loopback port of the OAuth callback; the redirect URL to register with the app
        /// is http://127.0.0.1:PORT/callback
        #[arg(long, default_value_t = crate::auth::oauth::DEFAULT_PORT)]
        port: u16,
    },
    /// Set up Google access: `--method installed` runs the consent flow and stores the
    /// refresh token; `service_account` explains the key file and sharing
    Google {
        /// service_account | installed [default: google.method]
        #[arg(long, value_parser = ["service_account", "installed"])]
        method: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// Create or upgrade the shared schema at the state URL; once per release
    Migrate,
    /// Load a directory of pair files into the shared state (one transaction)
    Apply {
        /// The directory of pair files (`NAME.toml`, one per store, spreadsheet and tab)
        dir: PathBuf,
        /// Also remove pairs whose file is gone (their scope and history stay)
        #[arg(long)]
        prune: bool,
        /// Print the plan; write nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Workers, and per pair its owner, lease expiry, mode and last run
    Status {
        /// JSON output (SPEC §9's shape)
        #[arg(long)]
        json: bool,
    },
    /// Stop a pair across the fleet (its owner stops it within a lease renewal)
    Pause { pair: String },
    /// Let the fleet run a paused pair again
    Resume { pair: String },
    /// Move a machine's SQLite baseline and history (never tokens) into the shared state
    Import {
        /// The machine's `sync.state_dir`
        #[arg(long = "from")]
        from: PathBuf,
        /// Where the shared state already has another history for a scope, add the local
        /// runs it lacks (for `runs` and `revert`) and keep the shared baseline
        #[arg(long)]
        merge_history: bool,
    },
    /// A worker: claims pairs no live worker owns, runs their loops, renews its leases;
    /// until SIGTERM/SIGINT, then finishes the batches in flight and releases its pairs
    Run {
        /// The worker's name in leases and User-Agents [default: worker.<host>.<pid>]
        #[arg(long)]
        replica_id: Option<String>,
        /// How long a lease outlives its last renewal (renewed at a third of it)
        #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
        lease_ttl: std::time::Duration,
    },
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// One run's report
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

/// The store a sandbox plays (`demo --store`, `sandbox --store`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StoreArg {
    Shopify,
    Woocommerce,
}

#[derive(Debug, Clone, Args)]
pub struct SyncArgs {
    /// Plan and print; write nothing anywhere
    #[arg(long)]
    pub dry_run: bool,
    /// Machine-readable report on stdout; human output goes to stderr
    #[arg(long)]
    pub json: bool,
    /// Restrict to some fields, e.g. `price,inventory`
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Confirm a plan that a safety guard refuses
    #[arg(long)]
    pub yes: bool,
    /// Settle `no_baseline` conflicts: push the sheet's values or pull the store's
    #[arg(long, value_parser = ["sheet", "store"])]
    pub adopt: Option<String>,
}

/// Sets up tracing on stderr: `SHEETSYNC_LOG` wins, else `-v`/`-q` pick the level.
pub fn init_logging(cli: &Cli) {
    use tracing_subscriber::EnvFilter;
    let default = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "sheetsync=debug,warn",
        (false, _) => "sheetsync=trace,info",
    };
    let filter =
        EnvFilter::try_from_env("SHEETSYNC_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    // yup-oauth2 logs token endpoint bodies (access and refresh tokens) at debug: never
    // let them through, whatever SHEETSYNC_LOG says.
    let filter = match "yup_oauth2=off".parse() {
        Ok(d) => filter.add_directive(d),
        Err(_) => filter,
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Through the progress bars, which step aside while a line is written.
        .with_writer(progress::LogWriter)
        .with_ansi(color_enabled())
        .try_init();
}

/// Colour on stderr only for a terminal and without `NO_COLOR`.
pub(crate) fn color_enabled() -> bool {
    use std::io::IsTerminal;
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

/// An error that ends a command, with the exit status it maps to. Made only by the
/// `From` conversions in `exit`, so the status follows from the error's type.
#[derive(Debug)]
pub(crate) struct Failure {
    pub status: ExitStatus,
    pub error: anyhow::Error,
}

pub(crate) use exit::CommandError;

/// Runs one command and returns its exit status; errors are printed here.
pub async fn run(cli: Cli) -> ExitStatus {
    let result = match &cli.command {
        Command::Sync(args) => sync::run(&cli, args).await,
        Command::Pull { json } => pull::run(&cli, *json).await,
        Command::Check => check::run(&cli).await,
        #[cfg(feature = "sandbox")]
        Command::Demo {
            store: StoreArg::Shopify,
        } => demo::run().await,
        #[cfg(feature = "sandbox")]
        Command::Demo {
            store: StoreArg::Woocommerce,
        } => woo_demo::demo().await,
        #[cfg(feature = "sandbox")]
        Command::Sandbox {
            port,
            store: StoreArg::Shopify,
        } => sandbox::run(*port).await,
        #[cfg(feature = "sandbox")]
        Command::Sandbox {
            port,
            store: StoreArg::Woocommerce,
        } => woo_demo::sandbox(*port).await,
        Command::Revert { id, dry_run, json } => revert::run(&cli, id, *dry_run, *json).await,
        Command::Auth { command } => match command {
            AuthCommand::Status => auth::status(&cli).await,
            AuthCommand::Shopify { method, port } => {
                use crate::config::ShopifyAuthMethod as M;
                let method = match method.as_deref() {
                    Some("token") => Some(M::Token),
                    Some("client_credentials") => Some(M::ClientCredentials),
                    Some("oauth") => Some(M::Oauth),
                    _ => None,
                };
                auth::shopify(&cli, method, *port).await
            }
            AuthCommand::Google { method } => {
                use crate::config::GoogleMethod as M;
                let method = match method.as_deref() {
                    Some("service_account") => Some(M::ServiceAccount),
                    Some("installed") => Some(M::Installed),
                    _ => None,
                };
                auth::google_setup(&cli, method).await
            }
        },
        Command::Watch {
            interval,
            full_every,
        } => watch::watch(&cli, *interval, *full_every).await,
        Command::Serve {
            listen,
            interval,
            full_every,
        } => serve::run(&cli, *listen, *interval, *full_every).await,
        Command::Schedule { cron, every } => watch::schedule(&cli, cron.as_deref(), *every).await,
        Command::Runs { show, json } => runs::run(&cli, show.as_ref(), *json),
        Command::Fleet { command } => match command {
            FleetCommand::Migrate => fleet::migrate(&cli).await,
            FleetCommand::Apply {
                dir,
                prune,
                dry_run,
            } => fleet_admin::apply(&cli, dir, *prune, *dry_run).await,
            FleetCommand::Status { json } => fleet_admin::status(&cli, *json).await,
            FleetCommand::Pause { pair } => fleet_admin::set_enabled(&cli, pair, false).await,
            FleetCommand::Resume { pair } => fleet_admin::set_enabled(&cli, pair, true).await,
            FleetCommand::Import {
                from,
                merge_history,
            } => fleet_admin::import(&cli, from, *merge_history).await,
            FleetCommand::Run {
                replica_id,
                lease_ttl,
            } => fleet::run(&cli, replica_id.clone(), *lease_ttl).await,
        },
    };
    match result {
        Ok(status) => status,
        Err(failure) => {
            print_error(&failure.error);
            failure.status
        }
    }
}

/// `error: …` then each cause on a `Caused by:` line, as uv prints them.
fn print_error(err: &anyhow::Error) {
    eprintln!("error: {err}");
    let mut causes = err.chain().skip(1).peekable();
    if causes.peek().is_some() {
        eprintln!("\nCaused by:");
        for cause in causes {
            eprintln!("  {cause}");
        }
    }
}

/// Finds and loads the config (SPEC §1 lookup order).
pub(crate) fn load_config(cli: &Cli) -> Result<(PathBuf, Config), Failure> {
    let path = crate::config::discover(cli.config.as_deref(), None, &|p: &std::path::Path| {
        p.exists()
    })
    .ok_or_else(|| {
        CommandError::Usage(
            "no config found: pass --config PATH, set SHEETSYNC_CONFIG, or create ./sheetsync.toml \
             (see config/sheetsync.example.toml; `sheetsync sandbox` prints a ready one)"
                .to_owned(),
        )
    })?;
    let mut config = Config::load(&path, &|name| std::env::var(name).ok())?;
    // `--state-url` / SHEETSYNC_STATE_URL beat `[state] url`; an empty one means none.
    if let Some(url) = state_url(cli) {
        config.state.url = Some(crate::config::Secret::new(url));
    }
    if let Some(n) = cli.state_pool_size {
        config.state.pool_size = n;
    }
    Ok((path, config))
}

/// The state URL given on the command line or in the environment, if any.
pub(crate) fn state_url(cli: &Cli) -> Option<String> {
    cli.state_url.clone().filter(|u| !u.trim().is_empty())
}

#[cfg(test)]
mod pool_size_tests {
    use super::Cli;
    use clap::Parser;

    #[test]
    fn the_state_pool_size_flag_takes_a_whole_number_of_at_least_one() {
        let cli =
            Cli::try_parse_from(["sheetsync", "--state-pool-size", "5", "check"]).expect("parses");
        assert_eq!(cli.state_pool_size, Some(5));
        let e = Cli::try_parse_from(["sheetsync", "--state-pool-size", "0", "check"])
            .expect_err("0 is refused")
            .to_string();
        assert!(e.contains("pool_size must be at least 1"), "{e}");
    }
}
