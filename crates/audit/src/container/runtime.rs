//! Am I in a container, and whose? Each runtime leaves its own marks: a file at the root,
//! cgroup paths, the overlay directories behind `/`, the bind mounts of `/etc/hostname`,
//! the variables of PID 1. No single mark is reliable (cgroup namespaces hide paths,
//! `/.dockerenv` is a convention), so every mark seen is kept as evidence.

use serde::Serialize;

use super::fs::{Root, environment};
use super::mounts::{self, Mount};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Docker,
    /// A Kubernetes pod (on containerd, CRI-O or another CRI runtime).
    Kubernetes,
    Containerd,
    Podman,
    Lxc,
    /// Container marks, but none that names a runtime.
    Unknown,
    /// No sign of a container.
    None,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Docker => "Docker",
            Self::Kubernetes => "Kubernetes",
            Self::Containerd => "containerd",
            Self::Podman => "Podman",
            Self::Lxc => "LXC",
            Self::Unknown => "a container of an unknown runtime",
            Self::None => "none (not in a container)",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Runtime {
    pub kind: Kind,
    pub evidence: Vec<String>,
}

/// Names the runtime from every mark found; Kubernetes wins over the runtime under it.
pub fn detect(root: &Root, mounts: &[Mount]) -> Runtime {
    let mut marks: Vec<(Kind, String)> = Vec::new();
    if root.exists("/.dockerenv") {
        marks.push((Kind::Docker, "/.dockerenv exists".into()));
    }
    if let Some(text) = root.read("/run/.containerenv") {
        let engine = text
            .lines()
            .find_map(|line| line.strip_prefix("engine="))
            .unwrap_or("\"podman\"");
        marks.push((
            Kind::Podman,
            format!("/run/.containerenv exists (engine={engine})"),
        ));
    }
    if root.exists("/var/run/secrets/kubernetes.io/serviceaccount") {
        marks.push((
            Kind::Kubernetes,
            "/var/run/secrets/kubernetes.io/serviceaccount exists".into(),
        ));
    }
    for path in ["/proc/self/cgroup", "/proc/1/cgroup"] {
        if let Some(text) = root.read(path) {
            for line in text.lines() {
                if let Some(kind) = kind_of_path(line) {
                    marks.push((kind, format!("{path}: {line}")));
                    break;
                }
            }
        }
    }
    if let Some(overlay) = mounts::at(mounts, "/").filter(|m| m.fs_type == "overlay") {
        let upper = overlay
            .super_options
            .split(',')
            .find(|option| option.starts_with("upperdir="));
        if let Some(upper) = upper
            && let Some(kind) = kind_of_path(upper)
        {
            marks.push((kind, format!("/ is an overlay with {upper}")));
        }
    }
    for file in ["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"] {
        if let Some(mount) = mounts::at(mounts, file)
            && let Some(kind) = kind_of_path(&mount.root)
        {
            marks.push((kind, format!("{file} is bind-mounted from {}", mount.root)));
        }
    }
    let init_environment = root
        .read_bytes("/proc/1/environ")
        .map(|block| environment(&block))
        .unwrap_or_default();
    for (name, value) in &init_environment {
        match (name.as_str(), value.as_str()) {
            ("container", "lxc") => marks.push((Kind::Lxc, "PID 1 has container=lxc".into())),
            ("container", "podman") => {
                marks.push((Kind::Podman, "PID 1 has container=podman".into()));
            }
            ("container", other) => {
                marks.push((Kind::Unknown, format!("PID 1 has container={other}")));
            }
            ("KUBERNETES_SERVICE_HOST", _) => {
                marks.push((Kind::Kubernetes, "PID 1 has KUBERNETES_SERVICE_HOST".into()))
            }
            _ => {}
        }
    }
    if let Some(init) = root.read("/proc/1/comm") {
        let init = init.trim();
        if !marks.is_empty() || !["systemd", "init", "launchd"].contains(&init) {
            marks.push((Kind::Unknown, format!("PID 1 is {init}")));
        }
    }
    verdict(marks)
}

