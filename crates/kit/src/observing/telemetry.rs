//! Logging: human-readable text by default, one JSON object per line for machines.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

use crate::observing::log_writer::{Flusher, batch_writer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Json => "json",
        }
    }
}

/// How a process logs.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Logging")]
pub struct LogOptions {
    /// Log filter: a level (error, warn, info, debug, trace) or per-module directives.
    #[arg(long, env = "MSA_LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// Log format: human-readable text, or one JSON object per line.
    #[arg(long, env = "MSA_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Keeps the log writer's thread going; dropping it writes out every line still buffered, so
/// hold it until the process's work is done.
#[must_use = "logging stops, and buffered lines are lost, when the guard is dropped"]
pub struct LogGuard(#[allow(dead_code)] Option<Flusher<std::io::Stderr>>);

/// Installs the process-wide subscriber for `service`. `level` is a filter such as `info`
/// or `info,sqlx=warn`; an invalid filter falls back to `info` rather than stopping start-up.
///
/// Lines are formatted where they happen and written to stderr in batches by a thread of
/// their own ([`crate::observing::log_writer`]): a write to stderr per line, on the thread
/// serving the request, cost a third of the gateway's throughput on `/hello`, and waking a
/// writer thread per line cost a futex call and a context switch per request.
pub fn init(service: &'static str, level: &str, format: LogFormat) -> LogGuard {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (writer, flusher) = match batch_writer(std::io::stderr(), "msa-log-writer") {
        Ok((writer, flusher)) => {
            let writer = match format {
                LogFormat::Text => writer,
                LogFormat::Json => writer.stamped(service),
            };
            (BoxMakeWriter::new(move || writer.clone()), Some(flusher))
        }
        // Without a thread of its own, each line is written where it happens: slower, but
        // nothing is lost.
        Err(_) => (BoxMakeWriter::new(std::io::stderr), None),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(false)
        // By default a failed log write is reported with `eprintln!`, which panics when
        // stderr is a closed pipe (a supervisor that died): losing a log line must never
        // take a task down with it.
        .log_internal_errors(false);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(ansi).try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .try_init(),
    };
    LogGuard(flusher)
}
