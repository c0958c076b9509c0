//! An image's filesystem, layer by layer, as the engine would unpack it, with what later
//! layers deleted kept aside.
//!
//! Layers are tar streams applied in order. A whiteout (`.wh.<name>`) deletes `<name>` and
//! everything under it from the layers below; an opaque whiteout (`.wh..wh..opq`) empties
//! its directory of everything the layers below put there (OCI image spec, "Whiteouts").
//! The deleted files are not gone from the image: each layer still carries them, so they
//! are kept in [`Layered::deleted`], with the layer that added them.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};

use super::{elf, scan};

/// What a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Directory,
    Symlink,
    Hardlink,
    Other,
}

/// One file as a layer wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The path in the image, without a leading `/` or `./`.
    pub path: String,
    /// The layer that wrote it, from 0 for the first.
    pub layer: usize,
    pub kind: Kind,
    pub size: u64,
    pub mode: u32,
    pub uid: u64,
    /// The first [`KEPT_BYTES`] of a regular file that a later check reads
    /// ([`scan::keep_head`]); empty for the rest, whose secrets are in `found`.
    pub head: Vec<u8>,
    /// The layer that deleted or replaced it, for the files in [`Layered::deleted`].
    pub removed_by: Option<usize>,
    /// The zlib-compressed dependency list `cargo auditable` left in an ELF binary.
    pub dependencies: Option<Vec<u8>>,
    /// The secrets its first bytes hold, found as the layer streamed past.
    pub found: Vec<scan::Found>,
}

/// The most of each file kept for the checks: enough for every key and configuration
/// format they look for, and a bound on memory however large the image.
pub const KEPT_BYTES: usize = 64 * 1024;

/// The most kept of a package database, read whole for the inventory (a Debian image's
/// dpkg status is about a megabyte).
pub const DATABASE_BYTES: usize = 32 * 1024 * 1024;

/// The largest ELF binary read whole, to find its `cargo auditable` dependency list.
pub const BINARY_BYTES: u64 = 512 * 1024 * 1024;

/// How much of the file at `path` to keep.
fn kept_bytes(path: &str) -> usize {
    let database = path == "var/lib/dpkg/status"
        || path.starts_with("var/lib/dpkg/status.d/")
        || path == "lib/apk/db/installed";
    if database { DATABASE_BYTES } else { KEPT_BYTES }
}

/// The filesystem the layers make, and what they deleted on the way.
#[derive(Debug, Default)]
pub struct Layered {
    /// Every path of the final filesystem.
    pub files: BTreeMap<String, Entry>,
    /// Files a later layer deleted or replaced: still in the image's layers.
    pub deleted: Vec<Entry>,
    /// How many layers were applied.
    pub layers: usize,
}

/// A layer that is not a tar stream.
#[derive(Debug, thiserror::Error)]
#[error("layer {layer} is not a readable tar stream: {source}")]
pub struct LayerError {
    layer: usize,
    source: std::io::Error,
}

const WHITEOUT: &str = ".wh.";
const GZIP: [u8; 2] = [0x1f, 0x8b];
const ZSTD: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
const OPAQUE: &str = ".wh..wh..opq";

impl Layered {
    /// Applies the next layer, a tar stream as stored: plain, or gzip-compressed as OCI
    /// layouts and registries keep them (told by its first bytes, not by a media type that
    /// may lie).
    pub fn apply_any(&mut self, layer: impl Read) -> Result<(), LayerError> {
        let mut layer = BufReader::new(layer);
        let start = layer.fill_buf().map_err(|source| LayerError {
            layer: self.layers,
            source,
        })?;
        if start.starts_with(&GZIP) {
            self.apply(flate2::bufread::MultiGzDecoder::new(layer))
        } else if start.starts_with(&ZSTD) {
            Err(LayerError {
                layer: self.layers,
                source: std::io::Error::other(
                    "zstd-compressed, which this audit does not read: save the image uncompressed",
                ),
            })
        } else {
            self.apply(layer)
        }
    }

