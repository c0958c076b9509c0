//! What this process may do: its user, capabilities, `NoNewPrivs`, seccomp, LSM label, and
//! whether the container is privileged. "Privileged" is never read from one sign: the
//! bounding set is compared with the full mask of the running kernel
//! (`/proc/sys/kernel/cap_last_cap`), then cross-checked with what only a privileged
//! container sees: the host's devices, a writable `/sys` or `/proc/sys`.

use std::os::unix::fs::FileTypeExt;

use serde::Serialize;

use super::caps::CapSet;
use super::fs::Root;
use super::mounts::{self, Mount};
use super::procfs::Status;
use crate::report::{Finding, Severity};

/// The privileges of the inspecting process, as read (`None`: could not be read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Privilege {
    pub uid: Option<u32>,
    pub effective: Option<Vec<String>>,
    pub bounding: Option<Vec<String>>,
    pub ambient: Option<Vec<String>>,
    pub no_new_privs: Option<bool>,
    /// "disabled", "strict" or "filter".
    pub seccomp: Option<&'static str>,
    /// The AppArmor profile or SELinux context, if the kernel has either.
    pub lsm_label: Option<String>,
    /// How many capabilities the running kernel has (`cap_last_cap` + 1).
    pub kernel_capabilities: Option<usize>,
    pub privileged: bool,
}

/// How many of the kernel's capabilities a privileged container may lack (see `inspect`).
const MISSING_TOLERATED: usize = 6;

/// Device names that give away the host: memory, the kernel log, disks, virtualisation.
const HOST_DEVICES: [&str; 6] = ["mem", "kmem", "port", "kmsg", "kvm", "mapper"];

