//! What a process can learn about the container it runs in. Every reader takes the root
//! of the file system to read (`/` in production, a fixture directory in tests), and
//! reports what it may not read as unknown instead of failing.

pub mod caps;
pub mod exposure;
pub mod fs;
pub mod mounts;
pub mod os;
pub mod privilege;
pub mod procfs;
pub mod runtime;

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;
use time::Date;

use crate::report::{self, Finding};
use fs::Root;
use procfs::{Executable, Process};

/// Processes shown in the text report; JSON lists all.
const PROCESSES_SHOWN: usize = 40;

#[derive(Debug, Serialize)]
pub struct Report {
    pub tool: &'static str,
    pub version: &'static str,
    pub date: String,
    pub root: String,
    pub runtime: runtime::Runtime,
    pub privilege: privilege::Privilege,
    pub operating_system: os::OperatingSystem,
    pub processes: Inventory,
    /// TCP sockets listening in this network namespace.
    pub listening: Vec<String>,
    /// Worst first.
    pub findings: Vec<Finding>,
}

#[derive(Debug, Serialize)]
pub struct Inventory {
    pub visible: usize,
    /// Processes whose executable could not be read (another user's, `hidepid`, exited).
    pub unreadable: usize,
    pub host_pid_namespace: bool,
    /// `/proc` is mounted with `hidepid`: other users' processes are not listed at all.
    pub hidepid: Option<String>,
    pub list: Vec<ProcessEntry>,
}

#[derive(Debug, Serialize)]
pub struct ProcessEntry {
    pub pid: u32,
    pub parent: Option<u32>,
    pub user: Option<String>,
    /// The path, `(deleted) <path>`, `none` (kernel thread) or `unknown`.
    pub executable: String,
    pub command: Option<String>,
}

/// Inspects the system under `root` (normally `/`) as it is on `today`.
pub fn inspect(root: &Path, today: Date) -> Report {
    let root = Root::new(root);
    let mounts = root
        .read("/proc/self/mountinfo")
        .map(|text| mounts::parse(&text))
        .unwrap_or_default();
    let processes = procfs::processes(&root.join("/proc"));
    let pid_namespace = exposure::pid_namespace(&root, &processes);
    let runtime = runtime::detect(&root, &mounts);
    let in_container = runtime.kind != runtime::Kind::None;
    let (privilege, mut findings) = privilege::inspect(&root, &mounts, in_container);
    let (operating_system, os_finding) = os::inspect(&root, today);
    findings.extend(os_finding);
    findings.extend(exposure::runtime_sockets(&root, &mounts));
    if in_container {
        findings.extend(exposure::host_namespaces(&root, &pid_namespace));
        findings.extend(exposure::host_mounts(&mounts));
        findings.extend(exposure::writable_root(&mounts));
    }
    findings.extend(exposure::environment_secrets(&root, &processes));
    findings.extend(exposure::deleted_executables(&processes));
    let processes = inventory(&root, &processes, pid_namespace.host, hidepid(&mounts));
    Report {
        tool: "msa audit container",
        version: env!("CARGO_PKG_VERSION"),
        date: today.to_string(),
        root: root.path().display().to_string(),
        runtime,
        privilege,
        operating_system,
        processes,
        listening: exposure::listening(&root),
        findings: report::sorted(findings),
    }
}

fn inventory(
    root: &Root,
    processes: &[Process],
    host_pid_namespace: bool,
    hidepid: Option<String>,
) -> Inventory {
    let users = root.read("/etc/passwd").unwrap_or_default();
    let user_name = |uid: u32| {
        users.lines().find_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            (fields.nth(1)?.parse::<u32>().ok()? == uid).then(|| format!("{name} ({uid})"))
        })
    };
    let list = processes
        .iter()
        .map(|process| ProcessEntry {
            pid: process.pid,
            parent: process.status.parent,
            user: process
                .status
                .uid
                .map(|uid| user_name(uid).unwrap_or_else(|| uid.to_string())),
            executable: match &process.executable {
                Executable::Path(path) => path.display().to_string(),
                Executable::Deleted(path) => format!("(deleted) {}", path.display()),
                Executable::None => "none".into(),
                Executable::Unknown => "unknown".into(),
            },
            command: process.command_line.clone(),
        })
        .collect();
    Inventory {
        visible: processes.len(),
        unreadable: processes
            .iter()
            .filter(|process| process.executable == Executable::Unknown)
            .count(),
        host_pid_namespace,
        hidepid,
        list,
    }
}