    /// Applies the next layer, an uncompressed tar stream.
    pub fn apply(&mut self, layer: impl Read) -> Result<(), LayerError> {
        let index = self.layers;
        self.layers += 1;
        let fail = |source| LayerError {
            layer: index,
            source,
        };
        let mut archive = tar::Archive::new(layer);
        for entry in archive.entries().map_err(fail)? {
            let mut entry = entry.map_err(fail)?;
            let raw = entry.path().map_err(fail)?.to_string_lossy().into_owned();
            let path = normalize(&raw);
            if path.is_empty() {
                continue;
            }
            let (dir, name) = match path.rsplit_once('/') {
                Some((dir, name)) => (dir.to_owned(), name.to_owned()),
                None => (String::new(), path.clone()),
            };
            if name == OPAQUE {
                self.remove_under(&dir, |entry| entry.layer < index);
                continue;
            }
            if let Some(hidden) = name.strip_prefix(WHITEOUT) {
                let target = join(&dir, hidden);
                self.remove(&target);
                self.remove_under(&target, |_| true);
                continue;
            }
            let header = entry.header();
            let kind = match header.entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => Kind::File,
                tar::EntryType::Directory => Kind::Directory,
                tar::EntryType::Symlink => Kind::Symlink,
                tar::EntryType::Link => Kind::Hardlink,
                _ => Kind::Other,
            };
            let size = header.size().unwrap_or(0);
            let mode = header.mode().unwrap_or(0);
            let uid = header.uid().unwrap_or(0);
            let mut head = Vec::new();
            let mut dependencies = None;
            if kind == Kind::File {
                (&mut entry)
                    .take(kept_bytes(&path) as u64)
                    .read_to_end(&mut head)
                    .map_err(fail)?;
                if head.starts_with(b"\x7fELF") && size <= BINARY_BYTES {
                    // The section table is at the end: read the rest, keep one section.
                    let mut whole = std::mem::take(&mut head);
                    // Sized once: a doubling Vec would hold twice the largest binary.
                    whole.reserve_exact(
                        usize::try_from(size)
                            .unwrap_or(0)
                            .saturating_sub(whole.len()),
                    );
                    entry.read_to_end(&mut whole).map_err(fail)?;
                    dependencies =
                        elf::section(&whole, elf::DEPENDENCY_SECTION).map(<[u8]>::to_vec);
                    whole.truncate(KEPT_BYTES);
                    head = whole;
                }
            }
            let found = scan::secrets(&path, &head);
            if !scan::keep_head(&path) {
                head = Vec::new();
            }
            // A directory written again keeps what is under it; anything else replaces the
            // path, and the replaced file stays in its own layer.
            if kind != Kind::Directory {
                self.remove_under(&path, |_| true);
            }
            if let Some(replaced) = self.files.insert(
                path.clone(),
                Entry {
                    path,
                    layer: index,
                    kind,
                    size,
                    mode,
                    uid,
                    head,
                    removed_by: None,
                    dependencies,
                    found,
                },
            ) && replaced.kind != Kind::Directory
            {
                self.deleted.push(Entry {
                    removed_by: Some(index),
                    ..replaced
                });
            }
        }
        Ok(())
    }

    /// Deletes `path` itself, keeping it among the deleted (unless a directory).
    fn remove(&mut self, path: &str) {
        if let Some(gone) = self.files.remove(path)
            && gone.kind != Kind::Directory
        {
            // Only called while a layer is applied, which counted itself already.
            let by = self.layers.saturating_sub(1);
            self.deleted.push(Entry {
                removed_by: Some(by),
                ..gone
            });
        }
    }

    /// Deletes everything below `dir` that `which` selects.
    fn remove_under(&mut self, dir: &str, which: impl Fn(&Entry) -> bool) {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let below: Vec<String> = self
            .files
            .range(prefix.clone()..)
            .take_while(|(path, _)| path.starts_with(&prefix))
            .filter(|(_, entry)| which(entry))
            .map(|(path, _)| path.clone())
            .collect();
        for path in below {
            self.remove(&path);
        }
    }
}

