//! An OCI image layout directory (`oci-layout`, `index.json`, `blobs/<algorithm>/<hex>`), as
//! `skopeo copy … oci:DIR`, `buildah push … oci:DIR` or `docker buildx build --output
//! type=oci,tar=false` write it.
//!
//! `index.json` names a manifest, or an index of manifests per platform: the first
//! linux/amd64 one is taken, else the first. Blobs are named by their digest, and each is
//! checked to be a plain file inside the layout, so a crafted index cannot make the audit
//! read outside it.

use std::fs::File;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::layers::{LayerError, Layered};
use super::model::{ConfigFile, Image};

#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("not an OCI image layout: {0}")]
    Format(String),
    #[error(transparent)]
    Layer(#[from] LayerError),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: Option<String>,
    digest: String,
    #[serde(default)]
    size: u64,
    platform: Option<Platform>,
    annotations: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Deserialize)]
struct Platform {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
}

#[derive(Deserialize)]
struct Index {
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct Manifest {
    config: Descriptor,
    layers: Vec<Descriptor>,
}

const INDEX_TYPES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// The most nested indexes followed: real layouts have one or two.
const INDEX_DEPTH: usize = 4;

/// The most of a JSON blob read: manifests and configs are kilobytes.
const JSON_LIMIT: u64 = 16 * 1024 * 1024;

/// Whether `path` is a directory holding an OCI image layout.
pub fn is_layout(path: &Path) -> bool {
    path.join("oci-layout").is_file() && path.join("index.json").is_file()
}

/// Reads the image an OCI layout at `dir` names.
pub fn read(dir: &Path) -> Result<Image, LayoutError> {
    let layout = Layout { dir };
    let index: Index = layout.json_file(&dir.join("index.json"))?;
    let mut tags = Vec::new();
    let mut manifests = index.manifests;
    for _ in 0..INDEX_DEPTH {
        let chosen = choose(&mut manifests)
            .ok_or_else(|| LayoutError::Format("index.json lists no manifest".into()))?;
        if let Some(name) = chosen
            .annotations
            .as_ref()
            .and_then(|a| a.get("org.opencontainers.image.ref.name"))
        {
            tags.push(name.clone());
        }
        if chosen
            .media_type
            .as_deref()
            .is_some_and(|media| INDEX_TYPES.contains(&media))
        {
            let nested: Index = layout.json_blob(&chosen)?;
            manifests = nested.manifests;
            continue;
        }
        let manifest: Manifest = layout.json_blob(&chosen)?;
        let config: ConfigFile = layout.json_blob(&manifest.config)?;
        let mut layered = Layered::default();
        let mut layer_sizes = Vec::new();
        for layer in &manifest.layers {
            let path = layout.blob(&layer.digest)?;
            let file = File::open(&path).map_err(|source| read_error(&path, source))?;
            layered.apply_any(file)?;
            layer_sizes.push(layer.size);
        }
        return Ok(Image {
            tags,
            config: config.config,
            history: config.history,
            layer_sizes,
            layered,
        });
    }
    Err(LayoutError::Format(format!(
        "indexes nested deeper than {INDEX_DEPTH}"
    )))
}

/// The linux/amd64 manifest if the index says platforms, else the first.
fn choose(manifests: &mut Vec<Descriptor>) -> Option<Descriptor> {
    let amd64 = manifests.iter().position(|d| {
        d.platform
            .as_ref()
            .is_some_and(|p| p.os == "linux" && p.architecture == "amd64")
    });
    match amd64 {
        Some(at) => Some(manifests.swap_remove(at)),
        None if manifests.is_empty() => None,
        None => Some(manifests.remove(0)),
    }
}

struct Layout<'a> {
    dir: &'a Path,
}

impl Layout<'_> {
    /// The file of a blob, refused unless its digest is `<algorithm>:<hex>` and it is a
    /// regular file inside the layout.
    fn blob(&self, digest: &str) -> Result<PathBuf, LayoutError> {
        let bad = || LayoutError::Format(format!("{digest:?} is not a digest"));
        let (algorithm, hex) = digest.split_once(':').ok_or_else(bad)?;
        let plain = |part: &str, allowed: fn(char) -> bool| {
            !part.is_empty() && part.len() <= 128 && part.chars().all(allowed)
        };
        if !plain(algorithm, |c| c.is_ascii_lowercase() || c.is_ascii_digit())
            || !plain(hex, |c| c.is_ascii_hexdigit())
        {
            return Err(bad());
        }
        let path = self.dir.join("blobs").join(algorithm).join(hex);
        let metadata =
            std::fs::symlink_metadata(&path).map_err(|source| read_error(&path, source))?;
        if !metadata.is_file() {
            return Err(LayoutError::Format(format!(
                "blob {digest} is not a regular file"
            )));
        }
        Ok(path)
    }

    fn json_blob<T: serde::de::DeserializeOwned>(
        &self,
        descriptor: &Descriptor,
    ) -> Result<T, LayoutError> {
        self.json_file(&self.blob(&descriptor.digest)?)
    }

    fn json_file<T: serde::de::DeserializeOwned>(&self, path: &Path) -> Result<T, LayoutError> {
        use std::io::Read as _;
        let file = File::open(path).map_err(|source| read_error(path, source))?;
        let mut bytes = Vec::new();
        file.take(JSON_LIMIT)
            .read_to_end(&mut bytes)
            .map_err(|source| read_error(path, source))?;
        let name = path.strip_prefix(self.dir).unwrap_or(path).display();
        serde_json::from_slice(&bytes)
            .map_err(|error| LayoutError::Format(format!("{name}: {error}")))
    }
}

