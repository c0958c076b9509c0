//! `msa audit image`: what an image gives away before it runs.
//!
//! [`source`] reads the image from a `docker save` archive ([`archive`]), an OCI image
//! layout ([`oci`]) or the engine's API, into an [`model::Image`]: config, history and the
//! filesystem [`layers`] rebuilds from the layers, in order, applying the whiteouts of each
//! and keeping what a later layer deleted (a secret removed in a later layer is still in
//! the image for anyone who pulls it). The checks: [`secrets`] in [`files`], [`config`] and
//! history; the base OS (the container audit's table), [`runtimes`] and [`banners`].

pub mod archive;
pub mod banners;
pub mod config;
pub mod elf;
pub mod files;
pub mod layers;
pub mod model;
pub mod oci;
pub mod report;
pub mod runtimes;
pub mod sbom;
pub mod scan;
pub mod secrets;
pub mod source;

use time::Date;

use crate::container::os::{self, Support};
use crate::report::{Finding, Severity};
use layers::Kind;
use model::Image;
use report::{ConfigSummary, File, Layer, Report, Size};

/// An image this big (its layers, summed) is reported: slow to pull, and a sign of build
/// tools or caches left in.
pub const LARGE_IMAGE: u64 = 1024 * 1024 * 1024;

/// Audits `image`, read from `source`, as it stands on `today`.
pub fn inspect(image: &Image, source: String, today: Date) -> Report {
    let layered = &image.layered;
    let release = os::RELEASE_FILES.into_iter().find_map(|path| {
        let entry = layered.files.get(path.trim_start_matches('/'))?;
        (entry.kind == Kind::File)
            .then(|| (path, String::from_utf8_lossy(&entry.head).into_owned()))
    });
    let (operating_system, os_finding) = os::describe(
        release.as_ref().map(|(path, text)| (*path, text.as_str())),
        today,
    );
    let runtimes = runtimes::detect(image);
    let runtime_finding = runtimes::findings(&runtimes, today);
    let end_of_life =
        matches!(operating_system.support, Support::EndOfLife { .. }) || runtime_finding.is_some();

    let mut findings: Vec<Finding> = Vec::new();
    findings.extend(files::secrets_in_files(layered));
    findings.extend(files::credentials_and_traces(layered));
    findings.extend(config::environment(image));
    findings.extend(config::command_and_labels(image));
    findings.extend(config::history(image));
    findings.extend(config::root_user(image));
    findings.extend(os_finding);
    findings.extend(runtime_finding);
    findings.extend(banners::findings(layered, end_of_life));
    findings.extend(files::setuid(layered));
    findings.extend(files::world_writable(layered));
    findings.extend(files::attack_surface(layered));
    findings.extend(config::healthcheck(image));
    let size = size(image);
    if size.total >= LARGE_IMAGE {
        findings.push(
            Finding::new(
                "size.large",
                Severity::Low,
                format!("A large image: {}", report::human(size.total)),
            )
            .evidence_all(size.biggest_files.iter().take(3).map(|file| {
                format!("/{} {} (layer {})", file.path, report::human(file.size), file.layer)
            }))
            .fix("Use a multi-stage build and a minimal base; clean caches in the layer that made them"),
        );
    }
    Report {
        tool: "msa audit image",
        version: env!("CARGO_PKG_VERSION"),
        date: today.to_string(),
        source,
        tags: image.tags.clone(),
        config: summary(image),
        operating_system,
        runtimes,
        size,
        findings: crate::report::sorted(findings),
    }
}

fn summary(image: &Image) -> ConfigSummary {
    let config = &image.config;
    ConfigSummary {
        user: config.user.clone().unwrap_or_default(),
        entrypoint: config::redacted(config.entrypoint.as_deref().unwrap_or_default()),
        cmd: config::redacted(config.cmd.as_deref().unwrap_or_default()),
        exposed_ports: config
            .exposed_ports
            .iter()
            .flat_map(|ports| ports.keys().cloned())
            .collect(),
        healthcheck: config::healthcheck(image).is_none(),
        environment: config
            .env
            .iter()
            .flatten()
            .map(|variable| variable.split('=').next().unwrap_or("").to_owned())
            .collect(),
        labels: config::redacted_labels(image),
    }
}

fn size(image: &Image) -> Size {
    let layered = &image.layered;
    let instructions: Vec<&str> = image
        .history
        .iter()
        .filter(|step| !step.empty_layer)
        .map(|step| config::instruction(step).0)
        .collect();
    let layers = image
        .layer_sizes
        .iter()
        .enumerate()
        .map(|(index, size)| Layer {
            index,
            size: *size,
            instruction: instructions.get(index).copied().unwrap_or("?").to_owned(),
        })
        .collect();
    let mut biggest: Vec<File> = layered
        .files
        .values()
        .chain(layered.deleted.iter())
        .filter(|entry| entry.kind == Kind::File)
        .map(|entry| File {
            path: entry.path.clone(),
            size: entry.size,
            layer: entry.layer,
            deleted: entry.removed_by.is_some(),
        })
        .collect();
    biggest.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.path.cmp(&b.path)));
    biggest.truncate(report::BIGGEST);
    Size {
        total: image.layer_sizes.iter().sum(),
        files: layered
            .files
            .values()
            .filter(|e| e.kind != Kind::Directory)
            .count(),
        deleted_files: layered.deleted.len(),
        layers,
        biggest_files: biggest,
    }
}