/// `./etc/passwd`, `/etc/passwd` and `etc/passwd/` are all `etc/passwd`.
fn normalize(raw: &str) -> String {
    raw.trim_start_matches("./")
        .trim_start_matches('/')
        .trim_end_matches('/')
        .to_owned()
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A layer with these files (`name`, contents); a name ending in `/` is a directory.
    fn layer(files: &[(&str, &str)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, contents) in files {
            let mut header = tar::Header::new_gnu();
            if let Some(dir) = name.strip_suffix('/') {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                header.set_mode(0o755);
                header.set_cksum();
                builder
                    .append_data(&mut header, dir, std::io::empty())
                    .expect("a directory");
            } else {
                header.set_size(contents.len() as u64);
                header.set_mode(0o644);
                header.set_cksum();
                builder
                    .append_data(&mut header, name, contents.as_bytes())
                    .expect("a file");
            }
        }
        builder.into_inner().expect("a tar")
    }

    fn apply(layers: &[&[(&str, &str)]]) -> Layered {
        let mut image = Layered::default();
        for files in layers {
            image.apply(&layer(files)[..]).expect("a layer");
        }
        image
    }

    fn paths(image: &Layered) -> Vec<&str> {
        image.files.keys().map(String::as_str).collect()
    }

    #[test]
    fn a_file_deleted_by_a_later_layer_is_gone_from_the_filesystem_but_kept() {
        let image = apply(&[
            &[
                ("root/", ""),
                ("root/.ssh/", ""),
                ("root/.ssh/id_rsa", "KEY"),
            ],
            &[("root/.ssh/.wh.id_rsa", "")],
        ]);
        assert_eq!(paths(&image), ["root", "root/.ssh"]);
        assert_eq!(image.deleted.len(), 1);
        assert_eq!(image.deleted[0].path, "root/.ssh/id_rsa");
        assert_eq!(image.deleted[0].layer, 0);
        assert_eq!(image.deleted[0].removed_by, Some(1));
        assert_eq!(image.deleted[0].size, 3);
    }

    #[test]
    fn a_whiteout_of_a_directory_deletes_everything_under_it() {
        let image = apply(&[
            &[
                ("app/", ""),
                ("app/.git/", ""),
                ("app/.git/config", "x"),
                ("app/main", "m"),
            ],
            &[("app/.wh..git", "")],
        ]);
        assert_eq!(paths(&image), ["app", "app/main"]);
        assert_eq!(
            image.deleted.len(),
            1,
            "the directory itself is not a finding"
        );
        assert_eq!(image.deleted[0].path, "app/.git/config");
    }

    #[test]
    fn an_opaque_directory_hides_the_layers_below_but_not_its_own() {
        let image = apply(&[
            &[("etc/", ""), ("etc/app/", ""), ("etc/app/old.env", "A=1")],
            &[
                ("etc/app/new.env", "B=2"),
                ("etc/app/.wh..wh..opq", ""),
                ("etc/app/late.env", "C=3"),
            ],
        ]);
        assert_eq!(
            paths(&image),
            ["etc", "etc/app", "etc/app/late.env", "etc/app/new.env"]
        );
        assert_eq!(image.deleted.len(), 1);
        assert_eq!(image.deleted[0].path, "etc/app/old.env");
    }

    #[test]
    fn a_file_written_again_keeps_the_first_version_among_the_deleted() {
        let image = apply(&[
            &[("app.conf", "password=hunter22")],
            &[("./app.conf", "password=")],
        ]);
        assert_eq!(image.files["app.conf"].layer, 1);
        assert!(image.files["app.conf"].found.is_empty(), "an empty value");
        assert_eq!(image.deleted.len(), 1);
        // Found as the first layer streamed past; the contents themselves are not kept.
        assert_eq!(image.deleted[0].found.len(), 1);
        assert_eq!(image.deleted[0].found[0].hit.kind, "a value for password");
        assert!(image.deleted[0].head.is_empty());
    }

    #[test]
    fn a_layer_that_is_not_a_tar_is_refused_with_its_number() {
        let mut image = apply(&[&[("a", "1")]]);
        let refused = image.apply(&b"not a tar at all, just text that goes on"[..]);
        let error = refused
            .map(|()| String::new())
            .unwrap_or_else(|e| e.to_string());
        assert!(error.starts_with("layer 1 "), "{error}");
    }
}
