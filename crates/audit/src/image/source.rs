//! Where an image is read from: a `docker save` archive, an OCI image layout directory, or
//! the local engine, asked over its API socket for the same archive `docker save` writes.

use std::path::Path;

use crate::docker::{Engine, EngineError};

use super::archive::{self, ArchiveError};
use super::model::Image;
use super::oci::{self, LayoutError};

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("cannot make a temporary file for the image: {0}")]
    Temporary(std::io::Error),
}

/// The image at `path`: an OCI layout if it is a directory holding one, else an archive.
pub fn from_path(path: &Path) -> Result<Image, SourceError> {
    if path.is_dir() && oci::is_layout(path) {
        return Ok(oci::read(path)?);
    }
    Ok(archive::read(path)?)
}

/// The image `name` of the engine, saved to a private temporary file (removed afterwards)
/// and read from there.
pub async fn from_engine(engine: &Engine, name: &str) -> Result<Image, SourceError> {
    let file = tempfile::Builder::new()
        .prefix("msa-audit-image-")
        .suffix(".tar")
        .tempfile()
        .map_err(SourceError::Temporary)?;
    engine.save_image(name, file.path()).await?;
    let path = file.path().to_owned();
    let image = tokio::task::spawn_blocking(move || archive::read(&path))
        .await
        .map_err(|error| SourceError::Temporary(std::io::Error::other(error)))??;
    drop(file);
    Ok(image)
}