fn read_error(path: &Path, source: std::io::Error) -> LayoutError {
    LayoutError::Read {
        path: path.display().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn layer(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, contents) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(contents.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder
                .append_data(&mut header, name, *contents)
                .expect("a file");
        }
        builder.into_inner().expect("a tar")
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).expect("compressed");
        encoder.finish().expect("compressed")
    }

    /// Writes `bytes` as a blob named by a made-up digest; the audit reads blobs by name
    /// and does not verify digests (a registry does that).
    fn blob(dir: &Path, n: u32, bytes: &[u8]) -> serde_json::Value {
        let hex = format!("{n:064x}");
        let blobs = dir.join("blobs/sha256");
        std::fs::create_dir_all(&blobs).expect("a directory");
        std::fs::write(blobs.join(&hex), bytes).expect("written");
        serde_json::json!({"digest": format!("sha256:{hex}"), "size": bytes.len()})
    }

    fn layout(index_entry: impl FnOnce(&Path) -> serde_json::Value) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("a directory");
        std::fs::write(
            dir.path().join("oci-layout"),
            r#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .expect("written");
        let entry = index_entry(dir.path());
        let index = serde_json::json!({"schemaVersion": 2, "manifests": [entry]});
        std::fs::write(dir.path().join("index.json"), index.to_string()).expect("written");
        dir
    }

    fn manifest(dir: &Path) -> serde_json::Value {
        let config = blob(
            dir,
            1,
            serde_json::json!({"config": {"User": "10001", "Env": ["A=1"]},
                               "history": [{"created_by": "COPY . /"}]})
            .to_string()
            .as_bytes(),
        );
        let plain = blob(dir, 2, &layer(&[("etc/app.conf", b"password=x")]));
        let gzipped = blob(dir, 3, &gzip(&layer(&[("etc/.wh.app.conf", b"")])));
        let manifest = serde_json::json!({"schemaVersion": 2, "config": config,
                                          "layers": [plain, gzipped]});
        let mut entry = blob(dir, 4, manifest.to_string().as_bytes());
        entry["mediaType"] = "application/vnd.oci.image.manifest.v1+json".into();
        entry
    }

    #[test]
    fn a_layout_gives_config_history_and_layers_plain_or_gzipped() {
        let dir = layout(|dir| {
            let mut entry = manifest(dir);
            entry["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": "1.0"});
            entry
        });
        assert!(is_layout(dir.path()));
        let image = read(dir.path()).expect("an image");
        assert_eq!(image.tags, ["1.0"]);
        assert_eq!(image.config.user.as_deref(), Some("10001"));
        assert_eq!(image.history[0].created_by, "COPY . /");
        assert_eq!(image.layered.layers, 2);
        assert!(image.layered.files.is_empty());
        assert_eq!(image.layered.deleted[0].size, 10);
    }

    #[test]
    fn an_index_of_platforms_leads_to_the_amd64_manifest() {
        let dir = layout(|dir| {
            let mut amd64 = manifest(dir);
            amd64["platform"] = serde_json::json!({"os": "linux", "architecture": "amd64"});
            let arm = serde_json::json!({"digest": format!("sha256:{:064x}", 77), "size": 1,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "platform": {"os": "linux", "architecture": "arm64"}});
            let nested = serde_json::json!({"schemaVersion": 2, "manifests": [arm, amd64]});
            let mut entry = blob(dir, 5, nested.to_string().as_bytes());
            entry["mediaType"] = "application/vnd.oci.image.index.v1+json".into();
            entry
        });
        let image = read(dir.path()).expect("an image");
        assert_eq!(image.layered.layers, 2);
    }

    #[test]
    fn a_digest_that_climbs_out_of_the_layout_is_refused() {
        let dir = layout(|_| serde_json::json!({"digest": "sha256:../../../etc/passwd"}));
        let error = read(dir.path())
            .map(|_| String::new())
            .unwrap_or_else(|e| e.to_string());
        assert_eq!(
            error,
            "not an OCI image layout: \"sha256:../../../etc/passwd\" is not a digest"
        );
    }
}