pub fn inspect(root: &Root, mounts: &[Mount], in_container: bool) -> (Privilege, Vec<Finding>) {
    let status = root
        .read("/proc/self/status")
        .map(|text| Status::parse(&text))
        .unwrap_or_default();
    let full = root
        .read("/proc/sys/kernel/cap_last_cap")
        .and_then(|text| text.trim().parse().ok())
        .map(CapSet::full);
    let lsm_label = lsm_label(root);
    let devices = host_devices(root);
    let sys_writable = in_container && writable(mounts, "/sys", None);
    let proc_sys_writable = in_container && writable(mounts, "/proc/sys", Some("/proc"));

    let mut findings = Vec::new();
    let bounding = status.bounding.unwrap_or_default();
    // Capabilities of this kernel that the bounding set lacks. An engine older than the
    // kernel grants a privileged container only the capabilities it knows (Docker 20.10
    // stops at AUDIT_READ), so a few missing newer ones do not make it unprivileged.
    let missing = full.map(|full| CapSet(full.0 & !bounding.0).names());
    let host_signs = [!devices.is_empty(), sys_writable, proc_sys_writable]
        .into_iter()
        .filter(|sign| *sign)
        .count();
    let privileged = in_container
        && match &missing {
            Some(missing) if missing.is_empty() => host_signs >= 1,
            Some(missing) => {
                missing.len() <= MISSING_TOLERATED
                    && bounding.names().iter().any(|name| name == "SYS_ADMIN")
                    && host_signs >= 2
            }
            None => false,
        };
    if privileged {
        let kernel = full.map_or(0, |f| f.names().len());
        let missing = missing.unwrap_or_default();
        let mut finding = Finding::new(
            "container.privileged",
            Severity::Critical,
            "The container is privileged: every capability, the host's devices, writable kernel settings",
        )
        .evidence(if missing.is_empty() {
            format!("CapBnd holds all {kernel} capabilities of this kernel (from cap_last_cap)")
        } else {
            format!(
                "CapBnd holds {} of the {kernel} capabilities of this kernel (from cap_last_cap); \
                 missing only {}",
                kernel - missing.len(),
                missing.join(", ")
            )
        })
        .fix("Never run with --privileged (privileged: true); grant the one capability needed, if any");
        if !devices.is_empty() {
            finding = finding.evidence(format!("host devices in /dev: {}", devices.join(", ")));
        }
        if sys_writable {
            finding = finding.evidence("/sys is mounted read-write");
        }
        if proc_sys_writable {
            finding = finding.evidence("/proc/sys is mounted read-write");
        }
        findings.push(finding);
    } else {
        if !devices.is_empty() && in_container {
            findings.push(
                Finding::new("devices.host", Severity::High, "Host devices are visible")
                    .evidence(format!("in /dev: {}", devices.join(", ")))
                    .fix("Do not pass host devices (--device, hostPath /dev) into the container"),
            );
        }
        if sys_writable {
            findings.push(
                Finding::new("mount.sys-writable", Severity::High, "/sys is writable")
                    .evidence("the /sys mount has no ro option in /proc/self/mountinfo")
                    .fix("Leave /sys read-only, as runtimes mount it by default"),
            );
        }
        if proc_sys_writable {
            findings.push(
                Finding::new(
                    "mount.proc-sys-writable",
                    Severity::High,
                    "/proc/sys is writable",
                )
                .evidence("neither /proc/sys nor /proc is mounted ro in /proc/self/mountinfo")
                .fix("Leave /proc/sys read-only, as runtimes mount it by default"),
            );
        }
    }

    match status.uid {
        Some(0) => findings.push(
            Finding::new("user.root", Severity::High, "Runs as root")
                .evidence("effective Uid 0 in /proc/self/status")
                .fix("Run as an unprivileged user (USER 10001, --user, runAsNonRoot)"),
        ),
        Some(_) => {}
        None => findings.push(
            Finding::new(
                "user.unknown",
                Severity::Low,
                "The effective user could not be read",
            )
            .evidence("/proc/self/status is not readable"),
        ),
    }

    let effective = status.effective.unwrap_or_default();
    let dangerous_effective = effective.dangerous();
    if !privileged && !dangerous_effective.is_empty() {
        findings.push(
            Finding::new(
                "capabilities.dangerous-effective",
                Severity::High,
                format!(
                    "Holds dangerous capabilities: {}",
                    dangerous_effective.join(", ")
                ),
            )
            .evidence(format!("CapEff: {}", effective.names().join(", ")))
            .fix("Drop every capability (--cap-drop ALL) and add back only one that is needed"),
        );
    } else if !privileged && !effective.is_empty() {
        findings.push(
            Finding::new(
                "capabilities.effective",
                Severity::Low,
                format!("Holds capabilities: {}", effective.names().join(", ")),
            )
            .evidence("CapEff in /proc/self/status is not empty")
            .fix("Drop every capability (--cap-drop ALL) unless one is needed"),
        );
    }
    let dangerous_bounding: Vec<String> = bounding
        .dangerous()
        .into_iter()
        .filter(|name| !dangerous_effective.contains(name))
        .collect();
    if !privileged && !dangerous_bounding.is_empty() {
        findings.push(
            Finding::new(
                "capabilities.dangerous-bounding",
                Severity::Medium,
                format!(
                    "Dangerous capabilities can be gained: {}",
                    dangerous_bounding.join(", ")
                ),
            )
            .evidence(format!("CapBnd: {}", bounding.names().join(", ")))
            .fix("Drop them from the bounding set (--cap-drop ALL, capabilities.drop: [ALL])"),
        );
    }
    let ambient = status.ambient.unwrap_or_default();
    if !ambient.is_empty() {
        findings.push(
            Finding::new(
                "capabilities.ambient",
                Severity::Medium,
                format!(
                    "Ambient capabilities pass to every program run: {}",
                    ambient.names().join(", ")
                ),
            )
            .evidence("CapAmb in /proc/self/status is not empty")
            .fix("Grant no ambient capabilities"),
        );
    }
    if status.no_new_privs == Some(false) {
        findings.push(
            Finding::new(
                "privileges.may-gain",
                Severity::Medium,
                "Programs may gain privileges (setuid binaries, file capabilities)",
            )
            .evidence("NoNewPrivs: 0 in /proc/self/status")
            .fix("Run with --security-opt no-new-privileges (allowPrivilegeEscalation: false)"),
        );
    }
    if status.seccomp == Some(0) {
        findings.push(
            Finding::new(
                "seccomp.disabled",
                Severity::High,
                "No seccomp filter: every system call reaches the kernel",
            )
            .evidence("Seccomp: 0 in /proc/self/status")
            .fix("Keep the runtime's default seccomp profile (seccompProfile: RuntimeDefault); never seccomp=unconfined"),
        );
    }
    match lsm_label.as_deref() {
        Some(label) if label.starts_with("unconfined") => findings.push(
            Finding::new("lsm.unconfined", Severity::Low, "Not confined by AppArmor or SELinux")
                .evidence(format!("LSM label: {label}"))
                .fix("Keep the runtime's default AppArmor profile or SELinux type"),
        ),
        Some(_) => {}
        None => findings.push(
            Finding::new(
                "lsm.none",
                Severity::Info,
                "No AppArmor or SELinux label (the kernel has neither enabled, or it is not readable)",
            )
            .evidence("/proc/self/attr/current is not readable"),
        ),
    }

    let names = |set: Option<CapSet>| set.map(CapSet::names);
    let privilege = Privilege {
        uid: status.uid,
        effective: names(status.effective),
        bounding: names(status.bounding),
        ambient: names(status.ambient),
        no_new_privs: status.no_new_privs,
        seccomp: status.seccomp.map(|mode| match mode {
            0 => "disabled",
            1 => "strict",
            _ => "filter",
        }),
        lsm_label,
        kernel_capabilities: full.map(|full| full.names().len()),
        privileged,
    };
    (privilege, findings)
}

