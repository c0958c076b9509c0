//! The report of `msa bench`: every run's figures, the medians over rounds, the ratios to the
//! peers and the ceiling, the targets met or missed, and the services' memory; as
//! JSON, as Markdown, and as an SVG plot of the latency percentiles.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;
use serde_json::{Value, json};

use super::measurement::{Measurement, median};
use super::scenario::{BARE, CEILING, FLASK, NGINX, SHOP, Scenario};
use super::{CompareArgs, Peer};

/// A case's system at one pace, over its rounds.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub case: String,
    pub system: String,
    pub pace: String,
    pub rate: Option<f64>,
    pub rounds: usize,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub failed: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub target: String,
    pub goal: String,
    pub measured: String,
    /// `None` when the run did not measure what the target needs.
    pub met: Option<bool>,
}

/// Issue 14's targets that are ratios of closed-loop throughput: (target, case, peer, at least).
const RATIO_TARGETS: [(&str, &str, &str, f64); 4] = [
    (
        "order-read: shop / ceiling throughput",
        "order-read",
        CEILING,
        0.35,
    ),
    (
        "order-read: shop / Flask throughput",
        "order-read",
        FLASK,
        12.0,
    ),
    ("hello: shop / bare axum throughput", "hello", BARE, 0.5),
    (
        "catalog-get: shop / ceiling single hop throughput",
        "catalog-get",
        CEILING,
        0.5,
    ),
];

pub struct Report {
    date: String,
    binary: String,
    settings: Value,
    pub measurements: Vec<Measurement>,
    pub memory_idle: Vec<(String, f64)>,
    pub memory_after_mixed: Vec<(String, f64)>,
    pub memory_run_s: f64,
}

impl Report {
    pub fn new(bin: &Path, args: &CompareArgs, scenarios: &[Scenario], peers: &[Peer]) -> Self {
        let date = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        Self {
            date,
            binary: bin.display().to_string(),
            settings: json!({
                "scenarios": scenarios.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>(),
                "peers": peers.iter().map(|p| format!("{p:?}")).collect::<Vec<_>>(),
                "connections": args.connections,
                "duration_s": args.duration_s,
                "warmup_s": args.warmup_s,
                "rounds": args.rounds,
                "open_fraction": args.open_fraction,
                "memory_s": args.memory_s,
                "idle_s": args.idle_s,
            }),
            measurements: Vec::new(),
            memory_idle: Vec::new(),
            memory_after_mixed: Vec::new(),
            memory_run_s: 0.0,
        }
    }

    pub fn failed_runs(&self) -> usize {
        self.measurements.iter().filter(|m| m.failed()).count()
    }

    pub fn summaries(&self) -> Vec<Summary> {
        let mut groups: Vec<(String, String, String, Vec<&Measurement>)> = Vec::new();
        for measurement in &self.measurements {
            let key = (&measurement.case, &measurement.system, &measurement.pace);
            match groups
                .iter_mut()
                .find(|(case, system, pace, _)| (case, system, pace) == key)
            {
                Some(group) => group.3.push(measurement),
                None => groups.push((
                    key.0.clone(),
                    key.1.clone(),
                    key.2.clone(),
                    vec![measurement],
                )),
            }
        }
        groups
            .into_iter()
            .map(|(case, system, pace, runs)| {
                let of = |field: fn(&Measurement) -> f64| {
                    median(&runs.iter().map(|m| field(m)).collect::<Vec<_>>())
                };
                Summary {
                    case,
                    system,
                    pace,
                    rate: runs[0].rate,
                    rounds: runs.len(),
                    rps: of(|m| m.rps),
                    p50_ms: of(|m| m.p50_ms),
                    p99_ms: of(|m| m.p99_ms),
                    p999_ms: of(|m| m.p999_ms),
                    failed: runs.iter().any(|m| m.failed()),
                }
            })
            .collect()
    }

