//! What the image's configuration and history give away: the user it runs as, secrets in
//! its environment, secrets in the commands and build arguments that built it, and
//! whether it says how to tell it is healthy.

use crate::report::{Finding, Severity};

use super::model::{Image, Step};
use super::secrets::{self, Hit};

/// The user the image runs as, if it is root: `None` when it is not (or cannot be told).
pub fn root_user(image: &Image) -> Option<Finding> {
    let user = image.config.user.as_deref().unwrap_or("").trim();
    let name = user.split(':').next().unwrap_or("");
    let evidence = if name.is_empty() {
        "the config sets no User: the engine runs the image as root (uid 0)".to_owned()
    } else if name == "0" || name == "root" {
        format!("the config's User is {user:?}")
    } else if name.chars().all(|c| c.is_ascii_digit()) {
        return None;
    } else {
        let passwd = image.layered.files.get("etc/passwd")?;
        let uid = String::from_utf8_lossy(&passwd.head)
            .lines()
            .find_map(|line| {
                let mut fields = line.split(':');
                (fields.next()? == name).then(|| fields.nth(1).map(str::to_owned))?
            })?;
        if uid != "0" {
            return None;
        }
        format!("the config's User is {user:?}, uid 0 in /etc/passwd")
    };
    Some(
        Finding::new("user.root", Severity::High, "Runs as root")
            .evidence(evidence)
            .fix("Add `USER 10001:10001` (a numeric, unprivileged user) to the Dockerfile; chown only what it must write"),
    )
}

/// Secrets in the environment the config sets: anyone who pulls the image reads them with
/// `docker inspect`. Names and fingerprints only.
pub fn environment(image: &Image) -> Option<Finding> {
    let found: Vec<String> = image
        .config
        .env
        .iter()
        .flatten()
        .flat_map(|variable| {
            let (name, value) = variable.split_once('=').unwrap_or((variable, ""));
            secrets::setting(name, value)
                .into_iter()
                .map(move |hit| format!("Env {name}: {} {}", hit.kind, hit.fingerprint))
        })
        .collect();
    (!found.is_empty()).then(|| {
        Finding::new(
            "secrets.environment",
            Severity::High,
            "Secrets in the image's environment (ENV), readable by anyone who has the image",
        )
        .evidence_all(found)
        .fix("Remove the ENV line and rotate the secret; pass it at run time as a file (compose or Kubernetes secrets, *_FILE variables)")
    })
}

/// The secrets in one word of a command or one label: provider formats, `NAME=value`
/// with a secret's name, or the value that follows a secret-named flag (`--password x`).
fn secrets_in_words(words: &[String]) -> Vec<(usize, Hit)> {
    let mut found = Vec::new();
    for (index, word) in words.iter().enumerate() {
        let mut hits = secrets::formats(word.as_bytes());
        hits.extend(secrets::command_assignments(word));
        let flag = index
            .checked_sub(1)
            .map(|previous| words[previous].trim_start_matches('-'))
            .filter(|flag| words[index - 1].starts_with('-') && !flag.contains('='));
        if hits.is_empty() && flag.is_some_and(secrets::secret_name) && secrets::secret_value(word)
        {
            hits.push(Hit {
                kind: format!("a value for {}", words[index - 1]),
                line: 1,
                fingerprint: secrets::fingerprint(word.trim().as_bytes()),
            });
        }
        found.extend(hits.into_iter().map(|hit| (index, hit)));
    }
    found
}

/// `words` with every word that holds a secret replaced by its fingerprint, for reports.
pub fn redacted(words: &[String]) -> Vec<String> {
    let mut shown = words.to_vec();
    for (index, hit) in secrets_in_words(words) {
        shown[index] = format!("<secret {}>", hit.fingerprint);
    }
    shown
}

/// The labels, each with the secret its value holds, if any.
fn label_secrets(image: &Image) -> impl Iterator<Item = (&String, &String, Option<Hit>)> {
    image.config.labels.iter().flatten().map(|(name, value)| {
        let secret = secrets::setting(name, value).into_iter().next();
        (name, value, secret)
    })
}

/// Labels with secret values shown by their fingerprint.
pub fn redacted_labels(image: &Image) -> std::collections::BTreeMap<String, String> {
    label_secrets(image)
        .map(|(name, value, secret)| {
            let shown = match secret {
                Some(hit) => format!("<secret {}>", hit.fingerprint),
                None => value.clone(),
            };
            (name.clone(), shown)
        })
        .collect()
}

/// Secrets in the command the image runs (ENTRYPOINT, CMD) or in its labels: shown by
/// `docker inspect` to whoever has the image.
pub fn command_and_labels(image: &Image) -> Option<Finding> {
    let config = &image.config;
    let mut found = Vec::new();
    for (field, words) in [("Entrypoint", &config.entrypoint), ("Cmd", &config.cmd)] {
        for (index, hit) in secrets_in_words(words.as_deref().unwrap_or_default()) {
            found.push(format!(
                "{field} word {}: {} {}",
                index + 1,
                hit.kind,
                hit.fingerprint
            ));
        }
    }
    for (name, _, secret) in label_secrets(image) {
        if let Some(hit) = secret {
            found.push(format!("Label {name}: {} {}", hit.kind, hit.fingerprint));
        }
    }
    (!found.is_empty()).then(|| {
        Finding::new(
            "secrets.config",
            Severity::High,
            "Secrets in the command the image runs or in its labels",
        )
        .evidence_all(found)
        .fix("Rotate the secret; have the program read it from a mounted file or the environment at run time")
    })
}

