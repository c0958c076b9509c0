//! The operating system of the image, from `/etc/os-release` (else `/usr/lib/os-release`),
//! and whether it still gets security updates: from its own `SUPPORT_END` if it says, else
//! from a dated table shipped in this binary. A release the table does not know is
//! "unknown", never "supported": silence is not a guarantee.

use serde::Serialize;
use time::Date;
use time::macros::date;

use super::fs::Root;
use crate::report::{Finding, Severity};

/// When [`END_OF_SUPPORT`] was last checked against the distributions' own pages.
pub const TABLE_DATE: Date = date!(2026 - 11 - 01);

/// End of security support (including the distributions' own LTS where it is free), by
/// `ID` and the leading part of `VERSION_ID`.
const END_OF_SUPPORT: &[(&str, &str, Date)] = &[
    ("debian", "8", date!(2020 - 06 - 30)),
    ("debian", "9", date!(2022 - 06 - 30)),
    ("debian", "10", date!(2024 - 06 - 30)),
    ("debian", "11", date!(2026 - 08 - 31)),
    ("debian", "12", date!(2028 - 06 - 30)),
    ("debian", "13", date!(2030 - 06 - 30)),
    ("ubuntu", "16.04", date!(2021 - 04 - 30)),
    ("ubuntu", "18.04", date!(2023 - 05 - 31)),
    ("ubuntu", "20.04", date!(2025 - 05 - 31)),
    ("ubuntu", "22.04", date!(2027 - 05 - 31)),
    ("ubuntu", "24.04", date!(2029 - 05 - 31)),
    ("alpine", "3.16", date!(2024 - 05 - 23)),
    ("alpine", "3.17", date!(2024 - 11 - 22)),
    ("alpine", "3.18", date!(2025 - 05 - 09)),
    ("alpine", "3.19", date!(2025 - 11 - 01)),
    ("alpine", "3.20", date!(2026 - 04 - 01)),
    ("alpine", "3.21", date!(2026 - 11 - 01)),
    ("alpine", "3.22", date!(2027 - 05 - 01)),
    ("centos", "7", date!(2024 - 06 - 30)),
    ("centos", "8", date!(2021 - 12 - 31)),
    ("rhel", "7", date!(2024 - 06 - 30)),
    ("rhel", "8", date!(2029 - 05 - 31)),
    ("rhel", "9", date!(2032 - 05 - 31)),
    ("rocky", "8", date!(2029 - 05 - 31)),
    ("rocky", "9", date!(2032 - 05 - 31)),
    ("almalinux", "8", date!(2029 - 05 - 31)),
    ("almalinux", "9", date!(2032 - 05 - 31)),
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperatingSystem {
    /// Where the description was read, or `None` when there is none (a scratch image).
    pub source: Option<&'static str>,
    pub id: Option<String>,
    pub version_id: Option<String>,
    pub pretty_name: Option<String>,
    pub support: Support,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Support {
    Supported {
        until: String,
        from: SupportSource,
    },
    EndOfLife {
        since: String,
        from: SupportSource,
    },
    Unknown {
        reason: String,
    },
    /// No operating system at all: nothing to patch.
    NoOperatingSystem,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SupportSource {
    /// The release's own `SUPPORT_END`.
    OsRelease,
    /// This binary's table, as of [`TABLE_DATE`].
    Table,
}

impl OperatingSystem {
    /// One line for a report: the system, where it said so, and its support.
    pub fn summary(&self) -> String {
        let Some(source) = &self.source else {
            return "none: no os-release (a scratch or distroless image)".to_owned();
        };
        let name = self
            .pretty_name
            .as_deref()
            .or(self.id.as_deref())
            .unwrap_or("unnamed");
        let support = match &self.support {
            Support::Supported { until, .. } => format!("supported until {until}"),
            Support::EndOfLife { since, .. } => format!("END OF LIFE since {since}"),
            Support::Unknown { reason } => format!("support unknown: {reason}"),
            Support::NoOperatingSystem => "none".into(),
        };
        format!("{name} ({source}): {support}")
    }
}

pub fn inspect(root: &Root, today: Date) -> (OperatingSystem, Option<Finding>) {
    let release = RELEASE_FILES
        .into_iter()
        .find_map(|path| root.read(path).map(|text| (path, text)));
    describe(
        release.as_ref().map(|(path, text)| (*path, text.as_str())),
        today,
    )
}

/// Where an operating system describes itself, in the order they are read.
pub const RELEASE_FILES: [&str; 2] = ["/etc/os-release", "/usr/lib/os-release"];

/// The system an os-release file (`source`, its text) describes, and its support on
/// `today`; `None` is a system without one (a scratch or distroless image).
pub fn describe(
    release: Option<(&'static str, &str)>,
    today: Date,
) -> (OperatingSystem, Option<Finding>) {
    let Some((source, text)) = release else {
        let os = OperatingSystem {
            source: None,
            id: None,
            version_id: None,
            pretty_name: None,
            support: Support::NoOperatingSystem,
        };
        return (os, None);
    };
    let field = |name: &str| -> Option<String> {
        text.lines().find_map(|line| {
            let value = line.strip_prefix(name)?.strip_prefix('=')?;
            Some(value.trim().trim_matches(['"', '\'']).to_owned())
        })
    };
    let id = field("ID");
    let version_id = field("VERSION_ID");
    let support = support(
        id.as_deref(),
        version_id.as_deref(),
        field("SUPPORT_END"),
        today,
    );
    let os = OperatingSystem {
        source: Some(source),
        pretty_name: field("PRETTY_NAME"),
        id,
        version_id,
        support,
    };
    let name = os
        .pretty_name
        .clone()
        .or_else(|| os.id.clone())
        .unwrap_or_else(|| "an unnamed system".into());
    let finding = match &os.support {
        Support::EndOfLife { since, from } => Some(
            Finding::new(
                "os.end-of-life",
                Severity::High,
                format!("{name} gets no security updates since {since}"),
            )
            .evidence(evidence(source, *from))
            .fix("Rebuild on a supported release, or on scratch/distroless with a static binary"),
        ),
        Support::Unknown { reason } => Some(
            Finding::new(
                "os.support-unknown",
                Severity::Low,
                format!("Whether {name} still gets security updates is unknown"),
            )
            .evidence(format!("{source}: {reason}"))
            .fix("Check the distribution's release page; prefer releases that state SUPPORT_END"),
        ),
        Support::Supported { .. } | Support::NoOperatingSystem => None,
    };
    (os, finding)
}

fn evidence(source: &str, from: SupportSource) -> String {
    match from {
        SupportSource::OsRelease => format!("SUPPORT_END in {source}"),
        SupportSource::Table => format!(
            "ID and VERSION_ID in {source}, looked up in the table of this binary (as of {TABLE_DATE})"
        ),
    }
}

fn support(
    id: Option<&str>,
    version_id: Option<&str>,
    support_end: Option<String>,
    today: Date,
) -> Support {
    let verdict = |end: Date, from| {
        if end < today {
            Support::EndOfLife {
                since: end.to_string(),
                from,
            }
        } else {
            Support::Supported {
                until: end.to_string(),
                from,
            }
        }
    };
    if let Some(end) = support_end {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        return match Date::parse(&end, format) {
            Ok(end) => verdict(end, SupportSource::OsRelease),
            Err(_) => Support::Unknown {
                reason: format!("SUPPORT_END={end} is not a date"),
            },
        };
    }
    let (Some(id), Some(version)) = (id, version_id) else {
        return Support::Unknown {
            reason: "no ID or VERSION_ID".into(),
        };
    };
    let known = END_OF_SUPPORT.iter().find(|(name, release, _)| {
        *name == id
            && (version == *release
                || version
                    .strip_prefix(release)
                    .is_some_and(|rest| rest.starts_with('.')))
    });
    match known {
        Some((_, _, end)) => verdict(*end, SupportSource::Table),
        None => Support::Unknown {
            reason: format!(
                "{id} {version} is not in the table of this binary (as of {TABLE_DATE})"
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TODAY: Date = date!(2026 - 11 - 25);

    fn os_of(path: &str, text: &str) -> (OperatingSystem, Option<Finding>) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = dir.path().join(path.trim_start_matches('/'));
        std::fs::create_dir_all(file.parent().unwrap_or(dir.path()))
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(file, text).unwrap_or_else(|e| panic!("{e}"));
        inspect(&Root::new(dir.path()), TODAY)
    }

    #[test]
    fn a_scratch_image_has_no_operating_system_and_no_finding() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (os, finding) = inspect(&Root::new(dir.path()), TODAY);
        assert_eq!(os.support, Support::NoOperatingSystem);
        assert_eq!(os.source, None);
        assert!(finding.is_none());
    }

    #[test]
    fn an_old_debian_is_end_of_life_by_the_table() {
        let (os, finding) = os_of(
            "/etc/os-release",
            "PRETTY_NAME=\"Debian GNU/Linux 10 (buster)\"\nID=debian\nVERSION_ID=\"10\"\n",
        );
        assert_eq!(
            os.support,
            Support::EndOfLife {
                since: "2024-06-30".into(),
                from: SupportSource::Table
            }
        );
        let finding = finding.unwrap_or_else(|| panic!("no finding"));
        assert_eq!(finding.severity, Severity::High);
        assert!(
            finding.evidence[0].contains("as of 2026-11-01"),
            "{finding:?}"
        );
    }

    #[test]
    fn support_end_wins_and_minor_versions_match_their_release() {
        let (os, finding) = os_of(
            "/usr/lib/os-release",
            "ID=fedora\nVERSION_ID=40\nSUPPORT_END=2025-05-13\n",
        );
        assert_eq!(os.source, Some("/usr/lib/os-release"));
        assert!(matches!(
            os.support,
            Support::EndOfLife {
                from: SupportSource::OsRelease,
                ..
            }
        ));
        assert!(finding.is_some());

        let (os, finding) = os_of("/etc/os-release", "ID=alpine\nVERSION_ID=3.22.1\n");
        assert_eq!(
            os.support,
            Support::Supported {
                until: "2027-05-01".into(),
                from: SupportSource::Table
            }
        );
        assert!(finding.is_none());
        // 3.2 is not 3.22.
        let (os, _) = os_of("/etc/os-release", "ID=alpine\nVERSION_ID=3.2.0\n");
        assert!(matches!(os.support, Support::Unknown { .. }));
    }

    #[test]
    fn an_unknown_release_is_unknown_never_supported() {
        let (os, finding) = os_of("/etc/os-release", "ID=debian\nVERSION_ID=14\n");
        assert!(matches!(os.support, Support::Unknown { .. }));
        assert_eq!(finding.map(|f| f.id), Some("os.support-unknown"));
        let (os, _) = os_of("/etc/os-release", "ID=x\nSUPPORT_END=soon\n");
        assert!(matches!(os.support, Support::Unknown { .. }));
    }
}
