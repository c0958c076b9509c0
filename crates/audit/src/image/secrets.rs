//! Recognising secrets in text without ever keeping them: each hit is a kind and a short
//! fingerprint (the first 8 hex digits of the value's SHA-256), enough to tell two hits
//! apart or match one against a known secret, never enough to use it.
//!
//! [`formats`] finds what has a shape of its own wherever it is (private keys, the tokens
//! of cloud and code hosts, URLs with a password); [`assignments`] finds `name = value`
//! lines whose name says secret, for configuration files, `.env` files and build commands.

use sha2::{Digest, Sha256};

/// One secret found: what it is, where in the text (line, from 1), and its fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub kind: String,
    pub line: usize,
    pub fingerprint: String,
}

/// `sha256:` and the first 8 hex digits of the value's SHA-256.
pub fn fingerprint(value: &[u8]) -> String {
    let digest = Sha256::digest(value);
    let hex: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Token formats: a fixed prefix, then characters of one class, at least `min` of them.
struct Token {
    kind: &'static str,
    prefix: &'static str,
    class: fn(u8) -> bool,
    min: usize,
    max: usize,
}

fn alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}
fn upper_digit(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit()
}
fn url_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}
fn alnum_underscore(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The formats the providers document for their secrets (and secret scanners match).
const TOKENS: &[Token] = &[
    Token {
        kind: "AWS access key id",
        prefix: "AKIA",
        class: upper_digit,
        min: 16,
        max: 16,
    },
    Token {
        kind: "AWS temporary access key id",
        prefix: "ASIA",
        class: upper_digit,
        min: 16,
        max: 16,
    },
    Token {
        kind: "GitHub personal access token",
        prefix: "ghp_",
        class: alnum,
        min: 36,
        max: 36,
    },
    Token {
        kind: "GitHub OAuth token",
        prefix: "gho_",
        class: alnum,
        min: 36,
        max: 36,
    },
    Token {
        kind: "GitHub app token",
        prefix: "ghs_",
        class: alnum,
        min: 36,
        max: 36,
    },
    Token {
        kind: "GitHub user-to-server token",
        prefix: "ghu_",
        class: alnum,
        min: 36,
        max: 36,
    },
    Token {
        kind: "GitHub refresh token",
        prefix: "ghr_",
        class: alnum,
        min: 36,
        max: 36,
    },
    Token {
        kind: "GitHub fine-grained token",
        prefix: "github_pat_",
        class: alnum_underscore,
        min: 82,
        max: 82,
    },
    Token {
        kind: "GitLab personal access token",
        prefix: "glpat-",
        class: url_safe,
        min: 20,
        max: 64,
    },
    Token {
        kind: "Slack bot token",
        prefix: "xoxb-",
        class: url_safe,
        min: 20,
        max: 255,
    },
    Token {
        kind: "Slack user token",
        prefix: "xoxp-",
        class: url_safe,
        min: 20,
        max: 255,
    },
    Token {
        kind: "Google API key",
        prefix: "AIza",
        class: url_safe,
        min: 35,
        max: 35,
    },
    Token {
        kind: "Stripe secret key",
        prefix: "sk_live_",
        class: alnum,
        min: 24,
        max: 255,
    },
    Token {
        kind: "Stripe restricted key",
        prefix: "rk_live_",
        class: alnum,
        min: 24,
        max: 255,
    },
    Token {
        kind: "npm access token",
        prefix: "npm_",
        class: alnum,
        min: 36,
        max: 36,
    },
    Token {
        kind: "PyPI API token",
        prefix: "pypi-AgEIcHlwaS5vcmc",
        class: url_safe,
        min: 50,
        max: 512,
    },
    Token {
        kind: "Docker Hub access token",
        prefix: "dckr_pat_",
        class: url_safe,
        min: 27,
        max: 64,
    },
];

/// Schemes of database and broker URLs that carry a user and password.
const DATABASE_SCHEMES: &[&str] = &[
    "postgres",
    "postgresql",
    "mysql",
    "mariadb",
    "mongodb",
    "mongodb+srv",
    "redis",
    "rediss",
    "amqp",
    "amqps",
    "mssql",
    "sqlserver",
];

/// Secrets with a shape of their own anywhere in `text`: private keys, provider tokens and
/// database URLs with a password.
pub fn formats(text: &[u8]) -> Vec<Hit> {
    let mut hits = Vec::new();
    private_keys(text, &mut hits);
    tokens(text, &mut hits);
    database_urls(text, &mut hits);
    hits.sort_by_key(|hit| hit.line);
    hits
}

fn line_of(text: &[u8], at: usize) -> usize {
    text[..at].iter().filter(|b| **b == b'\n').count() + 1
}

fn find_all<'a>(text: &'a [u8], needle: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
    memchr::memmem::find_iter(text, needle)
}

