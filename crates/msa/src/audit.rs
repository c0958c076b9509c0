//! `msa audit`: the security toolkit on the command line. Each audit prints a readable
//! report (or `--json`) and exits non-zero when it found something at or above `--fail-on`.

use std::path::PathBuf;
use std::process::ExitCode;

use audit::report::Severity;
use clap::{Args, Subcommand, ValueEnum};

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Inspect the container this command runs in: processes (from /proc, no `ps`
    /// needed), runtime, privileges, exposure, operating system. Needs no root and no other
    /// tool: run it inside the scratch image with `docker exec <container> /msa audit container`.
    Container(ContainerArgs),
}

#[derive(Debug, Args)]
pub struct ContainerArgs {
    #[command(flatten)]
    output: Output,
    /// Inspect the file system under this directory instead of `/` (a captured `/proc` and
    /// `/etc`, or an image unpacked for inspection).
    #[arg(long, default_value = "/", value_name = "DIR")]
    root: PathBuf,
}

#[derive(Debug, Args)]
struct Output {
    /// Print the report as JSON, for machines.
    #[arg(long)]
    json: bool,
    /// Exit with status 1 when a finding of this severity or worse is present.
    #[arg(long, value_enum, default_value_t = FailOn::High, value_name = "SEVERITY")]
    fail_on: FailOn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FailOn {
    Info,
    Low,
    Medium,
    High,
    Critical,
    /// Always exit 0 when the audit itself ran.
    Never,
}

impl FailOn {
    fn threshold(self) -> Option<Severity> {
        match self {
            Self::Info => Some(Severity::Info),
            Self::Low => Some(Severity::Low),
            Self::Medium => Some(Severity::Medium),
            Self::High => Some(Severity::High),
            Self::Critical => Some(Severity::Critical),
            Self::Never => None,
        }
    }

    /// Exit status 1 when `worst` reaches the threshold.
    fn exit_code(self, worst: Option<Severity>) -> ExitCode {
        match (self.threshold(), worst) {
            (Some(threshold), Some(worst)) if worst >= threshold => ExitCode::FAILURE,
            _ => ExitCode::SUCCESS,
        }
    }
}

pub fn run(command: AuditCommand) -> ExitCode {
    match command {
        AuditCommand::Container(args) => container(&args),
    }
}

fn container(args: &ContainerArgs) -> ExitCode {
    let today = time::OffsetDateTime::now_utc().date();
    let report = audit::container::inspect(&args.root, today);
    if args.output.json {
        match serde_json::to_string_pretty(&report) {
            Ok(json) => println!("{json}"),
            Err(error) => {
                eprintln!("msa audit: cannot write the report as JSON: {error}");
                return ExitCode::from(2);
            }
        }
    } else {
        print!("{}", report.to_text());
    }
    args.output.fail_on.exit_code(report.worst())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_on_compares_with_the_worst_finding() {
        assert_eq!(
            FailOn::High.exit_code(Some(Severity::Critical)),
            ExitCode::FAILURE
        );
        assert_eq!(
            FailOn::High.exit_code(Some(Severity::High)),
            ExitCode::FAILURE
        );
        assert_eq!(
            FailOn::High.exit_code(Some(Severity::Medium)),
            ExitCode::SUCCESS
        );
        assert_eq!(FailOn::Info.exit_code(None), ExitCode::SUCCESS);
        assert_eq!(
            FailOn::Never.exit_code(Some(Severity::Critical)),
            ExitCode::SUCCESS
        );
    }
}
