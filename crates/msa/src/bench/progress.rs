//! The progress bar of a run, on a terminal only (indicatif draws nothing elsewhere): time
//! elapsed, answers per second so far, failures.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::drive::Progress;

pub struct Bar {
    bar: ProgressBar,
    ticker: tokio::task::JoinHandle<()>,
}

impl Bar {
    pub fn start(label: String, duration: Duration, counters: Arc<Progress>) -> Self {
        let bar = ProgressBar::new(duration.as_millis() as u64);
        bar.set_style(
            ProgressStyle::with_template("{prefix:>28} [{bar:30}] {msg}")
                .expect("BUG: the progress template is valid")
                .progress_chars("=> "),
        );
        bar.set_prefix(label);
        let started = Instant::now();
        let ticking = bar.clone();
        let ticker = tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(200));
            loop {
                every.tick().await;
                let elapsed = started.elapsed();
                let answered = counters.answered.load(Ordering::Relaxed);
                let failed = counters.failed.load(Ordering::Relaxed);
                ticking.set_position(elapsed.as_millis() as u64);
                ticking.set_message(format!(
                    "{:>9.0} req/s  {failed} failed",
                    answered as f64 / elapsed.as_secs_f64().max(0.001)
                ));
            }
        });
        Self { bar, ticker }
    }

    pub fn finish(self) {
        self.ticker.abort();
        self.bar.finish_and_clear();
    }
}
