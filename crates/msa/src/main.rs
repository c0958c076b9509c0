//! `msa`: the one binary of msa-shop. Every role (each service, the supervisor that runs
//! them all) is a subcommand, so one static binary serves every container.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use kit::observing::telemetry::{LogFormat, LogGuard, LogOptions};

mod audit;
mod bench;
mod handover;
mod rotate;
mod serve;
mod settings;
mod supervisor;

use serve::Service;

/// mimalloc instead of glibc's malloc. glibc gave each blocking thread that hashed a password
/// its own arena and kept the 19 MiB argon2 buffers in them: user-service held 110 MiB after
/// hashing its seed and two logins, 530 MiB after a burst of logins. mimalloc gives large
/// blocks back to the system (the services run with MIMALLOC_ARENA_EAGER_COMMIT=0, set by
/// `msa up` and the image, so that idle ones stay small too). docs/benchmarks.md has the
/// figures.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use settings::{KeysSettings, UpSettings};

#[derive(Debug, Parser)]
#[command(
    name = "msa",
    version,
    about = "msa-shop: a secure-by-default microservice web shop"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole shop on this machine: every service as a supervised child process.
    Up {
        // Boxed, as `Serve` is: settings are far larger than the other commands' arguments.
        #[command(flatten)]
        settings: Box<UpSettings>,
        /// Delete the databases and demo credentials first, and start from fresh demo data.
        #[arg(long)]
        reset: bool,
    },
    /// Print the public keys of the four processes, from which each pair derives the key of
    /// the identity tokens between them, as environment settings for services on other
    /// hosts (creating the key files first if they do not exist); also written to
    /// DATA_DIR/keys/public-keys, the file MSA_PUBLIC_KEYS_FILE reads.
    Keys {
        #[command(subcommand)]
        action: Option<KeysAction>,
        #[command(flatten)]
        settings: KeysSettings,
    },
    /// Ask a service whether it is ready (or alive), for container health checks: exits 0
    /// when URL answers 2xx within the timeout, 1 otherwise. Needs no shell or curl.
    Probe {
        /// Such as http://127.0.0.1:5001/readyz, or https://... for a service that speaks
        /// mutual TLS (with --ca-file).
        url: String,
        /// Give up after this many milliseconds.
        #[arg(long, default_value_t = 2000)]
        timeout_ms: u64,
        /// The internal CA's certificate: the server must present a certificate from it
        /// for one of the shop's processes.
        #[arg(long, env = "MSA_INTERNAL_TLS_CA_FILE")]
        ca_file: Option<std::path::PathBuf>,
    },
    /// Accounts that exist before anyone can sign in: the first administrator of a
    /// deployment started with --production, which has no demo accounts.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Create the internal CA of a deployment in DIR: `ca.pem`, and a certificate and key
    /// for each process (`gateway.pem`, `gateway.key`, ...), for mutual TLS between them.
    /// The CA's own key is not kept. Existing files are left as they are.
    Certs {
        /// Where to write them.
        #[arg(long)]
        dir: std::path::PathBuf,
    },
    /// Measure the shop beside its peers and its ceiling: starts them all on loopback,
    /// drives each scenario in turn (closed and open loop), and writes a report of
    /// throughput, latency percentiles, ratios and memory. Point `drive` only at a shop of
    /// your own.
    Bench(bench::BenchArgs),
    /// One process of the bench's ceiling (the shop's shape with nothing in it).
    #[command(subcommand, hide = true)]
    Ceiling(bench::ceiling::Role),
    /// The security toolkit: inspect the container this runs in, probe a deployment, audit an
    /// image before it ships, or the Docker engine that runs it.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Run one service in this process.
    #[command(subcommand)]
    Serve(Box<Service>),
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create an administrator in user-service's database (the same database settings as
    /// `msa serve users`; while the shop runs, too). Its password is read from a file, never
    /// from the command line.
    Create(AdminCreate),
}

#[derive(Debug, clap::Args)]
struct AdminCreate {
    /// The administrator's email address.
    #[arg(long)]
    email: String,
    /// The name shown for the account.
    #[arg(long, default_value = "Administrator")]
    name: String,
    /// A file whose first line is the password (a mounted secret); at least 12 characters.
    #[arg(long)]
    password_file: std::path::PathBuf,
    #[command(flatten)]
    place: kit::serving::options::Place,
    #[command(flatten)]
    pool: kit::storing::options::PoolOptions,
    #[command(flatten)]
    users: users::Options,
}

