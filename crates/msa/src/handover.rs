//! How `msa up` hands each child the settings it reads, without a second list of them.
//!
//! A child is `msa serve <service>`, whose settings are the same clap structs `msa up`
//! flattens, so every argument has the same id in both. For each argument the child
//! declares, what the operator gave on `msa up`'s command line is passed on in the form
//! clap reads back: `--name=value` per value, `--name` for a switch. What came from the
//! environment reaches the child by inheritance, and a default is the child's own default.
//! Two kinds of argument take another path: a secret (one whose environment value is
//! hidden, such as a database URL) never travels on a command line, where every user of
//! the machine can read it, but in the child's environment, and only its own; and the few
//! values `msa up` decides itself (where the other children listen, the public keys it
//! derived) are passed unless the operator gave them.

use std::collections::BTreeMap;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory};

use crate::settings::{Role, UpSettings};

/// The command line and environment changes of one child process.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Invocation {
    /// After `serve <service>`.
    pub args: Vec<String>,
    /// Secrets given to `msa up` on its command line that this child reads.
    pub set_env: BTreeMap<String, String>,
    /// Secrets of other services, inherited from `msa up`'s environment otherwise.
    pub remove_env: Vec<String>,
}

/// The values `msa up` decides itself, by argument id: the public keys, derived once here so
/// that the children need not each read (or race to create) the key files, and where each
/// service is reached, so that each finds the others where this process starts them.
pub fn decided(settings: &UpSettings) -> anyhow::Result<Vec<(&'static str, String)>> {
    let mut decided = Vec::new();
    let trust = &settings.trust;
    let none_given = trust.public_keys_file.is_none()
        && [
            &trust.gateway_public_key,
            &trust.users_public_key,
            &trust.products_public_key,
            &trust.orders_public_key,
        ]
        .iter()
        .all(|key| key.is_none());
    // With nothing configured, the children read the public keys from a file of this data
    // directory, which `msa keys rotate` rewrites while they run.
    if none_given {
        let path = kit::identity::keyring::write_public_keys_file(
            &settings.place.data_dir,
            settings.public_keys()?,
        )?;
        decided.push(("public_keys_file", path.display().to_string()));
    } else {
        decided.extend(public_key_arguments(settings)?);
    }
    decided.extend([
        ("users_url", settings.url(Role::Users)),
        ("products_url", settings.url(Role::Products)),
        ("orders_url", settings.url(Role::Orders)),
    ]);
    Ok(decided)
}

/// Each process's public keys, as the arguments that give them one by one.
fn public_key_arguments(settings: &UpSettings) -> anyhow::Result<Vec<(&'static str, String)>> {
    let mut decided = Vec::new();
    for (party, key) in settings.public_keys()? {
        let id = match party {
            kit::identity::GATEWAY => "gateway_public_key",
            kit::identity::USERS => "users_public_key",
            kit::identity::PRODUCTS => "products_public_key",
            kit::identity::ORDERS => "orders_public_key",
            other => anyhow::bail!("BUG: no argument takes the public key of {other}"),
        };
        decided.push((id, key));
    }
    Ok(decided)
}

/// The clap command of `msa serve <role>`.
pub fn child_command(role: Role) -> clap::Command {
    crate::Cli::command()
        .find_subcommand("serve")
        .and_then(|serve| serve.find_subcommand(role.name()))
        .cloned()
        .expect("BUG: every role is a subcommand of `msa serve`")
}

/// The clap command of `msa up`.
fn up_command() -> clap::Command {
    crate::Cli::command()
        .find_subcommand("up")
        .cloned()
        .expect("BUG: `msa up` is a subcommand")
}