fn lsm_label(root: &Root) -> Option<String> {
    [
        "/proc/self/attr/apparmor/current",
        "/proc/self/attr/current",
    ]
    .iter()
    .find_map(|path| root.read(path))
    .map(|label| label.trim_end_matches(['\0', '\n']).to_owned())
    .filter(|label| !label.is_empty())
}

/// Block devices, and character devices no container needs, visible in `/dev`.
fn host_devices(root: &Root) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(root.join("/dev")) else {
        return Vec::new();
    };
    let mut found: Vec<String> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let kind = entry.file_type().ok()?;
            let host = kind.is_block_device()
                || (HOST_DEVICES.contains(&name.as_str()) && !kind.is_symlink());
            host.then_some(name)
        })
        .collect();
    found.sort();
    found
}

/// Whether the mount at `path` (or, without one, at `parent`) may be written.
fn writable(mounts: &[Mount], path: &str, parent: Option<&str>) -> bool {
    mounts::at(mounts, path)
        .or_else(|| parent.and_then(|parent| mounts::at(mounts, parent)))
        .is_some_and(|mount| !mount.read_only())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HARDENED: &str = "Name:\tmsa\nUid:\t10001\t10001\t10001\t10001\n\
        CapEff:\t0000000000000000\nCapBnd:\t0000000000000000\nCapAmb:\t0000000000000000\n\
        NoNewPrivs:\t1\nSeccomp:\t2\n";
    const DOCKER_MOUNTS: &str = "\
1 0 0:1 / / ro - overlay overlay rw,upperdir=/var/lib/docker/overlay2/x/diff
2 1 0:2 / /proc rw,nosuid - proc proc rw
3 1 0:3 / /sys ro,nosuid - sysfs sysfs ro
4 2 0:2 /sys /proc/sys ro,nosuid - proc proc rw
";

    fn fixture(status: &str, apparmor: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let write = |path: &str, text: &str| {
            let file = dir.path().join(path);
            std::fs::create_dir_all(file.parent().unwrap_or(dir.path()))
                .unwrap_or_else(|e| panic!("{e}"));
            std::fs::write(file, text).unwrap_or_else(|e| panic!("{e}"));
        };
        write("proc/self/status", status);
        write("proc/sys/kernel/cap_last_cap", "40\n");
        write("proc/self/attr/current", apparmor);
        std::fs::create_dir_all(dir.path().join("dev")).unwrap_or_else(|e| panic!("{e}"));
        dir
    }

    fn ids(findings: &[Finding]) -> Vec<&'static str> {
        findings.iter().map(|f| f.id).collect()
    }

    #[test]
    fn a_hardened_container_has_nothing_to_report() {
        let dir = fixture(HARDENED, "docker-default (enforce)\n");
        let (privilege, findings) =
            inspect(&Root::new(dir.path()), &mounts::parse(DOCKER_MOUNTS), true);
        assert_eq!(ids(&findings), Vec::<&str>::new());
        assert_eq!(privilege.uid, Some(10001));
        assert_eq!(privilege.seccomp, Some("filter"));
        assert_eq!(
            privilege.lsm_label.as_deref(),
            Some("docker-default (enforce)")
        );
        assert!(!privilege.privileged);
    }

    #[test]
    fn root_with_added_capabilities_and_no_filters_is_reported() {
        let status = "Uid:\t0\t0\t0\t0\nCapEff:\t00000000a82425fb\nCapBnd:\t00000000a82425fb\n\
            CapAmb:\t0000000000000000\nNoNewPrivs:\t0\nSeccomp:\t0\n";
        let dir = fixture(status, "unconfined\n");
        let (_, findings) = inspect(&Root::new(dir.path()), &mounts::parse(DOCKER_MOUNTS), true);
        assert_eq!(
            ids(&findings),
            [
                "user.root",
                "capabilities.dangerous-effective",
                "privileges.may-gain",
                "seccomp.disabled",
                "lsm.unconfined"
            ]
        );
        assert!(findings[1].title.contains("SYS_ADMIN"), "{:?}", findings[1]);
    }

    #[test]
    fn a_capability_only_in_the_bounding_set_is_still_reported() {
        let status = HARDENED.replace("CapBnd:\t0000000000000000", "CapBnd:\t0000000000200000");
        let dir = fixture(&status, "docker-default (enforce)");
        let (_, findings) = inspect(&Root::new(dir.path()), &mounts::parse(DOCKER_MOUNTS), true);
        assert_eq!(ids(&findings), ["capabilities.dangerous-bounding"]);
        assert!(findings[0].title.contains("SYS_ADMIN"));
    }

    #[test]
    fn privileged_needs_the_full_mask_and_a_host_sign() {
        let status = HARDENED.replace("CapBnd:\t0000000000000000", "CapBnd:\t000001ffffffffff");
        let rw_mounts = DOCKER_MOUNTS.replace("/sys ro,", "/sys rw,");
        let dir = fixture(&status, "unconfined");
        let (privilege, findings) =
            inspect(&Root::new(dir.path()), &mounts::parse(&rw_mounts), true);
        assert!(privilege.privileged);
        assert_eq!(ids(&findings), ["container.privileged", "lsm.unconfined"]);
        assert!(
            findings[0]
                .evidence
                .iter()
                .any(|e| e == "/sys is mounted read-write")
        );

        // A newer kernel's capability that the engine does not know yet: still privileged,
        // with /sys and /proc/sys both writable.
        std::fs::write(dir.path().join("proc/sys/kernel/cap_last_cap"), "41\n")
            .unwrap_or_else(|e| panic!("{e}"));
        let (privilege, findings) =
            inspect(&Root::new(dir.path()), &mounts::parse(&rw_mounts), true);
        assert!(privilege.privileged);
        assert!(
            findings[0].evidence[0].ends_with("missing only CAP_41"),
            "{findings:?}"
        );

        // Without SYS_ADMIN it is not privileged, whatever else is writable.
        let without_admin =
            HARDENED.replace("CapBnd:\t0000000000000000", "CapBnd:\t000001ffffdfffff");
        std::fs::write(dir.path().join("proc/self/status"), without_admin)
            .unwrap_or_else(|e| panic!("{e}"));
        let (privilege, findings) =
            inspect(&Root::new(dir.path()), &mounts::parse(&rw_mounts), true);
        assert!(!privilege.privileged);
        assert!(ids(&findings).contains(&"mount.sys-writable"));
        assert!(ids(&findings).contains(&"mount.proc-sys-writable"));
        assert!(ids(&findings).contains(&"capabilities.dangerous-bounding"));

        // Outside a container, the host's own writable /sys is no finding.
        let (privilege, findings) =
            inspect(&Root::new(dir.path()), &mounts::parse(&rw_mounts), false);
        assert!(!privilege.privileged);
        assert!(!ids(&findings).contains(&"mount.sys-writable"));
    }

    #[test]
    fn an_unreadable_proc_is_unknown_not_a_crash() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (privilege, findings) = inspect(&Root::new(dir.path()), &[], true);
        assert_eq!(privilege.uid, None);
        assert_eq!(ids(&findings), ["user.unknown", "lsm.none"]);
    }
}