/// Secrets in the commands of the image's history: `RUN` lines, the build arguments
/// (`ARG`) a `RUN` was given, which the history records as `|N NAME=value ...`, and `ENV`
/// values a later step overwrote (they stay in the history).
pub fn history(image: &Image) -> Option<Finding> {
    let env = image.config.env.as_deref().unwrap_or_default();
    let mut layer = 0;
    let mut found = Vec::new();
    for (index, step) in image.history.iter().enumerate() {
        let (instruction, command) = instruction(step);
        let mut hits = secrets::formats(command.as_bytes());
        hits.extend(secrets::command_assignments(command));
        if instruction == "ENV" {
            // An ENV still in force is reported once, with the environment.
            hits.retain(|hit| !env_holds(env, hit));
        }
        for hit in dedupe(hits) {
            let at = if step.empty_layer {
                format!("history step {} ({instruction}, no layer)", index + 1)
            } else {
                format!("history step {} ({instruction}, layer {layer})", index + 1)
            };
            found.push(format!("{at}: {} {}", hit.kind, hit.fingerprint));
        }
        if !step.empty_layer {
            layer += 1;
        }
    }
    (!found.is_empty()).then(|| {
        Finding::new(
            "secrets.history",
            Severity::High,
            "Secrets in the commands that built the image (docker history shows them)",
        )
        .evidence_all(found)
        .fix("Rotate the secret. Pass build secrets with `RUN --mount=type=secret` (BuildKit), never as ARG, ENV or on a RUN line")
    })
}

/// Whether the config's environment holds the value a hit names.
fn env_holds(env: &[String], hit: &Hit) -> bool {
    env.iter().any(|variable| {
        let (name, value) = variable.split_once('=').unwrap_or((variable, ""));
        secrets::setting(name, value)
            .iter()
            .any(|found| found.fingerprint == hit.fingerprint)
    })
}

fn dedupe(mut hits: Vec<Hit>) -> Vec<Hit> {
    let mut seen = std::collections::HashSet::new();
    hits.retain(|hit| seen.insert(hit.fingerprint.clone()));
    hits
}

/// The Dockerfile instruction of a step and the rest of its line, from the classic
/// builder's `/bin/sh -c #(nop)  ENV ...` or BuildKit's `ENV ...` and `RUN |1 A=b ...`.
pub fn instruction(step: &Step) -> (&'static str, &str) {
    let line = step.created_by.trim();
    if line.is_empty() {
        // An imported filesystem (`docker import`) has no command.
        return ("IMPORT", line);
    }
    // The classic builder runs configuration steps through the image's SHELL as
    // `<shell> -c #(nop) ENV ...`, whatever that shell is.
    let (nop, line) = match line.find("#(nop)") {
        Some(at) if at < 64 && line[..at].trim_end().ends_with(" -c") => {
            (true, line[at + "#(nop)".len()..].trim_start())
        }
        _ => (false, line.strip_prefix("/bin/sh -c ").unwrap_or(line)),
    };
    const KNOWN: [&str; 14] = [
        "RUN",
        "ENV",
        "ARG",
        "COPY",
        "ADD",
        "USER",
        "CMD",
        "ENTRYPOINT",
        "WORKDIR",
        "EXPOSE",
        "LABEL",
        "HEALTHCHECK",
        "VOLUME",
        "SHELL",
    ];
    for name in KNOWN {
        if let Some(rest) = line.strip_prefix(name)
            && rest.starts_with([' ', '\t'])
        {
            return (name, rest.trim_start());
        }
    }
    // The classic builder records RUN as the bare shell command.
    if nop { ("OTHER", line) } else { ("RUN", line) }
}

