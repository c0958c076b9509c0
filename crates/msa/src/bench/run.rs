//! The two ways to run a bench: `compare` (start everything, measure each case's systems in
//! turn, write the report) and `drive_running` (load a running shop, for soaks).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;

use super::drive::{self, Load, Outcome, Pace, Progress};
use super::measurement::{Measurement, median};
use super::plan::Plan;
use super::progress::Bar;
use super::report::Report;
use super::scenario::{self, Scenario};
use super::systems::{self, Ceiling, Flask, Nginx, Shop, Systems};
use super::{CompareArgs, DriveArgs, Mode, Peer};

/// A length given in seconds; zero only where `zero_allowed`.
fn seconds(value: f64, what: &str, zero_allowed: bool) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|duration| zero_allowed || !duration.is_zero())
        .with_context(|| format!("the {what} must be a positive number of seconds"))
}

async fn measure(plan: &Arc<Plan>, load: Load, label: String) -> Outcome {
    let progress = Arc::new(Progress::default());
    let bar = Bar::start(label, load.duration, progress.clone());
    let outcome = drive::run(plan.clone(), load, progress).await;
    bar.finish();
    outcome
}

pub async fn compare(args: CompareArgs) -> anyhow::Result<()> {
    seconds(args.duration_s, "duration", false)?;
    seconds(args.warmup_s, "warm-up", true)?;
    if !(args.open_fraction > 0.0 && args.open_fraction <= 1.0) {
        bail!("--open-fraction must be above 0 and at most 1");
    }
    let scenarios = if args.scenarios.is_empty() {
        Scenario::ALL.to_vec()
    } else {
        args.scenarios.clone()
    };
    let peers = if args.no_peers {
        Vec::new()
    } else {
        args.peers.clone()
    };
    let bin = match &args.bin {
        Some(bin) => bin.clone(),
        None => std::env::current_exe().context("Failed to find this program")?,
    };
    let work = systems::work_dir()?;
    let mut report = Report::new(&bin, &args, &scenarios, &peers);
    let measured =
        start_and_measure(&bin, &args, &scenarios, &peers, work.path(), &mut report).await;
    if let Err(error) = measured {
        // The logs tell why: keep them.
        let kept = work.keep();
        return Err(error.context(format!("the logs are in {}", kept.display())));
    }
    let written = report.write(&args.out)?;
    eprintln!("\n{}", report.summary());
    for path in written {
        eprintln!("msa bench: wrote {}", path.display());
    }
    let failed = report.failed_runs();
    if failed > 0 {
        bail!("{failed} run(s) had failed requests: their figures do not count (see the report)");
    }
    Ok(())
}

async fn start_and_measure(
    bin: &std::path::Path,
    args: &CompareArgs,
    scenarios: &[Scenario],
    peers: &[Peer],
    work: &std::path::Path,
    report: &mut Report,
) -> anyhow::Result<()> {
    let duration = seconds(args.duration_s, "duration", false)?;
    let warmup = seconds(args.warmup_s, "warm-up", true)?;
    eprintln!("msa bench: starting the shop and {} peer(s)", peers.len());
    let shop = Shop::start(bin, work, "shop", &[]).await?;
    // Nothing to wait on: idle is a span of time with nothing happening.
    let idle = seconds(args.idle_s, "idle time", true)?;
    if !idle.is_zero() {
        eprintln!("msa bench: the shop idles {idle:?} before its memory is read");
    }
    tokio::time::sleep(idle).await;
    report.memory_idle = shop.memory();
    let systems = match start_peers(shop, args, peers, work).await {
        Ok(systems) => systems,
        Err((shop, error)) => {
            if let Some(process) = shop.process {
                process.stop().await;
            }
            return Err(error);
        }
    };
    let measured = measure_all(&systems, args, scenarios, duration, warmup, report).await;
    systems.stop().await;
    measured
}