#[derive(Debug, Subcommand)]
enum KeysAction {
    /// Give processes of a running `msa up` new token keys without a restart: introduce a
    /// new key beside each old one, switch signing to it, and retire the old one once no
    /// token made under it can still arrive. Progress goes to standard error.
    Rotate(rotate::RotateArgs),
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    match cli.command {
        Command::Up { settings, reset } => {
            let logging = start_logging("msa", &settings.log);
            // The command line as given: each child gets the part of it that it reads.
            let given = matches
                .subcommand_matches("up")
                .expect("BUG: clap parsed the up command from its own matches")
                .clone();
            in_runtime(logging, supervisor::up(*settings, given, reset))
        }
        Command::Keys {
            action: Some(KeysAction::Rotate(args)),
            settings,
        } => {
            let logging = start_logging("msa", &settings.log);
            in_runtime(logging, rotate::run(args))
        }
        Command::Keys {
            action: None,
            settings,
        } => {
            let logging = start_logging("msa", &settings.log);
            in_runtime(logging, async move { print_public_keys(&settings) })
        }
        Command::Serve(service) => {
            let logging = start_logging(service.name(), service.log());
            in_runtime(logging, serve::run(*service))
        }
        // The tools below run no service: no service logging, no shared runtime.
        Command::Probe {
            url,
            timeout_ms,
            ca_file,
        } => probe(&url, timeout_ms, ca_file.as_deref()),
        Command::Admin(AdminCommand::Create(args)) => run_tool("msa admin create", || {
            tokio::runtime::Runtime::new()?.block_on(create_admin(args))
        }),
        Command::Certs { dir } => run_tool("msa certs", || {
            let created =
                kit::serving::internal_tls::ensure(&dir, &kit::identity::options::PARTIES)?;
            let what = if created { "created" } else { "already there" };
            eprintln!(
                "msa certs: the internal CA and its certificates in {}: {what}",
                dir.display()
            );
            Ok(())
        }),
        Command::Bench(args) => run_tool("msa bench", || bench::run(args)),
        Command::Ceiling(role) => run_tool("msa ceiling", || bench::ceiling::run(role)),
        Command::Audit(command) => audit::run(command),
    }
}

fn start_logging(service: &'static str, log: &LogOptions) -> Logging {
    Logging {
        format: log.log_format,
        guard: kit::observing::telemetry::init(service, &log.log_level, log.log_format),
    }
}

/// How this process logs, and the writer to drain before it exits.
struct Logging {
    format: LogFormat,
    guard: LogGuard,
}

/// Runs a service's work to its end on a multi-threaded runtime, and reports its error once.
fn in_runtime(logging: Logging, work: impl Future<Output = anyhow::Result<()>>) -> ExitCode {
    let Logging { format, guard } = logging;
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("msa: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(work);
    // Everything worth waiting for has finished; a blocking read of stdin (the supervisor
    // watch) would otherwise hold the process open forever.
    runtime.shutdown_background();
    let Err(error) = result else {
        drop(guard);
        return ExitCode::SUCCESS;
    };
    // Said once, in the form the operator chose (JSON output stays one object a line), and
    // after the lines still queued, so that the reason comes last.
    match format {
        LogFormat::Json => {
            tracing::error!(error = format!("{error:#}"), "msa failed");
            drop(guard);
        }
        LogFormat::Text => {
            drop(guard);
            eprintln!("msa: {error:#}");
        }
    }
    ExitCode::FAILURE
}

/// Runs a tool that is no service: warnings only, and its error said once.
fn run_tool(name: &str, work: impl FnOnce() -> anyhow::Result<()>) -> ExitCode {
    let _logging = kit::observing::telemetry::init("msa", "warn", LogFormat::Text);
    match work() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{name}: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// One GET, quietly: a health check's output goes to the container runtime's log.
fn probe(url: &str, timeout_ms: u64, ca_file: Option<&std::path::Path>) -> ExitCode {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return ExitCode::FAILURE;
    };
    let healthy = runtime.block_on(async {
        let timeout = std::time::Duration::from_millis(timeout_ms);
        let client = match ca_file {
            None => kit::calling::transport::http_client(timeout),
            Some(ca) => {
                match kit::serving::internal_tls::probe_config(ca, &kit::identity::options::PARTIES)
                {
                    Ok(config) => {
                        kit::calling::transport::client_with_tls(config, timeout, timeout)
                    }
                    Err(error) => {
                        eprintln!("msa probe: {error:#}");
                        return false;
                    }
                }
            }
        };
        client
            .get(url)
            .send()
            .await
            .is_ok_and(|response| response.status().is_success())
    });
    if healthy {
        ExitCode::SUCCESS
    } else {
        eprintln!("msa probe: {url} is not healthy");
        ExitCode::FAILURE
    }
}

async fn create_admin(args: AdminCreate) -> anyhow::Result<()> {
    use anyhow::Context;
    let text = std::fs::read_to_string(&args.password_file)
        .with_context(|| format!("Failed to read {}", args.password_file.display()))?;
    let password = text.lines().next().unwrap_or_default().to_owned();
    let database = args.pool.database(
        users::SERVICE,
        args.users.users_database_url.as_deref(),
        args.users.users_database_url_file.as_deref(),
        &args.place.data_dir,
    )?;
    let id = users::admin::create(&database, &args.email, &args.name, password).await?;
    eprintln!(
        "msa admin create: administrator {} (user {id}) created",
        args.email
    );
    Ok(())
}

fn print_public_keys(settings: &KeysSettings) -> anyhow::Result<()> {
    use std::io::Write;
    let keys = settings.public_keys()?;
    let mut out = std::io::stdout().lock();
    for (party, key) in &keys {
        let variable = format!("MSA_{}_PUBLIC_KEY", party.to_uppercase());
        writeln!(out, "{variable}={key}")?;
    }
    // The same keys as the file deployments mount.
    kit::identity::keyring::write_public_keys_file(&settings.data_dir, keys)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