    fn find<'a>(
        summaries: &'a [Summary],
        case: &str,
        system: &str,
        pace: &str,
    ) -> Option<&'a Summary> {
        summaries
            .iter()
            .find(|s| s.case == case && s.system == system && s.pace == pace && !s.failed)
    }

    /// Our throughput over a peer's, closed loop, from the same run.
    fn ratio(summaries: &[Summary], case: &str, peer: &str) -> Option<f64> {
        let shop = Self::find(summaries, case, SHOP, "closed")?;
        let peer = Self::find(summaries, case, peer, "closed")?;
        Some(shop.rps / peer.rps)
    }

    pub fn targets(&self) -> Vec<Target> {
        let summaries = self.summaries();
        let mut targets = Vec::new();
        let mut at_least = |target: &str, goal: f64, measured: Option<f64>| {
            targets.push(Target {
                target: target.to_owned(),
                goal: format!(">= {goal}"),
                measured: measured.map_or("not measured".to_owned(), |m| format!("{m:.2}")),
                met: measured.map(|m| m >= goal),
            });
        };
        for (target, case, peer, goal) in RATIO_TARGETS {
            at_least(target, goal, Self::ratio(&summaries, case, peer));
        }
        at_least(
            "order-write: shop req/s (4 x the 530/s of issue 14; absolute, this machine)",
            2120.0,
            Self::find(&summaries, "order-write", SHOP, "closed").map(|s| s.rps),
        );
        let nginx = Self::find(&summaries, "catalog-get", NGINX, "closed");
        let ceiling = Self::find(&summaries, "catalog-get", CEILING, "closed");
        targets.push(Target {
            target: "catalog-get: nginx / ceiling single hop throughput (beside ours)".into(),
            goal: "reported".into(),
            measured: match (nginx, ceiling) {
                (Some(nginx), Some(ceiling)) => format!("{:.2}", nginx.rps / ceiling.rps),
                _ => "not measured".into(),
            },
            met: None,
        });
        let open = |system| Self::find(&summaries, "order-read", system, "open");
        let p99 = match (open(SHOP), open(CEILING), open(FLASK)) {
            (Some(shop), Some(ceiling), Some(flask)) => Some((shop, ceiling.p99_ms, flask.p99_ms)),
            _ => None,
        };
        targets.push(Target {
            target: "order-read: shop p99 below the ceiling's and Flask's at the same rate".into(),
            goal: "lower than both".into(),
            measured: p99.map_or("not measured".into(), |(shop, ceiling, flask)| {
                format!(
                    "{:.2} ms vs {ceiling:.2} and {flask:.2} ms at {:.0}/s",
                    shop.p99_ms,
                    shop.rate.unwrap_or_default()
                )
            }),
            met: p99.map(|(shop, ceiling, flask)| shop.p99_ms < ceiling && shop.p99_ms < flask),
        });
        let mut memory = |target: &str, limit: f64, services: &[(String, f64)]| {
            let largest = services
                .iter()
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(name, mib)| (name.clone(), *mib));
            targets.push(Target {
                target: target.to_owned(),
                goal: format!("< {limit} MiB each"),
                measured: largest
                    .as_ref()
                    .map_or("not measured".into(), |(name, mib)| {
                        format!("largest: {name} {mib:.1} MiB")
                    }),
                met: largest.map(|(_, mib)| mib < limit),
            });
        };
        memory("memory idle (RSS)", 30.0, &self.memory_idle);
        memory(
            &format!("memory after {} s of mixed (RSS)", self.memory_run_s),
            100.0,
            &self.memory_after_mixed,
        );
        targets
    }

    fn json(&self) -> Value {
        json!({
            "date": self.date,
            "machine": machine(),
            "commit": commit(),
            "binary": self.binary,
            "settings": self.settings,
            "summary": self.summaries(),
            "targets": self.targets(),
            "memory": {
                "idle_mib": self.memory_idle,
                "after_mixed_mib": self.memory_after_mixed,
                "mixed_run_s": self.memory_run_s,
            },
            "measurements": self.measurements,
        })
    }

    /// The tables, as Markdown.
    pub fn summary(&self) -> String {
        let summaries = self.summaries();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "| case | system | pace | req/s | shop ÷ this | p50 ms | p99 ms | p99.9 ms |"
        );
        let _ = writeln!(out, "|---|---|---|---:|---:|---:|---:|---:|");
        for summary in &summaries {
            let shop = Self::find(&summaries, &summary.case, SHOP, &summary.pace);
            let versus = match shop {
                Some(shop) if summary.system != SHOP && summary.pace != "open" => {
                    format!("{:.2}x", shop.rps / summary.rps)
                }
                _ => String::new(),
            };
            let pace = match summary.rate {
                Some(rate) => format!("open {rate:.0}/s"),
                None => summary.pace.clone(),
            };
            let failed = if summary.failed { " FAILED" } else { "" };
            let _ = writeln!(
                out,
                "| {} | {}{failed} | {pace} | {:.0} | {versus} | {:.2} | {:.2} | {:.2} |",
                summary.case,
                summary.system,
                summary.rps,
                summary.p50_ms,
                summary.p99_ms,
                summary.p999_ms
            );
        }
        let _ = writeln!(out, "\n| target | goal | measured | met |");
        let _ = writeln!(out, "|---|---|---|---|");
        for target in self.targets() {
            let met = match target.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "-",
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {met} |",
                target.target, target.goal, target.measured
            );
        }
        out
    }

    fn markdown(&self, svg_name: &str) -> String {
        let machine = machine();
        let mut out = format!(
            "# msa bench, {}\n\nCommit {}, binary `{}`.\nMachine: {} ({} cores, {} GiB), Linux {}.\n\
             Settings: {}.\n\n\"shop ÷ this\" is the shop's closed-loop throughput over \
             that system's, from this one run. Open-loop runs hold one rate for every system of a \
             case (a fraction of the slowest one's peak), latency counted from each request's \
             due time.\n\n",
            self.date,
            commit(),
            self.binary,
            machine["cpu"].as_str().unwrap_or("?"),
            machine["cores"],
            machine["memory_gib"],
            machine["kernel"].as_str().unwrap_or("?"),
            self.settings
        );
        out.push_str(&self.summary());
        let _ = writeln!(
            out,
            "\n| service | idle MiB | after {} s mixed MiB |",
            self.memory_run_s
        );
        let _ = writeln!(out, "|---|---:|---:|");
        for (name, idle) in &self.memory_idle {
            let after = self
                .memory_after_mixed
                .iter()
                .find(|(other, _)| other == name)
                .map_or("-".to_owned(), |(_, mib)| format!("{mib:.1}"));
            let _ = writeln!(out, "| {name} | {idle:.1} | {after} |");
        }
        let _ = writeln!(out, "\n![latency percentiles]({svg_name})");
        out
    }

    /// Writes <date>.json, <date>.md and <date>.svg into `dir`.
    pub fn write(&self, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("Failed to create {}", dir.display()))?;
        let stem = self.date.get(..10).unwrap_or("bench").to_owned();
        let svg_name = format!("{stem}.svg");
        let files = [
            (
                format!("{stem}.json"),
                serde_json::to_string_pretty(&self.json())?,
            ),
            (format!("{stem}.md"), self.markdown(&svg_name)),
            (svg_name, super::plot::percentiles(&self.measurements)?),
        ];
        let mut written = Vec::new();
        for (name, text) in files {
            let path = dir.join(name);
            std::fs::write(&path, text)
                .with_context(|| format!("Failed to write {}", path.display()))?;
            written.push(path);
        }
        Ok(written)
    }
}

fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let memory_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("MemTotal:"))?
                .split_whitespace()
                .next()?
                .parse::<f64>()
                .ok()
        })
        .map_or(0.0, |kib| (kib / 1024.0 / 1024.0).round());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|text| text.trim().to_owned())
        .unwrap_or_default();
    json!({
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "memory_gib": memory_gib,
        "kernel": kernel,
    })
}

/// The checkout's commit, marked when it has uncommitted changes.
fn commit() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|output| output.status.success())
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    };
    match git(&["rev-parse", "--short=12", "HEAD"]) {
        Some(commit) => match git(&["status", "--porcelain", "--untracked-files=no"]) {
            Some(changes) if !changes.is_empty() => format!("{commit} (with uncommitted changes)"),
            _ => commit,
        },
        None => "unknown (not run in a git checkout)".to_owned(),
    }
}
