//! Language runtimes the image shows, and whether their project still fixes them: an
//! end-of-life interpreter gets no more security releases, whatever the base OS does.
//!
//! A runtime is told by the variables the official images set (`PYTHON_VERSION`,
//! `NODE_VERSION`, `RUBY_VERSION`, `PHP_VERSION`) or by its files (`python3.9`, Node's
//! `node_version.h`). Releases the table does not know are not reported.

use serde::Serialize;
use time::Date;
use time::macros::date;

use crate::report::{Finding, Severity};

use super::model::Image;

/// When [`END_OF_LIFE`] was last checked against the projects' own release pages.
pub const TABLE_DATE: Date = date!(2026 - 11 - 01);

/// The end of security fixes of each release line, from python.org (PEP 602 lifecycles),
/// nodejs.org, ruby-lang.org and php.net.
const END_OF_LIFE: &[(&str, &str, Date)] = &[
    ("python", "2.7", date!(2020 - 01 - 01)),
    ("python", "3.6", date!(2021 - 12 - 23)),
    ("python", "3.7", date!(2023 - 06 - 27)),
    ("python", "3.8", date!(2024 - 10 - 07)),
    ("python", "3.9", date!(2025 - 10 - 31)),
    ("python", "3.10", date!(2026 - 10 - 31)),
    ("python", "3.11", date!(2027 - 10 - 31)),
    ("python", "3.12", date!(2028 - 10 - 31)),
    ("python", "3.13", date!(2029 - 10 - 31)),
    ("python", "3.14", date!(2030 - 10 - 31)),
    ("node", "14", date!(2023 - 04 - 30)),
    ("node", "16", date!(2023 - 09 - 11)),
    ("node", "18", date!(2025 - 04 - 30)),
    ("node", "20", date!(2026 - 04 - 30)),
    ("node", "22", date!(2027 - 04 - 30)),
    ("node", "24", date!(2028 - 04 - 30)),
    ("ruby", "2.7", date!(2023 - 03 - 31)),
    ("ruby", "3.0", date!(2024 - 04 - 23)),
    ("ruby", "3.1", date!(2025 - 03 - 26)),
    ("ruby", "3.2", date!(2026 - 03 - 31)),
    ("ruby", "3.3", date!(2027 - 03 - 31)),
    ("ruby", "3.4", date!(2028 - 03 - 31)),
    ("php", "7.4", date!(2022 - 11 - 28)),
    ("php", "8.0", date!(2023 - 11 - 26)),
    ("php", "8.1", date!(2025 - 12 - 31)),
    ("php", "8.2", date!(2026 - 12 - 31)),
    ("php", "8.3", date!(2027 - 12 - 31)),
    ("php", "8.4", date!(2028 - 12 - 31)),
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Runtime {
    pub name: &'static str,
    pub version: String,
    /// Where it was seen.
    pub evidence: String,
    /// The end of its release line's security fixes, if the table knows the line.
    pub end_of_life: Option<String>,
}

/// The runtimes `image` shows.
pub fn detect(image: &Image) -> Vec<Runtime> {
    let mut found: Vec<(&'static str, String, String)> = Vec::new();
    for variable in image.config.env.iter().flatten() {
        let Some((name, value)) = variable.split_once('=') else {
            continue;
        };
        let runtime = match name {
            "PYTHON_VERSION" => "python",
            "NODE_VERSION" => "node",
            "RUBY_VERSION" => "ruby",
            "PHP_VERSION" => "php",
            _ => continue,
        };
        found.push((runtime, value.trim().to_owned(), format!("Env {name}")));
    }
    for path in image.layered.files.keys() {
        // python3.9, python3.12: the interpreter or the standard library's directory.
        let python = [
            "usr/bin/python",
            "usr/local/bin/python",
            "usr/lib/python",
            "usr/local/lib/python",
        ]
        .iter()
        .find_map(|prefix| path.strip_prefix(prefix))
        .filter(|rest| !rest.contains('/'))
        .filter(|rest| rest.chars().all(|c| c.is_ascii_digit() || c == '.') && rest.contains('.'));
        if let Some(version) = python
            && !found
                .iter()
                .any(|(name, v, _)| *name == "python" && v.starts_with(version))
        {
            found.push(("python", version.to_owned(), format!("/{path}")));
        }
    }
    // Distribution packages name the interpreter by its release line: /usr/bin/php8.2.
    for path in image.layered.files.keys() {
        let Some(version) = path.strip_prefix("usr/bin/php") else {
            continue;
        };
        if version.contains('.')
            && version.chars().all(|c| c.is_ascii_digit() || c == '.')
            && !found.iter().any(|(name, ..)| *name == "php")
        {
            found.push(("php", version.to_owned(), format!("/{path}")));
        }
    }
    if let Some(header) = [
        "usr/local/include/node/node_version.h",
        "usr/include/node/node_version.h",
    ]
    .iter()
    .find_map(|path| image.layered.files.get(*path))
        && !found.iter().any(|(name, ..)| *name == "node")
    {
        let text = String::from_utf8_lossy(&header.head);
        let part = |macro_name: &str| {
            text.lines().find_map(|line| {
                line.strip_prefix("#define ")?
                    .strip_prefix(macro_name)?
                    .trim()
                    .parse::<u32>()
                    .ok()
            })
        };
        if let (Some(major), Some(minor)) = (part("NODE_MAJOR_VERSION"), part("NODE_MINOR_VERSION"))
        {
            found.push((
                "node",
                format!("{major}.{minor}"),
                format!("/{}", header.path),
            ));
        }
    }
    found
        .into_iter()
        .map(|(name, version, evidence)| Runtime {
            end_of_life: end_of_life(name, &version).map(|date| date.to_string()),
            name,
            version,
            evidence,
        })
        .collect()
}

/// The end of the release line `version` belongs to: `3.9.18` is in `3.9`, `20.11.1` in
/// `20`; `3.1` is not `3.10`.
fn end_of_life(name: &str, version: &str) -> Option<Date> {
    END_OF_LIFE
        .iter()
        .filter(|(runtime, ..)| *runtime == name)
        .find(|(_, line, _)| {
            version == *line
                || version
                    .strip_prefix(line)
                    .is_some_and(|rest| rest.starts_with('.'))
        })
        .map(|(.., end)| *end)
}

/// A finding for every runtime past its end of life on `today`.
pub fn findings(runtimes: &[Runtime], today: Date) -> Option<Finding> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let ended: Vec<String> = runtimes
        .iter()
        .filter_map(|runtime| {
            let end = runtime.end_of_life.as_deref()?;
            let date = Date::parse(end, format).ok()?;
            (date < today).then(|| {
                format!(
                    "{} {} ({}): no security fixes since {end} (table of this binary, as of {TABLE_DATE})",
                    runtime.name, runtime.version, runtime.evidence
                )
            })
        })
        .collect();
    (!ended.is_empty()).then(|| {
        Finding::new(
            "runtime.end-of-life",
            Severity::High,
            "An end-of-life language runtime: known vulnerabilities stay unfixed",
        )
        .evidence_all(ended)
        .fix("Rebuild on a supported release line (for Python, 3.12 or later), and keep it on one")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::model::Config;

    fn image(env: &[&str], paths: &[&str]) -> Image {
        let mut layered = crate::image::layers::Layered::default();
        for path in paths {
            layered.files.insert(
                (*path).to_owned(),
                crate::image::layers::Entry {
                    path: (*path).to_owned(),
                    layer: 0,
                    kind: crate::image::layers::Kind::File,
                    size: 0,
                    mode: 0o755,
                    uid: 0,
                    head: vec![],
                    removed_by: None,
                    dependencies: None,
                    found: Vec::new(),
                },
            );
        }
        Image {
            tags: vec![],
            config: Config {
                env: Some(env.iter().map(|v| (*v).to_owned()).collect()),
                ..Config::default()
            },
            history: vec![],
            layer_sizes: vec![],
            layered,
        }
    }

    const TODAY: Date = date!(2026 - 12 - 06);

    #[test]
    fn python_3_9_of_the_seed_is_end_of_life_and_3_12_is_not() {
        let seed = detect(&image(
            &["PYTHON_VERSION=3.9.21"],
            &["usr/local/bin/python3.9"],
        ));
        assert_eq!(seed.len(), 1, "the file repeats the variable: {seed:?}");
        assert_eq!(seed[0].end_of_life.as_deref(), Some("2025-10-31"));
        let finding = findings(&seed, TODAY).expect("a finding");
        assert!(
            finding.evidence[0].starts_with(
                "python 3.9.21 (Env PYTHON_VERSION): no security fixes since 2025-10-31"
            )
        );
        let current = detect(&image(&[], &["usr/bin/python3.12", "usr/lib/python3.12"]));
        assert_eq!(current[0].version, "3.12");
        assert!(findings(&current, TODAY).is_none());
    }

    #[test]
    fn release_lines_match_whole_parts_only() {
        assert_eq!(end_of_life("python", "3.1.4"), None);
        assert_eq!(end_of_life("node", "20.11.1"), Some(date!(2026 - 04 - 30)));
        assert_eq!(end_of_life("node", "2.0"), None);
        let node = detect(&image(&["NODE_VERSION=18.20.4"], &[]));
        assert!(findings(&node, TODAY).is_some());
        let php = detect(&image(&[], &["usr/bin/php8.1", "usr/bin/php"]));
        assert_eq!((php[0].name, php[0].version.as_str()), ("php", "8.1"));
        assert!(findings(&php, TODAY).is_some(), "8.1 ended 2025-12-31");
    }
}
