//! Logging: human-readable text by default, one JSON object per line for machines.

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

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

/// Keeps the log writer's thread going; dropping it writes out every line still queued, so
/// hold it until the process's work is done.
#[must_use = "logging stops, and queued lines are lost, when the guard is dropped"]
pub struct LogGuard(#[allow(dead_code)] WorkerGuard);

/// Installs the process-wide subscriber for `service`. `level` is a filter such as `info`
/// or `info,sqlx=warn`; an invalid filter falls back to `info` rather than stopping start-up.
///
/// Lines are formatted where they happen and written by a thread of their own, in batches:
/// a write to stderr per line, on the thread serving the request, cost a third of the
/// gateway's throughput on `/hello`. The queue never drops a line: when it is full (the
/// reader of stderr stalls), logging waits, as a direct write would.
pub fn init(service: &'static str, level: &str, format: LogFormat) -> LogGuard {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("msa-log-writer")
        .finish(std::io::BufWriter::new(std::io::stderr()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer.clone())
        .with_target(false)
        // By default a failed log write is reported with `eprintln!`, which panics when
        // stderr is a closed pipe (a supervisor that died): losing a log line must never
        // take a task down with it.
        .log_internal_errors(false);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(ansi).try_init(),
        LogFormat::Json => builder
            .with_writer(move || ServiceStamp {
                service,
                out: writer.clone(),
            })
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .try_init(),
    };
    LogGuard(guard)
}

/// Adds `"service":"<name>"` to each JSON log line, so that lines of several services
/// interleaved in one stream still say where they come from. The formatter writes each
/// event as one complete line in one call, which is what makes the splice safe.
struct ServiceStamp<W> {
    service: &'static str,
    out: W,
}

impl<W: std::io::Write> std::io::Write for ServiceStamp<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match buf.split_first() {
            Some((b'{', rest)) => {
                let mut line = Vec::with_capacity(buf.len() + 32);
                line.extend_from_slice(b"{\"service\":\"");
                line.extend_from_slice(self.service.as_bytes());
                line.extend_from_slice(b"\",");
                line.extend_from_slice(rest);
                self.out.write_all(&line)?;
                Ok(buf.len())
            }
            _ => self.out.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::ServiceStamp;

    #[test]
    fn json_lines_are_stamped_with_the_service() {
        let mut stamp = ServiceStamp {
            service: "users",
            out: Vec::new(),
        };
        stamp.write_all(b"{\"level\":\"INFO\"}\n").ok();
        let line: serde_json::Value =
            serde_json::from_slice(&stamp.out).unwrap_or(serde_json::Value::Null);
        assert_eq!(line["service"], "users");
        assert_eq!(line["level"], "INFO");
    }
}
