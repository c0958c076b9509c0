//! The whole container audit on `/proc` captured from real Docker containers (by reading
//! `/proc/<pid>/...` of a running `msa serve users` from the host): one with the hardened
//! settings of compose.yaml, one `--privileged`. The captures are copied into a fresh root
//! with the `/dev` the container saw (as plain files: device nodes cannot live in git).

use std::path::{Path, PathBuf};

use audit::container::{self, Report};
use audit::report::Severity;

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("{e}"));
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{from:?}: {e}")) {
        let entry = entry.unwrap_or_else(|e| panic!("{e}"));
        let target = to.join(entry.file_name());
        if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

fn audit_capture(name: &str) -> Report {
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    copy_tree(&fixture, root.path());
    let listing =
        std::fs::read_to_string(fixture.join("dev-listing.txt")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir_all(root.path().join("dev")).unwrap_or_else(|e| panic!("{e}"));
    for device in listing.lines() {
        std::fs::write(root.path().join("dev").join(device), "").unwrap_or_else(|e| panic!("{e}"));
    }
    container::inspect(root.path(), time::macros::date!(2026 - 11 - 25))
}

fn ids(report: &Report) -> Vec<&'static str> {
    report.findings.iter().map(|finding| finding.id).collect()
}

#[test]
fn the_hardened_container_has_no_high_finding() {
    let report = audit_capture("hardened");
    assert_eq!(report.runtime.kind, container::runtime::Kind::Docker);
    assert!(
        report.runtime.evidence.len() >= 4,
        "{:?}",
        report.runtime.evidence
    );
    assert_eq!(
        report.worst(),
        Some(Severity::Info),
        "{:?}",
        report.findings
    );
    assert_eq!(ids(&report), ["lsm.none"]);
    assert_eq!(report.privilege.uid, Some(10001));
    assert_eq!(report.privilege.bounding, Some(vec![]));
    assert!(!report.privilege.privileged);
    assert_eq!(report.listening, ["0.0.0.0:5001"]);
}

#[test]
fn the_privileged_container_is_told_despite_an_older_engine() {
    let report = audit_capture("privileged");
    assert!(report.privilege.privileged);
    let privileged = report
        .findings
        .first()
        .unwrap_or_else(|| panic!("no findings"));
    assert_eq!(privileged.id, "container.privileged");
    assert_eq!(privileged.severity, Severity::Critical);
    let evidence = privileged.evidence.join("\n");
    // Docker 20.10 grants 37 of kernel 6.x's 41 capabilities; the sandbox it ran in took one more.
    assert!(evidence.contains("holds 37 of the 41"), "{evidence}");
    assert!(
        evidence.contains("missing only SYS_RESOURCE, PERFMON, BPF, CHECKPOINT_RESTORE"),
        "{evidence}"
    );
    assert!(evidence.contains("kmsg, kvm"), "{evidence}");
    assert!(
        evidence.contains("/sys is mounted read-write"),
        "{evidence}"
    );
    assert!(
        evidence.contains("/proc/sys is mounted read-write"),
        "{evidence}"
    );
    assert!(
        ids(&report).contains(&"seccomp.disabled"),
        "{:?}",
        ids(&report)
    );
    let text = report.to_text();
    assert!(text.contains("PRIVILEGED"), "{text}");
}
