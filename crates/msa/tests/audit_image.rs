//! `msa audit image` on images this test writes itself, as `docker save` archives and OCI
//! layouts (no engine needed; `deploy/test-audit-image.sh` does the same through a real
//! engine). A clean baseline, then one weakening at a time: each control must bring its own
//! finding, which the baseline lacks. A canary secret must never appear in any output.

use std::path::Path;
use std::process::Command;

const CANARY: &str = "canary-5e2b9d41-must-never-print";
/// A private key's body: base64, as keys are, and just as unprintable as the canary.
const KEY_BODY: &str = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW";

/// A file of a layer: path, contents, mode; a path ending in `/` is a directory.
type File = (&'static str, String, u32);

#[derive(Clone)]
struct Spec {
    layers: Vec<Vec<File>>,
    config: serde_json::Value,
    history: Vec<serde_json::Value>,
}

fn file(path: &'static str, contents: impl Into<String>) -> File {
    (path, contents.into(), 0o644)
}

/// The clean baseline: a static binary, an unprivileged user, a health check.
fn baseline() -> Spec {
    Spec {
        layers: vec![vec![
            ("msa", "\x7fELF static binary".into(), 0o755),
            ("data/", String::new(), 0o755),
        ]],
        config: serde_json::json!({
            "User": "10001:10001",
            "Env": ["PATH=/", "MSA_DATA_DIR=/data"],
            "Entrypoint": ["/msa"],
            "ExposedPorts": {"8443/tcp": {}},
            "Healthcheck": {"Test": ["CMD", "/msa", "probe", "https://127.0.0.1:8443/readyz"]},
        }),
        history: vec![serde_json::json!({"created_by": "COPY msa /msa # buildkit"})],
    }
}

fn tar_of(files: &[File]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, contents, mode) in files {
        let mut header = tar::Header::new_gnu();
        header.set_mode(*mode);
        if let Some(dir) = path.strip_suffix('/') {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_size(0);
            header.set_cksum();
            builder
                .append_data(&mut header, dir, std::io::empty())
                .expect("a directory");
        } else {
            header.set_size(contents.len() as u64);
            header.set_cksum();
            builder
                .append_data(&mut header, path, contents.as_bytes())
                .expect("a file");
        }
    }
    builder.into_inner().expect("a tar")
}

impl Spec {
    fn config_file(&self) -> String {
        serde_json::json!({"architecture": "amd64", "os": "linux",
                           "config": self.config, "history": self.history})
        .to_string()
    }

    /// The image as `docker save` writes it: layers first, the manifest last.
    fn save(&self, path: &Path) {
        let mut members: Vec<(String, Vec<u8>)> = Vec::new();
        let mut names = Vec::new();
        for (n, layer) in self.layers.iter().enumerate() {
            let name = format!("{n:064x}/layer.tar");
            members.push((name.clone(), tar_of(layer)));
            names.push(name);
        }
        let config = format!("{:064x}.json", 999);
        members.push((config.clone(), self.config_file().into_bytes()));
        let manifest =
            serde_json::json!([{"Config": config, "RepoTags": ["test:1"], "Layers": names}]);
        members.push(("manifest.json".into(), manifest.to_string().into_bytes()));
        let mut builder = tar::Builder::new(Vec::new());
        for (name, bytes) in &members {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder
                .append_data(&mut header, name, &bytes[..])
                .expect("a member");
        }
        std::fs::write(path, builder.into_inner().expect("an archive")).expect("written");
    }

    /// The image as an OCI layout directory.
    fn layout(&self, dir: &Path) {
        let blobs = dir.join("blobs/sha256");
        std::fs::create_dir_all(&blobs).expect("a directory");
        let mut n = 0;
        let mut blob = |bytes: Vec<u8>| {
            n += 1;
            let hex = format!("{n:064x}");
            std::fs::write(blobs.join(&hex), &bytes).expect("written");
            serde_json::json!({"digest": format!("sha256:{hex}"), "size": bytes.len()})
        };
        let layers: Vec<_> = self
            .layers
            .iter()
            .map(|layer| blob(tar_of(layer)))
            .collect();
        let config = blob(self.config_file().into_bytes());
        let manifest = blob(
            serde_json::json!({"schemaVersion": 2, "config": config, "layers": layers})
                .to_string()
                .into_bytes(),
        );
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)
            .expect("written");
        let index = serde_json::json!({"schemaVersion": 2, "manifests": [manifest]});
        std::fs::write(dir.join("index.json"), index.to_string()).expect("written");
    }
}

