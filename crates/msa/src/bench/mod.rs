//! `msa bench`: starts the shop, the ceiling and the peers side by side, drives each with
//! the same load generator in turn, and writes a report of throughput, latency percentiles,
//! ratios and memory (`bench/results/<date>.md`, `.json` and `.svg`).
//! `msa bench drive` drives a shop that is already running instead (for soaks).

pub mod ceiling;
mod drive;
mod measurement;
mod plan;
mod plot;
mod processes;
mod progress;
mod report;
mod run;
mod scenario;
mod systems;

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

pub use run::{compare, drive_running};
use scenario::Scenario;

#[derive(Debug, Clone, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub command: Option<BenchCommand>,
    #[command(flatten)]
    pub compare: CompareArgs,
}

#[derive(Debug, Clone, Subcommand)]
pub enum BenchCommand {
    /// Drive a shop that is already running (on loopback, or a test host of your own) with
    /// one scenario, in windows, and report throughput, latency and memory as JSON.
    Drive(DriveArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Peer {
    /// The shop's shape with nothing in it, built in (`msa ceiling`).
    Ceiling,
    /// nginx in front of the ceiling's leaf (needs nginx installed).
    Nginx,
    /// The seed's Flask services under gunicorn (needs flask, gunicorn and requests).
    Flask,
    /// The shop itself with plain HTTP between its services (`--no-internal-tls`): what
    /// mutual TLS costs.
    Plain,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Closed loop only: the peak for a number of connections.
    Closed,
    /// Closed loop, then the open loop at a rate every system of the case sustains.
    Both,
}

#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// Scenarios to run, comma-separated [default: all].
    #[arg(long, value_enum, value_delimiter = ',')]
    pub scenarios: Vec<Scenario>,
    /// Peers measured beside the shop, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Peer::Ceiling, Peer::Nginx, Peer::Flask, Peer::Plain])]
    pub peers: Vec<Peer>,
    /// Measure the shop alone.
    #[arg(long, conflicts_with = "peers")]
    pub no_peers: bool,
    /// Connections of the closed loop (and at most in flight in the open loop).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub connections: u16,
    /// Seconds each measured run lasts.
    #[arg(long, default_value_t = 8.0)]
    pub duration_s: f64,
    /// Seconds of load before each closed-loop run, not counted.
    #[arg(long, default_value_t = 2.0)]
    pub warmup_s: f64,
    /// Times each case measures its systems in turn; the report gives the median.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=20))]
    pub rounds: u16,
    #[arg(long, value_enum, default_value_t = Mode::Both)]
    pub mode: Mode,
    /// The open loop's rate, as a fraction of the slowest system's peak in the case.
    #[arg(long, default_value_t = 0.5)]
    pub open_fraction: f64,
    /// Seconds the shop is left alone after start before its idle memory is read: past
    /// tokio's 10 s keep-alive of blocking threads, so that the start-up's password hashes
    /// are over and their threads gone.
    #[arg(long, default_value_t = 11.0)]
    pub idle_s: f64,
    /// Seconds of the `mixed` run after which the services' memory is read (0: not read).
    #[arg(long, default_value_t = 60.0)]
    pub memory_s: f64,
    /// Where the report goes: <date>.md, <date>.json and <date>.svg.
    #[arg(long, default_value = "bench/results")]
    pub out: PathBuf,
    /// The msa binary to measure [default: this one].
    #[arg(long)]
    pub bin: Option<PathBuf>,
    /// Python with flask, gunicorn and requests [default: target/bench-venv/bin/python if
    /// bench/compare.sh made it, else python3].
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// gunicorn workers per Flask service [default: 2 x cores + 1, as gunicorn advises].
    #[arg(long)]
    pub flask_workers: Option<usize>,
    /// The nginx binary.
    #[arg(long, default_value = "nginx")]
    pub nginx: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct DriveArgs {
    /// Base URL of the gateway (plain HTTP, as `msa up` serves it on loopback).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub base: String,
    /// The shop's data directory, where the demo accounts' passwords are.
    #[arg(long, env = "MSA_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    #[arg(long, value_enum, default_value_t = Scenario::Mixed)]
    pub scenario: Scenario,
    /// Requests per second, open loop; 0 sends as fast as the connections allow.
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Seconds to run.
    #[arg(long, default_value_t = 20.0)]
    pub duration_s: f64,
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub connections: u16,
    /// Seconds per report window.
    #[arg(long, default_value_t = 10.0)]
    pub window_s: f64,
    /// Process id of `msa up`: its services' memory is read every window.
    #[arg(long)]
    pub watch_pid: Option<u32>,
    /// Write the report as JSON to this file.
    #[arg(long)]
    pub report: Option<PathBuf>,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    match args.command {
        Some(BenchCommand::Drive(drive)) => runtime.block_on(drive_running(drive)),
        None => runtime.block_on(compare(args.compare)),
    }
}
