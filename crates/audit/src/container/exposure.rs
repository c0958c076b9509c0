//! What the container exposes to an intruder inside it: a container runtime's socket (the
//! host, in one connect), the host's network or PID namespace, host directories mounted in,
//! a writable root file system, secrets in environment variables, listening sockets.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::UnixStream;

use super::fs::{Root, environment};
use super::mounts::{self, Mount};
use super::procfs::{Executable, Process};
use crate::report::{Finding, Severity};

const RUNTIME_SOCKETS: [&str; 10] = [
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/run/containerd/containerd.sock",
    "/var/run/containerd/containerd.sock",
    "/run/k3s/containerd/containerd.sock",
    "/run/crio/crio.sock",
    "/var/run/crio/crio.sock",
    "/run/podman/podman.sock",
    "/var/run/podman/podman.sock",
    "/var/run/dockershim.sock",
];

/// Network interfaces that exist only in a host's namespace: bridges and the host ends of
/// containers' virtual cables.
const HOST_INTERFACES: [&str; 12] = [
    "docker0", "veth", "br-", "cni", "cali", "flannel", "cilium", "virbr", "kube-", "weave",
    "podman", "lxcbr",
];

/// Host paths that no application container needs and that hand over the host when mounted.
const SENSITIVE_HOST_PATHS: [&str; 16] = [
    "/",
    "/etc",
    "/root",
    "/home",
    "/boot",
    "/usr",
    "/var",
    "/var/run",
    "/run",
    "/var/log",
    "/var/lib/docker",
    "/var/lib/containerd",
    "/var/lib/kubelet",
    "/proc",
    "/sys",
    "/dev",
];

/// File systems that are the runtime's own making, not a host directory.
const PSEUDO_FILE_SYSTEMS: [&str; 11] = [
    "proc", "sysfs", "tmpfs", "devpts", "mqueue", "cgroup", "cgroup2", "overlay", "shm",
    "devtmpfs", "nsfs",
];

/// Where the runtime itself bind-mounts host files into every container.
const RUNTIME_MANAGED: [&str; 4] = [
    "/etc/hostname",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/dev/termination-log",
];

/// The initial PID namespace's inode number (`PROC_PID_INIT_INO`), fixed by the kernel.
const HOST_PID_NAMESPACE: &str = "pid:[4026531836]";

pub fn runtime_sockets(root: &Root, mounts: &[Mount]) -> Vec<Finding> {
    let mut paths: Vec<String> = RUNTIME_SOCKETS.iter().map(|p| (*p).to_owned()).collect();
    // A socket mounted somewhere else (-v /var/run/docker.sock:/tmp/d.sock).
    paths.extend(
        mounts
            .iter()
            .filter(|m| m.root.ends_with(".sock"))
            .map(|m| m.mount_point.clone()),
    );
    let mut seen = Vec::new();
    let mut findings = Vec::new();
    for path in paths {
        let file = root.join(&path);
        let Ok(metadata) = std::fs::metadata(&file) else {
            continue;
        };
        // /var/run is often a link to /run: one socket, one finding.
        let identity = (metadata.dev(), metadata.ino());
        if !metadata.file_type().is_socket() || seen.contains(&identity) {
            continue;
        }
        seen.push(identity);
        // Connecting sends nothing; it only shows whether this user may talk to it.
        let finding = match UnixStream::connect(&file) {
            Ok(_) => Finding::new(
                "exposure.runtime-socket",
                Severity::Critical,
                format!("A container runtime's socket is reachable: {path}"),
            )
            .evidence(format!(
                "{path} is a socket and accepts this process's connection"
            )),
            Err(error) => Finding::new(
                "exposure.runtime-socket",
                Severity::High,
                format!("A container runtime's socket is mounted: {path}"),
            )
            .evidence(format!(
                "{path} is a socket; connecting failed ({error}), a root process could"
            )),
        };
        findings.push(finding.fix(
            "Never mount a runtime socket into a container: whoever reaches it controls the host",
        ));
    }
    findings
}

/// Which PID namespace the processes are in, read once for the inventory and the finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PidNamespace {
    /// `/proc/self/ns/pid`'s target, if readable.
    pub link: Option<String>,
    pub kernel_threads: usize,
    pub visible: usize,
    /// The host's: the kernel's initial namespace, or kernel threads in sight.
    pub host: bool,
}

pub fn pid_namespace(root: &Root, processes: &[Process]) -> PidNamespace {
    let link = root.link("/proc/self/ns/pid");
    let kernel_threads = processes.iter().filter(|p| p.is_kernel_thread()).count();
    PidNamespace {
        host: link.as_deref() == Some(HOST_PID_NAMESPACE)
            || super::procfs::sees_host_pid_namespace(processes),
        link,
        kernel_threads,
        visible: processes.len(),
    }
}