fn verdict(marks: Vec<(Kind, String)>) -> Runtime {
    let named = |kind| marks.iter().any(|(k, _)| *k == kind);
    let kind = [
        Kind::Kubernetes,
        Kind::Podman,
        Kind::Lxc,
        Kind::Docker,
        Kind::Containerd,
    ]
    .into_iter()
    .find(|kind| named(*kind))
    .unwrap_or(if marks.is_empty() {
        Kind::None
    } else {
        Kind::Unknown
    });
    Runtime {
        kind,
        evidence: marks.into_iter().map(|(_, mark)| mark).collect(),
    }
}

/// The runtime whose directories or cgroups a path names.
fn kind_of_path(path: &str) -> Option<Kind> {
    if path.contains("kubepods") || path.contains("/var/lib/kubelet/") {
        Some(Kind::Kubernetes)
    } else if path.contains("libpod") || path.contains("/var/lib/containers/storage") {
        Some(Kind::Podman)
    } else if path.contains("/docker/")
        || path.contains("docker-")
        || path.contains("/var/lib/docker/")
    {
        Some(Kind::Docker)
    } else if path.contains("containerd") {
        Some(Kind::Containerd)
    } else if path.contains("/lxc/") || path.contains("lxc.payload") {
        Some(Kind::Lxc)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &std::path::Path, path: &str, content: &str) {
        let file = root.join(path.trim_start_matches('/'));
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::write(file, content).unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn docker_on_cgroup_v2_is_told_by_its_files_and_mounts() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        write(dir.path(), "/.dockerenv", "");
        // A private cgroup namespace hides the path.
        write(dir.path(), "/proc/self/cgroup", "0::/\n");
        write(dir.path(), "/proc/1/comm", "msa\n");
        let mounts = mounts::parse(
            "1 0 0:1 / / ro - overlay overlay rw,upperdir=/var/lib/docker/overlay2/x/diff\n\
             2 1 8:1 /var/lib/docker/containers/x/hostname /etc/hostname rw - ext4 /dev/sda1 rw\n",
        );
        let runtime = detect(&Root::new(dir.path()), &mounts);
        assert_eq!(runtime.kind, Kind::Docker);
        assert_eq!(runtime.evidence.len(), 4, "{:?}", runtime.evidence);
        assert!(runtime.evidence.iter().any(|e| e == "PID 1 is msa"));
    }

    #[test]
    fn kubernetes_wins_over_the_runtime_under_it() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        write(
            dir.path(),
            "/proc/self/cgroup",
            "0::/kubepods/besteffort/pod1/cri-containerd-abc.scope\n",
        );
        let mounts = mounts::parse(
            "1 0 0:1 / / rw - overlay overlay rw,upperdir=/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/9/fs\n",
        );
        let runtime = detect(&Root::new(dir.path()), &mounts);
        assert_eq!(runtime.kind, Kind::Kubernetes);
        assert_eq!(runtime.evidence.len(), 2, "{:?}", runtime.evidence);
    }

    #[test]
    fn podman_lxc_and_a_plain_host() {
        let podman = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        write(
            podman.path(),
            "/run/.containerenv",
            "engine=\"podman-4.9\"\n",
        );
        assert_eq!(detect(&Root::new(podman.path()), &[]).kind, Kind::Podman);

        let lxc = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        write(lxc.path(), "/proc/1/environ", "PATH=/bin\0container=lxc\0");
        write(lxc.path(), "/proc/1/comm", "systemd\n");
        assert_eq!(detect(&Root::new(lxc.path()), &[]).kind, Kind::Lxc);

        let host = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        write(
            host.path(),
            "/proc/self/cgroup",
            "0::/user.slice/user-1000.slice\n",
        );
        write(host.path(), "/proc/1/comm", "systemd\n");
        let runtime = detect(&Root::new(host.path()), &[]);
        assert_eq!(runtime.kind, Kind::None);
        assert!(runtime.evidence.is_empty());

        let unknown = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        write(unknown.path(), "/proc/1/comm", "sleep\n");
        assert_eq!(detect(&Root::new(unknown.path()), &[]).kind, Kind::Unknown);
    }
}
