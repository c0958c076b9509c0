//! The image audit's report: what the image is, what it holds and its findings, as text
//! for people and JSON for machines. Nothing in it quotes a history command, an
//! environment value or a file's contents: those are where secrets are.

use std::fmt::Write as _;

use serde::Serialize;

use crate::container::os::OperatingSystem;
use crate::report::{self, Finding};

use super::runtimes::Runtime;

/// Files and layers listed as the biggest.
pub const BIGGEST: usize = 8;

#[derive(Debug, Serialize)]
pub struct Report {
    pub tool: &'static str,
    pub version: &'static str,
    pub date: String,
    /// What was read: an archive's or layout's path, or `engine:<name>`.
    pub source: String,
    pub tags: Vec<String>,
    pub config: ConfigSummary,
    pub operating_system: OperatingSystem,
    pub runtimes: Vec<Runtime>,
    pub size: Size,
    /// Worst first.
    pub findings: Vec<Finding>,
}

#[derive(Debug, Serialize)]
pub struct ConfigSummary {
    /// As configured; empty means root.
    pub user: String,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub exposed_ports: Vec<String>,
    pub healthcheck: bool,
    /// Names only: values may be secrets.
    pub environment: Vec<String>,
    pub labels: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
pub struct Size {
    /// The layers as stored, summed.
    pub total: u64,
    pub files: usize,
    /// Files a later layer deleted or replaced: still shipped.
    pub deleted_files: usize,
    pub layers: Vec<Layer>,
    pub biggest_files: Vec<File>,
}

#[derive(Debug, Serialize)]
pub struct Layer {
    pub index: usize,
    pub size: u64,
    /// The Dockerfile instruction that made it (`RUN`, `COPY`...), not its command line.
    pub instruction: String,
}

#[derive(Debug, Serialize)]
pub struct File {
    pub path: String,
    pub size: u64,
    pub layer: usize,
    pub deleted: bool,
}

/// `12.3 MiB`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

impl Report {
    pub fn worst(&self) -> Option<report::Severity> {
        report::worst(&self.findings)
    }

    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} {}  ({}, {})\n",
            self.tool, self.version, self.source, self.date
        );
        let or_none = |list: &[String]| {
            if list.is_empty() {
                "none".to_owned()
            } else {
                list.join(" ")
            }
        };
        let _ = writeln!(out, "Tags        {}", or_none(&self.tags));
        let config = &self.config;
        let _ = writeln!(
            out,
            "User        {}",
            if config.user.is_empty() {
                "(none: root)".to_owned()
            } else {
                config.user.clone()
            }
        );
        let _ = writeln!(
            out,
            "Runs        {}",
            or_none(&[config.entrypoint.clone(), config.cmd.clone()].concat())
        );
        let _ = writeln!(out, "Ports       {}", or_none(&config.exposed_ports));
        let _ = writeln!(
            out,
            "Healthcheck {}",
            if config.healthcheck { "yes" } else { "no" }
        );
        let _ = writeln!(
            out,
            "Environment {} (names only)",
            or_none(&config.environment)
        );
        let os = &self.operating_system;
        let os_line = os.summary();
        let _ = writeln!(out, "OS          {os_line}");
        let runtimes: Vec<String> = self
            .runtimes
            .iter()
            .map(|runtime| {
                let end = runtime
                    .end_of_life
                    .as_deref()
                    .map_or(String::new(), |end| format!(", end of life {end}"));
                format!(
                    "{} {} ({}{end})",
                    runtime.name, runtime.version, runtime.evidence
                )
            })
            .collect();
        let _ = writeln!(out, "Runtimes    {}", or_none(&runtimes));
        let size = &self.size;
        let _ = writeln!(
            out,
            "Size        {} in {} layers; {} files, {} more deleted or replaced by later layers but still shipped",
            human(size.total),
            size.layers.len(),
            size.files,
            size.deleted_files
        );
        let mut layers: Vec<&Layer> = size.layers.iter().collect();
        layers.sort_by_key(|layer| std::cmp::Reverse(layer.size));
        for layer in layers.iter().take(BIGGEST.min(3)) {
            let _ = writeln!(
                out,
                "            layer {:<3} {:>10}  {}",
                layer.index,
                human(layer.size),
                layer.instruction
            );
        }
        for file in size.biggest_files.iter().take(5) {
            let _ = writeln!(
                out,
                "            file  {:>14}  /{} (layer {}{})",
                human(file.size),
                file.path,
                file.layer,
                if file.deleted { ", deleted later" } else { "" }
            );
        }
        let _ = writeln!(out, "\nFindings    {}", report::tally(&self.findings));
        report::render_findings(&mut out, &self.findings);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human(512), "512 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(20 * 1024 * 1024), "20.0 MiB");
        assert_eq!(human(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }
}
