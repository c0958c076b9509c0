//! `msa load`: drives a running shop (on loopback, or a test host of your own) with a mix
//! of catalogue reads, order reads (a fan-out to three services) and order placements,
//! either as fast as a number of connections allows (to find the peak) or at a steady rate
//! whatever the answers (open loop, for soaks: a slow shop does not slow the load down).
//! Every window it prints throughput, errors, latency percentiles and, with `--watch-pid`,
//! the memory of the shop's processes; `--report` writes it all as JSON.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Base URL of the gateway (plain HTTP on loopback, as `msa up` serves it).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base: String,
    /// The shop's data directory, where the demo accounts' passwords are.
    #[arg(long, env = "MSA_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// Requests per second at a steady pace (open loop); 0 sends as fast as the
    /// connections allow (closed loop), to measure the peak.
    #[arg(long, default_value_t = 0)]
    rate: u32,
    /// Seconds to run.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    duration_s: u64,
    /// Requests in flight at most.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=4096))]
    connections: u64,
    /// Percentage of requests that place an order; the rest read a product or an order.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(0..=100))]
    order_percent: u32,
    /// Seconds per progress line and report window.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    window_s: u64,
    /// Process id of `msa up`: the memory (RSS) of its children is sampled every window.
    #[arg(long)]
    watch_pid: Option<u32>,
    /// Write the report as JSON to this file.
    #[arg(long)]
    report: Option<PathBuf>,
}

/// What one window saw.
#[derive(Default)]
struct Window {
    latencies_us: Vec<u32>,
    errors: BTreeMap<String, u64>,
}

struct Shared {
    client: reqwest::Client,
    base: String,
    widget: i64,
    order_percent: u32,
    window: Mutex<Window>,
    sequence: AtomicU64,
    run: String,
}

impl Shared {
    async fn one(&self) {
        let n = self.sequence.fetch_add(1, Ordering::Relaxed);
        let roll = (n * 37 % 100) as u32;
        let request = if roll < self.order_percent {
            self.client
                .post(format!("{}/api/v1/orders", self.base))
                .header("idempotency-key", format!("load-{}-{n}", self.run))
                .json(&json!({"items": [{"product_id": self.widget, "quantity": 1}]}))
        } else if roll.is_multiple_of(2) {
            self.client
                .get(format!("{}/api/v1/products/{}", self.base, self.widget))
        } else {
            self.client.get(format!("{}/api/v1/orders/9001", self.base))
        };
        let started = Instant::now();
        let outcome = match request.send().await {
            Ok(answer) if answer.status().is_success() => {
                // Read the body: a request is done when its answer is.
                answer
                    .bytes()
                    .await
                    .map(drop)
                    .map_err(|_| "body".to_owned())
            }
            Ok(answer) => Err(answer.status().as_u16().to_string()),
            Err(error) if error.is_timeout() => Err("timeout".to_owned()),
            Err(_) => Err("connection".to_owned()),
        };
        let micros = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
        let mut window = self.window.lock().unwrap_or_else(|e| e.into_inner());
        window.latencies_us.push(micros);
        if let Err(kind) = outcome {
            *window.errors.entry(kind).or_default() += 1;
        }
    }
}

pub async fn run(args: LoadArgs) -> anyhow::Result<()> {
    let client = kit::calling::transport::builder()
        .no_proxy()
        .user_agent("msa-load/1.0")
        .timeout(Duration::from_secs(30))
        .build()?;
    let base = args.base.trim_end_matches('/').to_owned();
    let alice = session(&client, &base, &args.data_dir, "alice@example.com").await?;
    let admin = session(&client, &base, &args.data_dir, "admin@example.com").await?;
    let widget = create_widget(&admin, &base).await?;
    let shared = Arc::new(Shared {
        client: alice,
        base,
        widget,
        order_percent: args.order_percent,
        window: Mutex::new(Window::default()),
        sequence: AtomicU64::new(0),
        run: kit::observing::request_id::mint()[..8].to_owned(),
    });
    let mode = if args.rate == 0 {
        format!("closed loop, {} connections", args.connections)
    } else {
        format!(
            "{} requests/s, up to {} in flight",
            args.rate, args.connections
        )
    };
    eprintln!(
        "msa load: {mode}, {} % orders, {} s, against {}",
        args.order_percent, args.duration_s, shared.base
    );
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.duration_s);
    let driver = tokio::spawn(drive(shared.clone(), args.rate, args.connections, deadline));
    let mut windows = Vec::new();
    let mut all = Vec::new();
    let mut errors_total: BTreeMap<String, u64> = BTreeMap::new();
    let window_length = Duration::from_secs(args.window_s);
    let mut next = started + window_length;
    loop {
        let finished = next >= deadline;
        tokio::time::sleep_until(next.min(deadline).into()).await;
        let window = std::mem::take(&mut *shared.window.lock().unwrap_or_else(|e| e.into_inner()));
        let seconds = started.elapsed().as_secs_f64();
        let line = summarize(
            &window,
            window_length.as_secs_f64().min(seconds),
            args.watch_pid,
        );
        eprintln!(
            "  {:>6.0} s  {:>7.1} req/s  errors {:>4}  p50 {:>7.2} ms  p99 {:>7.2} ms{}",
            seconds,
            line["rps"].as_f64().unwrap_or_default(),
            line["errors"].as_u64().unwrap_or_default(),
            line["p50_ms"].as_f64().unwrap_or_default(),
            line["p99_ms"].as_f64().unwrap_or_default(),
            line["rss_mib"]
                .as_f64()
                .map(|mib| format!("  rss {mib:.1} MiB"))
                .unwrap_or_default()
        );
        for (kind, count) in &window.errors {
            *errors_total.entry(kind.clone()).or_default() += count;
        }
        all.extend_from_slice(&window.latencies_us);
        let mut line = line;
        line["t_s"] = json!(seconds.round());
        windows.push(line);
        if finished {
            break;
        }
        next += window_length;
    }
    let skipped = driver.await.context("the load driver failed")?;
    all.sort_unstable();
    let elapsed = started.elapsed().as_secs_f64();
    let report = json!({
        "mode": mode,
        "rate": args.rate,
        "connections": args.connections,
        "order_percent": args.order_percent,
        "duration_s": elapsed.round(),
        "requests": all.len(),
        "rps": all.len() as f64 / elapsed,
        "p50_ms": percentile_ms(&all, 0.50),
        "p99_ms": percentile_ms(&all, 0.99),
        "max_ms": percentile_ms(&all, 1.0),
        "errors": errors_total,
        "skipped_at_capacity": skipped,
        "windows": windows,
    });
    eprintln!(
        "msa load: {} requests, {:.1} req/s, p50 {:.2} ms, p99 {:.2} ms, errors {}, skipped {skipped}",
        all.len(),
        all.len() as f64 / elapsed,
        report["p50_ms"].as_f64().unwrap_or_default(),
        report["p99_ms"].as_f64().unwrap_or_default(),
        report["errors"]
    );
    if let Some(path) = &args.report {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("Failed to write {}", path.display()))?;
    }
    Ok(())
}

