//! A `docker save` archive: its manifest, the image's config and history, and its layers
//! applied in order ([`Layered`]).
//!
//! The archive is read from a file with two passes and no copy: the first notes where each
//! member's data lies (the manifest usually comes last), the second reads the config and
//! each layer in place.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use serde::Deserialize;

use super::layers::{LayerError, Layered};
use super::model::{ConfigFile, Image};

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("not a docker save archive: {0}")]
    Format(String),
    #[error(transparent)]
    Layer(#[from] LayerError),
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// Where a member's data lies in the archive.
#[derive(Clone, Copy)]
struct Member {
    position: u64,
    size: u64,
}

/// Reads the first image of the `docker save` archive at `path`.
pub fn read(path: &Path) -> Result<Image, ArchiveError> {
    let io = |source| ArchiveError::Read {
        path: path.display().to_string(),
        source,
    };
    let mut file = File::open(path).map_err(io)?;
    let mut members = HashMap::new();
    {
        let mut archive = tar::Archive::new(&mut file);
        for entry in archive.entries().map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.path().map_err(io)?.to_string_lossy().into_owned();
            let member = Member {
                position: entry.raw_file_position(),
                size: entry.size(),
            };
            members.insert(name.trim_start_matches("./").to_owned(), member);
        }
    }
    let mut member = |name: &str| -> Result<Vec<u8>, ArchiveError> {
        let found = *members
            .get(name)
            .ok_or_else(|| ArchiveError::Format(format!("no {name} in it")))?;
        read_member(&mut file, found).map_err(io)
    };
    let manifest: Vec<ManifestEntry> = serde_json::from_slice(&member("manifest.json")?)
        .map_err(|error| ArchiveError::Format(format!("manifest.json: {error}")))?;
    let Some(first) = manifest.into_iter().next() else {
        return Err(ArchiveError::Format("manifest.json lists no image".into()));
    };
    let config: ConfigFile = serde_json::from_slice(&member(&first.config)?)
        .map_err(|error| ArchiveError::Format(format!("{}: {error}", first.config)))?;
    let mut layered = Layered::default();
    let mut layer_sizes = Vec::new();
    for name in &first.layers {
        let found = *members
            .get(name.as_str())
            .ok_or_else(|| ArchiveError::Format(format!("no layer {name} in it")))?;
        file.seek(SeekFrom::Start(found.position)).map_err(io)?;
        layered.apply_any((&mut file).take(found.size))?;
        layer_sizes.push(found.size);
    }
    Ok(Image {
        tags: first.repo_tags.unwrap_or_default(),
        config: config.config,
        history: config.history,
        layer_sizes,
        layered,
    })
}

/// The most of a JSON member read: manifests and configs are kilobytes.
const JSON_LIMIT: u64 = 16 * 1024 * 1024;

fn read_member(file: &mut File, member: Member) -> std::io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(member.position))?;
    let mut bytes = Vec::new();
    file.take(member.size.min(JSON_LIMIT))
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, bytes) in members {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder
                .append_data(&mut header, name, &bytes[..])
                .expect("a member");
        }
        builder.into_inner().expect("a tar")
    }

    /// An archive as `docker save` writes it: the layers first, the manifest last.
    fn saved(layers: &[Vec<u8>], config: serde_json::Value) -> tempfile::NamedTempFile {
        let mut members: Vec<(String, Vec<u8>)> = layers
            .iter()
            .enumerate()
            .map(|(n, layer)| (format!("{n:064x}/layer.tar"), layer.clone()))
            .collect();
        let config_name = format!("{:064x}.json", 99);
        members.push((config_name.clone(), config.to_string().into_bytes()));
        let manifest = serde_json::json!([{
            "Config": config_name,
            "RepoTags": ["weak:1"],
            "Layers": (0..layers.len()).map(|n| format!("{n:064x}/layer.tar")).collect::<Vec<_>>(),
        }]);
        members.push(("manifest.json".into(), manifest.to_string().into_bytes()));
        let borrowed: Vec<(&str, Vec<u8>)> = members
            .iter()
            .map(|(name, bytes)| (name.as_str(), bytes.clone()))
            .collect();
        let file = tempfile::NamedTempFile::new().expect("a file");
        std::fs::write(file.path(), tar_of(&borrowed)).expect("written");
        file
    }

    #[test]
    fn a_saved_image_gives_its_config_history_and_every_layer_in_order() {
        let key = b"-----BEGIN OPENSSH PRIVATE KEY-----".to_vec();
        let archive = saved(
            &[
                tar_of(&[("root/.ssh/id_ed25519", key.clone())]),
                tar_of(&[("root/.ssh/.wh.id_ed25519", Vec::new())]),
            ],
            serde_json::json!({
                "config": {"Env": ["PATH=/bin", "DB_PASSWORD=x"], "User": "",
                           "Cmd": ["/app"], "ExposedPorts": {"5001/tcp": {}}},
                "history": [
                    {"created_by": "COPY id_ed25519 /root/.ssh/"},
                    {"created_by": "RUN rm /root/.ssh/id_ed25519"},
                    {"created_by": "ENV DB_PASSWORD=x", "empty_layer": true}
                ]
            }),
        );
        let image = read(archive.path()).expect("an image");
        assert_eq!(image.tags, ["weak:1"]);
        assert_eq!(
            image.config.env.as_deref(),
            Some(&["PATH=/bin".to_owned(), "DB_PASSWORD=x".to_owned()][..])
        );
        assert_eq!(image.config.user.as_deref(), Some(""));
        assert!(image.config.healthcheck.is_none());
        assert_eq!(image.history.len(), 3);
        assert!(image.history[2].empty_layer);
        assert_eq!(image.layer_sizes.len(), 2);
        assert!(!image.layered.files.contains_key("root/.ssh/id_ed25519"));
        assert_eq!(image.layered.deleted.len(), 1);
        assert_eq!(image.layered.deleted[0].path, "root/.ssh/id_ed25519");
        assert_eq!(image.layered.deleted[0].size, key.len() as u64);
    }

    #[test]
    fn an_archive_without_a_manifest_is_refused() {
        let file = tempfile::NamedTempFile::new().expect("a file");
        std::fs::write(file.path(), tar_of(&[("hello.txt", b"hi".to_vec())])).expect("written");
        let error = read(file.path())
            .map(|_| String::new())
            .unwrap_or_else(|e| e.to_string());
        assert_eq!(error, "not a docker save archive: no manifest.json in it");
    }
}