pub fn host_namespaces(root: &Root, pid: &PidNamespace) -> Vec<Finding> {
    let mut findings = Vec::new();
    if pid.host {
        let mut finding = Finding::new(
            "namespace.host-pid",
            Severity::High,
            "Shares the host's PID namespace: every process of the host is visible",
        )
        .fix("Do not run with --pid=host (hostPID: true)")
        .evidence(format!(
            "{} processes visible, {} of them kernel threads",
            pid.visible, pid.kernel_threads
        ));
        if let Some(namespace) = &pid.link {
            finding = finding.evidence(format!("/proc/self/ns/pid -> {namespace}"));
        }
        findings.push(finding);
    }
    let interfaces = interfaces(root);
    let host_interfaces: Vec<&String> = interfaces
        .iter()
        .filter(|name| HOST_INTERFACES.iter().any(|host| name.starts_with(host)))
        .collect();
    if !host_interfaces.is_empty() {
        findings.push(
            Finding::new(
                "namespace.host-network",
                Severity::High,
                "Shares the host's network namespace",
            )
            .evidence(format!(
                "host bridge or veth interfaces in /proc/net/dev: {}",
                host_interfaces
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .fix("Do not run with --net=host (hostNetwork: true)"),
        );
    }
    findings
}

fn interfaces(root: &Root) -> Vec<String> {
    root.read("/proc/net/dev")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(name, _)| name.trim().to_owned())
        .collect()
}

pub fn host_mounts(mounts: &[Mount]) -> Vec<Finding> {
    let sensitive: Vec<String> = mounts
        .iter()
        .filter(|m| !PSEUDO_FILE_SYSTEMS.contains(&m.fs_type.as_str()))
        .filter(|m| m.mount_point != "/" && !RUNTIME_MANAGED.contains(&m.mount_point.as_str()))
        .filter(|m| !m.mount_point.starts_with("/run/secrets/"))
        .filter(|m| !m.mount_point.starts_with("/var/run/secrets/"))
        .filter(|m| {
            SENSITIVE_HOST_PATHS.contains(&m.root.as_str())
                || ["/etc/", "/root/", "/boot/", "/proc/", "/sys/"]
                    .iter()
                    .any(|prefix| m.root.starts_with(prefix))
        })
        .map(|m| {
            format!(
                "{} of {} ({}) mounted at {}{}",
                m.root,
                m.source,
                m.fs_type,
                m.mount_point,
                if m.read_only() {
                    ", read-only"
                } else {
                    ", read-write"
                }
            )
        })
        .collect();
    if sensitive.is_empty() {
        return Vec::new();
    }
    vec![
        Finding::new(
            "exposure.host-mount",
            Severity::High,
            "Sensitive host paths are mounted into the container",
        )
        .evidence_all(sensitive)
        .fix("Mount only the volumes the application owns; never the host's /, /etc, /var/run, /proc or /sys"),
    ]
}

pub fn writable_root(mounts: &[Mount]) -> Option<Finding> {
    let root = mounts::at(mounts, "/")?;
    (!root.read_only()).then(|| {
        Finding::new(
            "filesystem.root-writable",
            Severity::Medium,
            "The root file system is writable: an intruder can drop and change files",
        )
        .evidence(format!("/ ({}) is mounted without ro", root.fs_type))
        .fix("Run with --read-only (readOnlyRootFilesystem: true) and a tmpfs where writes are needed")
    })
}

/// Whether a variable's name says it holds a secret. Names that point at a secret (a file,
/// a path) or hold a public key are not secrets themselves.
pub fn names_a_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    let secretive = [
        "KEY",
        "SECRET",
        "TOKEN",
        "PASSWORD",
        "PASSWD",
        "CREDENTIAL",
        "PRIVATE",
    ]
    .iter()
    .any(|word| upper.contains(word));
    let pointer = ["_FILE", "_PATH", "_DIR"]
        .iter()
        .any(|suffix| upper.ends_with(suffix));
    // GPG_KEY: the fingerprint official language images set to verify their downloads.
    secretive && !pointer && !upper.contains("PUBLIC") && upper != "GPG_KEY"
}