struct Run {
    status: i32,
    stdout: String,
    stderr: String,
}

fn audit(target: &Path, flags: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_msa"))
        .args(["audit", "image"])
        .arg(target)
        .args(flags)
        .output()
        .expect("msa runs");
    Run {
        status: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn report_of(spec: &Spec, dir: &Path, name: &str) -> (serde_json::Value, i32) {
    let archive = dir.join(format!("{name}.tar"));
    spec.save(&archive);
    let run = audit(&archive, &["--json"]);
    assert!(
        !run.stdout.contains(CANARY),
        "{name}: the canary is printed"
    );
    assert!(!run.stdout.contains(KEY_BODY), "{name}: a key is printed");
    let report: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{name}: no JSON ({e}): {} {}", run.stdout, run.stderr));
    (report, run.status)
}

fn ids(report: &serde_json::Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["id"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn each_weakening_brings_its_finding_and_the_baseline_has_none() {
    let dir = tempfile::tempdir().expect("a directory");
    let (clean, status) = report_of(&baseline(), dir.path(), "baseline");
    assert_eq!(ids(&clean), Vec::<String>::new(), "{clean:#}");
    assert_eq!(status, 0);
    assert_eq!(clean["config"]["user"], "10001:10001");
    assert_eq!(
        clean["operating_system"]["support"]["status"],
        "no-operating-system"
    );

    let key = format!(
        "-----BEGIN OPENSSH PRIVATE KEY-----\n{KEY_BODY}\n-----END OPENSSH PRIVATE KEY-----\n"
    );
    type Weaken = Box<dyn Fn(&mut Spec)>;
    let add = |files: Vec<File>| -> Weaken {
        Box::new(move |spec: &mut Spec| spec.layers.push(files.clone()))
    };
    let controls: Vec<(&str, &str, Weaken)> = vec![
        (
            "key-added-then-deleted",
            "secrets.file",
            Box::new(move |spec: &mut Spec| {
                spec.layers
                    .push(vec![file("root/.ssh/id_ed25519", key.clone())]);
                spec.layers.push(vec![file("root/.ssh/.wh.id_ed25519", "")]);
            }),
        ),
        (
            "env-secret",
            "secrets.environment",
            Box::new(|spec: &mut Spec| {
                spec.config["Env"] = serde_json::json!(["PATH=/", format!("DB_PASSWORD={CANARY}")]);
            }),
        ),
        (
            "run-secret",
            "secrets.history",
            Box::new(|spec: &mut Spec| {
                spec.history.push(serde_json::json!({
                    "created_by": format!("RUN |1 API_TOKEN={CANARY} /bin/sh -c ./fetch.sh # buildkit")
                }));
                spec.layers.push(vec![file("fetched", "x")]);
            }),
        ),
        (
            "cmd-secret",
            "secrets.config",
            Box::new(|spec: &mut Spec| {
                spec.config["Cmd"] = serde_json::json!(["serve", "--db-password", CANARY]);
            }),
        ),
        (
            "root",
            "user.root",
            Box::new(|spec: &mut Spec| spec.config["User"] = "".into()),
        ),
        (
            "eol-os",
            "os.end-of-life",
            add(vec![file(
                "etc/os-release",
                "PRETTY_NAME=\"Debian GNU/Linux 10 (buster)\"\nID=debian\nVERSION_ID=\"10\"\n",
            )]),
        ),
        (
            "eol-python",
            "runtime.end-of-life",
            Box::new(|spec: &mut Spec| {
                spec.config["Env"] = serde_json::json!(["PATH=/", "PYTHON_VERSION=3.9.21"]);
            }),
        ),
        (
            "setuid",
            "files.setuid",
            add(vec![("usr/bin/passwd", "ELF".into(), 0o4755)]),
        ),
        (
            "world-writable",
            "files.world-writable",
            add(vec![("etc/app.conf", "x".into(), 0o666)]),
        ),
        (
            "nginx-banner",
            "banner.version",
            add(vec![
                ("usr/sbin/nginx", "ELF".into(), 0o755),
                file("etc/nginx/nginx.conf", "http { }\n"),
            ]),
        ),
        (
            "shell",
            "surface.shell",
            add(vec![("bin/sh", "ELF".into(), 0o755)]),
        ),
        (
            "package-manager",
            "surface.package-manager",
            add(vec![("usr/bin/apt-get", "ELF".into(), 0o755)]),
        ),
        (
            "no-healthcheck",
            "healthcheck.missing",
            Box::new(|spec: &mut Spec| spec.config["Healthcheck"] = serde_json::Value::Null),
        ),
        (
            "dotenv",
            "secrets.env-file",
            add(vec![file("app/.env", format!("DB_PASSWORD={CANARY}\n"))]),
        ),
        (
            "npmrc",
            "secrets.credentials-file",
            add(vec![file(
                "root/.npmrc",
                format!("//registry.npmjs.org/:_authToken={CANARY}\n"),
            )]),
        ),
        (
            "git",
            "secrets.git-directory",
            add(vec![file("app/.git/HEAD", "ref: refs/heads/main\n")]),
        ),
        (
            "shell-history",
            "secrets.shell-history",
            add(vec![file(
                "root/.bash_history",
                format!("psql postgres://u:{CANARY}@db\n"),
            )]),
        ),
        (
            "aws-key",
            "secrets.file",
            add(vec![file(
                "app/settings.py",
                "AWS_ACCESS_KEY_ID = 'AKIAQ3EGRV6ZXYW2ABCD'\n",
            )]),
        ),
    ];
    for (name, expected, weaken) in &controls {
        let mut spec = baseline();
        weaken(&mut spec);
        let (report, status) = report_of(&spec, dir.path(), name);
        let found = ids(&report);
        assert!(
            found.iter().any(|id| id == expected),
            "{name}: no {expected} in {found:?}"
        );
        let high = report["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|f| f["severity"] == "high" || f["severity"] == "critical");
        assert_eq!(
            status,
            i32::from(high),
            "{name}: exit status and findings disagree"
        );
    }
}

#[test]
fn a_deleted_key_and_the_build_secrets_are_told_with_their_place_in_every_format() {
    let dir = tempfile::tempdir().expect("a directory");
    let mut spec = baseline();
    spec.config["User"] = "".into();
    spec.config["Env"] = serde_json::json!([format!("DB_PASSWORD={CANARY}")]);
    spec.history.push(serde_json::json!({
        "created_by": format!("/bin/sh -c export GITHUB_TOKEN={CANARY} && git clone x")
    }));
    spec.layers.push(vec![
        file("root/", ""),
        file(
            "root/.ssh/id_rsa",
            format!("-----BEGIN RSA PRIVATE KEY-----\n{KEY_BODY}\n-----END RSA PRIVATE KEY-----\n"),
        ),
    ]);
    spec.history
        .push(serde_json::json!({"created_by": "/bin/sh -c rm /root/.ssh/id_rsa"}));
    spec.layers.push(vec![file("root/.ssh/.wh.id_rsa", "")]);
    let archive = dir.path().join("weak.tar");
    spec.save(&archive);

    let text = audit(&archive, &[]);
    assert_eq!(text.status, 1, "{}{}", text.stdout, text.stderr);
    assert!(
        text.stdout.contains(
            "evidence: layer 1 /root/.ssh/id_rsa (deleted by layer 2, still in the image) line 1: RSA private key (PEM) sha256:"
        ),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains("evidence: history step 2 (RUN, layer 1): a value for GITHUB_TOKEN sha256:"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains("evidence: Env DB_PASSWORD: a value sha256:"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("Environment DB_PASSWORD (names only)"),
        "{}",
        text.stdout
    );

    let sarif = audit(&archive, &["--sarif"]);
    let log: serde_json::Value = serde_json::from_str(&sarif.stdout).expect("SARIF is JSON");
    assert_eq!(log["version"], "2.1.0");
    let rules: Vec<&str> = log["runs"][0]["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["ruleId"].as_str())
        .collect();
    for id in [
        "secrets.file",
        "secrets.environment",
        "secrets.history",
        "user.root",
    ] {
        assert!(rules.contains(&id), "{id} not in {rules:?}");
    }
    let json = audit(&archive, &["--json"]);
    for output in [&text.stdout, &sarif.stdout, &json.stdout, &text.stderr] {
        assert!(!output.contains(CANARY), "a secret is printed: {output}");
        assert!(!output.contains(KEY_BODY), "a key is printed: {output}");
    }
    assert_eq!(audit(&archive, &["--fail-on", "never"]).status, 0);
    assert_eq!(audit(&archive, &["--fail-on", "critical"]).status, 0);
}

#[test]
fn an_oci_layout_reads_like_the_archive_of_the_same_image() {
    let dir = tempfile::tempdir().expect("a directory");
    let mut spec = baseline();
    spec.layers
        .push(vec![("usr/bin/passwd", "ELF".into(), 0o4755)]);
    spec.layers.push(vec![file("usr/bin/.wh.passwd", "")]);
    spec.layers.push(vec![file(
        "etc/os-release",
        "ID=alpine\nVERSION_ID=3.18.4\n",
    )]);
    let layout = dir.path().join("layout");
    spec.layout(&layout);
    let archive = dir.path().join("same.tar");
    spec.save(&archive);
    let from_layout: serde_json::Value =
        serde_json::from_str(&audit(&layout, &["--json"]).stdout).expect("JSON");
    let from_archive: serde_json::Value =
        serde_json::from_str(&audit(&archive, &["--json"]).stdout).expect("JSON");
    assert_eq!(ids(&from_layout), ids(&from_archive));
    assert_eq!(
        ids(&from_layout),
        ["os.end-of-life"],
        "the deleted setuid file is not run"
    );
    assert_eq!(from_layout["size"]["deleted_files"], 1);
}

#[test]
fn what_is_not_an_image_is_refused_with_status_2() {
    let dir = tempfile::tempdir().expect("a directory");
    let missing = audit(&dir.path().join("missing.tar"), &[]);
    assert_eq!(missing.status, 2);
    assert!(missing.stderr.contains("cannot read"), "{}", missing.stderr);
    let text = dir.path().join("notes.tar");
    std::fs::write(&text, tar_of(&[file("notes.txt", "hello")])).expect("written");
    let refused = audit(&text, &[]);
    assert_eq!(refused.status, 2);
    assert_eq!(
        refused.stderr.trim(),
        "msa audit image: not a docker save archive: no manifest.json in it"
    );
    assert!(refused.stdout.is_empty());
}

#[test]
fn the_sbom_lists_the_packages_and_distributions_the_final_filesystem_holds() {
    let dir = tempfile::tempdir().expect("a directory");
    let mut spec = baseline();
    spec.layers.push(vec![
        file("etc/os-release", "ID=debian\nVERSION_ID=\"12\"\n"),
        file(
            "var/lib/dpkg/status",
            "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9+deb12u10\n\n\
             Package: openssl\nStatus: install ok installed\nArchitecture: amd64\nVersion: 3.0.17-1~deb12u2\n",
        ),
        file(
            "usr/lib/python3/dist-packages/requests-2.28.1.dist-info/METADATA",
            "Metadata-Version: 2.1\nName: requests\nVersion: 2.28.1\n",
        ),
        file(
            "usr/lib/python3/dist-packages/old-1.0.dist-info/METADATA",
            "Name: old\nVersion: 1.0\n",
        ),
    ]);
    // A later layer removes one distribution: the inventory is of what runs.
    spec.layers.push(vec![file(
        "usr/lib/python3/dist-packages/.wh.old-1.0.dist-info",
        "",
    )]);
    let archive = dir.path().join("debian.tar");
    spec.save(&archive);

    let printed = audit(&archive, &["--sbom", "cyclonedx"]);
    assert_eq!(printed.status, 0, "{}", printed.stderr);
    let bom: serde_json::Value = serde_json::from_str(&printed.stdout).expect("CycloneDX JSON");
    assert_eq!(bom["bomFormat"], "CycloneDX");
    assert_eq!(bom["specVersion"], "1.5");
    assert!(
        bom["serialNumber"]
            .as_str()
            .is_some_and(|s| s.starts_with("urn:uuid:"))
    );
    assert_eq!(bom["metadata"]["component"]["name"], "test:1");
    let purls: Vec<&str> = bom["components"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["purl"].as_str())
        .collect();
    assert_eq!(
        purls,
        [
            "pkg:pypi/requests@2.28.1",
            "pkg:deb/debian/libc6@2.36-9+deb12u10?arch=amd64",
            "pkg:deb/debian/openssl@3.0.17-1~deb12u2?arch=amd64"
        ]
    );

    let written = dir.path().join("bom.json");
    let both = audit(
        &archive,
        &[
            "--sbom",
            "cyclonedx",
            "--sbom-output",
            written.to_str().expect("utf-8"),
            "--json",
        ],
    );
    assert_eq!(both.status, 0);
    let report: serde_json::Value = serde_json::from_str(&both.stdout).expect("the report");
    assert!(report["findings"].is_array());
    let file_bom: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&written).expect("written")).expect("JSON");
    assert_eq!(file_bom["components"].as_array().map(Vec::len), Some(4));
    assert!(
        both.stderr.contains("4 components written to"),
        "{}",
        both.stderr
    );
}
