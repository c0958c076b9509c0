//! Linux capabilities: decoding the hexadecimal sets of `/proc/<pid>/status` to names, and
//! telling which of them matter to an attacker.

/// Capability names by number (`include/uapi/linux/capability.h`), as of Linux 6.x.
const NAMES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// Capabilities that, alone, let a process in a container reach the host or other
/// processes: mount and namespace control, kernel modules, raw devices, tracing other
/// processes, reading any file, reconfiguring the network, loading BPF.
pub const DANGEROUS: [&str; 11] = [
    "SYS_ADMIN",
    "SYS_PTRACE",
    "SYS_MODULE",
    "SYS_RAWIO",
    "DAC_READ_SEARCH",
    "NET_ADMIN",
    "BPF",
    "PERFMON",
    "SYS_BOOT",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
];

/// A capability set, as the bit mask the kernel reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CapSet(pub u64);

impl CapSet {
    /// Parses the hexadecimal form of `/proc/<pid>/status` (`CapEff:\t000001ffffffffff`).
    pub fn parse(hex: &str) -> Option<Self> {
        u64::from_str_radix(hex.trim(), 16).ok().map(Self)
    }

    /// Every capability the running kernel knows, from `/proc/sys/kernel/cap_last_cap`:
    /// never a fixed mask, which would be wrong on kernels older or newer than the table.
    pub fn full(last_cap: u32) -> Self {
        Self(if last_cap >= 63 {
            u64::MAX
        } else {
            (1u64 << (last_cap + 1)) - 1
        })
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether this set holds every capability of `full`.
    pub fn covers(self, full: Self) -> bool {
        self.0 & full.0 == full.0
    }

    /// The names of the capabilities in the set; a bit the table does not know is named by
    /// its number.
    pub fn names(self) -> Vec<String> {
        (0..64)
            .filter(|bit| self.0 & (1u64 << bit) != 0)
            .map(|bit| {
                NAMES
                    .get(bit)
                    .map_or_else(|| format!("CAP_{bit}"), |name| (*name).to_owned())
            })
            .collect()
    }

    /// The dangerous capabilities in the set.
    pub fn dangerous(self) -> Vec<String> {
        self.names()
            .into_iter()
            .filter(|name| DANGEROUS.contains(&name.as_str()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockers_default_set_decodes_to_its_fourteen_names() {
        // What `docker run` grants by default.
        let set = CapSet::parse("00000000a80425fb").unwrap_or_default();
        assert_eq!(
            set.names(),
            [
                "CHOWN",
                "DAC_OVERRIDE",
                "FOWNER",
                "FSETID",
                "KILL",
                "SETGID",
                "SETUID",
                "SETPCAP",
                "NET_BIND_SERVICE",
                "NET_RAW",
                "SYS_CHROOT",
                "MKNOD",
                "AUDIT_WRITE",
                "SETFCAP"
            ]
        );
        assert!(set.dangerous().is_empty());
    }

    #[test]
    fn a_privileged_set_is_full_for_the_running_kernel() {
        let full = CapSet::full(40);
        assert_eq!(full, CapSet::parse("000001ffffffffff").unwrap_or_default());
        assert!(full.covers(full));
        assert!(
            !CapSet::parse("00000000a80425fb")
                .unwrap_or_default()
                .covers(full)
        );
        // A newer kernel's extra bit is named by number, not dropped.
        assert_eq!(
            CapSet::full(41).names().last().map(String::as_str),
            Some("CAP_41")
        );
        assert_eq!(CapSet::full(63).0, u64::MAX);
    }

    #[test]
    fn sys_admin_is_flagged() {
        let set = CapSet(1 << 21 | 1 << 0);
        assert_eq!(set.dangerous(), ["SYS_ADMIN"]);
        assert!(CapSet::parse("zz").is_none());
        assert!(CapSet::default().is_empty());
    }
}
