//! One run's figures as the report keeps them: throughput, percentiles, failures, and the
//! latency spectrum the plot draws.

use std::collections::BTreeMap;

use serde::Serialize;

use super::CompareArgs;
use super::drive::Outcome;
use super::scenario::Case;

/// The percentiles a run keeps for the plot, as "nines": x = 2 is p99, x = 3 is p99.9.
const NINES_STEPS: usize = 40;
const MAX_NINES: f64 = 4.0;

#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    pub case: String,
    pub system: String,
    /// closed, open, or memory (the long mixed run after which memory is read).
    pub pace: String,
    pub rate: Option<f64>,
    pub connections: u16,
    pub round: u16,
    pub seconds: f64,
    pub requests: u64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub errors: BTreeMap<String, u64>,
    pub unsent: u64,
    /// (nines, milliseconds): the latency at percentile 100 x (1 - 10^-nines).
    pub spectrum: Vec<(f64, f64)>,
}

impl Measurement {
    pub fn of(
        case: &Case,
        system: &str,
        pace: &str,
        rate: Option<f64>,
        args: &CompareArgs,
        round: u16,
        outcome: &Outcome,
    ) -> Self {
        let at = |percentile: f64| outcome.percentile_ms(percentile);
        let spectrum = (0..=NINES_STEPS)
            .map(|step| {
                let nines = MAX_NINES * step as f64 / NINES_STEPS as f64;
                (nines, at(100.0 * (1.0 - 10f64.powf(-nines))))
            })
            .collect();
        Self {
            case: case.name.to_owned(),
            system: system.to_owned(),
            pace: pace.to_owned(),
            rate,
            connections: args.connections,
            round,
            seconds: outcome.elapsed.as_secs_f64(),
            requests: outcome.requests,
            rps: outcome.throughput(),
            p50_ms: at(50.0),
            p90_ms: at(90.0),
            p99_ms: at(99.0),
            p999_ms: at(99.9),
            max_ms: outcome.latency.max() as f64 / 1000.0,
            errors: outcome.errors.clone(),
            unsent: outcome.unsent,
            spectrum,
        }
    }

    pub fn failed(&self) -> bool {
        !self.errors.is_empty()
    }

    /// One line for the terminal as each run ends.
    pub fn line(&self) -> String {
        let pace = match self.rate {
            Some(rate) => format!("open {rate:.0}/s"),
            None => self.pace.clone(),
        };
        let failure = if self.failed() {
            format!("  FAILED {:?}", self.errors)
        } else {
            String::new()
        };
        format!(
            "{:>13} {:>10} {:>12}: {:>9.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms{failure}",
            self.case, self.system, pace, self.rps, self.p50_ms, self.p99_ms
        )
    }
}

pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}
