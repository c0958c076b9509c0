//! Web servers set up to tell every client their version: Apache's `ServerTokens` and
//! `ServerSignature`, nginx's `server_tokens`, PHP's `expose_php`. Each is read from the
//! server's own configuration files in the image, with the server's default where nothing
//! sets it (Apache and nginx advertise by default, and so does PHP without a php.ini).

use crate::report::{Finding, Severity};

use super::layers::{Entry, Layered};

/// The directives that set a server's banner, in the files of the image that configure it.
struct Server {
    name: &'static str,
    binaries: &'static [&'static str],
    config_under: &'static [&'static str],
    config_ends: &'static [&'static str],
}

const APACHE: Server = Server {
    name: "Apache httpd",
    binaries: &[
        "usr/sbin/apache2",
        "usr/sbin/httpd",
        "usr/local/apache2/bin/httpd",
    ],
    config_under: &["etc/apache2/", "etc/httpd/", "usr/local/apache2/conf/"],
    config_ends: &[".conf"],
};

const NGINX: Server = Server {
    name: "nginx",
    binaries: &["usr/sbin/nginx", "usr/local/nginx/sbin/nginx"],
    config_under: &["etc/nginx/", "usr/local/nginx/conf/"],
    config_ends: &[".conf"],
};

const PHP: Server = Server {
    name: "PHP",
    binaries: &[
        "usr/local/bin/php",
        "usr/bin/php",
        "usr/local/sbin/php-fpm",
        "usr/sbin/php-fpm",
    ],
    config_under: &[
        "usr/local/etc/php/",
        "etc/php/",
        "etc/php.ini",
        "etc/php.d/",
    ],
    config_ends: &[".ini"],
};

impl Server {
    fn present<'a>(&self, layered: &'a Layered) -> Option<&'a Entry> {
        self.binaries
            .iter()
            .find_map(|path| layered.files.get(*path))
            .or_else(|| {
                // Debian's versioned PHP binaries: /usr/bin/php8.2, /usr/sbin/php-fpm8.2.
                layered.files.values().find(|entry| {
                    self.name == "PHP"
                        && (entry.path.starts_with("usr/bin/php")
                            || entry.path.starts_with("usr/sbin/php-fpm"))
                        && entry.path[entry.path.rfind('/').map_or(0, |at| at + 1)..]
                            .trim_start_matches("php-fpm")
                            .trim_start_matches("php")
                            .chars()
                            .all(|c| c.is_ascii_digit() || c == '.')
                })
            })
    }

    /// The last value each directive (matched without case) gets, with the file that set
    /// it; comments skipped, PHP's `name = value` and Apache's `Name value` alike.
    fn directive(&self, layered: &Layered, name: &str) -> Option<(String, String)> {
        let mut found = None;
        for entry in layered.files.values() {
            let configures = self
                .config_under
                .iter()
                .any(|under| entry.path.starts_with(under))
                && self.config_ends.iter().any(|end| entry.path.ends_with(end));
            if !configures {
                continue;
            }
            for line in String::from_utf8_lossy(&entry.head).lines() {
                let line = line.trim();
                if line.starts_with('#') || line.starts_with(';') {
                    continue;
                }
                let Some(rest) = line
                    .get(..name.len())
                    .filter(|start| start.eq_ignore_ascii_case(name))
                    .map(|_| &line[name.len()..])
                else {
                    continue;
                };
                if !rest.starts_with([' ', '\t', '=']) {
                    continue;
                }
                let value = rest
                    .trim_start_matches([' ', '\t', '='])
                    .trim_end_matches(';')
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_owned();
                found = Some((value, format!("/{}", entry.path)));
            }
        }
        found
    }
}

