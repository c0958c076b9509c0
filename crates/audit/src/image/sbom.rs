//! What an image holds, as a software bill of materials: the Debian packages (dpkg's
//! status, and distroless' `status.d`), Alpine packages (apk's database), Python
//! distributions (`*.dist-info/METADATA`, `*.egg-info/PKG-INFO`) and the crates of Rust
//! binaries built with `cargo auditable`, each with its package URL, layer and path.
//! [`cyclonedx`] writes them as a CycloneDX 1.5 JSON document.

use std::io::Read as _;

use serde::{Deserialize, Serialize};

use super::layers::{Entry, Kind};
use super::model::Image;
use crate::container::os::OperatingSystem;

/// The most of a dependency list decompressed: real ones are tens of kilobytes.
const DEPENDENCIES_LIMIT: u64 = 16 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Component {
    /// CycloneDX's type: `library`, `application` or `operating-system`.
    pub kind: &'static str,
    /// `deb`, `apk`, `pypi`, `cargo`, or the OS's id.
    pub ecosystem: String,
    pub name: String,
    pub version: String,
    pub purl: Option<String>,
    /// Where it was read: the package database, the metadata file or the binary.
    pub path: String,
    pub layer: usize,
}

/// Everything the image's final filesystem holds that the readers recognise, on the
/// operating system `os` describes (as the audit read it from the image's os-release).
pub fn inventory(image: &Image, os: &OperatingSystem) -> Vec<Component> {
    let files = &image.layered.files;
    let distro = os.id.clone().unwrap_or_else(|| "debian".into());
    let mut components = Vec::new();
    if let (Some(source), Some(id), Some(version)) = (os.source, &os.id, &os.version_id) {
        components.push(Component {
            kind: "operating-system",
            ecosystem: id.clone(),
            name: id.clone(),
            version: version.clone(),
            purl: None,
            path: source.into(),
            layer: files
                .get(source.trim_start_matches('/'))
                .map_or(0, |e| e.layer),
        });
    }
    for entry in files.values().filter(|entry| entry.kind == Kind::File) {
        let path = entry.path.as_str();
        if path == "var/lib/dpkg/status" || path.starts_with("var/lib/dpkg/status.d/") {
            components.extend(dpkg(entry, &distro));
        } else if path == "lib/apk/db/installed" {
            components.extend(apk(entry, &distro));
        } else if (path.ends_with(".dist-info/METADATA") || path.ends_with(".egg-info/PKG-INFO"))
            && (path.contains("/site-packages/") || path.contains("/dist-packages/"))
        {
            components.extend(python(entry));
        }
        if let Some(dependencies) = &entry.dependencies {
            components.extend(cargo(entry, dependencies));
        }
    }
    components
}

/// RFC 822-style paragraphs (dpkg's status, apk's `K:value` database split by blank lines).
fn paragraphs(text: &str) -> impl Iterator<Item = &str> {
    text.split("\n\n").filter(|p| !p.trim().is_empty())
}

/// The value of `name:` in an RFC 822-style paragraph (dpkg's `Package:`, apk's `P:`).
fn field(paragraph: &str, name: &str) -> Option<String> {
    paragraph.lines().find_map(|line| {
        Some(
            line.strip_prefix(name)?
                .strip_prefix(':')?
                .trim()
                .to_owned(),
        )
    })
}

/// A distribution's package (`deb`, `apk`) as a component.
fn distribution_package(
    entry: &Entry,
    ecosystem: &str,
    distro: &str,
    name: String,
    version: String,
    arch: &str,
) -> Component {
    Component {
        kind: "library",
        ecosystem: ecosystem.to_owned(),
        purl: Some(format!(
            "pkg:{ecosystem}/{distro}/{}@{}?arch={arch}",
            purl_part(&name),
            purl_part(&version)
        )),
        name,
        version,
        path: format!("/{}", entry.path),
        layer: entry.layer,
    }
}

fn dpkg(entry: &Entry, distro: &str) -> Vec<Component> {
    let text = String::from_utf8_lossy(&entry.head);
    paragraphs(&text)
        .filter_map(|paragraph| {
            // dpkg keeps removed packages' records until purged.
            if field(paragraph, "Status").is_some_and(|status| !status.ends_with(" installed")) {
                return None;
            }
            let arch = field(paragraph, "Architecture").unwrap_or_else(|| "all".into());
            Some(distribution_package(
                entry,
                "deb",
                distro,
                field(paragraph, "Package")?,
                field(paragraph, "Version")?,
                &arch,
            ))
        })
        .collect()
}