fn private_keys(text: &[u8], hits: &mut Vec<Hit>) {
    for at in find_all(text, b"-----BEGIN ") {
        let label_start = at + b"-----BEGIN ".len();
        let Some(label_len) = text[label_start..].iter().take(40).position(|b| *b == b'-') else {
            continue;
        };
        let label = &text[label_start..label_start + label_len];
        if !label.ends_with(b"PRIVATE KEY") {
            continue;
        }
        // A key has a body: the label's line ends, then (after an encrypted PEM's headers)
        // a line of base64. A constant naming the label in code has none.
        if !has_key_body(&text[label_start + label_len..]) {
            continue;
        }
        let kind = match label {
            b"OPENSSH PRIVATE KEY" => "OpenSSH private key",
            b"RSA PRIVATE KEY" => "RSA private key (PEM)",
            b"EC PRIVATE KEY" => "EC private key (PEM)",
            b"DSA PRIVATE KEY" => "DSA private key (PEM)",
            b"ENCRYPTED PRIVATE KEY" => "encrypted private key (PEM)",
            _ => "private key (PEM)",
        };
        // The key's body, up to its END line (or as far as the kept text goes).
        let body_end = find_all(&text[label_start..], b"-----END ")
            .next()
            .map_or(text.len(), |end| label_start + end);
        hits.push(Hit {
            kind: kind.to_owned(),
            line: line_of(text, at),
            fingerprint: fingerprint(&text[at..body_end]),
        });
    }
    for at in find_all(text, b"PuTTY-User-Key-File-") {
        if at == 0 || text[at - 1] == b'\n' {
            let end = text.len().min(at + 4096);
            hits.push(Hit {
                kind: "PuTTY private key".to_owned(),
                line: line_of(text, at),
                fingerprint: fingerprint(&text[at..end]),
            });
        }
    }
}

/// Whether what follows a BEGIN label is `-----`, a line break and a base64 line of a
/// key's width (PEM headers such as `Proc-Type:` skipped).
fn has_key_body(after_label: &[u8]) -> bool {
    let Some(rest) = after_label.strip_prefix(b"-----") else {
        return false;
    };
    let mut lines = rest
        .split(|b| *b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line));
    if lines.next().is_none_or(|end| !end.trim_ascii().is_empty()) {
        return false;
    }
    lines
        .take(4)
        .map(<[u8]>::trim_ascii)
        .find(|line| !line.is_empty() && !line.contains(&b':'))
        .is_some_and(|line| {
            line.len() >= 40
                && line
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(b))
        })
}

fn tokens(text: &[u8], hits: &mut Vec<Hit>) {
    for token in TOKENS {
        for at in find_all(text, token.prefix.as_bytes()) {
            if at > 0 && url_safe(text[at - 1]) {
                continue;
            }
            let body_start = at + token.prefix.len();
            let body = text[body_start..]
                .iter()
                .take(token.max + 1)
                .take_while(|b| (token.class)(**b))
                .count();
            if body < token.min || body > token.max {
                continue;
            }
            let value = &text[at..body_start + body];
            // The providers' own documentation examples (AKIAIOSFODNN7EXAMPLE) are no leak.
            if find_all(value, b"EXAMPLE").next().is_some() {
                continue;
            }
            hits.push(Hit {
                kind: token.kind.to_owned(),
                line: line_of(text, at),
                fingerprint: fingerprint(value),
            });
        }
    }
}