/// Secrets in the environment of every process whose environment may be read. Only names
/// are reported: a value is never read into the report.
pub fn environment_secrets(root: &Root, processes: &[Process]) -> Option<Finding> {
    let mut found: Vec<(String, Vec<u32>)> = Vec::new();
    for process in processes {
        let Some(block) = root.read_bytes(&format!("/proc/{}/environ", process.pid)) else {
            continue;
        };
        for (name, value) in environment(&block) {
            let credentials_in_url = value.contains("://")
                && value
                    .split_once("://")
                    .and_then(|(_, rest)| rest.split('/').next())
                    .is_some_and(|authority| authority.contains(':') && authority.contains('@'));
            if value.is_empty() || !(names_a_secret(&name) || credentials_in_url) {
                continue;
            }
            match found.iter_mut().find(|(seen, _)| *seen == name) {
                Some((_, pids)) => pids.push(process.pid),
                None => found.push((name, vec![process.pid])),
            }
        }
    }
    if found.is_empty() {
        return None;
    }
    found.sort();
    Some(
        Finding::new(
            "exposure.environment-secrets",
            Severity::Medium,
            "Secrets in environment variables (values not shown)",
        )
        .evidence_all(found.into_iter().map(|(name, pids)| {
            let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
            format!("{name} (PID {})", pids.join(", "))
        }))
        .fix("Pass secrets as files (compose or Kubernetes secrets, *_FILE variables): environments leak into logs, crash dumps and child processes"),
    )
}

pub fn deleted_executables(processes: &[Process]) -> Option<Finding> {
    let deleted: Vec<String> = processes
        .iter()
        .filter_map(|process| match &process.executable {
            Executable::Deleted(path) => Some(format!("PID {}: {}", process.pid, path.display())),
            _ => None,
        })
        .collect();
    (!deleted.is_empty()).then(|| {
        Finding::new(
            "process.deleted-executable",
            Severity::Medium,
            "Processes run binaries that were deleted after they started",
        )
        .evidence_all(deleted)
        .fix("Find out what replaced them: an upgrade in place, or a dropper hiding its file")
    })
}