fn apk(entry: &Entry, distro: &str) -> Vec<Component> {
    let text = String::from_utf8_lossy(&entry.head);
    paragraphs(&text)
        .filter_map(|paragraph| {
            let arch = field(paragraph, "A").unwrap_or_else(|| "noarch".into());
            Some(distribution_package(
                entry,
                "apk",
                distro,
                field(paragraph, "P")?,
                field(paragraph, "V")?,
                &arch,
            ))
        })
        .collect()
}

fn python(entry: &Entry) -> Option<Component> {
    let text = String::from_utf8_lossy(&entry.head);
    // The headers end at the first blank line; the description follows.
    let headers = text.split("\n\n").next()?;
    let name = field(headers, "Name")?;
    let version = field(headers, "Version")?;
    // PEP 503 normalisation, as the pypi package URL type asks.
    let normalized: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c == '_' || c == '.' { '-' } else { c })
        .collect();
    Some(Component {
        kind: "library",
        ecosystem: "pypi".into(),
        purl: Some(format!(
            "pkg:pypi/{}@{}",
            purl_part(&normalized),
            purl_part(&version)
        )),
        name,
        version,
        path: format!("/{}", entry.path),
        layer: entry.layer,
    })
}

#[derive(Deserialize)]
struct AuditableList {
    packages: Vec<AuditablePackage>,
}

#[derive(Deserialize)]
struct AuditablePackage {
    name: String,
    version: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    root: bool,
}

/// The crates `cargo auditable` recorded in a binary: the binary's own package as an
/// application, the crates it was built from (build-time ones left out) as libraries.
fn cargo(entry: &Entry, compressed: &[u8]) -> Vec<Component> {
    let mut json = Vec::new();
    let decoded = flate2::read::ZlibDecoder::new(compressed)
        .take(DEPENDENCIES_LIMIT)
        .read_to_end(&mut json);
    let Ok(list) = decoded
        .ok()
        .and_then(|_| serde_json::from_slice::<AuditableList>(&json).ok())
        .ok_or(())
    else {
        return Vec::new();
    };
    list.packages
        .into_iter()
        .filter(|package| package.kind != "build")
        .map(|package| Component {
            kind: if package.root {
                "application"
            } else {
                "library"
            },
            ecosystem: "cargo".into(),
            purl: (package.source == "crates.io").then(|| {
                format!(
                    "pkg:cargo/{}@{}",
                    purl_part(&package.name),
                    purl_part(&package.version)
                )
            }),
            name: package.name,
            version: package.version,
            path: format!("/{}", entry.path),
            layer: entry.layer,
        })
        .collect()
}

/// Percent-encodes what a package URL's name or version may not hold as is.
fn purl_part(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b".-_~+".contains(&byte) {
            out.push(char::from(byte));
        } else if byte == b':' {
            // Debian epochs (`1:2.3`) are allowed unencoded in purl versions.
            out.push(':');
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The inventory as a CycloneDX 1.5 JSON document about the image `name`, made at
/// `timestamp` (RFC 3339) with the serial number `serial` (a UUID).
pub fn cyclonedx(
    name: &str,
    components: &[Component],
    timestamp: &str,
    serial: &str,
) -> serde_json::Value {
    let mut seen = std::collections::HashSet::new();
    let listed: Vec<serde_json::Value> = components
        .iter()
        .filter_map(|component| {
            let reference = component.purl.clone().unwrap_or_else(|| {
                format!(
                    "{}:{}@{}:{}",
                    component.ecosystem, component.name, component.version, component.path
                )
            });
            // One package in two places (the same crate in two binaries) is one component
            // per place: the bom-ref keeps them apart.
            let reference = format!("{reference}#{}", component.path);
            if !seen.insert(reference.clone()) {
                return None;
            }
            let mut value = serde_json::json!({
                "type": component.kind,
                "bom-ref": reference,
                "name": component.name,
                "version": component.version,
                "properties": [
                    {"name": "msa:path", "value": component.path},
                    {"name": "msa:layer", "value": component.layer.to_string()},
                    {"name": "msa:ecosystem", "value": component.ecosystem},
                ],
            });
            if let Some(purl) = &component.purl {
                value["purl"] = purl.clone().into();
            }
            Some(value)
        })
        .collect();
    serde_json::json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": format!("urn:uuid:{serial}"),
        "version": 1,
        "metadata": {
            "timestamp": timestamp,
            "tools": {"components": [{
                "type": "application",
                "name": "msa audit image",
                "version": env!("CARGO_PKG_VERSION"),
            }]},
            "component": {"type": "container", "bom-ref": "image", "name": name},
        },
        "components": listed,
    })
}

