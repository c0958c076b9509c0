//! `msa audit engine`: the Docker engine seen from a host account, through its API socket
//! ([`crate::docker`]): who can reach the socket ([`access`]), how the daemon is set up
//! ([`daemon`]) and what its running containers may do to the host ([`containers`]).

pub mod access;
pub mod containers;
pub mod daemon;

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;
use time::Date;

use crate::docker::{Engine, EngineError};
use crate::report::{self, Finding, Severity};

#[derive(Debug, Serialize)]
pub struct Report {
    pub tool: &'static str,
    pub version: &'static str,
    pub date: String,
    pub endpoint: String,
    /// `None` over TCP, or when the socket cannot be read.
    pub socket: Option<access::SocketAccess>,
    pub daemon: daemon::Daemon,
    pub containers: Vec<containers::Container>,
    /// Worst first.
    pub findings: Vec<Finding>,
}

/// Audits the engine `engine` reaches, reading local accounts from `etc` (`/etc`).
pub async fn inspect(engine: &Engine, etc: &Path, today: Date) -> Result<Report, EngineError> {
    let info: daemon::Info = engine.get_json("/info").await?;
    let version: daemon::Version = engine.get_json("/version").await?;
    // A daemon started with --bridge=none has no default bridge: nothing to report there.
    let bridge: Option<daemon::Network> = engine.get_json("/networks/bridge").await.ok();
    let listed: Vec<containers::Listed> = engine.get_json("/containers/json").await?;
    let mut inspected = Vec::with_capacity(listed.len());
    for container in &listed {
        match engine
            .get_json::<containers::Inspected>(&format!("/containers/{}/json", container.id))
            .await
        {
            Ok(found) => inspected.push(found),
            // Gone between the list and the look: nothing to audit.
            Err(EngineError::Status { status: 404, .. }) => {}
            Err(error) => return Err(error),
        }
    }
    let mut findings = Vec::new();
    let socket = match engine.socket() {
        Some(path) => {
            let (access, found) = access::inspect(path, &access::Accounts::read(etc));
            findings.extend(found);
            access
        }
        None => {
            findings.push(
                Finding::new(
                    "engine.tcp",
                    Severity::Critical,
                    "The engine answers over TCP without TLS: whoever reaches the port is root on the host",
                )
                .evidence(format!("the audit reached it at {} with no certificate", engine.endpoint()))
                .fix("Listen on the unix socket only, or require TLS client certificates (--tlsverify)"),
            );
            None
        }
    };
    let (daemon, found) = daemon::inspect(&info, &version, bridge.as_ref(), today);
    findings.extend(found);
    let mut sockets = vec![
        "/var/run/docker.sock".to_owned(),
        "/run/docker.sock".to_owned(),
    ];
    sockets.extend(engine.socket().map(|path| path.display().to_string()));
    let (containers, found) = containers::inspect(&inspected, &sockets);
    findings.extend(found);
    Ok(Report {
        tool: "msa audit engine",
        version: env!("CARGO_PKG_VERSION"),
        date: today.to_string(),
        endpoint: engine.endpoint().to_string(),
        socket,
        daemon,
        containers,
        findings: report::sorted(findings),
    })
}

impl Report {
    pub fn worst(&self) -> Option<Severity> {
        report::worst(&self.findings)
    }

    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} {}  ({}, {})\n",
            self.tool, self.version, self.endpoint, self.date
        );
        match &self.socket {
            Some(socket) => {
                let _ = writeln!(
                    out,
                    "Socket      {} {}:{} mode {}; reachable by {}",
                    socket.path,
                    socket.owner,
                    socket.group,
                    socket.mode,
                    socket.reachable_by.join(", ")
                );
            }
            None => {
                let _ = writeln!(out, "Socket      none read");
            }
        }
        let d = &self.daemon;
        let _ = writeln!(
            out,
            "Engine      {} (API {}) on {}, kernel {}: {}",
            d.version, d.api_version, d.host_os, d.kernel, d.support
        );
        let _ = writeln!(
            out,
            "            {}; user namespaces {}; live-restore {}; ICC on the default bridge {}",
            if d.rootless {
                "rootless"
            } else {
                "runs as root"
            },
            if d.user_namespaces { "on" } else { "off" },
            if d.live_restore { "on" } else { "off" },
            match d.inter_container_communication {
                Some(true) => "on",
                Some(false) => "off",
                None => "unknown",
            }
        );
        let _ = writeln!(
            out,
            "            security options: {}",
            if d.security_options.is_empty() {
                "none".to_owned()
            } else {
                d.security_options.join(" ")
            }
        );
        let _ = writeln!(out, "Containers  {} running", self.containers.len());
        for container in &self.containers {
            let _ = writeln!(
                out,
                "  {:<12} {:<28} {:<24} user {:<12} {}",
                container.id,
                container.name,
                container.image,
                if container.user.is_empty() {
                    "(root)"
                } else {
                    &container.user
                },
                container.published.join(" ")
            );
        }
        let _ = writeln!(out, "\nFindings    {}", report::tally(&self.findings));
        report::render_findings(&mut out, &self.findings);
        out
    }
}
