//! What the files of an image give away, in every layer: the final filesystem and what a
//! later layer deleted or replaced, which is still in the image.

use std::collections::BTreeSet;

use crate::report::{Finding, Severity};

use super::layers::{Entry, Kind, Layered};
use super::scan::{Class, credentials_file, file_name};
use super::secrets::{self, Hit};

/// Evidence lines kept per finding; the count of the rest is said.
const EVIDENCE_SHOWN: usize = 40;

/// Every file of the image: the final ones, then the deleted or replaced ones.
fn every_file(layered: &Layered) -> impl Iterator<Item = &Entry> {
    layered
        .files
        .values()
        .chain(layered.deleted.iter())
        .filter(|entry| entry.kind == Kind::File)
}

/// Where a file is, for evidence: its layer, its path and, if deleted, by which layer.
pub fn location(entry: &Entry) -> String {
    match entry.removed_by {
        Some(by) => format!(
            "layer {} /{} (deleted by layer {by}, still in the image)",
            entry.layer, entry.path
        ),
        None => format!("layer {} /{}", entry.layer, entry.path),
    }
}

fn evidence(finding: Finding, mut lines: Vec<String>) -> Finding {
    let more = lines.len().saturating_sub(EVIDENCE_SHOWN);
    lines.truncate(EVIDENCE_SHOWN);
    if more > 0 {
        lines.push(format!("... and {more} more"));
    }
    finding.evidence_all(lines)
}

fn hit_line(entry: &Entry, hit: &Hit) -> String {
    format!(
        "{} line {}: {} {}",
        location(entry),
        hit.line,
        hit.kind,
        hit.fingerprint
    )
}

/// Private keys, provider tokens and database URLs with passwords, in any file.
pub fn secrets_in_files(layered: &Layered) -> Vec<Finding> {
    let mut keys = Vec::new();
    let mut fixtures = Vec::new();
    let mut env_files = Vec::new();
    let mut settings = Vec::new();
    for entry in every_file(layered) {
        for found in &entry.found {
            let line = hit_line(entry, &found.hit);
            match found.class {
                Class::Secret => keys.push(line),
                Class::Fixture => fixtures.push(line),
                Class::EnvFile => env_files.push(line),
                Class::Setting => settings.push(line),
            }
        }
    }
    let mut findings = Vec::new();
    if !keys.is_empty() {
        findings.push(evidence(
            Finding::new(
                "secrets.file",
                Severity::High,
                "Private keys, access tokens or database passwords in the image's files",
            )
            .fix("Remove the file from the build context (.dockerignore) and rotate the secret: deleting it in a later layer leaves it in the image. Mount secrets at run time"),
            keys,
        ));
    }
    if !fixtures.is_empty() {
        findings.push(evidence(
            Finding::new(
                "secrets.test-key",
                Severity::Medium,
                "Private keys in test directories (likely fixtures, still keys)",
            )
            .fix("Leave test suites out of the image (multi-stage builds, .dockerignore)"),
            fixtures,
        ));
    }
    if !env_files.is_empty() {
        findings.push(evidence(
            Finding::new(
                "secrets.env-file",
                Severity::High,
                ".env files with secret values",
            )
            .fix("Add .env to .dockerignore and rotate the secrets; give them to the container at run time"),
            env_files,
        ));
    }
    if !settings.is_empty() {
        findings.push(evidence(
            Finding::new(
                "secrets.config-value",
                Severity::Medium,
                "Configuration files set secret-named settings to values",
            )
            .fix("Read such settings from a mounted secret file or the environment at run time; keep the image's configuration free of values"),
            settings,
        ));
    }
    findings
}

