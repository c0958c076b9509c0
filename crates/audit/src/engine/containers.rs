//! The running containers, as the engine describes them (`GET /containers/{id}/json`):
//! each way one of them could reach or hold the host.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::report::{Finding, Severity};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Listed {
    pub id: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Inspected {
    pub id: String,
    pub name: String,
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    pub mounts: Vec<Mount>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerConfig {
    pub user: String,
    pub image: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    pub privileged: bool,
    pub pid_mode: String,
    pub network_mode: String,
    pub ipc_mode: String,
    pub cap_add: Option<Vec<String>>,
    pub security_opt: Option<Vec<String>>,
    pub port_bindings: Option<BTreeMap<String, Option<Vec<PortBinding>>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PortBinding {
    pub host_ip: String,
    pub host_port: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Mount {
    pub source: String,
    pub destination: String,
}

/// A container as the report lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Container {
    pub name: String,
    pub id: String,
    pub image: String,
    pub user: String,
    /// `0.0.0.0:8443->8443/tcp`.
    pub published: Vec<String>,
}

/// Capabilities that hand a container the host: admin, modules, raw devices, tracing.
const DANGEROUS_CAPABILITIES: [&str; 7] = [
    "ALL",
    "SYS_ADMIN",
    "SYS_MODULE",
    "SYS_PTRACE",
    "SYS_RAWIO",
    "DAC_READ_SEARCH",
    "NET_ADMIN",
];

/// The containers' summaries and the findings they make. `sockets` are the paths the
/// engine's socket is known by.
pub fn inspect(containers: &[Inspected], sockets: &[String]) -> (Vec<Container>, Vec<Finding>) {
    let mut privileged = Vec::new();
    let mut socket_mounts = Vec::new();
    let mut host_pid = Vec::new();
    let mut host_network = Vec::new();
    let mut root = Vec::new();
    let mut all_addresses = Vec::new();
    let mut capabilities = Vec::new();
    let mut unconfined = Vec::new();
    let mut listed = Vec::new();
    for container in containers {
        let name = container.name.trim_start_matches('/');
        let who = format!("{name} (image {})", container.config.image);
        let host = &container.host_config;
        if host.privileged {
            privileged.push(format!("{who}: HostConfig.Privileged true"));
        }
        for mount in &container.mounts {
            let source = mount.source.as_str();
            if sockets.iter().any(|socket| socket == source) || source.ends_with("/docker.sock") {
                socket_mounts.push(format!("{who}: {source} mounted at {}", mount.destination));
            }
        }
        if host.pid_mode == "host" {
            host_pid.push(format!("{who}: HostConfig.PidMode host"));
        }
        if host.network_mode == "host" {
            host_network.push(format!("{who}: HostConfig.NetworkMode host"));
        }
        let user = container.config.user.split(':').next().unwrap_or("");
        if user.is_empty() || user == "0" || user == "root" {
            root.push(format!("{who}: Config.User {:?}", container.config.user));
        }
        let mut published = Vec::new();
        for (port, bindings) in host.port_bindings.iter().flatten() {
            for binding in bindings.iter().flatten() {
                let ip = if binding.host_ip.is_empty() {
                    "0.0.0.0"
                } else {
                    binding.host_ip.as_str()
                };
                let shown = format!("{ip}:{}->{port}", binding.host_port);
                if matches!(ip, "0.0.0.0" | "::" | "[::]") {
                    all_addresses.push(format!("{who}: {shown}"));
                }
                published.push(shown);
            }
        }
        let added: Vec<&String> = host
            .cap_add
            .iter()
            .flatten()
            .filter(|cap| {
                let cap = cap.trim_start_matches("CAP_").to_ascii_uppercase();
                DANGEROUS_CAPABILITIES.contains(&cap.as_str())
            })
            .collect();
        if !added.is_empty() {
            let names: Vec<&str> = added.iter().map(|cap| cap.as_str()).collect();
            capabilities.push(format!("{who}: CapAdd {}", names.join(",")));
        }
        for option in host.security_opt.iter().flatten() {
            let option = option.replace(':', "=");
            if option == "seccomp=unconfined" || option == "apparmor=unconfined" {
                unconfined.push(format!("{who}: SecurityOpt {option}"));
            }
        }
        listed.push(Container {
            name: name.to_owned(),
            id: container.id.chars().take(12).collect(),
            image: container.config.image.clone(),
            user: container.config.user.clone(),
            published,
        });
    }
    let groups: [(&'static str, Severity, &str, Vec<String>, &'static str); 8] = [
        (
            "container.privileged",
            Severity::Critical,
            "Privileged containers: every device and capability of the host",
            privileged,
            "Drop --privileged; add the one capability or device it needs, if any",
        ),
        (
            "container.engine-socket",
            Severity::Critical,
            "Containers that hold the engine's socket, and so the host",
            socket_mounts,
            "Do not mount the socket; use a socket proxy that allows only the calls needed, or a rootless engine",
        ),
        (
            "container.host-pid",
            Severity::High,
            "Containers in the host's PID namespace: they see and may signal every process",
            host_pid,
            "Drop --pid=host",
        ),
        (
            "container.host-network",
            Severity::High,
            "Containers in the host's network namespace: every host port and interface is theirs",
            host_network,
            "Drop --network=host; publish the ports needed",
        ),
        (
            "container.dangerous-capabilities",
            Severity::High,
            "Containers given capabilities that reach the host",
            capabilities,
            "Drop the capability (--cap-drop ALL, then add only what is needed)",
        ),
        (
            "container.unconfined",
            Severity::High,
            "Containers without seccomp or AppArmor confinement",
            unconfined,
            "Remove seccomp=unconfined / apparmor=unconfined",
        ),
        (
            "container.root",
            Severity::High,
            "Containers running as root",
            root,
            "Run as an unprivileged numeric user (--user 10001:10001, USER in the Dockerfile)",
        ),
        (
            "container.published-all-addresses",
            Severity::Medium,
            "Ports published on every address of the host, not only where clients are",
            all_addresses,
            "Publish on one address (-p 127.0.0.1:8443:8443) and put a proxy or firewall in front of what must be public",
        ),
    ];
    let findings = groups
        .into_iter()
        .filter(|(.., evidence, _)| !evidence.is_empty())
        .map(|(id, severity, title, evidence, fix)| {
            Finding::new(id, severity, title)
                .evidence_all(evidence)
                .fix(fix)
        })
        .collect();
    (listed, findings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(name: &str, extra: serde_json::Value) -> Inspected {
        let mut value = serde_json::json!({
            "Id": "0123456789abcdef", "Name": format!("/{name}"),
            "Config": {"User": "10001:10001", "Image": "msa-shop:dev"},
            "HostConfig": {"NetworkMode": "msa-net", "PortBindings": {}},
            "Mounts": []
        });
        for (key, part) in extra.as_object().into_iter().flatten() {
            for (field, setting) in part.as_object().into_iter().flatten() {
                value[key][field] = setting.clone();
            }
        }
        serde_json::from_value(value).expect("a container")
    }

    #[test]
    fn each_way_to_the_host_is_found_and_a_hardened_container_is_clean() {
        let sockets = vec!["/var/run/docker.sock".to_owned()];
        let (listed, findings) = inspect(&[container("hardened", serde_json::json!({}))], &sockets);
        assert!(findings.is_empty(), "{findings:?}");
        assert_eq!(listed[0].id, "0123456789ab");
        let controls = [
            (
                "privileged",
                serde_json::json!({"HostConfig": {"Privileged": true}}),
                "container.privileged",
            ),
            (
                "pid",
                serde_json::json!({"HostConfig": {"PidMode": "host"}}),
                "container.host-pid",
            ),
            (
                "net",
                serde_json::json!({"HostConfig": {"NetworkMode": "host"}}),
                "container.host-network",
            ),
            (
                "root",
                serde_json::json!({"Config": {"User": ""}}),
                "container.root",
            ),
            (
                "caps",
                serde_json::json!({"HostConfig": {"CapAdd": ["CAP_SYS_ADMIN"]}}),
                "container.dangerous-capabilities",
            ),
            (
                "seccomp",
                serde_json::json!({"HostConfig": {"SecurityOpt": ["seccomp:unconfined"]}}),
                "container.unconfined",
            ),
            (
                "ports",
                serde_json::json!({"HostConfig": {"PortBindings": {"5001/tcp": [{"HostIp": "", "HostPort": "5001"}]}}}),
                "container.published-all-addresses",
            ),
        ];
        for (name, extra, expected) in controls {
            let (_, findings) = inspect(&[container(name, extra)], &sockets);
            let ids: Vec<&str> = findings.iter().map(|f| f.id).collect();
            assert_eq!(ids, [expected], "{name}");
        }
        let mut socket = container("socket", serde_json::json!({}));
        socket.mounts.push(Mount {
            source: "/var/run/docker.sock".into(),
            destination: "/var/run/docker.sock".into(),
        });
        let (_, findings) = inspect(&[socket], &sockets);
        assert_eq!(
            findings[0].evidence,
            ["socket (image msa-shop:dev): /var/run/docker.sock mounted at /var/run/docker.sock"]
        );
        let loopback = container(
            "edge",
            serde_json::json!({"HostConfig": {"PortBindings": {"8443/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8443"}]}}}),
        );
        let (listed, findings) = inspect(&[loopback], &sockets);
        assert!(findings.is_empty());
        assert_eq!(listed[0].published, ["127.0.0.1:8443->8443/tcp"]);
    }
}