/// What `role`'s child gets from `given` (the matches of `msa up`), with `decided`
/// (argument id, value) filling in what the operator did not give.
pub fn invocation(given: &ArgMatches, role: Role, decided: &[(&str, String)]) -> Invocation {
    let up = up_command();
    let child = child_command(role);
    let mut invocation = Invocation::default();
    for arg in up.get_arguments() {
        let id = arg.get_id().as_str();
        let secret = arg.is_hide_env_values_set();
        let Some(env) = arg.get_env().map(|env| env.to_string_lossy().into_owned()) else {
            continue;
        };
        if secret && child.get_arguments().all(|own| own.get_id() != id) {
            invocation.remove_env.push(env);
        }
    }
    for arg in child.get_arguments() {
        let id = arg.get_id().as_str();
        let Some(long) = arg.get_long() else {
            continue;
        };
        let source = given
            .try_get_raw(id)
            .ok()
            .flatten()
            .and_then(|_| given.value_source(id));
        match source {
            Some(ValueSource::CommandLine) => {}
            // The child inherits the environment, and has the same defaults.
            Some(_) => continue,
            None => {
                if let Some((_, value)) = decided.iter().find(|(decided, _)| *decided == id) {
                    invocation.args.push(format!("--{long}={value}"));
                }
                continue;
            }
        }
        let values: Vec<String> = given
            .get_raw(id)
            .into_iter()
            .flatten()
            .map(|value| value.to_string_lossy().into_owned())
            .collect();
        if !arg.get_action().takes_values() {
            invocation.args.push(format!("--{long}"));
        } else if arg.is_hide_env_values_set() {
            if let (Some(env), Some(value)) = (arg.get_env(), values.last()) {
                invocation
                    .set_env
                    .insert(env.to_string_lossy().into_owned(), value.clone());
            }
        } else {
            invocation
                .args
                .extend(values.iter().map(|value| format!("--{long}={value}")));
        }
    }
    invocation
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, FromArgMatches};

    use super::*;
    use crate::Cli;
    use crate::serve::Service;
    use crate::settings::UpSettings;

    /// A value unlike its default for every argument of `msa up` (`None`: a switch). The
    /// database URLs and their files exclude each other, so each run takes one of them.
    const GIVEN: &[(&str, Option<&str>)] = &[
        ("host", Some("127.0.0.2")),
        ("data-dir", Some("/tmp/msa-handover-test")),
        ("production", None),
        ("log-level", Some("debug")),
        ("log-format", Some("json")),
        ("users-port", Some("6001")),
        ("products-port", Some("6002")),
        ("orders-port", Some("6003")),
        ("orders-shared-database", None),
        ("recovery-interval-s", Some("7")),
        ("orders-key-file", Some("/run/secrets/orders.key")),
        ("gateway-port", Some("6080")),
        ("tls-port", Some("6443")),
        ("no-tls", None),
        ("plain-http", Some("redirect")),
        ("tls-cert-file", Some("/tls/cert.pem")),
        ("tls-key-file", Some("/tls/key.pem")),
        ("tls-names", Some("shop.example.com,api.example.com")),
        ("gateway-key-file", Some("/run/secrets/gateway.key")),
        ("users-key-file", Some("/run/secrets/users.key")),
        ("products-key-file", Some("/run/secrets/products.key")),
        ("session-idle-minutes", Some("9")),
        ("session-lifetime-hours", Some("3")),
        ("rate-per-address", Some("77")),
        ("rate-per-key", Some("7")),
        ("security-events-days", Some("30")),
        ("security-events-max", Some("5000")),
        ("trusted-proxies", Some("10.0.0.0/8,::1/128")),
        ("cors-origins", Some("https://shop.example.com")),
        ("database-max-connections", Some("3")),
        ("internal-tls-dir", Some("/run/secrets/internal-tls")),
        ("internal-tls-ca-file", Some("/run/secrets/internal_ca")),
        ("internal-tls-cert-file", Some("/run/secrets/tls_cert")),
        ("internal-tls-key-file", Some("/run/secrets/tls_key")),
        ("max-in-flight", Some("33")),
        ("shutdown-delay-ms", Some("1500")),
        ("header-timeout-ms", Some("7000")),
        ("body-timeout-ms", Some("21000")),
        ("max-body-memory-mb", Some("48")),
        ("idle-timeout-ms", Some("45000")),
        ("max-connections", Some("3000")),
        ("max-connections-per-client", Some("99")),
        ("max-in-flight-per-client", Some("77")),
        ("http2-max-streams", Some("64")),
        ("otlp-endpoint", Some("http://collector:4318")),
        ("call-timeout-ms", Some("1234")),
        ("call-retries", Some("4")),
        ("call-backoff-ms", Some("11")),
        ("retry-budget-percent", Some("30")),
        ("breaker-failures", Some("8")),
        ("breaker-cooldown-ms", Some("900")),
        ("max-upstream-calls", Some("99")),
        ("users-url", Some("http://users:5001")),
        ("products-url", Some("http://products:5002")),
        ("orders-url", Some("http://orders:5003")),
    ];

    /// The public keys one by one, or (below) in one file: the two exclude each other.
    const PUBLIC_KEYS: &[(&str, Option<&str>)] = &[
        (
            "gateway-public-key",
            Some("R_ya_mFu7iMrc-y5INbfz0st_-Fx2E0omNFHJuN2i40"),
        ),
        (
            "orders-public-key",
            Some("TriBxyu32sibJFnBE6SPQK9AOT1mFLlbExjWvA_elOM"),
        ),
        (
            "users-public-key",
            Some("ZkZ2QlEa0IkXtNdGD4Z2nQ2J3vS3b7nQ0mJ9nZ7lE2M"),
        ),
        (
            "products-public-key",
            Some("q3NnF0dUcbbg3-8mbq4R0oQxjKQIl1eG4m0mKjNlq2A"),
        ),
    ];

    const PUBLIC_KEYS_FILE: &[(&str, Option<&str>)] =
        &[("public-keys-file", Some("/run/config/public-keys"))];

    /// Mutual TLS off, which excludes a directory of its files.
    const PLAIN: &[(&str, Option<&str>)] = &[("no-internal-tls", None)];

    const URLS: &[(&str, Option<&str>)] = &[
        ("users-database-url", Some("postgres://u:secret-u@db/users")),
        (
            "products-database-url",
            Some("postgres://u:secret-p@db/products"),
        ),
        (
            "orders-database-url",
            Some("postgres://u:secret-o@db/orders"),
        ),
        (
            "gateway-database-url",
            Some("postgres://u:secret-g@db/gateway"),
        ),
    ];

    const URL_FILES: &[(&str, Option<&str>)] = &[
        ("users-database-url-file", Some("/run/secrets/users-db")),
        (
            "products-database-url-file",
            Some("/run/secrets/products-db"),
        ),
        ("orders-database-url-file", Some("/run/secrets/orders-db")),
        ("gateway-database-url-file", Some("/run/secrets/gateway-db")),
    ];

    fn command_line(lists: &[&[(&str, Option<&str>)]]) -> Vec<String> {
        let mut line = vec!["msa".to_owned(), "up".to_owned()];
        for (name, value) in lists.iter().flat_map(|list| list.iter()) {
            line.push(match value {
                Some(value) => format!("--{name}={value}"),
                None => format!("--{name}"),
            });
        }
        line
    }

    fn parse_up(line: &[String]) -> (UpSettings, ArgMatches) {
        let matches = Cli::command()
            .try_get_matches_from(line)
            .expect("msa up parses");
        let given = matches.subcommand_matches("up").expect("up").clone();
        let settings = UpSettings::from_arg_matches(&given).expect("up's settings");
        (settings, given)
    }

    /// The child as it parses what it was handed; secrets, handed in its environment, are
    /// put back on its command line here, where no other user can read them.
    fn parse_child(role: Role, invocation: &Invocation) -> Service {
        let up = up_command();
        let mut line = vec!["msa".to_owned(), "serve".to_owned(), role.name().to_owned()];
        line.extend(invocation.args.iter().cloned());
        for (env, value) in &invocation.set_env {
            let arg = up
                .get_arguments()
                .find(|arg| arg.get_env().is_some_and(|own| own == env.as_str()))
                .expect("a secret's variable names an argument");
            line.push(format!("--{}={value}", arg.get_long().expect("long")));
        }
        let matches = Cli::command()
            .try_get_matches_from(&line)
            .expect("the child parses");
        let serve = matches.subcommand_matches("serve").expect("serve");
        Service::from_arg_matches(serve).expect("the child's settings")
    }

    fn same(what: &str, child: &impl std::fmt::Debug, up: &impl std::fmt::Debug) {
        assert_eq!(format!("{child:?}"), format!("{up:?}"), "{what} differs");
    }

    fn assert_handed_over(up: &UpSettings, given: &ArgMatches) {
        for role in Role::ALL {
            let invocation = invocation(given, role, &[]);
            for arg in &invocation.args {
                assert!(
                    !arg.contains("secret-"),
                    "a secret on a command line: {arg}"
                );
            }
            match parse_child(role, &invocation) {
                Service::Users { log, settings } => {
                    same("log", &log, &up.log);
                    same("place", &settings.place, &up.place);
                    same("own", &settings.own, &up.users);
                    same("pool", &settings.pool, &up.pool);
                    same("trust", &settings.trust, &up.trust);
                    same("internal_tls", &settings.internal_tls, &up.internal_tls);
                    same("serving", &settings.serving, &up.serving);
                }
                Service::Products { log, settings } => {
                    same("log", &log, &up.log);
                    same("place", &settings.place, &up.place);
                    same("own", &settings.own, &up.products);
                    same("pool", &settings.pool, &up.pool);
                    same("trust", &settings.trust, &up.trust);
                    same("internal_tls", &settings.internal_tls, &up.internal_tls);
                    same("serving", &settings.serving, &up.serving);
                }
                Service::Orders { log, settings } => {
                    same("log", &log, &up.log);
                    same("place", &settings.place, &up.place);
                    same("own", &settings.own, &up.orders);
                    same("pool", &settings.pool, &up.pool);
                    same("trust", &settings.trust, &up.trust);
                    same("internal_tls", &settings.internal_tls, &up.internal_tls);
                    same("serving", &settings.serving, &up.serving);
                    same("calls", &settings.calls, &up.calls);
                    same("users", &settings.users, &up.users_at);
                    same("products", &settings.products, &up.products_at);
                }
                Service::Gateway { log, settings } => {
                    same("log", &log, &up.log);
                    same("place", &settings.place, &up.place);
                    same("own", &settings.own, &up.gateway);
                    same("pool", &settings.pool, &up.pool);
                    same("trust", &settings.trust, &up.trust);
                    same("internal_tls", &settings.internal_tls, &up.internal_tls);
                    same("serving", &settings.serving, &up.serving);
                    same("calls", &settings.calls, &up.calls);
                    same("users", &settings.users, &up.users_at);
                    same("products", &settings.products, &up.products_at);
                    same("orders", &settings.orders, &up.orders_at);
                }
            }
        }
    }

    #[test]
    fn the_test_gives_every_setting_of_up() {
        let named: Vec<&str> = [GIVEN, PUBLIC_KEYS, PUBLIC_KEYS_FILE, URLS, URL_FILES, PLAIN]
            .iter()
            .flat_map(|list| list.iter().map(|(name, _)| *name))
            .collect();
        for arg in up_command().get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            assert!(
                long == "reset" || named.contains(&long),
                "--{long} has no value in this test: add one to GIVEN"
            );
        }
    }

    #[test]
    fn every_setting_given_to_up_reaches_each_child_that_reads_it() {
        for secrets in [URLS, URL_FILES] {
            for keys in [PUBLIC_KEYS, PUBLIC_KEYS_FILE] {
                let (up, given) = parse_up(&command_line(&[GIVEN, keys, secrets]));
                assert_handed_over(&up, &given);
            }
        }
    }

    #[test]
    fn secrets_travel_in_the_environment_of_their_own_service_only() {
        let (_, given) = parse_up(&command_line(&[URLS]));
        let users = invocation(&given, Role::Users, &[]);
        assert_eq!(
            users
                .set_env
                .get("MSA_USERS_DATABASE_URL")
                .map(String::as_str),
            Some("postgres://u:secret-u@db/users")
        );
        assert_eq!(users.set_env.len(), 1);
        for other in ["PRODUCTS", "ORDERS", "GATEWAY"] {
            let variable = format!("MSA_{other}_DATABASE_URL");
            assert!(
                users.remove_env.contains(&variable),
                "{variable} is inherited"
            );
        }
        assert!(
            !users
                .remove_env
                .contains(&"MSA_USERS_DATABASE_URL".to_owned())
        );
    }

    #[test]
    fn what_msa_up_decides_names_arguments_that_exist() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data_dir = dir.path().display().to_string();
        let (up, _) = parse_up(&command_line(&[&[("data-dir", Some(data_dir.as_str()))]]));
        let command = up_command();
        let from_file = decided(&up).expect("keys are derived");
        // The public keys file, and where the three services are.
        assert_eq!(from_file.len(), 4);
        let file = kit::identity::keyring::public_keys_file(dir.path());
        let written = std::fs::read(&file).expect("the public keys file is written");
        let keys = kit::identity::keyring::parse_public_keys(&written).expect("it parses");
        assert_eq!(keys.iter().count(), 4, "one line per process");
        let (up, _) = parse_up(&command_line(&[
            &[("data-dir", Some(data_dir.as_str()))],
            &PUBLIC_KEYS[..1],
        ]));
        // A key given by the operator: the others are decided one by one, as before.
        let one_by_one = decided(&up).expect("keys are derived");
        assert_eq!(one_by_one.len(), 7);
        for (id, _) in from_file.into_iter().chain(one_by_one) {
            assert!(
                command.get_arguments().any(|arg| arg.get_id() == id),
                "msa up decides `{id}`, which no argument has"
            );
        }
    }

    #[test]
    fn decided_values_fill_in_only_what_the_operator_did_not_give() {
        let decided = [("users_url", "http://127.0.0.1:7001".to_owned())];
        let (_, given) = parse_up(&command_line(&[]));
        let orders = invocation(&given, Role::Orders, &decided);
        assert_eq!(orders.args, ["--users-url=http://127.0.0.1:7001"]);
        // user-service does not call itself: it is not told where it is.
        assert!(invocation(&given, Role::Users, &decided).args.is_empty());
        let (_, given) = parse_up(&command_line(&[&[(
            "users-url",
            Some("http://users:5001"),
        )]]));
        let orders = invocation(&given, Role::Orders, &decided);
        assert_eq!(orders.args, ["--users-url=http://users:5001"]);
    }
}