fn database_urls(text: &[u8], hits: &mut Vec<Hit>) {
    for at in find_all(text, b"://") {
        let scheme_start = text[..at]
            .iter()
            .rposition(|b| !(b.is_ascii_alphanumeric() || *b == b'+'))
            .map_or(0, |p| p + 1);
        let Ok(scheme) = std::str::from_utf8(&text[scheme_start..at]) else {
            continue;
        };
        let scheme = scheme.to_ascii_lowercase();
        if !DATABASE_SCHEMES.contains(&scheme.as_str()) {
            continue;
        }
        let rest = &text[at + 3..];
        let authority_len = rest
            .iter()
            .take(512)
            .position(|b| b"/?# \t\r\n\"'`<>".contains(b))
            .unwrap_or(rest.len().min(512));
        let authority = &rest[..authority_len];
        let Some(at_sign) = authority.iter().rposition(|b| *b == b'@') else {
            continue;
        };
        let userinfo = &authority[..at_sign];
        let Some(colon) = userinfo.iter().position(|b| *b == b':') else {
            continue;
        };
        let password = &userinfo[colon + 1..];
        if is_placeholder(password) {
            continue;
        }
        hits.push(Hit {
            kind: format!("{scheme} URL with a password"),
            line: line_of(text, at),
            fingerprint: fingerprint(password),
        });
    }
}

/// A value that stands for a secret rather than being one: empty, a variable, a template.
fn is_placeholder(value: &[u8]) -> bool {
    let value = value.trim_ascii();
    value.is_empty()
        || value.starts_with(b"$")
        || value.starts_with(b"{")
        || value.starts_with(b"<")
        || value.starts_with(b"%")
        || value.starts_with(b"[")
        || value.iter().all(|b| *b == b'*' || *b == b'x' || *b == b'X')
}

/// Whether a setting's name says it holds a secret: a word (or pair of words) of the name
/// is one that means a secret, and no word says it only points at one (a file, a path).
pub fn secret_name(name: &str) -> bool {
    let words = words(name);
    let has = |word: &str| words.iter().any(|w| w == word);
    let pair = |a: &str, b: &str| words.windows(2).any(|w| w[0] == a && w[1] == b);
    let secretive = [
        "password",
        "passwd",
        "pwd",
        "secret",
        "token",
        "apikey",
        "passphrase",
    ]
    .iter()
    .any(|word| has(word))
        || pair("api", "key")
        || pair("private", "key")
        || pair("secret", "key")
        || pair("access", "key")
        || pair("auth", "key")
        || pair("signing", "key")
        || pair("encryption", "key")
        || has("credentials");
    let pointer = [
        "file", "path", "dir", "location", "url", "public", "id", "name", "length", "len", "type",
        "min", "max", "expiry", "ttl", "header", "field", "env", "policy",
    ]
    .iter()
    .any(|word| words.last().is_some_and(|last| last == word));
    // `passwd` alone names the account database (nsswitch.conf's `passwd: files`), not a
    // password; `db_passwd` does.
    let database = words == ["passwd"];
    secretive && !pointer && !database
}

