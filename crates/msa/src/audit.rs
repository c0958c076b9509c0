//! `msa audit`: the security toolkit on the command line. Each audit prints a readable
//! report (or `--json`) and exits non-zero when it found something at or above `--fail-on`.

use std::path::PathBuf;
use std::process::ExitCode;

use audit::report::Severity;
use clap::{Args, Subcommand, ValueEnum};

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Inspect the container this command runs in: processes (from /proc, no `ps`
    /// needed), runtime, privileges, exposure, operating system. Needs no root and no other
    /// tool: run it inside the scratch image with `docker exec <container> /msa audit container`.
    Container(ContainerArgs),
    /// Probe a running deployment from outside, guided by its /openapi.json: authentication,
    /// object- and function-level authorization, mass assignment, injection, sessions,
    /// transport and headers, inventory, login throttling; a verdict per OWASP API Security
    /// Top 10 (2023) item with the evidence. It registers accounts, places orders and tries
    /// what an attacker would: point it only at a deployment of your own.
    Api(ApiArgs),
    /// Audit an image before it runs: every layer in order (whiteouts applied, and what a
    /// later layer deleted kept: it still ships), its config and its history. Finds secrets
    /// (keys, tokens, database passwords, credentials files, .env, .git, shell histories;
    /// never printed, only their kind, place and a short fingerprint), root, an end-of-life
    /// OS or runtime, version banners, setuid and world-writable files, shells, package
    /// managers and compilers, no HEALTHCHECK, large layers and files.
    Image(ImageArgs),
    /// Audit the Docker engine from a host account, through its API socket (DOCKER_HOST,
    /// else /var/run/docker.sock): who can reach the socket (owner, group, mode, the group's
    /// members: each is practically root), rootless or user namespaces, the daemon's
    /// security options, running containers that are privileged, hold the socket, share the
    /// host's PID or network namespace, run as root or publish ports on every address, and
    /// the engine's end of support.
    Engine(EngineArgs),
}

#[derive(Debug, Args)]
pub struct EngineArgs {
    #[command(flatten)]
    output: Output,
    /// Read local accounts (passwd, group) from this directory.
    #[arg(long, default_value = "/etc", value_name = "DIR")]
    etc: PathBuf,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("image-source").required(true).args(["archive", "engine"])))]
pub struct ImageArgs {
    /// A `docker save` archive, or an OCI image layout directory.
    #[arg(value_name = "ARCHIVE|OCI-DIR")]
    archive: Option<PathBuf>,
    /// Fetch the image NAME (name:tag or id) from the local Docker engine through its API
    /// socket (DOCKER_HOST, else /var/run/docker.sock), as `docker save` would.
    #[arg(long, value_name = "NAME")]
    engine: Option<String>,
    /// Also inventory what the image holds (Debian and Alpine packages, Python
    /// distributions, the crates of Rust binaries built with `cargo auditable`) as a
    /// software bill of materials in this format. It is printed instead of the report,
    /// unless --sbom-output names a file for it.
    #[arg(long, value_enum, value_name = "FORMAT")]
    sbom: Option<SbomFormat>,
    /// Write the SBOM to this file, and print the report as usual.
    #[arg(long, value_name = "FILE", requires = "sbom")]
    sbom_output: Option<PathBuf>,
    #[command(flatten)]
    output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SbomFormat {
    /// CycloneDX 1.5, JSON.
    Cyclonedx,
}

#[derive(Debug, Args)]
pub struct ApiArgs {
    /// The deployment's base URL, such as https://localhost:8443. Every request goes there
    /// (and to --http-url); the dictionary's servers and redirects are never followed.
    base_url: String,
    /// Trust this CA certificate (PEM) for HTTPS, such as the data directory's tls/ca.pem.
    /// No other CA is trusted.
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// The deployment's plain-HTTP address, whose answers must only redirect to HTTPS.
    #[arg(long, value_name = "URL")]
    http_url: Option<String>,
    /// A JSON object of email -> password (such as the data directory's
    /// demo-credentials.json) holding the accounts named by --user and --admin.
    #[arg(long, value_name = "FILE")]
    credentials: Option<PathBuf>,
    /// An ordinary account to act as (twice: users A and B). Without, the audit registers
    /// two accounts through the API.
    #[arg(long = "user", value_name = "EMAIL", num_args = 1)]
    users: Vec<String>,
    /// An administrator's account: lets the audit create objects for the function-level
    /// checks.
    #[arg(long, value_name = "EMAIL")]
    admin: Option<String>,
    /// Wrong passwords to try before the log-in must be throttled.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u16).range(1..=1000))]
    brute_force_attempts: u16,
    /// Give up on a request after this many milliseconds.
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u64,
    /// Print the report as JSON, for machines.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct ContainerArgs {
    #[command(flatten)]
    output: Output,
    /// Inspect the file system under this directory instead of `/` (a captured `/proc` and
    /// `/etc`, or an image unpacked for inspection).
    #[arg(long, default_value = "/", value_name = "DIR")]
    root: PathBuf,
}

#[derive(Debug, Args)]
struct Output {
    /// Print the report as JSON, for machines.
    #[arg(long, conflicts_with = "sarif")]
    json: bool,
    /// Print the findings as SARIF 2.1.0, for code-scanning tools (GitHub, GitLab, IDEs).
    #[arg(long)]
    sarif: bool,
    /// Exit with status 1 when a finding of this severity or worse is present.
    #[arg(long, value_enum, default_value_t = FailOn::High, value_name = "SEVERITY")]
    fail_on: FailOn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FailOn {
    Info,
    Low,
    Medium,
    High,
    Critical,
    /// Always exit 0 when the audit itself ran.
    Never,
}

impl FailOn {
    fn threshold(self) -> Option<Severity> {
        match self {
            Self::Info => Some(Severity::Info),
            Self::Low => Some(Severity::Low),
            Self::Medium => Some(Severity::Medium),
            Self::High => Some(Severity::High),
            Self::Critical => Some(Severity::Critical),
            Self::Never => None,
        }
    }

