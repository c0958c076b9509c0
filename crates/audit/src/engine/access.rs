//! Who can reach the engine's socket. Whoever can write to it can start a privileged
//! container with the host's root filesystem mounted: membership of its group is
//! practically root.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use serde::Serialize;

use crate::report::{Finding, Severity};

#[derive(Debug, Clone, Serialize)]
pub struct SocketAccess {
    pub path: String,
    pub owner: String,
    pub group: String,
    /// `0660`.
    pub mode: String,
    /// The accounts that may write to it: root, the owner, the group's members (listed in
    /// /etc/group, or with it as their primary group in /etc/passwd), or everyone.
    pub reachable_by: Vec<String>,
    pub group_members: Vec<String>,
}

/// `/etc/passwd` and `/etc/group` as read from `etc` (the host's `/etc` normally).
pub struct Accounts {
    passwd: String,
    group: String,
}

impl Accounts {
    pub fn read(etc: &Path) -> Self {
        let read = |name: &str| std::fs::read_to_string(etc.join(name)).unwrap_or_default();
        Self {
            passwd: read("passwd"),
            group: read("group"),
        }
    }

    fn user_name(&self, uid: u32) -> String {
        self.passwd
            .lines()
            .find_map(|line| {
                let mut fields = line.split(':');
                let name = fields.next()?;
                (fields.nth(1)?.parse::<u32>().ok()? == uid).then(|| name.to_owned())
            })
            .unwrap_or_else(|| uid.to_string())
    }

    fn group(&self, gid: u32) -> (String, Vec<String>) {
        let mut members: Vec<String> = Vec::new();
        let mut name = gid.to_string();
        for line in self.group.lines() {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.len() >= 4 && fields[2].parse::<u32>().ok() == Some(gid) {
                name = fields[0].to_owned();
                members.extend(
                    fields[3]
                        .split(',')
                        .filter(|member| !member.is_empty())
                        .map(str::to_owned),
                );
            }
        }
        for line in self.passwd.lines() {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.len() >= 4 && fields[3].parse::<u32>().ok() == Some(gid) {
                members.push(fields[0].to_owned());
            }
        }
        members.sort();
        members.dedup();
        (name, members)
    }
}

/// The socket's owner, group and mode and who they let in, with the findings they make.
pub fn inspect(socket: &Path, accounts: &Accounts) -> (Option<SocketAccess>, Vec<Finding>) {
    let Ok(metadata) = std::fs::metadata(socket) else {
        return (None, Vec::new());
    };
    let mode = metadata.permissions().mode() & 0o7777;
    let owner = accounts.user_name(metadata.uid());
    let (group, members) = accounts.group(metadata.gid());
    let group_writes = mode & 0o020 != 0;
    let others_write = mode & 0o002 != 0;
    let mut reachable_by = vec!["root".to_owned()];
    if owner != "root" {
        reachable_by.push(format!("{owner} (owner)"));
    }
    if group_writes {
        if members.is_empty() {
            reachable_by.push(format!("group {group} (no members)"));
        }
        reachable_by.extend(members.iter().map(|m| format!("{m} (group {group})")));
    }
    if others_write {
        reachable_by.push("every local account".to_owned());
    }
    let access = SocketAccess {
        path: socket.display().to_string(),
        owner: owner.clone(),
        group: group.clone(),
        mode: format!("{mode:04o}"),
        reachable_by,
        group_members: members.clone(),
    };
    let stat = format!(
        "{} is owned by {owner}:{group}, mode {mode:04o}",
        socket.display()
    );
    let mut findings = Vec::new();
    if others_write {
        findings.push(
            Finding::new(
                "engine.socket-world-writable",
                Severity::Critical,
                "Every local account can drive the engine, so every account is root",
            )
            .evidence(stat.clone())
            .fix("chmod 0660 the socket (the engine's -G/--group sets its group); never make it world-writable"),
        );
    }
    if group_writes && !members.is_empty() {
        findings.push(
            Finding::new(
                "engine.socket-group-members",
                Severity::Medium,
                format!("{} accounts of group {group} can drive the engine: each is practically root", members.len()),
            )
            .evidence(stat.clone())
            .evidence(format!("group {group}: {}", members.join(", ")))
            .fix("Keep the group to the administrators who would have root anyway (gpasswd -d USER GROUP), or run the engine rootless"),
        );
    }
    if owner != "root" {
        findings.push(
            Finding::new(
                "engine.socket-owner",
                Severity::Info,
                format!("The socket belongs to {owner}: a rootless engine, or one account that is root in effect"),
            )
            .evidence(stat),
        );
    }
    (Some(access), findings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accounts() -> Accounts {
        Accounts {
            passwd: "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\nci:x:1001:105::/:/bin/sh\n".into(),
            group: "root:x:0:\ndocker:x:105:alice\nalice:x:1000:\n".into(),
        }
    }

    fn socket_with(mode: u32) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("a directory");
        let path = dir.path().join("docker.sock");
        std::fs::write(&path, "").expect("a stand-in");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("mode");
        dir
    }

    #[test]
    fn group_members_by_list_and_by_primary_group_are_named() {
        let (name, members) = accounts().group(105);
        assert_eq!(name, "docker");
        assert_eq!(members, ["alice", "ci"]);
    }

    #[test]
    fn a_world_writable_socket_is_critical_and_a_private_one_is_silent() {
        let open = socket_with(0o666);
        let (_, findings) = inspect(&open.path().join("docker.sock"), &accounts());
        assert!(
            findings
                .iter()
                .any(|f| f.id == "engine.socket-world-writable")
        );
        let private = socket_with(0o600);
        let (access, findings) = inspect(&private.path().join("docker.sock"), &accounts());
        let access = access.expect("read");
        assert_eq!(access.mode, "0600");
        assert!(
            findings.iter().all(|f| f.severity <= Severity::Info),
            "{findings:?}"
        );
    }
}