/// The credentials such a file holds: hits with their line, never their values.
fn credentials_in(path: &str, text: &[u8]) -> Vec<Hit> {
    let name = file_name(path);
    let text_str = String::from_utf8_lossy(text);
    let hit = |kind: &str, line: usize, value: &str| Hit {
        kind: kind.to_owned(),
        line,
        fingerprint: secrets::fingerprint(value.as_bytes()),
    };
    if path.ends_with(".docker/config.json") {
        let Ok(config) = serde_json::from_slice::<serde_json::Value>(text) else {
            return Vec::new();
        };
        let mut hits = Vec::new();
        for (registry, entry) in config["auths"].as_object().into_iter().flatten() {
            for field in ["auth", "identitytoken", "password"] {
                if let Some(value) = entry[field].as_str().filter(|v| !v.is_empty()) {
                    hits.push(hit(&format!("{field} for registry {registry}"), 1, value));
                }
            }
        }
        return hits;
    }
    let mut hits = Vec::new();
    for (index, line) in text_str.lines().enumerate() {
        let line = line.trim();
        match name {
            ".npmrc" => {
                if let Some((key, value)) = line.split_once('=')
                    && ["_authToken", "_auth", "_password"]
                        .iter()
                        .any(|field| key.trim().ends_with(field))
                    && !value.trim().is_empty()
                    && !value.trim().starts_with("${")
                {
                    hits.push(hit("npm registry credentials", index + 1, value.trim()));
                }
            }
            ".netrc" | "_netrc" => {
                let words: Vec<&str> = line.split_whitespace().collect();
                for pair in words.windows(2) {
                    if pair[0] == "password" {
                        hits.push(hit("netrc password", index + 1, pair[1]));
                    }
                }
            }
            ".git-credentials" => {
                hits.extend(
                    line.split_once("://")
                        .and_then(|(_, rest)| rest.split_once('@'))
                        .and_then(|(userinfo, _)| userinfo.split_once(':'))
                        .filter(|(_, password)| !password.is_empty())
                        .map(|(_, password)| hit("git credentials", index + 1, password)),
                );
            }
            ".pgpass" => {
                let fields: Vec<&str> = line.split(':').collect();
                if fields.len() == 5 && !line.starts_with('#') && !fields[4].is_empty() {
                    hits.push(hit("PostgreSQL password", index + 1, fields[4]));
                }
            }
            _ => {}
        }
    }
    if hits.is_empty() {
        hits = secrets::assignments(text);
        if path.ends_with(".kube/config") {
            hits.extend(
                text_str
                    .lines()
                    .enumerate()
                    .filter(|(_, line)| line.trim_start().starts_with("client-key-data:"))
                    .map(|(index, line)| hit("Kubernetes client key", index + 1, line.trim())),
            );
        }
    }
    hits
}

/// Registry and package-manager credentials, `.git` directories and shell histories.
pub fn credentials_and_traces(layered: &Layered) -> Vec<Finding> {
    let mut credentials = Vec::new();
    let mut histories = Vec::new();
    for entry in every_file(layered) {
        if credentials_file(&entry.path) {
            credentials.extend(
                credentials_in(&entry.path, &entry.head)
                    .iter()
                    .map(|hit| hit_line(entry, hit)),
            );
        }
        let name = file_name(&entry.path);
        if entry.size > 0
            && matches!(
                name,
                ".bash_history"
                    | ".zsh_history"
                    | ".ash_history"
                    | ".sh_history"
                    | ".history"
                    | ".python_history"
                    | ".psql_history"
                    | ".mysql_history"
                    | ".node_repl_history"
                    | ".lesshst"
                    | ".viminfo"
            )
        {
            histories.push(format!("{} ({} bytes)", location(entry), entry.size));
        }
    }
    let repositories: BTreeSet<String> = layered
        .files
        .values()
        .chain(layered.deleted.iter())
        .filter_map(|entry| {
            let at = entry.path.split('/').position(|part| part == ".git")?;
            let root: Vec<&str> = entry.path.split('/').take(at + 1).collect();
            let state = match entry.removed_by {
                Some(by) => format!(" (deleted by layer {by}, still in the image)"),
                None => String::new(),
            };
            Some(format!("layer {} /{}{state}", entry.layer, root.join("/")))
        })
        .collect();
    let mut findings = Vec::new();
    if !credentials.is_empty() {
        findings.push(evidence(
            Finding::new(
                "secrets.credentials-file",
                Severity::High,
                "Registry, package-index or service credentials in the image",
            )
            .fix("Log in at build time with `RUN --mount=type=secret` (BuildKit), never by copying the file; rotate the credentials"),
            credentials,
        ));
    }
    if !repositories.is_empty() {
        findings.push(evidence(
            Finding::new(
                "secrets.git-directory",
                Severity::Medium,
                ".git directories: the repository's history, remotes and perhaps credentials ship with the image",
            )
            .fix("Add .git to .dockerignore"),
            repositories.into_iter().collect(),
        ));
    }
    if !histories.is_empty() {
        findings.push(evidence(
            Finding::new(
                "secrets.shell-history",
                Severity::Medium,
                "Shell and tool histories: the commands someone typed, passwords included",
            )
            .fix("Build from a Dockerfile, not from a committed container; delete histories in the same layer that made them"),
            histories,
        ));
    }
    findings
}

/// Files that run with their owner's or group's rights whoever starts them.
pub fn setuid(layered: &Layered) -> Option<Finding> {
    let found: Vec<String> = layered
        .files
        .values()
        .filter(|entry| entry.kind == Kind::File && entry.mode & 0o6000 != 0)
        .map(|entry| {
            let bits = match (entry.mode & 0o4000 != 0, entry.mode & 0o2000 != 0) {
                (true, true) => "setuid and setgid",
                (true, false) => "setuid",
                _ => "setgid",
            };
            format!(
                "{} ({bits}, mode {:04o}, owner uid {})",
                location(entry),
                entry.mode & 0o7777,
                entry.uid
            )
        })
        .collect();
    (!found.is_empty()).then(|| {
        evidence(
            Finding::new(
                "files.setuid",
                Severity::Medium,
                "setuid or setgid files: a way to root for whoever gets a shell",
            )
            .fix("Remove the bits in the build (`find / -xdev -perm /6000 -type f -exec chmod a-s {} +`) and run with no-new-privileges"),
            found,
        )
    })
}