/// A random (version 4) UUID for a document's serial number.
pub fn serial_number() -> String {
    let mut bytes = rand::random::<[u8; 16]>();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;
    use crate::image::layers::Layered;
    use crate::image::model::Config;

    fn entry(path: &str, head: &[u8], dependencies: Option<Vec<u8>>) -> Entry {
        Entry {
            path: path.to_owned(),
            layer: 0,
            kind: Kind::File,
            size: head.len() as u64,
            mode: 0o644,
            uid: 0,
            head: head.to_vec(),
            removed_by: None,
            dependencies,
            found: Vec::new(),
        }
    }

    fn image(entries: Vec<Entry>) -> Image {
        let mut layered = Layered::default();
        for e in entries {
            layered.files.insert(e.path.clone(), e);
        }
        Image {
            tags: vec![],
            config: Config::default(),
            history: vec![],
            layer_sizes: vec![],
            layered,
        }
    }

    /// The system the image's os-release describes, as the audit reads it.
    fn os_of(image: &Image) -> OperatingSystem {
        let release = image
            .layered
            .files
            .get("etc/os-release")
            .map(|entry| String::from_utf8_lossy(&entry.head).into_owned());
        let release = release.as_deref().map(|text| ("/etc/os-release", text));
        crate::container::os::describe(release, time::macros::date!(2026 - 12 - 06)).0
    }

    fn zlib(bytes: &[u8]) -> Vec<u8> {
        let mut encoder =
            flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).expect("compressed");
        encoder.finish().expect("compressed")
    }

    #[test]
    fn debian_alpine_python_and_auditable_rust_are_inventoried() {
        let status = "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9+deb12u10\n\n\
                      Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n\n\
                      Package: tzdata\nStatus: install ok installed\nArchitecture: all\nVersion: 2025b-0+deb12u1\n";
        let apk = "C:Q1abc\nP:musl\nV:1.2.5-r0\nA:x86_64\n\nP:busybox\nV:1.36.1-r29\nA:x86_64\n";
        let metadata =
            "Metadata-Version: 2.1\nName: Flask_Login\nVersion: 0.6.3\n\nName: not-this\n";
        let deps = zlib(
            br#"{"packages":[{"name":"msa","version":"0.1.0","source":"local","root":true,"dependencies":[1]},
                 {"name":"tokio","version":"1.47.1","source":"crates.io"},
                 {"name":"cc","version":"1.2.0","source":"crates.io","kind":"build"}]}"#,
        );
        let image = image(vec![
            entry("etc/os-release", b"ID=debian\nVERSION_ID=\"12\"\n", None),
            entry("var/lib/dpkg/status", status.as_bytes(), None),
            entry("lib/apk/db/installed", apk.as_bytes(), None),
            entry(
                "usr/local/lib/python3.12/site-packages/Flask_Login-0.6.3.dist-info/METADATA",
                metadata.as_bytes(),
                None,
            ),
            entry("msa", b"\x7fELF", Some(deps)),
        ]);
        let components = inventory(&image, &os_of(&image));
        let purls: Vec<&str> = components
            .iter()
            .filter_map(|c| c.purl.as_deref())
            .collect();
        assert_eq!(
            purls,
            [
                "pkg:apk/debian/musl@1.2.5-r0?arch=x86_64",
                "pkg:apk/debian/busybox@1.36.1-r29?arch=x86_64",
                "pkg:cargo/tokio@1.47.1",
                "pkg:pypi/flask-login@0.6.3",
                "pkg:deb/debian/libc6@2.36-9+deb12u10?arch=amd64",
                "pkg:deb/debian/tzdata@2025b-0+deb12u1?arch=all",
            ]
        );
        assert_eq!(components[0].kind, "operating-system");
        let msa = components
            .iter()
            .find(|c| c.name == "msa")
            .expect("the binary's own package");
        assert_eq!((msa.kind, msa.path.as_str()), ("application", "/msa"));
        assert!(
            !components
                .iter()
                .any(|c| c.name == "cc" || c.name == "gone" || c.name == "not-this")
        );

        let serial = serial_number();
        assert_eq!(serial.len(), 36);
        assert_eq!(&serial[14..15], "4");
        let bom = cyclonedx("test:1", &components, "2026-12-06T00:00:00Z", &serial);
        assert_eq!(bom["bomFormat"], "CycloneDX");
        assert_eq!(bom["specVersion"], "1.5");
        assert_eq!(
            bom["components"].as_array().map(Vec::len),
            Some(components.len())
        );
    }

    #[test]
    fn a_broken_dependency_list_is_no_component_and_no_panic() {
        let image = image(vec![entry("app", b"\x7fELF", Some(b"not zlib".to_vec()))]);
        assert!(inventory(&image, &os_of(&image)).is_empty());
    }
}