/// Starts the peers asked for; on failure hands the shop back so that it can be stopped.
async fn start_peers(
    shop: Shop,
    args: &CompareArgs,
    peers: &[Peer],
    work: &std::path::Path,
) -> Result<Systems, (Shop, anyhow::Error)> {
    let mut systems = Systems {
        shop,
        ceiling: None,
        nginx: None,
        flask: None,
        plain: None,
    };
    let mut start = async || -> anyhow::Result<()> {
        let bin = match &args.bin {
            Some(bin) => bin.clone(),
            None => std::env::current_exe()?,
        };
        // nginx stands in front of the ceiling's leaf, so it needs the ceiling too.
        if peers.contains(&Peer::Ceiling) || peers.contains(&Peer::Nginx) {
            let ceiling = Ceiling::start(&bin, work).await?;
            if peers.contains(&Peer::Nginx) {
                systems.nginx = Some(Nginx::start(&args.nginx, work, ceiling.leaf).await?);
            }
            systems.ceiling = Some(ceiling);
        }
        if peers.contains(&Peer::Flask) {
            let python = args.python.clone().unwrap_or_else(systems::default_python);
            let workers = args.flask_workers.unwrap_or_else(|| {
                2 * std::thread::available_parallelism().map_or(1, |n| n.get()) + 1
            });
            systems.flask = Some(Flask::start(&python, workers, work).await?);
        }
        if peers.contains(&Peer::Plain) {
            systems.plain =
                Some(Shop::start(&bin, work, "shop-plain", &["--no-internal-tls"]).await?);
        }
        Ok(())
    };
    match start().await {
        Ok(()) => Ok(systems),
        Err(error) => {
            let shop = Systems {
                shop: systems.shop,
                ceiling: None,
                nginx: None,
                flask: None,
                plain: None,
            };
            // Stop what did start; the shop goes back to the caller.
            if let Some(process) = systems.plain.and_then(|plain| plain.process) {
                process.stop().await;
            }
            for process in systems
                .ceiling
                .map(|ceiling| ceiling.processes)
                .into_iter()
                .chain(systems.flask.map(|flask| flask.processes))
                .flatten()
            {
                process.stop().await;
            }
            if let Some(nginx) = systems.nginx {
                nginx.process.stop().await;
            }
            Err((shop.shop, error))
        }
    }
}

async fn measure_all(
    systems: &Systems,
    args: &CompareArgs,
    scenarios: &[Scenario],
    duration: Duration,
    warmup: Duration,
    report: &mut Report,
) -> anyhow::Result<()> {
    let closed = |duration| Load {
        pace: Pace::Closed,
        connections: usize::from(args.connections),
        duration,
        window: duration,
    };
    for &scenario in scenarios {
        for case in scenario::cases(scenario, systems) {
            let mut peaks: Vec<Vec<f64>> = vec![Vec::new(); case.contenders.len()];
            for round in 1..=args.rounds {
                for (index, contender) in case.contenders.iter().enumerate() {
                    if !warmup.is_zero() {
                        let label = format!("{} {} warm-up", case.name, contender.system);
                        measure(&contender.plan, closed(warmup), label).await;
                    }
                    let label = format!("{} {} closed", case.name, contender.system);
                    let outcome = measure(&contender.plan, closed(duration), label).await;
                    peaks[index].push(outcome.throughput());
                    let measurement = Measurement::of(
                        &case,
                        contender.system,
                        "closed",
                        None,
                        args,
                        round,
                        &outcome,
                    );
                    eprintln!("{}", measurement.line());
                    report.measurements.push(measurement);
                }
            }
            if args.mode == Mode::Closed {
                continue;
            }
            let slowest = peaks
                .iter()
                .map(|rounds| median(rounds))
                .fold(f64::INFINITY, f64::min);
            let rate = (slowest * args.open_fraction).max(1.0);
            for round in 1..=args.rounds {
                for contender in &case.contenders {
                    let load = Load {
                        pace: Pace::Open { rate },
                        ..closed(duration)
                    };
                    let label = format!("{} {} {rate:.0}/s", case.name, contender.system);
                    let outcome = measure(&contender.plan, load, label).await;
                    let measurement = Measurement::of(
                        &case,
                        contender.system,
                        "open",
                        Some(rate),
                        args,
                        round,
                        &outcome,
                    );
                    eprintln!("{}", measurement.line());
                    report.measurements.push(measurement);
                }
            }
        }
    }
    if scenarios.contains(&Scenario::Mixed) && args.memory_s > 0.0 {
        let length = seconds(args.memory_s, "memory run", false)?;
        let case = scenario::cases(Scenario::Mixed, systems)
            .into_iter()
            .next()
            .context("BUG: the mixed scenario has a case")?;
        let label = format!("mixed {} s for memory", args.memory_s);
        let outcome = measure(&case.contenders[0].plan, closed(length), label).await;
        let measurement = Measurement::of(&case, scenario::SHOP, "memory", None, args, 1, &outcome);
        eprintln!("{}", measurement.line());
        report.measurements.push(measurement);
        report.memory_after_mixed = systems.shop.memory();
        report.memory_run_s = args.memory_s;
    }
    Ok(())
}