/// No HEALTHCHECK (or `HEALTHCHECK NONE`): the engine cannot tell a hung service from a
/// healthy one unless the orchestrator probes it.
pub fn healthcheck(image: &Image) -> Option<Finding> {
    let test = image
        .config
        .healthcheck
        .as_ref()
        .and_then(|check| check.test.as_ref());
    let none = match test {
        None => "the config has no Healthcheck".to_owned(),
        Some(test) if test.first().is_some_and(|first| first == "NONE") => {
            "the config's Healthcheck is NONE".to_owned()
        }
        Some(_) => return None,
    };
    Some(
        Finding::new("healthcheck.missing", Severity::Low, "No HEALTHCHECK")
            .evidence(none)
            .fix("Add HEALTHCHECK to the Dockerfile, or probe the service from the orchestrator (compose healthcheck, Kubernetes readiness and liveness probes)"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::model::{Config, Healthcheck};

    const CANARY: &str = "CANARY-9b7c-image-config";

    fn image(config: Config, history: &[(&str, bool)]) -> Image {
        Image {
            tags: vec![],
            config,
            history: history
                .iter()
                .map(|(line, empty)| Step {
                    created_by: (*line).to_owned(),
                    empty_layer: *empty,
                })
                .collect(),
            layer_sizes: vec![],
            layered: Default::default(),
        }
    }

    #[test]
    fn root_is_no_user_uid_zero_or_the_name_root() {
        for user in [None, Some(""), Some("0"), Some("root:root"), Some("0:0")] {
            let config = Config {
                user: user.map(str::to_owned),
                ..Config::default()
            };
            assert!(root_user(&image(config, &[])).is_some(), "{user:?}");
        }
        let config = Config {
            user: Some("10001:10001".into()),
            ..Config::default()
        };
        assert!(root_user(&image(config, &[])).is_none());
    }

    #[test]
    fn secrets_in_env_and_run_lines_are_found_by_name_and_fingerprint_only() {
        let config = Config {
            env: Some(vec![
                "PATH=/usr/bin".into(),
                format!("DB_PASSWORD={CANARY}"),
                "DB_PASSWORD_FILE=/run/secrets/db".into(),
            ]),
            ..Config::default()
        };
        let image = image(
            config,
            &[
                ("/bin/sh -c #(nop) ADD file:abc in / ", false),
                (
                    &format!("/bin/sh -c #(nop)  ENV DB_PASSWORD={CANARY}"),
                    true,
                ),
                (
                    &format!("|1 API_TOKEN={CANARY}x /bin/sh -c curl -H x https://example.com"),
                    false,
                ),
                ("RUN /bin/sh -c echo API_KEY=abcd1234efgh # buildkit", false),
            ],
        );
        let env = environment(&image).expect("a finding");
        assert_eq!(
            env.evidence,
            [format!(
                "Env DB_PASSWORD: a value {}",
                secrets::fingerprint(CANARY.as_bytes())
            )]
        );
        let history = history(&image).expect("a finding");
        assert_eq!(history.evidence.len(), 2, "{history:?}");
        assert!(
            history.evidence[0].starts_with("history step 3 (RUN, layer 1): a value for API_TOKEN")
        );
        assert!(
            history.evidence[1].starts_with("history step 4 (RUN, layer 2): a value for API_KEY")
        );
        assert!(!format!("{env:?}{history:?}").contains(CANARY));
    }

    #[test]
    fn secrets_in_the_command_and_labels_are_found_and_redacted() {
        let words = |list: &[&str]| list.iter().map(|w| (*w).to_owned()).collect::<Vec<_>>();
        let config = Config {
            entrypoint: Some(words(&["/app", "--db-password", CANARY, "--port", "8080"])),
            cmd: Some(words(&[&format!("--api-token={CANARY}"), "--verbose"])),
            labels: Some(
                [
                    ("maintainer".to_owned(), "shop@example.com".to_owned()),
                    ("deploy_token".to_owned(), CANARY.to_owned()),
                ]
                .into(),
            ),
            ..Config::default()
        };
        let image = image(config, &[]);
        let finding = command_and_labels(&image).expect("a finding");
        assert_eq!(finding.evidence.len(), 3, "{:?}", finding.evidence);
        let shown = redacted(image.config.entrypoint.as_deref().unwrap_or_default());
        assert_eq!(shown[..2], ["/app", "--db-password"]);
        assert!(shown[2].starts_with("<secret sha256:"));
        assert_eq!(shown[3..], ["--port", "8080"]);
        let labels = redacted_labels(&image);
        assert_eq!(labels["maintainer"], "shop@example.com");
        assert!(!format!("{finding:?}{shown:?}{labels:?}").contains(CANARY));
        let clean = Config {
            cmd: Some(words(&[
                "/msa",
                "serve",
                "users",
                "--password-min-length",
                "12",
            ])),
            ..Config::default()
        };
        assert!(command_and_labels(&super::tests::image(clean, &[])).is_none());
    }

    #[test]
    fn an_env_overwritten_later_is_still_in_the_history() {
        let config = Config {
            env: Some(vec!["DB_PASSWORD=".into()]),
            ..Config::default()
        };
        let image = image(
            config,
            &[
                (&format!("ENV DB_PASSWORD={CANARY}"), true),
                ("ENV DB_PASSWORD=", true),
            ],
        );
        assert!(environment(&image).is_none());
        let history = history(&image).expect("a finding");
        assert!(history.evidence[0].starts_with("history step 1 (ENV, no layer)"));
    }

    #[test]
    fn a_healthcheck_of_none_counts_as_none() {
        let with = |test: Option<Vec<String>>| Config {
            healthcheck: Some(Healthcheck { test }),
            ..Config::default()
        };
        assert!(healthcheck(&image(Config::default(), &[])).is_some());
        assert!(healthcheck(&image(with(Some(vec!["NONE".into()])), &[])).is_some());
        let probe = vec!["CMD".into(), "/msa".into(), "probe".into()];
        assert!(healthcheck(&image(with(Some(probe)), &[])).is_none());
    }
}