/// TCP sockets listening in this network namespace, as `address:port`.
pub fn listening(root: &Root) -> Vec<String> {
    let mut found = Vec::new();
    for path in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Some(text) = root.read(path) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.get(3) != Some(&"0A") {
                continue;
            }
            if let Some(address) = fields.get(1).and_then(|field| socket_address(field)) {
                found.push(address);
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

/// Decodes `0100007F:1F90` (IPv4) or a 32-digit IPv6 address: each 32-bit word is in the
/// host's byte order, which `/proc/net/tcp` prints as hexadecimal.
fn socket_address(field: &str) -> Option<String> {
    let (address, port) = field.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let words: Vec<u32> = (0..address.len() / 8)
        .map(|i| u32::from_str_radix(address.get(i * 8..i * 8 + 8)?, 16).ok())
        .collect::<Option<_>>()?;
    let bytes: Vec<u8> = words.iter().flat_map(|word| word.to_ne_bytes()).collect();
    match bytes.len() {
        4 => {
            let ip = std::net::Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]);
            Some(format!("{ip}:{port}"))
        }
        16 => {
            let octets: [u8; 16] = bytes.try_into().ok()?;
            Some(format!("[{}]:{port}", std::net::Ipv6Addr::from(octets)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixListener;

    use super::*;
    use crate::container::procfs::Status;

    fn write(root: &std::path::Path, path: &str, content: &[u8]) {
        let file = root.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(file.parent().unwrap_or(root)).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(file, content).unwrap_or_else(|e| panic!("{e}"));
    }

    fn process(pid: u32) -> Process {
        Process {
            pid,
            executable: Executable::Path("/msa".into()),
            command_line: Some("/msa".into()),
            status: Status::default(),
        }
    }

    #[test]
    fn a_runtime_socket_is_critical_when_it_answers() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::create_dir_all(dir.path().join("var/run")).unwrap_or_else(|e| panic!("{e}"));
        let _listener = UnixListener::bind(dir.path().join("var/run/docker.sock"))
            .unwrap_or_else(|e| panic!("{e}"));
        // A plain file of that name is not a socket.
        write(dir.path(), "/run/containerd/containerd.sock", b"");
        let findings = runtime_sockets(&Root::new(dir.path()), &[]);
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].severity, Severity::Critical);
        assert!(findings[0].title.ends_with("/var/run/docker.sock"));
        assert!(runtime_sockets(&Root::new("/nonexistent"), &[]).is_empty());
    }

    #[test]
    fn host_namespaces_are_told_by_kernel_threads_and_bridges() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        write(
            dir.path(),
            "/proc/net/dev",
            b"Inter-|   Receive\n face |bytes\n    lo: 1 2\n  eth0: 1 2\n",
        );
        let own = [process(1), process(7)];
        let root = Root::new(dir.path());
        assert!(host_namespaces(&root, &pid_namespace(&root, &own)).is_empty());
        write(
            dir.path(),
            "/proc/net/dev",
            b"Inter-|\n face |\n    lo: 1\n  eth0: 1\ndocker0: 1\nveth1a2b: 1\n",
        );
        let mut kthreadd = process(2);
        kthreadd.status.name = Some("kthreadd".into());
        kthreadd.status.kernel_thread = Some(true);
        kthreadd.executable = Executable::None;
        let seen = [process(1), kthreadd];
        let findings = host_namespaces(&root, &pid_namespace(&root, &seen));
        let ids: Vec<_> = findings.iter().map(|f| f.id).collect();
        assert_eq!(ids, ["namespace.host-pid", "namespace.host-network"]);
        assert!(findings[1].evidence[0].ends_with("docker0, veth1a2b"));
    }

    #[test]
    fn host_paths_are_told_from_volumes_and_runtime_files() {
        let mounts = mounts::parse(
            "1 0 0:1 / / ro - overlay overlay rw\n\
             2 1 8:1 /var/lib/docker/volumes/d/_data /data rw - ext4 /dev/sda1 rw\n\
             3 1 8:1 /var/lib/docker/containers/x/hosts /etc/hosts rw - ext4 /dev/sda1 rw\n\
             4 1 8:1 /srv/secrets/k /run/secrets/k ro - ext4 /dev/sda1 rw\n\
             5 1 0:9 / /tmp rw - tmpfs tmpfs rw\n",
        );
        assert!(host_mounts(&mounts).is_empty());
        assert!(writable_root(&mounts).is_none());
        let exposed = mounts::parse(
            "1 0 0:1 / / rw - overlay overlay rw\n\
             2 1 8:1 / /host rw - ext4 /dev/sda1 rw\n\
             3 1 8:1 /etc/shadow /x ro - ext4 /dev/sda1 rw\n",
        );
        let findings = host_mounts(&exposed);
        assert_eq!(findings.len(), 1);
        assert_eq!(
            findings[0].evidence,
            [
                "/ of /dev/sda1 (ext4) mounted at /host, read-write",
                "/etc/shadow of /dev/sda1 (ext4) mounted at /x, read-only"
            ]
        );
        assert!(writable_root(&exposed).is_some());
    }

    #[test]
    fn secret_names_are_reported_without_values() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        write(
            dir.path(),
            "/proc/1/environ",
            b"PATH=/bin\0DB_PASSWORD=hunter2\0MSA_GATEWAY_PUBLIC_KEY=abc\0MSA_ORDERS_KEY_FILE=/run/secrets/k\0\
              DATABASE_URL=postgres://u:s3cret@db/x\0EMPTY_TOKEN=\0",
        );
        write(
            dir.path(),
            "/proc/9/environ",
            b"api_token=xyz\0DB_PASSWORD=hunter2\0",
        );
        let finding = environment_secrets(&Root::new(dir.path()), &[process(1), process(9)])
            .unwrap_or_else(|| panic!("no finding"));
        assert_eq!(
            finding.evidence,
            [
                "DATABASE_URL (PID 1)",
                "DB_PASSWORD (PID 1, 9)",
                "api_token (PID 9)"
            ]
        );
        let text = format!("{finding:?}");
        assert!(!text.contains("hunter2") && !text.contains("s3cret") && !text.contains("xyz"));
        assert!(environment_secrets(&Root::new(dir.path()), &[process(5)]).is_none());
        assert!(names_a_secret("AWS_SECRET_ACCESS_KEY"));
        assert!(!names_a_secret("HOSTNAME"));
    }

    #[test]
    fn listening_sockets_decode_both_families() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        write(
            dir.path(),
            "/proc/net/tcp",
            b"  sl  local_address rem_address   st\n\
   0: 00000000:1F90 00000000:0000 0A 0\n\
   1: 0100007F:1389 00000000:0000 0A 0\n\
   2: 0100007F:1389 0100007F:C350 01 0\n",
        );
        write(
            dir.path(),
            "/proc/net/tcp6",
            b"  sl  local_address\n   0: 00000000000000000000000001000000:20FB 00000000000000000000000000000000:0000 0A 0\n",
        );
        assert_eq!(
            listening(&Root::new(dir.path())),
            ["0.0.0.0:8080", "127.0.0.1:5001", "[::1]:8443"]
        );
    }

    #[test]
    fn deleted_binaries_are_named() {
        let mut dropper = process(7);
        dropper.executable = Executable::Deleted("/tmp/x".into());
        let finding = deleted_executables(&[process(1), dropper]);
        assert_eq!(
            finding.map(|f| f.evidence),
            Some(vec!["PID 7: /tmp/x".to_owned()])
        );
        assert!(deleted_executables(&[process(1)]).is_none());
    }
}
