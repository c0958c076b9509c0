//! Progress on standard error while the audit runs: a bar redrawn in place on a terminal,
//! one line per phase otherwise (CI logs), nothing when hidden (tests).

use std::io::{IsTerminal, Write};
use std::time::Instant;

pub struct Progress {
    mode: Mode,
    phases: usize,
    done: usize,
    started: Instant,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Bar,
    Lines,
    Hidden,
}

const WIDTH: usize = 30;

impl Progress {
    /// A bar on a terminal, lines otherwise.
    pub fn on_stderr() -> Self {
        let mode = if std::io::stderr().is_terminal() {
            Mode::Bar
        } else {
            Mode::Lines
        };
        Self::with(mode)
    }

    pub fn hidden() -> Self {
        Self::with(Mode::Hidden)
    }

    fn with(mode: Mode) -> Self {
        Self {
            mode,
            phases: 0,
            done: 0,
            started: Instant::now(),
        }
    }

    pub fn start(&mut self, phases: usize) {
        self.phases = phases;
        self.done = 0;
    }

    /// What the audit is doing now. A log (not a terminal) gets set-up steps and phases
    /// only, not every operation probed.
    pub fn note(&mut self, what: &str) {
        if self.mode == Mode::Bar || self.phases == 0 {
            self.draw(what);
        }
    }

    pub fn phase(&mut self, name: &str) {
        self.draw(name);
        self.done += 1;
    }

    fn draw(&self, label: &str) {
        let mut err = std::io::stderr().lock();
        match self.mode {
            Mode::Hidden => {}
            // Setting up: no phase has started, there is nothing to count yet.
            Mode::Lines if self.phases == 0 => {
                let _ = writeln!(err, "msa audit api: {label}");
            }
            Mode::Bar if self.phases == 0 => {
                let _ = write!(err, "\r\x1b[2Kmsa audit api: {label}");
                let _ = err.flush();
            }
            Mode::Lines => {
                let _ = writeln!(
                    err,
                    "msa audit api: [{}/{}] {label}",
                    self.done, self.phases
                );
            }
            Mode::Bar => {
                let filled = (self.done * WIDTH).checked_div(self.phases).unwrap_or(0);
                let _ = write!(
                    err,
                    "\r\x1b[2K[{}{}] {}/{} {label}",
                    "#".repeat(filled),
                    "-".repeat(WIDTH - filled),
                    self.done,
                    self.phases
                );
                let _ = err.flush();
            }
        }
    }

    pub fn finish(&mut self, requests: usize) {
        let elapsed = self.started.elapsed().as_secs_f64();
        let mut err = std::io::stderr().lock();
        match self.mode {
            Mode::Hidden => {}
            Mode::Lines => {
                let _ = writeln!(
                    err,
                    "msa audit api: done, {requests} requests in {elapsed:.1} s"
                );
            }
            Mode::Bar => {
                let _ = writeln!(
                    err,
                    "\r\x1b[2K[{}] done, {requests} requests in {elapsed:.1} s",
                    "#".repeat(WIDTH)
                );
            }
        }
    }
}
