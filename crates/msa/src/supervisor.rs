//! `msa up`: runs every service as a supervised child process of this one.
//!
//! Each child is this same binary as `msa serve <role>`. Its output is relayed line by line
//! (prefixed with its name, or as JSON already stamped with it). A child that exits is
//! restarted with exponential backoff. On SIGINT/SIGTERM every child gets SIGTERM, has
//! [`STOP_GRACE`] to drain, and is killed after that; `msa up` returns once all are gone.

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::ArgMatches;
use kit::observing::telemetry::LogFormat;
use kit::serving::shutdown::CancellationToken;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};

use crate::handover;
use crate::serve::SUPERVISED_ENV;
use crate::settings::{Role, UpSettings};
use gateway::TlsFiles;

/// How long a child may drain after SIGTERM before it is killed; with the children's own
/// drain deadline below it, and the whole stop within 10 s.
const STOP_GRACE: Duration = Duration::from_millis(9_500);
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A child that ran this long is considered healthy again: its next crash restarts fast.
const HEALTHY_AFTER: Duration = Duration::from_secs(30);
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Files a reset removes: the databases with their WAL companions, and the demo secrets.
const RESETTABLE: [&str; 5] = [
    "users.db",
    "products.db",
    "orders.db",
    "gateway.db",
    "demo-credentials.json",
];

/// Runs the shop until SIGINT/SIGTERM. `given` is what the operator typed after `msa up`,
/// which each child receives in the part that it reads ([`handover`]).
pub async fn up(settings: UpSettings, given: ArgMatches, reset: bool) -> anyhow::Result<()> {
    let started = Instant::now();
    let data_dir = &settings.place.data_dir;
    if reset {
        reset_data(data_dir)?;
    }
    kit::files::ensure_private_dir(data_dir)?;
    // The internal CA and the four certificates, made once, unless the operator gave them.
    if settings.internal_tls.internal_tls_dir.is_none()
        && let Some(dir) = settings.internal_tls.dir(data_dir)
    {
        kit::serving::internal_tls::ensure(&dir, &kit::identity::options::PARTIES)?;
    }
    check_ports_free(&settings)?;
    let decided = handover::decided(&settings)?;
    let tls = settings.gateway_settings().tls_files()?;

    let shutdown = kit::serving::shutdown::on_signal();
    let exe = std::env::current_exe().context("Failed to find the msa executable")?;
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "Starting users, products, orders and gateway (data in {})...",
            data_dir.display()
        );
        let _ = out.flush();
    }
    let children: Vec<_> = Role::ALL
        .into_iter()
        .map(|role| {
            let handed = handover::invocation(&given, role, &decided);
            let mut command = Command::new(&exe);
            for name in &handed.remove_env {
                command.env_remove(name);
            }
            // mimalloc commits a whole arena up front by default: 10 to 20 MiB more per idle
            // service (docs/benchmarks.md). The image sets the same; an operator's value wins.
            if std::env::var_os(LAZY_COMMIT.0).is_none() {
                command.env(LAZY_COMMIT.0, LAZY_COMMIT.1);
            }
            command
                .envs(&handed.set_env)
                .arg("serve")
                .arg(role.name())
                .args(&handed.args)
                .env(SUPERVISED_ENV, "1")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                // Own process group: a Ctrl-C in the terminal reaches only `msa up`, which
                // then stops the children in order instead of racing their restarts.
                .process_group(0)
                .kill_on_drop(true);
            tokio::spawn(supervise(
                role,
                command,
                settings.log.log_format,
                shutdown.clone(),
            ))
        })
        .collect();

    let ready = tokio::select! {
        ready = wait_until_ready(&settings) => ready,
        () = shutdown.cancelled() => Ok(()),
    };
    match &ready {
        Ok(()) if !shutdown.is_cancelled() => {
            print_table(&settings, tls.as_ref(), started.elapsed())
        }
        Ok(()) => {}
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "start-up failed; stopping");
            shutdown.cancel();
        }
    }
    shutdown.cancelled().await;
    let stopping = Instant::now();
    for child in children {
        let _ = child.await;
    }
    tracing::info!(
        elapsed_ms = stopping.elapsed().as_millis() as u64,
        "all services stopped"
    );
    ready
}

fn reset_data(data_dir: &Path) -> anyhow::Result<()> {
    for name in RESETTABLE {
        for suffix in ["", "-wal", "-shm"] {
            let path = data_dir.join(format!("{name}{suffix}"));
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => {
                    return Err(error)
                        .with_context(|| format!("Failed to remove {}", path.display()));
                }
            }
        }
    }
    tracing::info!(data_dir = %data_dir.display(), "reset: starting with empty databases");
    Ok(())
}