/// The `hidepid=` option of `/proc`, if it is mounted with one.
fn hidepid(mounts: &[mounts::Mount]) -> Option<String> {
    let proc = mounts::at(mounts, "/proc")?;
    proc.super_options
        .split(',')
        .chain(proc.options.iter().map(String::as_str))
        .find(|option| option.starts_with("hidepid="))
        .map(str::to_owned)
}

impl Report {
    pub fn worst(&self) -> Option<report::Severity> {
        report::worst(&self.findings)
    }

    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} {}  (root {}, {})\n",
            self.tool, self.version, self.root, self.date
        );
        let _ = writeln!(out, "Runtime     {}", self.runtime.kind.name());
        for mark in &self.runtime.evidence {
            let _ = writeln!(out, "            - {mark}");
        }
        let p = &self.privilege;
        let known = |value: Option<String>| value.unwrap_or_else(|| "unknown".into());
        let caps = |set: &Option<Vec<String>>| {
            set.as_ref().map_or("unknown".into(), |names| {
                if names.is_empty() {
                    "none".into()
                } else {
                    names.join(",")
                }
            })
        };
        let _ = writeln!(
            out,
            "User        uid {}; capabilities effective {}, bounding {}, ambient {}",
            known(p.uid.map(|uid| uid.to_string())),
            caps(&p.effective),
            caps(&p.bounding),
            caps(&p.ambient)
        );
        let _ = writeln!(
            out,
            "            NoNewPrivs {}; seccomp {}; LSM {}{}",
            known(
                p.no_new_privs
                    .map(|on| if on { "yes".into() } else { "no".into() })
            ),
            p.seccomp.unwrap_or("unknown"),
            p.lsm_label.as_deref().unwrap_or("none"),
            if p.privileged { "; PRIVILEGED" } else { "" }
        );
        let os = &self.operating_system;
        let os_line = os.summary();
        let _ = writeln!(out, "OS          {os_line}");
        let _ = writeln!(
            out,
            "Listening   {}",
            if self.listening.is_empty() {
                "nothing (TCP)".into()
            } else {
                self.listening.join(" ")
            }
        );
        let inventory = &self.processes;
        let _ = writeln!(
            out,
            "Processes   {} visible ({} PID namespace), {} unreadable",
            inventory.visible,
            if inventory.host_pid_namespace {
                "the HOST's"
            } else {
                "its own"
            },
            inventory.unreadable
        );
        if let Some(hidepid) = &inventory.hidepid {
            let _ = writeln!(
                out,
                "            /proc is mounted with {hidepid}: other users' processes are hidden"
            );
        }
        let _ = writeln!(
            out,
            "  {:>7} {:>7}  {:<12} {:<24} COMMAND",
            "PID", "PPID", "USER", "EXE"
        );
        for entry in inventory.list.iter().take(PROCESSES_SHOWN) {
            let _ = writeln!(
                out,
                "  {:>7} {:>7}  {:<12} {:<24} {}",
                entry.pid,
                entry.parent.map_or("?".into(), |pid| pid.to_string()),
                entry.user.as_deref().unwrap_or("?"),
                entry.executable,
                entry.command.as_deref().unwrap_or("?")
            );
        }
        if inventory.list.len() > PROCESSES_SHOWN {
            let _ = writeln!(
                out,
                "  ... {} more (--json lists all)",
                inventory.list.len() - PROCESSES_SHOWN
            );
        }
        let _ = writeln!(out, "\nFindings    {}", report::tally(&self.findings));
        report::render_findings(&mut out, &self.findings);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_real_system_is_inspected_without_a_crash() {
        let report = inspect(Path::new("/"), time::macros::date!(2026 - 11 - 25));
        assert!(report.processes.visible > 0);
        let text = report.to_text();
        assert!(text.contains("Findings"), "{text}");
        let json = serde_json::to_value(&report).unwrap_or_default();
        assert!(json["findings"].is_array(), "{json}");
        assert!(json["processes"]["list"][0]["pid"].is_u64(), "{json}");
    }

    #[test]
    fn a_hidepid_proc_is_said_and_an_empty_root_is_no_crash() {
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let self_dir = root.path().join("proc/self");
        std::fs::create_dir_all(&self_dir).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(
            self_dir.join("mountinfo"),
            "1 0 0:1 / / ro - overlay overlay rw\n2 1 0:2 / /proc rw - proc proc rw,hidepid=invisible\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let report = inspect(root.path(), time::macros::date!(2026 - 11 - 25));
        assert_eq!(
            report.processes.hidepid.as_deref(),
            Some("hidepid=invisible")
        );
        assert!(
            report
                .to_text()
                .contains("other users' processes are hidden")
        );
        // Nothing else readable: unknowns, no crash, no process.
        assert_eq!(report.processes.visible, 0);
        assert_eq!(report.privilege.uid, None);
    }
}
