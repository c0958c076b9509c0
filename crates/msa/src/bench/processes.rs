//! Starting and stopping what a bench measures: child processes on free loopback ports,
//! each waited on until it answers, and each stopped when the bench ends, even on error.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

/// A port on 127.0.0.1 that was free a moment ago, below the kernel's ephemeral range: a port
/// inside it can be taken by any outgoing connection between the pick and the bind.
pub fn free_address() -> anyhow::Result<SocketAddr> {
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    for _ in 0..1000 {
        let port = rand::random_range(10_000..low.max(10_001));
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        if TcpListener::bind(address).is_ok() {
            return Ok(address);
        }
    }
    bail!("no free port below {low} on 127.0.0.1")
}

/// A child process that is stopped (SIGINT, then SIGKILL after 10 s) when dropped or stopped.
pub struct Process {
    pub name: String,
    child: Child,
}

impl Process {
    /// Starts `command` with its output appended to `log`.
    pub fn start(name: &str, mut command: Command, log: &Path) -> anyhow::Result<Self> {
        let output = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("Failed to open {}", log.display()))?;
        command
            .stdin(Stdio::null())
            .stdout(output.try_clone()?)
            .stderr(output)
            .kill_on_drop(true);
        let child = command
            .spawn()
            .with_context(|| format!("Failed to start {name}"))?;
        Ok(Self {
            name: name.to_owned(),
            child,
        })
    }

    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }

    /// Waits until `url` answers 2xx, failing early if the process exits.
    pub async fn wait_ready(&mut self, url: &str, log: &Path) -> anyhow::Result<()> {
        let client = kit::calling::transport::http_client(Duration::from_secs(2));
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut pause = Duration::from_millis(20);
        loop {
            if let Ok(answer) = client.get(url).send().await
                && answer.status().is_success()
            {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{} exited ({status}) before it was ready; see {}",
                    self.name,
                    log.display()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "{} was not ready within 60 s; see {}",
                    self.name,
                    log.display()
                );
            }
            // Polling a port that is not open yet has no event to wait on.
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }

    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGINT,
            );
            if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
                .await
                .is_ok()
            {
                return;
            }
        }
        let _ = self.child.kill().await;
    }
}

/// The resident memory of `pid`, in MiB.
pub fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

/// The children of `pid`, each with the arguments it was started with.
pub fn children(pid: u32) -> Vec<(u32, Vec<String>)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let child: u32 = entry.file_name().to_str()?.parse().ok()?;
            let status = std::fs::read_to_string(entry.path().join("status")).ok()?;
            let parent: u32 = status
                .lines()
                .find_map(|line| line.strip_prefix("PPid:"))?
                .trim()
                .parse()
                .ok()?;
            if parent != pid {
                return None;
            }
            let arguments = std::fs::read(entry.path().join("cmdline")).ok()?;
            let arguments = arguments
                .split(|byte| *byte == 0)
                .map(|part| String::from_utf8_lossy(part).into_owned())
                .collect();
            Some((child, arguments))
        })
        .collect()
}