/// The words of a name: split at anything not a letter or digit, and at camelCase humps.
fn words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut previous_lower = false;
    for c in name.chars() {
        if !c.is_ascii_alphanumeric() {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            previous_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && previous_lower && !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
        previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        word.push(c.to_ascii_lowercase());
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// Words that are no secret when they are the whole value.
const NOT_VALUES: &[&str] = &[
    "true",
    "false",
    "yes",
    "no",
    "on",
    "off",
    "null",
    "none",
    "nil",
    "required",
    "optional",
    "disabled",
    "enabled",
    "undefined",
    "secret",
    "password",
    "token",
    "empty",
    "redacted",
];

/// A setting's value without the quotes and separators around it, as it is fingerprinted.
fn unquoted(value: &str) -> &str {
    value.trim().trim_matches(['"', '\'', ',', ';']).trim()
}

/// The secret a `name = value` setting (an environment variable, a label) holds: a value of
/// a provider's shape whatever its name, else a value that is a secret under a secret's name.
pub fn setting(name: &str, value: &str) -> Vec<Hit> {
    let hits = formats(value.as_bytes());
    if !(hits.is_empty() && secret_name(name) && secret_value(value)) {
        return hits;
    }
    vec![Hit {
        kind: "a value".into(),
        line: 1,
        fingerprint: fingerprint(unquoted(value).as_bytes()),
    }]
}

/// Whether `value`, assigned to a secret-named setting, is a secret itself rather than a
/// placeholder, a reference, a path, a switch or prose.
pub fn secret_value(value: &str) -> bool {
    let value = unquoted(value);
    value.len() >= 4
        && !is_placeholder(value.as_bytes())
        && !value.starts_with('/')
        && !value.starts_with("./")
        && !value.starts_with('~')
        && !value.chars().any(char::is_whitespace)
        && !value.chars().all(|c| c.is_ascii_digit())
        && !NOT_VALUES.contains(&value.to_ascii_lowercase().as_str())
}

/// `name = value`, `name: value`, `"name": "value"` and `export NAME=value` lines whose
/// name is a secret's and whose value is one.
pub fn assignments(text: &[u8]) -> Vec<Hit> {
    let text = String::from_utf8_lossy(text);
    let mut hits = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.starts_with('#') || line.starts_with("//") || line.starts_with(';') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some(split) = line.find(['=', ':']) else {
            continue;
        };
        let name = line[..split].trim().trim_matches(['"', '\'']);
        if name.is_empty() || name.contains(char::is_whitespace) || !secret_name(name) {
            continue;
        }
        let value = line[split + 1..].trim();
        let value = value.strip_prefix('=').unwrap_or(value);
        if secret_value(value) {
            hits.push(Hit {
                kind: format!("a value for {name}"),
                line: index + 1,
                fingerprint: fingerprint(unquoted(value).as_bytes()),
            });
        }
    }
    hits
}

/// `NAME=value` words of a shell command (build arguments, `export`, inline variables)
/// whose name is a secret's: the names and fingerprints, never the values.
pub fn command_assignments(command: &str) -> Vec<Hit> {
    command
        .split_whitespace()
        .filter_map(|word| {
            let (name, value) = word.split_once('=')?;
            let name = name.trim_start_matches(['-', '"', '\'']);
            let plain = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
            (plain && secret_name(name) && secret_value(value)).then(|| Hit {
                kind: format!("a value for {name}"),
                line: 1,
                fingerprint: fingerprint(unquoted(value).as_bytes()),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANARY: &str = "CANARY-4f1d2e9a-never-print";

    fn kinds(hits: &[Hit]) -> Vec<&str> {
        hits.iter().map(|hit| hit.kind.as_str()).collect()
    }

    #[test]
    fn private_keys_of_every_format_are_found_and_certificates_are_not() {
        let body = |first: &str| format!("{first}{}", "A".repeat(60));
        let text = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n\
             _SK_START = b\"-----BEGIN OPENSSH PRIVATE KEY-----\"\n_SK_END = b\"\"\n\
             -----BEGIN OPENSSH PRIVATE KEY-----\n{}\n-----END OPENSSH PRIVATE KEY-----\n\
             -----BEGIN RSA PRIVATE KEY-----\r\nProc-Type: 4,ENCRYPTED\r\nDEK-Info: AES\r\n\r\n{}\r\n-----END RSA PRIVATE KEY-----\n\
             -----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n\
             PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\n",
            body("MIIB"),
            body("b3Bl"),
            body("MIIE"),
            body("MC4C")
        );
        let hits = formats(text.as_bytes());
        assert_eq!(
            kinds(&hits),
            [
                "OpenSSH private key",
                "RSA private key (PEM)",
                "private key (PEM)",
                "PuTTY private key"
            ]
        );
        assert_eq!(hits[0].line, 6, "the constant in code is no key");
        assert_ne!(hits[1].fingerprint, hits[2].fingerprint);
    }

    #[test]
    fn provider_tokens_are_found_by_shape_and_their_documented_examples_are_not() {
        let github = format!("ghp_{}", "a1B2".repeat(9));
        let text = format!(
            "aws_access_key_id = AKIAQ3EGRV6ZXYW2ABCD\nexample = AKIAIOSFODNN7EXAMPLE\n\
             token: {github}\nnot = xghp_{}\nshort = ghp_abc\n",
            "a".repeat(36)
        );
        let hits = formats(text.as_bytes());
        assert_eq!(
            kinds(&hits),
            ["AWS access key id", "GitHub personal access token"]
        );
        assert_eq!(hits[1].line, 3);
        assert_eq!(hits[1].fingerprint, fingerprint(github.as_bytes()));
    }

    #[test]
    fn database_urls_count_only_with_a_real_password() {
        let text = format!(
            "DATABASE_URL=postgres://shop:{CANARY}@db:5432/shop\n\
             a = mysql://root@localhost/x\nb = redis://:${{REDIS_PASSWORD}}@cache:6379\n\
             c = https://user:pass@example.com/\n"
        );
        let hits = formats(text.as_bytes());
        assert_eq!(kinds(&hits), ["postgres URL with a password"]);
        assert_eq!(hits[0].fingerprint, fingerprint(CANARY.as_bytes()));
        assert!(!format!("{hits:?}").contains(CANARY));
    }

    #[test]
    fn secret_names_are_told_from_names_that_point_at_secrets() {
        for name in [
            "DB_PASSWORD",
            "apiKey",
            "AWS_SECRET_ACCESS_KEY",
            "client_secret",
            "GITHUB_TOKEN",
            "private_key",
            "jwtSecret",
        ] {
            assert!(secret_name(name), "{name}");
        }
        for name in [
            "DB_PASSWORD_FILE",
            "ssl_key_path",
            "PUBLIC_KEY",
            "keyboard",
            "primary_key",
            "token_url",
            "password_min_length",
            "GPG_KEY",
            "KEYMAP",
            "passwd",
        ] {
            assert!(!secret_name(name), "{name}");
        }
    }

    #[test]
    fn assignments_need_a_secret_name_and_a_secret_value() {
        let text = format!(
            "# password = commented\nDB_PASSWORD={CANARY}\nexport API_TOKEN='s3cr3t-t0ken'\n\
             \"client_secret\": \"abcdef123456\",\nSECRET_KEY_FILE=/run/secrets/key\n\
             password: ${{DB_PASSWORD}}\npassword = true\nTOKEN=\nname = password\n"
        );
        let hits = assignments(text.as_bytes());
        assert_eq!(
            kinds(&hits),
            [
                "a value for DB_PASSWORD",
                "a value for API_TOKEN",
                "a value for client_secret"
            ]
        );
        assert_eq!(hits[0].line, 2);
        assert_eq!(hits[0].fingerprint, fingerprint(CANARY.as_bytes()));
    }

    #[test]
    fn build_commands_give_their_secret_assignments_by_name_only() {
        let hits = command_assignments(&format!(
            "|2 DB_PASSWORD={CANARY} VERSION=1.2 /bin/sh -c export API_TOKEN=abc123xyz && make"
        ));
        assert_eq!(
            kinds(&hits),
            ["a value for DB_PASSWORD", "a value for API_TOKEN"]
        );
        assert!(!format!("{hits:?}").contains(CANARY));
    }
}
