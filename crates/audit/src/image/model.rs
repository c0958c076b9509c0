//! An image as every reader gives it: what it runs with (its config), the commands that
//! built it (its history) and its filesystem, layer by layer.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::layers::Layered;

/// An image as its archive or layout describes it.
#[derive(Debug)]
pub struct Image {
    /// `name:tag` as saved.
    pub tags: Vec<String>,
    pub config: Config,
    /// The commands that built it, oldest first.
    pub history: Vec<Step>,
    /// The size of each layer as stored, in order.
    pub layer_sizes: Vec<u64>,
    pub layered: Layered,
}

/// What the image runs with (the `config` of its configuration).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Config {
    pub env: Option<Vec<String>>,
    pub user: Option<String>,
    pub cmd: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    pub healthcheck: Option<Healthcheck>,
    pub labels: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Healthcheck {
    pub test: Option<Vec<String>>,
}

/// One step of the image's history.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Step {
    pub created_by: String,
    /// A step that changed only the configuration (ENV, USER, CMD...), with no layer.
    pub empty_layer: bool,
}

/// An image's configuration file, as both `docker save` and OCI layouts store it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ConfigFile {
    pub config: Config,
    pub history: Vec<Step>,
}