    /// Exit status 1 when `worst` reaches the threshold.
    fn exit_code(self, worst: Option<Severity>) -> ExitCode {
        match (self.threshold(), worst) {
            (Some(threshold), Some(worst)) if worst >= threshold => ExitCode::FAILURE,
            _ => ExitCode::SUCCESS,
        }
    }
}

pub fn run(command: AuditCommand) -> ExitCode {
    match command {
        AuditCommand::Container(args) => container(&args),
        AuditCommand::Api(args) => api(args),
        AuditCommand::Image(args) => image(&args),
        AuditCommand::Engine(args) => engine(&args),
    }
}

impl Output {
    /// Prints the report as asked (text, JSON or SARIF) and returns the exit status its
    /// worst finding sets.
    fn emit<R: serde::Serialize>(
        &self,
        command: &str,
        report: &R,
        text: impl FnOnce() -> String,
        target: &str,
        findings: &[audit::report::Finding],
    ) -> ExitCode {
        let json = if self.sarif {
            let log = audit::report::sarif(command, env!("CARGO_PKG_VERSION"), target, findings);
            serde_json::to_string_pretty(&log)
        } else if self.json {
            serde_json::to_string_pretty(report)
        } else {
            print!("{}", text());
            return self.fail_on.exit_code(audit::report::worst(findings));
        };
        match json {
            Ok(json) => println!("{json}"),
            Err(error) => {
                eprintln!("{command}: cannot write the report as JSON: {error}");
                return ExitCode::from(2);
            }
        }
        self.fail_on.exit_code(audit::report::worst(findings))
    }
}

/// The engine `DOCKER_HOST` names (else the default socket) and a runtime to talk to it,
/// or the exit status of a command that cannot.
fn engine_and_runtime(
    command: &str,
) -> Result<(audit::docker::Engine, tokio::runtime::Runtime), ExitCode> {
    let engine = audit::docker::Engine::from_env().map_err(|error| {
        eprintln!("{command}: {error}");
        ExitCode::from(2)
    })?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|_| {
            eprintln!("{command}: cannot start the async runtime");
            ExitCode::from(2)
        })?;
    Ok((engine, runtime))
}

fn engine(args: &EngineArgs) -> ExitCode {
    let today = time::OffsetDateTime::now_utc().date();
    let (engine, runtime) = match engine_and_runtime("msa audit engine") {
        Ok(both) => both,
        Err(status) => return status,
    };
    let report = match runtime.block_on(audit::engine::inspect(&engine, &args.etc, today)) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("msa audit engine: {error}");
            return ExitCode::from(2);
        }
    };
    args.output.emit(
        "msa audit engine",
        &report,
        || report.to_text(),
        &report.endpoint,
        &report.findings,
    )
}

