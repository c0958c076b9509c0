//! `/proc/self/mountinfo`: what is mounted where, from which source, read-only or not.
//! Runtime detection, privileged-mode checks and host-mount exposure all read it.

/// One line of mountinfo (`proc(5)`), the fields the audit needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The path inside the source file system that is mounted (a bind mount's source).
    pub root: String,
    pub mount_point: String,
    /// Per-mount options (`ro`, `rw`, `nosuid`, ...).
    pub options: Vec<String>,
    pub fs_type: String,
    pub source: String,
    /// Per-superblock options (`upperdir=...` for overlay).
    pub super_options: String,
}

impl Mount {
    pub fn read_only(&self) -> bool {
        self.options.iter().any(|option| option == "ro")
    }
}

/// Parses mountinfo text; malformed lines are skipped. Paths with spaces arrive escaped
/// as `\040`, which is decoded.
pub fn parse(text: &str) -> Vec<Mount> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Mount> {
    let (before, after) = line.split_once(" - ")?;
    let fields: Vec<&str> = before.split(' ').collect();
    let mut rest = after.split(' ');
    Some(Mount {
        root: unescape(fields.get(3)?),
        mount_point: unescape(fields.get(4)?),
        options: fields.get(5)?.split(',').map(str::to_owned).collect(),
        fs_type: rest.next()?.to_owned(),
        source: unescape(rest.next().unwrap_or("")),
        super_options: rest.next().unwrap_or("").to_owned(),
    })
}

fn unescape(field: &str) -> String {
    field
        .replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// The mount that holds `path`: the last one mounted at it.
pub fn at<'a>(mounts: &'a [Mount], path: &str) -> Option<&'a Mount> {
    mounts.iter().rev().find(|mount| mount.mount_point == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_docker_containers_mounts_parse() {
        let text = "\
1243 1063 0:91 / / ro,relatime master:1 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/X,upperdir=/var/lib/docker/overlay2/abc/diff
1244 1243 0:94 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
1251 1244 0:94 /sys /proc/sys ro,nosuid,nodev,noexec,relatime - proc proc rw
1260 1243 8:1 /var/lib/docker/containers/abc/hostname /etc/hostname rw,relatime - ext4 /dev/sda1 rw
1261 1243 8:1 /home/me/my\\040dir /data rw,relatime - ext4 /dev/sda1 rw
garbage
";
        let mounts = parse(text);
        assert_eq!(mounts.len(), 5);
        let root = at(&mounts, "/").unwrap_or_else(|| panic!("no root"));
        assert!(root.read_only());
        assert_eq!(root.fs_type, "overlay");
        assert!(root.super_options.contains("upperdir=/var/lib/docker/"));
        assert!(at(&mounts, "/proc/sys").is_some_and(Mount::read_only));
        assert!(!at(&mounts, "/proc").is_some_and(Mount::read_only));
        assert_eq!(
            at(&mounts, "/data").map(|m| m.root.as_str()),
            Some("/home/me/my dir")
        );
        assert_eq!(
            at(&mounts, "/etc/hostname").map(|m| m.source.as_str()),
            Some("/dev/sda1")
        );
    }
}