/// Fails fast, naming the flag to change, instead of letting a child crash-loop on a port
/// another program holds.
fn check_ports_free(settings: &UpSettings) -> anyhow::Result<()> {
    let mut listeners: Vec<(&str, String, std::net::SocketAddr)> = Role::ALL
        .into_iter()
        .map(|role| {
            (
                role.name(),
                format!("{}-port", role.name()),
                settings.listen(role),
            )
        })
        .collect();
    if !settings.gateway.no_tls {
        listeners.push((
            "gateway (HTTPS)",
            "tls-port".to_owned(),
            settings.place.listen(settings.gateway.tls_port),
        ));
    }
    for (name, flag, addr) in listeners {
        if let Err(error) = TcpListener::bind(addr) {
            bail!(
                "{name} cannot listen on {addr}: {error}; choose another port with --{flag} or MSA_{}",
                flag.replace('-', "_").to_uppercase()
            );
        }
    }
    Ok(())
}

/// Runs one child until shutdown, restarting it whenever it exits.
async fn supervise(
    role: Role,
    mut command: Command,
    format: LogFormat,
    shutdown: CancellationToken,
) {
    let name = role.name();
    let mut backoff = FIRST_BACKOFF;
    loop {
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(error) => {
                tracing::error!(service = name, %error, "could not start");
                if sleep_or_shutdown(backoff, &shutdown).await {
                    return;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        let pid = child.id();
        // Held, never written: the pipe closes only when this process dies, which is how
        // the child learns that its supervisor is gone (`Child::wait` would close it).
        let _lifeline = child.stdin.take();
        tracing::debug!(service = name, pid, "started");
        relay_output(name, format, &mut child);
        let began = Instant::now();
        tokio::select! {
            status = child.wait() => {
                if shutdown.is_cancelled() {
                    return;
                }
                if began.elapsed() > HEALTHY_AFTER {
                    backoff = FIRST_BACKOFF;
                }
                tracing::warn!(
                    service = name,
                    status = describe(status.ok()),
                    restart_in_ms = backoff.as_millis() as u64,
                    "service exited; restarting"
                );
                if sleep_or_shutdown(backoff, &shutdown).await {
                    return;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            () = shutdown.cancelled() => {
                stop(name, pid, &mut child).await;
                return;
            }
        }
    }
}

/// SIGTERM, then SIGKILL if the child has not exited within [`STOP_GRACE`].
async fn stop(name: &str, pid: Option<u32>, child: &mut Child) {
    if let Some(pid) = pid.and_then(|pid| i32::try_from(pid).ok()) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    }
    match tokio::time::timeout(STOP_GRACE, child.wait()).await {
        Ok(status) => tracing::info!(service = name, status = describe(status.ok()), "stopped"),
        Err(_) => {
            let _ = child.kill().await;
            tracing::warn!(service = name, "did not stop in time; killed");
        }
    }
}

async fn sleep_or_shutdown(duration: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(duration) => false,
        () = shutdown.cancelled() => true,
    }
}

/// The allocator setting every service runs with (see the image's Dockerfile too).
const LAZY_COMMIT: (&str, &str) = ("MIMALLOC_ARENA_EAGER_COMMIT", "0");

fn describe(status: Option<ExitStatus>) -> String {
    status.map_or_else(|| "unknown".to_owned(), |status| status.to_string())
}

fn relay_output(name: &'static str, format: LogFormat, child: &mut Child) {
    if let Some(stdout) = child.stdout.take() {
        tokio::spawn(relay_lines(name, format, stdout));
    }
    if let Some(stderr) = child.stderr.take() {
        tokio::spawn(relay_lines(name, format, stderr));
    }
}

/// Copies a child's output to ours, whole lines only, so that lines of different services
/// never mix. JSON lines pass unchanged (each service stamps its own name into them); text
/// lines get the service's name in front. Everything a read brought goes out in one write:
/// under load a read brings many lines, and a write each was the supervisor's main cost.
async fn relay_lines(name: &'static str, format: LogFormat, mut stream: impl AsyncRead + Unpin) {
    let prefix = match format {
        LogFormat::Text => format!("{name:<8} | "),
        LogFormat::Json => String::new(),
    };
    let mut pending: Vec<u8> = Vec::with_capacity(RELAY_CHUNK);
    let mut out: Vec<u8> = Vec::with_capacity(RELAY_CHUNK * 2);
    loop {
        match stream.read_buf(&mut pending).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        // A line longer than the buffer goes out in pieces rather than growing it forever.
        let complete = match pending.iter().rposition(|byte| *byte == b'\n') {
            Some(last) => last + 1,
            None if pending.len() >= RELAY_CHUNK => pending.len(),
            None => continue,
        };
        for line in pending[..complete].split_inclusive(|byte| *byte == b'\n') {
            out.extend_from_slice(prefix.as_bytes());
            out.extend_from_slice(line);
            if line.last() != Some(&b'\n') {
                out.push(b'\n');
            }
        }
        pending.drain(..complete);
        let _ = std::io::stderr().lock().write_all(&out);
        out.clear();
    }
    if !pending.is_empty() {
        pending.push(b'\n');
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(prefix.as_bytes());
        let _ = stderr.write_all(&pending);
    }
}

/// How much of a child's output the relay reads at once.
const RELAY_CHUNK: usize = 64 * 1024;

/// Polls every service's `/readyz` until all answer 200.
async fn wait_until_ready(settings: &UpSettings) -> anyhow::Result<()> {
    let timeout = Duration::from_millis(500);
    // With mutual TLS the services answer HTTPS only; the probe needs no certificate of
    // its own, but checks theirs.
    let internal = settings
        .internal_tls
        .load(kit::identity::GATEWAY, &settings.place.data_dir)?;
    let client = match &internal {
        Some(tls) => kit::calling::transport::client_with_tls(
            tls.client_config_without_certificate(&kit::identity::options::PARTIES)?,
            timeout,
            timeout,
        ),
        None => kit::calling::transport::http_client(timeout),
    };
    let deadline = Instant::now() + READY_TIMEOUT;
    for role in Role::ALL {
        let base = settings.url(role);
        let base = match (&internal, role) {
            (Some(_), Role::Users | Role::Products | Role::Orders) => {
                kit::serving::internal_tls::https(&base)
            }
            _ => base,
        };
        let url = format!("{base}/readyz");
        loop {
            let ready = client
                .get(&url)
                .send()
                .await
                .is_ok_and(|response| response.status().is_success());
            if ready {
                break;
            }
            if Instant::now() > deadline {
                bail!("{} was not ready within {READY_TIMEOUT:?}", role.name());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    Ok(())
}

fn print_table(settings: &UpSettings, tls: Option<&TlsFiles>, elapsed: Duration) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "\nmsa-shop is up in {} ms\n", elapsed.as_millis());
    let _ = writeln!(out, "  {:<10} {:<28} ROLE", "SERVICE", "ADDRESS");
    let https = tls.map(|_| format!("https://localhost:{}", settings.gateway.tls_port));
    if let Some(https) = &https {
        let _ = writeln!(
            out,
            "  {:<10} {https:<28} public entry point: /api/v1/..., /docs, /openapi.json",
            "gateway"
        );
    }
    for role in [Role::Gateway, Role::Users, Role::Products, Role::Orders] {
        let what = match role {
            Role::Gateway
                if settings.gateway_settings().plain_http() == gateway::PlainHttp::Serve =>
            {
                "public entry point over plain HTTP (for this machine)"
            }
            Role::Gateway => "plain HTTP: redirects to HTTPS",
            Role::Users => "user-service (internal)",
            Role::Products => "product-service (internal)",
            Role::Orders => "order-service (internal)",
        };
        let url = settings.url(role);
        let internal_tls = settings
            .internal_tls
            .dir(&settings.place.data_dir)
            .is_some();
        let url = if internal_tls && role != Role::Gateway {
            kit::serving::internal_tls::https(&url)
        } else {
            url
        };
        let _ = writeln!(out, "  {:<10} {:<28} {what}", role.name(), url);
    }
    if let Some(TlsFiles {
        files,
        local_ca,
        created,
    }) = tls
    {
        match local_ca {
            Some(ca) => {
                let _ = writeln!(
                    out,
                    "\n  TLS: certificate signed by the local CA {}{}\n  try: curl --cacert {} {}/hello",
                    ca.ca.display(),
                    if *created { " (created now)" } else { "" },
                    ca.ca.display(),
                    https.as_deref().unwrap_or_default()
                );
            }
            None => {
                let _ = writeln!(out, "\n  TLS: certificate {}", files.cert.display());
            }
        }
    }
    let accounts = if settings.place.production {
        "production: no demo accounts; `msa admin create` makes the first administrator".to_owned()
    } else {
        format!(
            "demo passwords: {}",
            settings
                .place
                .data_dir
                .join("demo-credentials.json")
                .display()
        )
    };
    let _ = writeln!(
        out,
        "\n  data: {}   {accounts}\n  stop: Ctrl-C\n",
        settings.place.data_dir.display(),
    );
    let _ = out.flush();
}