/// Sends requests until `deadline`: paced at `rate` per second (open loop; a tick that
/// finds every connection busy is skipped and counted, never queued), or back to back on
/// each connection when `rate` is 0. Returns the skipped ticks.
async fn drive(shared: Arc<Shared>, rate: u32, connections: u64, deadline: Instant) -> u64 {
    let slots = Arc::new(Semaphore::new(connections as usize));
    if rate == 0 {
        let workers: Vec<_> = (0..connections)
            .map(|_| {
                let shared = shared.clone();
                tokio::spawn(async move {
                    while Instant::now() < deadline {
                        shared.one().await;
                    }
                })
            })
            .collect();
        for worker in workers {
            let _ = worker.await;
        }
        return 0;
    }
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / rate);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut skipped = 0;
    while Instant::now() < deadline {
        ticks.tick().await;
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            skipped += 1;
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            shared.one().await;
            drop(slot);
        });
    }
    // Let the requests in flight finish, so the last window counts them.
    let _ = slots.acquire_many(connections as u32).await;
    skipped
}

fn percentile_ms(sorted: &[u32], quantile: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64 * quantile).ceil() as usize).clamp(1, sorted.len());
    f64::from(sorted[rank - 1]) / 1000.0
}

fn summarize(window: &Window, seconds: f64, watch: Option<u32>) -> Value {
    let mut latencies = window.latencies_us.clone();
    latencies.sort_unstable();
    let mut line = json!({
        "requests": latencies.len(),
        "rps": latencies.len() as f64 / seconds.max(0.001),
        "errors": window.errors.values().sum::<u64>(),
        "p50_ms": percentile_ms(&latencies, 0.50),
        "p99_ms": percentile_ms(&latencies, 0.99),
        "max_ms": percentile_ms(&latencies, 1.0),
    });
    if let Some(pid) = watch {
        line["rss_mib"] = json!(children_rss_kib(pid) as f64 / 1024.0);
    }
    line
}

/// The resident memory of `pid`'s children (the services under `msa up`), in KiB.
fn children_rss_kib(pid: u32) -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let status = std::fs::read_to_string(entry.path().join("status")).ok()?;
            let field = |name: &str| {
                status
                    .lines()
                    .find_map(|line| line.strip_prefix(name))
                    .and_then(|rest| rest.split_whitespace().next())
                    .and_then(|value| value.parse::<u64>().ok())
            };
            (field("PPid:")? == u64::from(pid)).then(|| field("VmRSS:"))?
        })
        .sum()
}

/// A client with the session of demo account `email`, logged in with the password
/// `msa up` wrote into the data directory.
async fn session(
    client: &reqwest::Client,
    base: &str,
    data_dir: &std::path::Path,
    email: &str,
) -> anyhow::Result<reqwest::Client> {
    let path = data_dir.join("demo-credentials.json");
    let credentials: Value = serde_json::from_slice(
        &std::fs::read(&path).with_context(|| format!("Failed to read {}", path.display()))?,
    )?;
    let password = credentials[email]
        .as_str()
        .with_context(|| format!("{} has no password for {email}", path.display()))?;
    let answer = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await?;
    if !answer.status().is_success() {
        bail!("the login of {email} was refused: {}", answer.status());
    }
    let cookie = answer
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .context("the login set no session cookie")?
        .to_owned();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::COOKIE, cookie.parse()?);
    Ok(kit::calling::transport::builder()
        .no_proxy()
        .user_agent("msa-load/1.0")
        .timeout(Duration::from_secs(30))
        .default_headers(headers)
        .build()?)
}

/// A product with the most stock allowed, so that orders never run out during a run.
async fn create_widget(admin: &reqwest::Client, base: &str) -> anyhow::Result<i64> {
    let answer = admin
        .post(format!("{base}/api/v1/products"))
        .json(
            &json!({"name": "Load widget", "description": "made by msa load",
                      "price_cents": 100, "stock": 1_000_000}),
        )
        .send()
        .await?;
    if !answer.status().is_success() {
        bail!("the admin could not create a product: {}", answer.status());
    }
    let body: Value = answer.json().await?;
    body["id"].as_i64().context("the new product has no id")
}