fn image(args: &ImageArgs) -> ExitCode {
    let today = time::OffsetDateTime::now_utc().date();
    let started = std::time::Instant::now();
    let (image, source) = match (&args.archive, &args.engine) {
        (Some(path), _) => (
            audit::image::source::from_path(path),
            path.display().to_string(),
        ),
        (None, Some(name)) => {
            let (engine, runtime) = match engine_and_runtime("msa audit image") {
                Ok(both) => both,
                Err(status) => return status,
            };
            eprintln!(
                "msa audit image: fetching {name} from the engine at {}",
                engine.endpoint()
            );
            (
                runtime.block_on(audit::image::source::from_engine(&engine, name)),
                format!("engine:{name}"),
            )
        }
        (None, None) => {
            eprintln!("msa audit image: give an archive, an OCI layout or --engine NAME");
            return ExitCode::from(2);
        }
    };
    let image = match image {
        Ok(image) => image,
        Err(error) => {
            eprintln!("msa audit image: {error}");
            return ExitCode::from(2);
        }
    };
    let report = audit::image::inspect(&image, source, today);
    eprintln!(
        "msa audit image: {} layers, {} files and {} deleted or replaced ones read in {:.1} s",
        image.layered.layers,
        report.size.files,
        report.size.deleted_files,
        started.elapsed().as_secs_f64()
    );
    if let Some(SbomFormat::Cyclonedx) = args.sbom {
        let components = audit::image::sbom::inventory(&image, &report.operating_system);
        let name = image
            .tags
            .first()
            .cloned()
            .unwrap_or_else(|| report.source.clone());
        let timestamp = time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .ok()
            .and_then(|now| {
                now.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default();
        let bom = audit::image::sbom::cyclonedx(
            &name,
            &components,
            &timestamp,
            &audit::image::sbom::serial_number(),
        );
        let json = match serde_json::to_string_pretty(&bom) {
            Ok(json) => json,
            Err(error) => {
                eprintln!("msa audit image: cannot write the SBOM: {error}");
                return ExitCode::from(2);
            }
        };
        match &args.sbom_output {
            Some(path) => {
                if let Err(error) = std::fs::write(path, json + "\n") {
                    eprintln!("msa audit image: cannot write {}: {error}", path.display());
                    return ExitCode::from(2);
                }
                eprintln!(
                    "msa audit image: {} components written to {}",
                    components.len(),
                    path.display()
                );
            }
            None => {
                println!("{json}");
                return args.output.fail_on.exit_code(report.worst());
            }
        }
    }
    args.output.emit(
        "msa audit image",
        &report,
        || report.to_text(),
        &report.source,
        &report.findings,
    )
}

fn api(args: ApiArgs) -> ExitCode {
    let config = match api_config(&args) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("msa audit api: {error}");
            return ExitCode::from(2);
        }
    };
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        eprintln!("msa audit api: cannot start the async runtime");
        return ExitCode::from(2);
    };
    let today = time::OffsetDateTime::now_utc().date().to_string();
    let progress = audit::api::Progress::on_stderr();
    let report = match runtime.block_on(audit::api::run(config, progress, today)) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("msa audit api: {error}");
            return ExitCode::from(2);
        }
    };
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(json) => println!("{json}"),
            Err(error) => {
                eprintln!("msa audit api: cannot write the report as JSON: {error}");
                return ExitCode::from(2);
            }
        }
    } else {
        print!("{}", report.to_text());
    }
    if report.failed() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn api_config(args: &ApiArgs) -> Result<audit::api::Config, String> {
    use audit::api::identity::Account;
    let ca_pem = args
        .ca_file
        .as_ref()
        .map(|path| std::fs::read(path).map_err(|e| format!("--ca-file {}: {e}", path.display())))
        .transpose()?;
    let passwords: std::collections::BTreeMap<String, String> = match &args.credentials {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("--credentials {}: {e}", path.display()))?;
            serde_json::from_str(&text).map_err(|e| {
                format!(
                    "--credentials {}: not a JSON object of email -> password ({e})",
                    path.display()
                )
            })?
        }
        None => Default::default(),
    };
    let account = |email: &String| {
        passwords
            .get(email)
            .map(|password| Account {
                email: email.clone(),
                password: password.clone(),
            })
            .ok_or_else(|| format!("{email} is not in the --credentials file"))
    };
    let users = match args.users.as_slice() {
        [] => None,
        [a, b] => Some((account(a)?, account(b)?)),
        _ => return Err("give --user twice (users A and B), or not at all".into()),
    };
    Ok(audit::api::Config {
        base: args.base_url.clone(),
        ca_pem,
        http_url: args.http_url.clone(),
        users,
        admin: args.admin.as_ref().map(account).transpose()?,
        timeout: std::time::Duration::from_millis(args.timeout_ms),
        brute_force_attempts: usize::from(args.brute_force_attempts),
    })
}

fn container(args: &ContainerArgs) -> ExitCode {
    let today = time::OffsetDateTime::now_utc().date();
    let report = audit::container::inspect(&args.root, today);
    let target = format!("file://{}", args.root.display());
    args.output.emit(
        "msa audit container",
        &report,
        || report.to_text(),
        &target,
        &report.findings,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_on_compares_with_the_worst_finding() {
        assert_eq!(
            FailOn::High.exit_code(Some(Severity::Critical)),
            ExitCode::FAILURE
        );
        assert_eq!(
            FailOn::High.exit_code(Some(Severity::High)),
            ExitCode::FAILURE
        );
        assert_eq!(
            FailOn::High.exit_code(Some(Severity::Medium)),
            ExitCode::SUCCESS
        );
        assert_eq!(FailOn::Info.exit_code(None), ExitCode::SUCCESS);
        assert_eq!(
            FailOn::Never.exit_code(Some(Severity::Critical)),
            ExitCode::SUCCESS
        );
    }
}