/// Servers that advertise their version. Raised to medium when the image's OS or runtime is
/// past its end of life: then the banner tells an attacker which known flaws to try.
pub fn findings(layered: &Layered, end_of_life: bool) -> Option<Finding> {
    let mut found = Vec::new();
    if let Some(binary) = APACHE.present(layered) {
        let at = format!("/{}", binary.path);
        match APACHE.directive(layered, "ServerTokens") {
            Some((value, file))
                if !matches!(value.to_ascii_lowercase().as_str(), "prod" | "productonly") =>
            {
                found.push(format!("{}: ServerTokens {value} in {file}", APACHE.name));
            }
            None => found.push(format!(
                "{} ({at}): no ServerTokens, so the default Full (version, OS and modules)",
                APACHE.name
            )),
            Some(_) => {}
        }
        if let Some((value, file)) = APACHE.directive(layered, "ServerSignature")
            && !value.eq_ignore_ascii_case("off")
        {
            found.push(format!(
                "{}: ServerSignature {value} in {file}",
                APACHE.name
            ));
        }
    }
    if let Some(binary) = NGINX.present(layered) {
        match NGINX.directive(layered, "server_tokens") {
            Some((value, _)) if value.eq_ignore_ascii_case("off") => {}
            Some((value, file)) => {
                found.push(format!("{}: server_tokens {value} in {file}", NGINX.name));
            }
            None => found.push(format!(
                "{} (/{}): no server_tokens, so the default on (version in Server and error pages)",
                NGINX.name, binary.path
            )),
        }
    }
    if let Some(binary) = PHP.present(layered) {
        match PHP.directive(layered, "expose_php") {
            Some((value, _))
                if matches!(
                    value.to_ascii_lowercase().as_str(),
                    "off" | "0" | "false" | "no"
                ) => {}
            Some((value, file)) => {
                found.push(format!(
                    "{}: expose_php = {value} in {file} (X-Powered-By)",
                    PHP.name
                ));
            }
            None => found.push(format!(
                "{} (/{}): no expose_php, so the default On (X-Powered-By)",
                PHP.name, binary.path
            )),
        }
    }
    (!found.is_empty()).then(|| {
        let (severity, title) = if end_of_life {
            (
                Severity::Medium,
                "Web servers advertise their version, on an end-of-life system",
            )
        } else {
            (Severity::Low, "Web servers advertise their version")
        };
        Finding::new("banner.version", severity, title)
            .evidence_all(found)
            .fix("Set `ServerTokens Prod` and `ServerSignature Off` (Apache), `server_tokens off;` (nginx), `expose_php = Off` (PHP)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::layers::Kind;

    fn layered(files: &[(&str, &str)]) -> Layered {
        let mut layered = Layered::default();
        for (path, text) in files {
            layered.files.insert(
                (*path).to_owned(),
                Entry {
                    path: (*path).to_owned(),
                    layer: 0,
                    kind: Kind::File,
                    size: text.len() as u64,
                    mode: 0o644,
                    uid: 0,
                    head: text.as_bytes().to_vec(),
                    removed_by: None,
                    dependencies: None,
                    found: Vec::new(),
                },
            );
        }
        layered
    }

    #[test]
    fn debians_apache_defaults_advertise_and_prod_does_not() {
        let debian = layered(&[
            ("usr/sbin/apache2", "ELF"),
            (
                "etc/apache2/conf-available/security.conf",
                "#ServerTokens Minimal\nServerTokens OS\nServerSignature On\n",
            ),
        ]);
        let finding = findings(&debian, false).expect("a finding");
        assert_eq!(finding.severity, Severity::Low);
        assert_eq!(
            finding.evidence,
            [
                "Apache httpd: ServerTokens OS in /etc/apache2/conf-available/security.conf",
                "Apache httpd: ServerSignature On in /etc/apache2/conf-available/security.conf"
            ]
        );
        let hardened = layered(&[
            ("usr/sbin/apache2", "ELF"),
            (
                "etc/apache2/conf-available/security.conf",
                "ServerTokens Prod\nServerSignature Off\n",
            ),
        ]);
        assert!(findings(&hardened, true).is_none());
    }

    #[test]
    fn nginx_and_php_advertise_unless_told_not_to_and_more_loudly_on_an_old_system() {
        let defaults = layered(&[
            ("usr/sbin/nginx", "ELF"),
            (
                "etc/nginx/nginx.conf",
                "http {\n  # server_tokens off;\n}\n",
            ),
            ("usr/bin/php8.2", "ELF"),
        ]);
        let finding = findings(&defaults, true).expect("a finding");
        assert_eq!(finding.severity, Severity::Medium);
        assert_eq!(finding.evidence.len(), 2, "{:?}", finding.evidence);
        let quiet = layered(&[
            ("usr/sbin/nginx", "ELF"),
            ("etc/nginx/conf.d/security.conf", "server_tokens off;\n"),
            ("usr/local/bin/php", "ELF"),
            ("usr/local/etc/php/conf.d/x.ini", "expose_php = Off\n"),
        ]);
        assert!(findings(&quiet, true).is_none());
        assert!(findings(&layered(&[("msa", "ELF")]), true).is_none());
    }
}