/// `msa bench drive`: one scenario against a running shop, reported window by window.
pub async fn drive_running(args: DriveArgs) -> anyhow::Result<()> {
    let duration = seconds(args.duration_s, "duration", false)?;
    let window = seconds(args.window_s, "window", false)?;
    let gateway: SocketAddr = args
        .base
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .context("--base must be http://<ip>:<port>: the bench speaks plain HTTP/1.1")?;
    let shop = Shop::attach(gateway, &args.data_dir).await?;
    let systems = Systems {
        shop,
        ceiling: None,
        nginx: None,
        flask: None,
        plain: None,
    };
    let case = scenario::cases(args.scenario, &systems)
        .into_iter()
        .next()
        .context("BUG: every scenario has a case")?;
    let plan = case.contenders[0].plan.clone();
    let pace = if args.rate > 0.0 {
        Pace::Open { rate: args.rate }
    } else {
        Pace::Closed
    };
    let load = Load {
        pace,
        connections: usize::from(args.connections),
        duration,
        window,
    };
    let pace_text = match pace {
        Pace::Open { rate } => format!("open loop at {rate} requests/s"),
        Pace::Closed => "closed loop".to_owned(),
    };
    eprintln!(
        "msa bench drive: {} ({}), {pace_text}, {} connections, {} s, against {}",
        case.name, case.what, args.connections, args.duration_s, args.base
    );
    // The services' memory, read at the end of every window while the load runs.
    let samples = Arc::new(std::sync::Mutex::new(Vec::<f64>::new()));
    let sampler = args.watch_pid.map(|pid| {
        let samples = samples.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval_at((Instant::now() + window).into(), window);
            loop {
                every.tick().await;
                let total = systems::service_memory(pid)
                    .iter()
                    .map(|(_, mib)| mib)
                    .sum();
                samples
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(total);
            }
        })
    });
    let outcome = measure(&plan, load, format!("{} drive", case.name)).await;
    if let Some(sampler) = sampler {
        sampler.abort();
    }
    let samples = samples.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let windows: Vec<_> = outcome
        .windows
        .iter()
        .enumerate()
        .map(|(index, part)| {
            let rss = samples.get(index).or(samples.last());
            json!({
                "t_s": (index as f64 + 1.0) * args.window_s,
                "requests": part.latency.len(),
                "errors": part.errors,
                "p50_ms": part.latency.value_at_percentile(50.0) as f64 / 1000.0,
                "p99_ms": part.latency.value_at_percentile(99.0) as f64 / 1000.0,
                "max_ms": part.latency.max() as f64 / 1000.0,
                "rss_mib": rss,
            })
        })
        .collect();
    let report = json!({
        "scenario": case.name,
        "rate": args.rate,
        "connections": args.connections,
        "duration_s": outcome.elapsed.as_secs_f64(),
        "requests": outcome.requests,
        "rps": outcome.throughput(),
        "p50_ms": outcome.percentile_ms(50.0),
        "p99_ms": outcome.percentile_ms(99.0),
        "max_ms": outcome.latency.max() as f64 / 1000.0,
        "errors": outcome.errors,
        "unsent": outcome.unsent,
        "windows": windows,
    });
    eprintln!(
        "msa bench drive: {} requests, {:.1} req/s, p50 {:.2} ms, p99 {:.2} ms, errors {:?}, unsent {}",
        outcome.requests,
        outcome.throughput(),
        outcome.percentile_ms(50.0),
        outcome.percentile_ms(99.0),
        outcome.errors,
        outcome.unsent
    );
    if let Some(path) = &args.report {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("Failed to write {}", path.display()))?;
    }
    Ok(())
}
