//! The engine's own settings, from `GET /info`, `GET /version` and the default bridge
//! (`GET /networks/bridge`): rootless or user namespaces, seccomp and LSM, the defaults
//! containers get, and the engine's release and its end of support.

use serde::{Deserialize, Serialize};
use time::Date;
use time::macros::date;

use crate::report::{Finding, Severity};

/// When [`END_OF_SUPPORT`] was last checked.
pub const TABLE_DATE: Date = date!(2026 - 11 - 01);

/// The end of upstream fixes (Docker's own packages) of old release lines. Newer lines are
/// not listed: their support depends on what came after, which this binary cannot know,
/// so they are "unknown", never "supported".
const END_OF_SUPPORT: &[(&str, Date)] = &[
    ("18.09", date!(2020 - 05 - 01)),
    ("19.03", date!(2021 - 07 - 31)),
    ("20.10", date!(2023 - 12 - 10)),
    ("23.0", date!(2024 - 02 - 01)),
    ("24.0", date!(2024 - 06 - 08)),
];

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Info {
    pub security_options: Vec<String>,
    pub live_restore_enabled: bool,
    pub server_version: String,
    pub operating_system: String,
    pub kernel_version: String,
    pub containers_running: u64,
    pub registry_config: Option<RegistryConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RegistryConfig {
    #[serde(rename = "InsecureRegistryCIDRs")]
    pub insecure_registry_cidrs: Vec<String>,
    pub index_configs: std::collections::BTreeMap<String, IndexConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct IndexConfig {
    pub secure: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Version {
    pub version: String,
    pub api_version: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Network {
    pub options: std::collections::BTreeMap<String, String>,
}

/// The daemon as the report tells it.
#[derive(Debug, Clone, Serialize)]
pub struct Daemon {
    pub version: String,
    pub api_version: String,
    pub host_os: String,
    pub kernel: String,
    pub rootless: bool,
    pub user_namespaces: bool,
    /// `seccomp (profile default)`, `apparmor`, `selinux`, `no-new-privileges`...
    pub security_options: Vec<String>,
    pub live_restore: bool,
    /// Whether containers on the default bridge may talk to each other.
    pub inter_container_communication: Option<bool>,
    pub support: String,
}

fn option(info: &Info, name: &str) -> Option<String> {
    info.security_options.iter().find_map(|entry| {
        let mut parts = entry.split(',');
        (parts.next()? == format!("name={name}")).then(|| parts.collect::<Vec<_>>().join(","))
    })
}

/// The daemon's settings and the findings they make.
pub fn inspect(
    info: &Info,
    version: &Version,
    bridge: Option<&Network>,
    today: Date,
) -> (Daemon, Vec<Finding>) {
    let has = |name: &str| option(info, name).is_some();
    let rootless = has("rootless");
    let user_namespaces = has("userns");
    let seccomp = option(info, "seccomp");
    let icc = bridge.and_then(|network| {
        network
            .options
            .get("com.docker.network.bridge.enable_icc")
            .map(|value| value != "false")
    });
    let mut findings = Vec::new();
    let options_line = format!(
        "GET /info SecurityOptions: {}",
        info.security_options.join(" ")
    );
    if !rootless && !user_namespaces {
        findings.push(
            Finding::new(
                "engine.rootful",
                Severity::Medium,
                "The engine runs as root without user namespaces: root in a container is root on the host once it escapes",
            )
            .evidence(options_line.clone())
            .fix("Run the engine rootless (dockerd-rootless-setuptool.sh), or set \"userns-remap\": \"default\" in daemon.json"),
        );
    }
    match seccomp.as_deref() {
        None => findings.push(
            Finding::new("engine.seccomp-off", Severity::High, "The engine applies no seccomp profile")
                .evidence(options_line.clone())
                .fix("Build the engine with seccomp and keep its default profile (\"seccomp-profile\" in daemon.json only to tighten it)"),
        ),
        Some(profile) if profile.contains("unconfined") => findings.push(
            Finding::new("engine.seccomp-off", Severity::High, "The engine's default seccomp profile is unconfined")
                .evidence(options_line.clone())
                .fix("Remove \"seccomp-profile\": \"unconfined\" from daemon.json"),
        ),
        Some(_) => {}
    }
    if !has("apparmor") && !has("selinux") {
        findings.push(
            Finding::new("engine.no-lsm", Severity::Low, "Containers are confined by neither AppArmor nor SELinux")
                .evidence(options_line.clone())
                .fix("Enable AppArmor (Debian, Ubuntu) or SELinux (\"selinux-enabled\": true on Fedora, RHEL) on the host"),
        );
    }
    if !has("no-new-privileges") {
        findings.push(
            Finding::new(
                "engine.no-new-privileges-default",
                Severity::Low,
                "Containers may gain privileges (setuid, file capabilities) unless each one opts out",
            )
            .evidence(options_line.clone())
            .fix("Set \"no-new-privileges\": true in daemon.json (compose files can still set it per service)"),
        );
    }
    if !info.live_restore_enabled {
        findings.push(
            Finding::new("engine.live-restore-off", Severity::Low, "Restarting or upgrading the engine stops every container")
                .evidence("GET /info LiveRestoreEnabled: false")
                .fix("Set \"live-restore\": true in daemon.json, so security upgrades of the engine need no downtime"),
        );
    }
    if icc == Some(true) {
        findings.push(
            Finding::new(
                "engine.icc",
                Severity::Medium,
                "Containers on the default bridge can reach each other on every port",
            )
            .evidence("GET /networks/bridge: com.docker.network.bridge.enable_icc is true")
            .fix("Set \"icc\": false in daemon.json, and give each application its own network (compose does)"),
        );
    }
    if let Some(registries) = &info.registry_config {
        let insecure: Vec<String> = registries
            .insecure_registry_cidrs
            .iter()
            .filter(|cidr| *cidr != "127.0.0.0/8" && *cidr != "::1/128")
            .cloned()
            .chain(
                registries
                    .index_configs
                    .iter()
                    .filter(|(_, index)| !index.secure)
                    .map(|(name, _)| name.clone()),
            )
            .collect();
        if !insecure.is_empty() {
            findings.push(
                Finding::new(
                    "engine.insecure-registries",
                    Severity::Medium,
                    "Images are pulled from registries without TLS checks: anyone on the path can swap them",
                )
                .evidence(format!("GET /info RegistryConfig: {}", insecure.join(", ")))
                .fix("Remove \"insecure-registries\" from daemon.json; give the registry a certificate"),
            );
        }
    }
    let (support, support_finding) = support(&version.version, today);
    findings.extend(support_finding);
    let daemon = Daemon {
        version: version.version.clone(),
        api_version: version.api_version.clone(),
        host_os: info.operating_system.clone(),
        kernel: info.kernel_version.clone(),
        rootless,
        user_namespaces,
        security_options: info.security_options.clone(),
        live_restore: info.live_restore_enabled,
        inter_container_communication: icc,
        support,
    };
    (daemon, findings)
}

/// The engine's release line (`20.10.24+dfsg1` is in `20.10`) against the table.
fn support(version: &str, today: Date) -> (String, Option<Finding>) {
    let line = END_OF_SUPPORT.iter().find(|(line, _)| {
        version == *line
            || version
                .strip_prefix(line)
                .is_some_and(|rest| rest.starts_with(['.', '+', '-']))
    });
    let distribution =
        version.contains("+dfsg") || version.contains("ubuntu") || version.contains("deb");
    let older = version
        .split('.')
        .next()
        .and_then(|major| major.parse::<u32>().ok())
        .is_some_and(|major| major < 18);
    let end = match (line, older) {
        (Some((_, end)), _) => *end,
        (None, true) => date!(2019 - 01 - 01),
        (None, false) => {
            return (
                format!(
                    "unknown: {version} is newer than the lines this binary's table ends (as of {TABLE_DATE})"
                ),
                None,
            );
        }
    };
    if end >= today {
        return (format!("supported until {end}"), None);
    }
    let mut finding = Finding::new(
        "engine.end-of-life",
        Severity::High,
        format!("Docker Engine {version} gets no upstream fixes since {end}"),
    )
    .evidence(format!(
        "GET /version Version: {version}; table of this binary as of {TABLE_DATE}"
    ))
    .fix("Upgrade to a maintained Docker Engine release (docs.docker.com/engine/release-notes)");
    if distribution {
        finding = finding.evidence(
            "a distribution's package: its security team may backport fixes; check its tracker for this version",
        );
    }
    (format!("END OF LIFE since {end}"), Some(finding))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TODAY: Date = date!(2026 - 12 - 06);

    fn ids(findings: &[Finding]) -> Vec<&str> {
        findings.iter().map(|f| f.id).collect()
    }

    #[test]
    fn this_machines_engine_is_rootful_old_and_lets_bridged_containers_talk() {
        let info: Info = serde_json::from_value(serde_json::json!({
            "SecurityOptions": ["name=seccomp,profile=default"],
            "LiveRestoreEnabled": false,
            "ServerVersion": "20.10.24+dfsg1",
            "RegistryConfig": {"InsecureRegistryCIDRs": ["127.0.0.0/8"],
                               "IndexConfigs": {"docker.io": {"Secure": true}}}
        }))
        .expect("an info");
        let version = Version {
            version: "20.10.24+dfsg1".into(),
            api_version: "1.41".into(),
        };
        let bridge: Network = serde_json::from_value(serde_json::json!({
            "Options": {"com.docker.network.bridge.enable_icc": "true"}
        }))
        .expect("a network");
        let (daemon, findings) = inspect(&info, &version, Some(&bridge), TODAY);
        assert_eq!(
            ids(&findings),
            [
                "engine.rootful",
                "engine.no-lsm",
                "engine.no-new-privileges-default",
                "engine.live-restore-off",
                "engine.icc",
                "engine.end-of-life"
            ]
        );
        assert!(!daemon.rootless && daemon.inter_container_communication == Some(true));
        assert_eq!(daemon.support, "END OF LIFE since 2023-12-10");
    }

    #[test]
    fn a_hardened_engine_has_nothing_to_report() {
        let info: Info = serde_json::from_value(serde_json::json!({
            "SecurityOptions": ["name=seccomp,profile=builtin", "name=apparmor", "name=rootless",
                                "name=no-new-privileges", "name=cgroupns"],
            "LiveRestoreEnabled": true,
        }))
        .expect("an info");
        let version = Version {
            version: "29.0.4".into(),
            api_version: "1.52".into(),
        };
        let bridge = Network {
            options: [(
                "com.docker.network.bridge.enable_icc".to_owned(),
                "false".to_owned(),
            )]
            .into(),
        };
        let (daemon, findings) = inspect(&info, &version, Some(&bridge), TODAY);
        assert_eq!(ids(&findings), Vec::<&str>::new());
        assert!(daemon.rootless);
        assert!(daemon.support.starts_with("unknown"), "{}", daemon.support);
    }

    #[test]
    fn release_lines_match_whole_parts_and_insecure_registries_are_named() {
        assert!(support("19.03.15", TODAY).1.is_some());
        assert!(support("17.06.0-ce", TODAY).1.is_some());
        assert!(support("20.100.1", TODAY).1.is_none());
        let info: Info = serde_json::from_value(serde_json::json!({
            "SecurityOptions": ["name=seccomp,profile=unconfined", "name=userns"],
            "RegistryConfig": {"InsecureRegistryCIDRs": ["127.0.0.0/8", "10.0.0.0/8"],
                               "IndexConfigs": {"registry.lan:5000": {"Secure": false}}}
        }))
        .expect("an info");
        let (_, findings) = inspect(&info, &Version::default(), None, TODAY);
        assert!(ids(&findings).contains(&"engine.seccomp-off"));
        let insecure = findings
            .iter()
            .find(|f| f.id == "engine.insecure-registries")
            .expect("found");
        assert_eq!(
            insecure.evidence,
            ["GET /info RegistryConfig: 10.0.0.0/8, registry.lan:5000"]
        );
        assert!(!ids(&findings).contains(&"engine.rootful"));
    }
}
