//! What each file of a layer gives away, worked out while the layer streams past: the
//! secrets it holds, classed for the findings, and whether a later check needs its first
//! bytes at all. Keeping only those bounds the audit's memory by what it found, not by
//! the size of the image (a Debian base has ten thousand files).

use super::secrets::{self, Hit};

/// How a secret found in a file is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// A key, token or database password with a shape of its own.
    Secret,
    /// A private key in a test suite's directory.
    Fixture,
    /// A secret-named setting with a value, in a `.env` file.
    EnvFile,
    /// A secret-named setting with a value, in a configuration file.
    Setting,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub class: Class,
    pub hit: Hit,
}

/// The secrets in a file at `path` whose first bytes are `head`.
pub fn secrets(path: &str, head: &[u8]) -> Vec<Found> {
    let mut found = Vec::new();
    if head.is_empty() {
        return found;
    }
    let skip_examples = third_party(path);
    for hit in secrets::formats(head) {
        let url = hit.kind.ends_with("URL with a password");
        if url && skip_examples {
            continue;
        }
        let class = if test_fixture(path) && hit.kind.contains("private key") {
            Class::Fixture
        } else {
            Class::Secret
        };
        found.push(Found { class, hit });
    }
    if skip_examples {
        return found;
    }
    let class = if env_file(file_name(path)) {
        Class::EnvFile
    } else if config_file(path) && !credentials_file(path) {
        Class::Setting
    } else {
        return found;
    };
    found.extend(
        secrets::assignments(head)
            .into_iter()
            .map(|hit| Found { class, hit }),
    );
    found
}

/// Whether a check after the layers are applied reads this file's first bytes: accounts,
/// the OS's description, credentials files, web servers' configuration, runtimes'
/// version headers and the package databases of the inventory.
pub fn keep_head(path: &str) -> bool {
    const FILES: [&str; 8] = [
        "etc/passwd",
        "etc/os-release",
        "usr/lib/os-release",
        "var/lib/dpkg/status",
        "lib/apk/db/installed",
        "usr/local/include/node/node_version.h",
        "usr/include/node/node_version.h",
        "etc/php.ini",
    ];
    const UNDER: [&str; 9] = [
        "etc/apache2/",
        "etc/httpd/",
        "usr/local/apache2/conf/",
        "etc/nginx/",
        "usr/local/nginx/conf/",
        "usr/local/etc/php/",
        "etc/php/",
        "etc/php.d/",
        "var/lib/dpkg/status.d/",
    ];
    FILES.contains(&path)
        || UNDER.iter().any(|under| path.starts_with(under))
        || credentials_file(path)
        || path.ends_with(".dist-info/METADATA")
        || path.ends_with(".egg-info/PKG-INFO")
}

/// Trees other projects ship (packages, language libraries, documentation), whose example
/// URLs and settings are not this image's configuration. Keys and tokens are still looked
/// for there: a real one is a leak wherever it lies.
fn third_party(path: &str) -> bool {
    const UNDER: [&str; 11] = [
        "usr/share/doc/",
        "usr/share/man/",
        "usr/share/info/",
        "usr/share/locale/",
        "usr/include/",
        "usr/lib/python",
        "usr/local/lib/python",
        "usr/lib/ruby/",
        "usr/share/perl",
        "usr/local/go/",
        "usr/lib/node_modules/",
    ];
    UNDER.iter().any(|prefix| path.starts_with(prefix))
        || [
            "/site-packages/",
            "/dist-packages/",
            "/node_modules/",
            "/gems/",
        ]
        .iter()
        .any(|part| path.contains(part))
}

/// A test suite's fixtures: keys there are usually generated for tests, but still keys.
fn test_fixture(path: &str) -> bool {
    path.split('/')
        .any(|part| matches!(part, "test" | "tests" | "testdata" | "testing" | "fixtures"))
}

pub fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// A `.env` file: `.env`, `.env.production`, `production.env`.
fn env_file(name: &str) -> bool {
    name == ".env" || name.starts_with(".env.") || name.ends_with(".env")
}

/// A configuration file whose settings may name secrets.
fn config_file(path: &str) -> bool {
    let name = file_name(path);
    let extension = name.rsplit_once('.').map_or("", |(_, ext)| ext);
    matches!(
        extension,
        "conf" | "cfg" | "ini" | "yaml" | "yml" | "json" | "toml" | "properties" | "cnf"
    ) || matches!(name, "config" | "credentials" | "settings")
}

/// Files that hold a registry's or package index's credentials by their format.
pub fn credentials_file(path: &str) -> bool {
    let name = file_name(path);
    matches!(
        name,
        ".npmrc" | ".pypirc" | ".netrc" | "_netrc" | ".git-credentials" | ".pgpass" | ".my.cnf"
    ) || path.ends_with(".docker/config.json")
        || path.ends_with(".aws/credentials")
        || path.ends_with(".kube/config")
}
