//! Reading the inspected system's files under a chosen root: `/` in production, a captured
//! fixture in tests. Nothing here fails: what cannot be read is `None`.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Root(PathBuf);

impl Root {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self(path.into())
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Where the absolute path `path` of the inspected system is under this root.
    pub fn join(&self, path: &str) -> PathBuf {
        self.0.join(path.trim_start_matches('/'))
    }

    pub fn read(&self, path: &str) -> Option<String> {
        std::fs::read_to_string(self.join(path)).ok()
    }

    pub fn read_bytes(&self, path: &str) -> Option<Vec<u8>> {
        std::fs::read(self.join(path)).ok()
    }

    pub fn exists(&self, path: &str) -> bool {
        std::fs::symlink_metadata(self.join(path)).is_ok()
    }

    /// The target of a symbolic link such as `/proc/self/ns/pid`.
    pub fn link(&self, path: &str) -> Option<String> {
        std::fs::read_link(self.join(path))
            .ok()
            .map(|target| target.to_string_lossy().into_owned())
    }
}

/// `NAME=value` pairs of a NUL-separated environment block (`/proc/<pid>/environ`).
pub fn environment(block: &[u8]) -> Vec<(String, String)> {
    block
        .split(|byte| *byte == 0)
        .filter_map(|entry| {
            let entry = String::from_utf8_lossy(entry);
            let (name, value) = entry.split_once('=')?;
            Some((name.to_owned(), value.to_owned()))
        })
        .collect()
}