/// Files and directories anyone may write, outside the temporary directories (a sticky,
/// world-writable directory such as /tmp is the safe pattern and not reported).
pub fn world_writable(layered: &Layered) -> Option<Finding> {
    let temporary = ["tmp/", "var/tmp/", "dev/shm/", "run/lock/"];
    let found: Vec<String> = layered
        .files
        .values()
        .filter(|entry| matches!(entry.kind, Kind::File | Kind::Directory))
        .filter(|entry| entry.mode & 0o002 != 0)
        .filter(|entry| !(entry.kind == Kind::Directory && entry.mode & 0o1000 != 0))
        .filter(|entry| {
            let with_slash = format!("{}/", entry.path);
            !temporary.iter().any(|tmp| with_slash.starts_with(tmp))
        })
        .map(|entry| format!("{} (mode {:04o})", location(entry), entry.mode & 0o7777))
        .collect();
    (!found.is_empty()).then(|| {
        evidence(
            Finding::new(
                "files.world-writable",
                Severity::Medium,
                "World-writable files outside /tmp: any process may change them",
            )
            .fix("chmod o-w in the build; give write access to the service's own user only"),
            found,
        )
    })
}

/// Tools an intruder would use: a shell, a package manager, a compiler.
pub fn attack_surface(layered: &Layered) -> Vec<Finding> {
    let present = |paths: &[&str]| -> Vec<String> {
        paths
            .iter()
            .filter_map(|path| layered.files.get(*path))
            .map(location)
            .collect()
    };
    let groups: [(&'static str, &str, &[&str], &'static str); 3] = [
        (
            "surface.shell",
            "A shell: an intruder's first tool",
            &[
                "bin/sh",
                "bin/bash",
                "bin/dash",
                "bin/ash",
                "bin/zsh",
                "bin/busybox",
                "usr/bin/sh",
                "usr/bin/bash",
                "usr/bin/dash",
            ],
            "Build FROM scratch or distroless around a static binary; probe health with the binary itself",
        ),
        (
            "surface.package-manager",
            "A package manager: lets an intruder install tools",
            &[
                "usr/bin/apt",
                "usr/bin/apt-get",
                "usr/bin/dpkg",
                "sbin/apk",
                "usr/bin/yum",
                "usr/bin/dnf",
                "usr/bin/microdnf",
                "usr/bin/rpm",
                "usr/bin/pip",
                "usr/bin/pip3",
                "usr/local/bin/pip",
                "usr/local/bin/pip3",
                "usr/bin/npm",
                "usr/local/bin/npm",
                "usr/bin/gem",
                "usr/local/bin/gem",
            ],
            "Use a multi-stage build: install in a build stage, copy only the result",
        ),
        (
            "surface.compiler",
            "A compiler: lets an intruder build tools in place",
            &[
                "usr/bin/gcc",
                "usr/bin/cc",
                "usr/bin/g++",
                "usr/bin/clang",
                "usr/bin/rustc",
                "usr/local/cargo/bin/rustc",
                "usr/local/go/bin/go",
                "usr/bin/go",
                "usr/bin/javac",
            ],
            "Use a multi-stage build: compile in a build stage, copy only the result",
        ),
    ];
    groups
        .into_iter()
        .filter_map(|(id, title, paths, fix)| {
            let found = present(paths);
            (!found.is_empty()).then(|| {
                Finding::new(id, Severity::Low, title)
                    .evidence_all(found)
                    .fix(fix)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANARY: &str = "CANARY-77aa-files";
    const KEY_BODY: &str = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW";

    fn entry(path: &str, layer: usize, mode: u32, head: &str) -> Entry {
        Entry {
            path: path.to_owned(),
            layer,
            kind: Kind::File,
            size: head.len() as u64,
            mode,
            uid: 0,
            head: head.as_bytes().to_vec(),
            removed_by: None,
            dependencies: None,
            // As the layer reader finds them.
            found: crate::image::scan::secrets(path, head.as_bytes()),
        }
    }

    fn layered(files: Vec<Entry>, deleted: Vec<Entry>) -> Layered {
        Layered {
            files: files.into_iter().map(|e| (e.path.clone(), e)).collect(),
            deleted,
            layers: 2,
        }
    }

    fn ids(findings: &[Finding]) -> Vec<&str> {
        findings.iter().map(|f| f.id).collect()
    }

    #[test]
    fn a_deleted_key_is_found_with_the_layer_that_added_it_and_the_one_that_deleted_it() {
        let mut key = entry(
            "root/.ssh/id_ed25519",
            0,
            0o600,
            &format!(
                "-----BEGIN OPENSSH PRIVATE KEY-----\n{KEY_BODY}\n-----END OPENSSH PRIVATE KEY-----\n"
            ),
        );
        key.removed_by = Some(1);
        let findings = secrets_in_files(&layered(vec![], vec![key]));
        assert_eq!(ids(&findings), ["secrets.file"]);
        assert!(
            findings[0].evidence[0].starts_with(
                "layer 0 /root/.ssh/id_ed25519 (deleted by layer 1, still in the image) line 1: OpenSSH private key sha256:"
            ),
            "{:?}",
            findings[0].evidence
        );
        assert!(!format!("{findings:?}").contains(KEY_BODY));
    }

    #[test]
    fn env_files_and_settings_are_found_but_not_in_third_party_trees() {
        let findings = secrets_in_files(&layered(
            vec![
                entry("app/.env", 1, 0o644, &format!("DB_PASSWORD={CANARY}\n")),
                entry("app/config.yaml", 1, 0o644, "jwt_secret: abcdefgh1234\n"),
                entry(
                    "usr/lib/python3/dist-packages/x/README.conf",
                    0,
                    0o644,
                    "password = tiger123\nurl = postgres://scott:tiger@db/x\n",
                ),
                entry("etc/app.conf", 0, 0o644, "password_min_length = 12\n"),
            ],
            vec![],
        ));
        assert_eq!(ids(&findings), ["secrets.env-file", "secrets.config-value"]);
    }

    #[test]
    fn registry_credentials_git_directories_and_histories_are_found() {
        let findings = credentials_and_traces(&layered(
            vec![
                entry(
                    "root/.docker/config.json",
                    1,
                    0o600,
                    r#"{"auths":{"registry.example.com":{"auth":"dXNlcjpwYXNz"}}}"#,
                ),
                entry(
                    "root/.npmrc",
                    1,
                    0o600,
                    "//registry.npmjs.org/:_authToken=abc123\n",
                ),
                entry(
                    "home/app/.netrc",
                    1,
                    0o600,
                    "machine x login u password p4ss\n",
                ),
                entry("src/.git/config", 1, 0o644, "[core]\n"),
                entry("src/.git/HEAD", 1, 0o644, "ref: refs/heads/main\n"),
                entry("root/.bash_history", 1, 0o600, "mysql -p hunter2\n"),
                entry("root/.npmrc.bak", 1, 0o600, "nothing\n"),
            ],
            vec![],
        ));
        assert_eq!(
            ids(&findings),
            [
                "secrets.credentials-file",
                "secrets.git-directory",
                "secrets.shell-history"
            ]
        );
        assert_eq!(findings[0].evidence.len(), 3, "{:?}", findings[0].evidence);
        assert_eq!(findings[1].evidence, ["layer 1 /src/.git"]);
        assert!(!format!("{findings:?}").contains("dXNlcjpwYXNz"));
        assert!(!format!("{findings:?}").contains("p4ss"));
    }

    #[test]
    fn setuid_and_world_writable_files_are_found_and_sticky_tmp_is_not() {
        let mut tmp = entry("tmp", 0, 0o1777, "");
        tmp.kind = Kind::Directory;
        let mut open_dir = entry("srv/upload", 0, 0o777, "");
        open_dir.kind = Kind::Directory;
        let image = layered(
            vec![
                entry("usr/bin/passwd", 0, 0o4755, "ELF"),
                entry("usr/bin/ls", 0, 0o755, "ELF"),
                tmp,
                entry("tmp/x", 0, 0o666, "x"),
                open_dir,
                entry("etc/app.conf", 0, 0o666, "x"),
            ],
            vec![],
        );
        let setuid = setuid(&image).expect("a finding");
        assert_eq!(
            setuid.evidence,
            ["layer 0 /usr/bin/passwd (setuid, mode 4755, owner uid 0)"]
        );
        let writable = world_writable(&image).expect("a finding");
        assert_eq!(
            writable.evidence,
            [
                "layer 0 /etc/app.conf (mode 0666)",
                "layer 0 /srv/upload (mode 0777)"
            ]
        );
    }

    #[test]
    fn shells_package_managers_and_compilers_are_named() {
        let image = layered(
            vec![
                entry("bin/sh", 0, 0o755, "ELF"),
                entry("usr/bin/apt-get", 0, 0o755, "ELF"),
            ],
            vec![],
        );
        assert_eq!(
            ids(&attack_surface(&image)),
            ["surface.shell", "surface.package-manager"]
        );
        assert!(attack_surface(&layered(vec![entry("msa", 0, 0o755, "ELF")], vec![])).is_empty());
    }
}
