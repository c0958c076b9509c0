//! A process's token keys as files give them, re-read while it runs, so that a key can be
//! rotated without a restart and without one refused request.
//!
//! Two files count: the process's own key file (one secret per line, the current one first,
//! the others still held while a rotation is under way), and, where one is configured, the
//! public keys file (`<party> <key>[,<key>...]` per line, likewise the current one first).
//! Every [`POLL_INTERVAL`] the ring looks at both; when either changed, it builds new gates
//! and signers from them and swaps them in whole. A file that does not parse (caught half
//! written, say) changes nothing: the keys in use stay, and the ring says why in the log.
//!
//! After each load the process writes what it loaded (a digest of both files) to
//! `DATA_DIR/keys/loaded/<party>`, so `msa keys rotate` knows when every process holds the
//! keys of one step before it takes the next ([`loaded_digest`]).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use sha2::{Digest, Sha256};

use crate::identity::current::Current;
use crate::identity::token::{PartyKey, TokenSigner, TokenVerifier};
use crate::identity::{CallSigner, Gate, PublicKeys};

/// How often the key files are looked at: a rotation step takes effect within it.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Where a process's public keys of the others come from.
#[derive(Debug, Clone)]
pub enum PublicSource {
    /// Given once, at start (flags or environment): they change with a restart.
    Fixed(PublicKeys),
    /// A file, re-read when it changes.
    File(PathBuf),
}

/// The token keys of one process, and the gates and signers made from them.
#[derive(Clone)]
pub struct KeyRing {
    inner: Arc<Ring>,
}

struct Ring {
    party: String,
    own_file: PathBuf,
    public: PublicSource,
    /// Where the digest of the keys in use is written after each load.
    loaded_file: Option<PathBuf>,
    gates: Mutex<Vec<GateOf>>,
    signers: Mutex<Vec<SignerOf>>,
}

struct GateOf {
    verifier: Weak<Current<TokenVerifier>>,
    issuers: Vec<String>,
}

struct SignerOf {
    signer: Weak<Current<TokenSigner>>,
    audiences: Vec<String>,
}

/// What the files held at one load.
pub struct Keys {
    /// The process's secrets, the current one first.
    pub own: Vec<PartyKey>,
    pub public: PublicKeys,
    /// Of both files' bytes, as [`loaded_digest`] computes it.
    pub digest: String,
}

/// When the files were last changed, as far as the file system tells.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp(Vec<Option<(u64, u64, SystemTime)>>);

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("party", &self.inner.party)
            .field("own_file", &self.inner.own_file)
            .field("public", &self.inner.public)
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    /// The ring of `party`, whose secrets are in `own_file`; checks that the files load.
    pub fn open(
        party: &str,
        own_file: PathBuf,
        public: PublicSource,
        data_dir: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let ring = Self {
            inner: Arc::new(Ring {
                party: party.to_owned(),
                own_file,
                public,
                loaded_file: data_dir.map(|dir| loaded_file(dir, party)),
                gates: Mutex::default(),
                signers: Mutex::default(),
            }),
        };
        ring.load()?;
        Ok(ring)
    }

    pub fn party(&self) -> &str {
        &self.inner.party
    }

    /// Reads both files now.
    pub fn load(&self) -> anyhow::Result<Keys> {
        let ring = &self.inner;
        let own_bytes = std::fs::read(&ring.own_file)
            .with_context(|| format!("Failed to read {}", ring.own_file.display()))?;
        let own = crate::identity::token::parse_secrets(&own_bytes)
            .with_context(|| format!("{} does not hold a key", ring.own_file.display()))?;
        let (public, public_bytes) = match &ring.public {
            PublicSource::Fixed(keys) => (keys.clone(), Vec::new()),
            PublicSource::File(path) => {
                let bytes = std::fs::read(path)
                    .with_context(|| format!("Failed to read {}", path.display()))?;
                let keys = parse_public_keys(&bytes)
                    .with_context(|| format!("{} does not parse", path.display()))?;
                (keys, bytes)
            }
        };
        Ok(Keys {
            own,
            public,
            digest: loaded_digest(&own_bytes, &public_bytes),
        })
    }

    /// The current secret: the one this process signs with.
    pub fn current_secret(&self) -> anyhow::Result<PartyKey> {
        Ok(self.load()?.own.swap_remove(0))
    }

    /// The gate of this process as a service, trusting `issuers`, kept up to date with the
    /// files once [`Self::watch`] runs.
    pub fn gate(&self, issuers: &[&str]) -> anyhow::Result<Gate> {
        let keys = self.load()?;
        let gate = Gate::new(
            keys.public
                .verifier(&keys.own, &self.inner.party, issuers)?,
        );
        lock(&self.inner.gates).push(GateOf {
            verifier: Arc::downgrade(&gate.verifier),
            issuers: issuers.iter().map(|&issuer| issuer.to_owned()).collect(),
        });
        Ok(gate)
    }

    /// The signer of this process's calls to `audiences`, kept up to date likewise.
    pub fn signer(&self, audiences: &[&str]) -> anyhow::Result<CallSigner> {
        let keys = self.load()?;
        let signer = CallSigner::new(keys.public.token_signer(
            &keys.own[0],
            &self.inner.party,
            audiences,
        )?);
        lock(&self.inner.signers).push(SignerOf {
            signer: Arc::downgrade(&signer.signer),
            audiences: audiences
                .iter()
                .map(|&audience| audience.to_owned())
                .collect(),
        });
        Ok(signer)
    }

    /// Watches the files from now on, until every gate and signer made here is dropped.
    /// Must run inside the Tokio runtime.
    pub fn watch(&self) {
        let ring = self.clone();
        tokio::spawn(async move {
            let mut seen = ring.stamp();
            ring.acknowledge(ring.load().ok().as_ref());
            loop {
                tokio::time::sleep(POLL_INTERVAL).await;
                if !ring.in_use() {
                    return;
                }
                let now = ring.stamp();
                if now == seen {
                    continue;
                }
                seen = now;
                match ring.reload() {
                    Ok(keys) => ring.acknowledge(Some(&keys)),
                    Err(error) => tracing::warn!(
                        party = %ring.inner.party,
                        error = %format!("{error:#}"),
                        "the key files changed but do not load; the keys in use stay"
                    ),
                }
            }
        });
    }

    /// Builds every gate and signer anew from the files, then swaps them all in.
    pub fn reload(&self) -> anyhow::Result<Keys> {
        let keys = self.load()?;
        let party = &self.inner.party;
        let mut verifiers = Vec::new();
        for gate in lock(&self.inner.gates).iter() {
            let issuers: Vec<&str> = gate.issuers.iter().map(String::as_str).collect();
            verifiers.push((
                gate.verifier.clone(),
                keys.public.verifier(&keys.own, party, &issuers)?,
            ));
        }
        let mut signers = Vec::new();
        for signer in lock(&self.inner.signers).iter() {
            let audiences: Vec<&str> = signer.audiences.iter().map(String::as_str).collect();
            signers.push((
                signer.signer.clone(),
                keys.public.token_signer(&keys.own[0], party, &audiences)?,
            ));
        }
        // Only once everything is built: a process never holds half of a key change.
        for (current, verifier) in verifiers {
            if let Some(current) = current.upgrade() {
                current.set(verifier);
            }
        }
        for (current, signer) in signers {
            if let Some(current) = current.upgrade() {
                current.set(signer);
            }
        }
        Ok(keys)
    }

    fn in_use(&self) -> bool {
        lock(&self.inner.gates)
            .iter()
            .any(|gate| gate.verifier.strong_count() > 0)
            || lock(&self.inner.signers)
                .iter()
                .any(|signer| signer.signer.strong_count() > 0)
    }

    fn stamp(&self) -> Stamp {
        let mut files = vec![&self.inner.own_file];
        if let PublicSource::File(path) = &self.inner.public {
            files.push(path);
        }
        Stamp(
            files
                .into_iter()
                .map(|path| {
                    use std::os::unix::fs::MetadataExt as _;
                    // The inode too: a file replaced by rename may keep length and time.
                    let meta = std::fs::metadata(path).ok()?;
                    Some((meta.ino(), meta.len(), meta.modified().ok()?))
                })
                .collect(),
        )
    }

    /// Says which keys this process now holds: in the log, where an operator rotating the
    /// keys of a deployment compares the digest with the one `msa keys rotate --step`
    /// printed, and in the data directory, where `msa keys rotate` reads it.
    fn acknowledge(&self, keys: Option<&Keys>) {
        let Some(keys) = keys else {
            return;
        };
        tracing::info!(
            party = %self.inner.party,
            secrets = keys.own.len(),
            digest = %short_digest(&keys.digest),
            "token keys loaded"
        );
        let Some(path) = &self.inner.loaded_file else {
            return;
        };
        let written = path
            .parent()
            .map_or(Ok(()), crate::files::ensure_private_dir)
            .and_then(|()| crate::files::write_private_file(path, keys.digest.as_bytes()));
        if let Err(error) = written {
            tracing::debug!(error = %format!("{error:#}"), "could not note the keys loaded");
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Where `msa up` keeps the public keys file of the processes it runs.
pub fn public_keys_file(data_dir: &Path) -> PathBuf {
    data_dir.join("keys").join("public-keys")
}

/// Writes `keys` (party, public keys) as the public keys file of `data_dir`, the file
/// `MSA_PUBLIC_KEYS_FILE` reads and `msa keys rotate` rewrites; returns its path.
pub fn write_public_keys_file(
    data_dir: &Path,
    keys: impl IntoIterator<Item = (&'static str, String)>,
) -> anyhow::Result<PathBuf> {
    let keys = keys
        .into_iter()
        .fold(PublicKeys::default(), |keys, (party, key)| {
            keys.with(party, key)
        });
    let path = public_keys_file(data_dir);
    crate::files::ensure_private_dir(path.parent().unwrap_or(data_dir))?;
    crate::files::write_private_file(&path, render_public_keys(&keys).as_bytes())?;
    Ok(path)
}

/// Where process `party` notes the digest of the keys it holds.
pub fn loaded_file(data_dir: &Path, party: &str) -> PathBuf {
    data_dir.join("keys").join("loaded").join(party)
}

/// The digest a process notes after loading `own` (its key file's bytes) and `public` (the
/// public keys file's bytes, empty without one).
pub fn loaded_digest(own: &[u8], public: &[u8]) -> String {
    let digest = Sha256::new()
        .chain_update((own.len() as u64).to_be_bytes())
        .chain_update(own)
        .chain_update(public)
        .finalize();
    crate::hex::encode(&digest)
}

/// The first 16 hex digits of a [`loaded_digest`]: enough to tell two key sets apart in a
/// log line, and no more of a digest of secrets than that needs.
pub fn short_digest(digest: &str) -> &str {
    digest.get(..16).unwrap_or(digest)
}

/// Reads a public keys file: `<party> <key>[,<key>...]` per line, `#` comments, the current
/// key of each party first.
pub fn parse_public_keys(bytes: &[u8]) -> anyhow::Result<PublicKeys> {
    let text = std::str::from_utf8(bytes).context("not UTF-8")?;
    let mut keys = PublicKeys::default();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (party, list) = line
            .split_once(char::is_whitespace)
            .with_context(|| format!("line {}: expected `<party> <key>[,<key>...]`", number + 1))?;
        for key in list.split(',') {
            crate::identity::token::parse_public_key(key)
                .map_err(|reason| anyhow::anyhow!("line {}: {reason}", number + 1))?;
        }
        keys = keys.with(party, list);
    }
    Ok(keys)
}

/// Writes `keys` in the format [`parse_public_keys`] reads.
pub fn render_public_keys(keys: &PublicKeys) -> String {
    let mut text =
        String::from("# msa-shop public keys: <party> <key>[,<key>...], the current key first\n");
    for (party, list) in keys.iter() {
        text.push_str(party);
        text.push(' ');
        text.push_str(&list.join(","));
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::binding::Bound;
    use crate::identity::token::new_secret_line;
    use crate::identity::{Actor, TOKEN_HEADER};

    /// Two processes, gateway and orders, each with its key file and one shared public keys
    /// file, as `msa up` lays them out.
    struct Layout {
        dir: tempfile::TempDir,
    }

    impl Layout {
        fn new() -> Self {
            let layout = Self {
                dir: tempfile::tempdir().expect("tempdir"),
            };
            std::fs::create_dir_all(layout.dir.path().join("keys")).expect("keys dir");
            for party in ["gateway", "orders"] {
                layout.write_secrets(party, &[&new_secret_line()]);
            }
            layout.publish();
            layout
        }

        fn key_file(&self, party: &str) -> PathBuf {
            self.dir.path().join("keys").join(format!("{party}.key"))
        }

        fn secrets(&self, party: &str) -> Vec<String> {
            std::fs::read_to_string(self.key_file(party))
                .expect("a key file")
                .lines()
                .map(str::to_owned)
                .collect()
        }

        fn write_secrets(&self, party: &str, lines: &[&str]) {
            let text: String = lines.iter().map(|line| format!("{line}\n")).collect();
            crate::files::write_private_file(&self.key_file(party), text.as_bytes())
                .expect("written");
        }

        /// Writes the public keys file from both key files.
        fn publish(&self) {
            let keys = ["gateway", "orders"]
                .iter()
                .fold(PublicKeys::default(), |keys, party| {
                    let bytes = std::fs::read(self.key_file(party)).expect("a key file");
                    let publics: Vec<String> = crate::identity::token::parse_secrets(&bytes)
                        .expect("secrets")
                        .iter()
                        .map(PartyKey::public_key)
                        .collect();
                    keys.with(party, publics.join(","))
                });
            crate::files::write_private_file(
                &public_keys_file(self.dir.path()),
                render_public_keys(&keys).as_bytes(),
            )
            .expect("written");
        }

        fn ring(&self, party: &str) -> KeyRing {
            KeyRing::open(
                party,
                self.key_file(party),
                PublicSource::File(public_keys_file(self.dir.path())),
                Some(self.dir.path()),
            )
            .expect("the ring opens")
        }
    }

    async fn admitted(signer: &CallSigner, gate: &Gate) -> bool {
        let bound = Bound {
            method: &http::Method::GET,
            target: "/orders/1",
            body: b"",
        };
        let token = signer
            .token("orders", &Actor::anonymous(), &bound)
            .expect("a token");
        let request = http::Request::builder()
            .uri("/orders/1")
            .header(TOKEN_HEADER, token)
            .body(axum::body::Body::empty())
            .expect("a request");
        gate.admit(request).await.is_ok()
    }

    #[tokio::test]
    async fn a_rotation_in_three_steps_never_breaks_the_link() {
        let layout = Layout::new();
        let (gateway, orders) = (layout.ring("gateway"), layout.ring("orders"));
        let signer = gateway.signer(&["orders"]).expect("a signer");
        let gate = orders.gate(&["gateway"]).expect("a gate");
        assert!(admitted(&signer, &gate).await);
        let old = layout.secrets("gateway").remove(0);
        let new = new_secret_line();
        let steps: [&[&str]; 3] = [&[&old, &new], &[&new, &old], &[&new]];
        for (number, secrets) in steps.iter().enumerate() {
            layout.write_secrets("gateway", secrets);
            layout.publish();
            // Either process may load first: the link holds in both orders.
            gateway.reload().expect("the gateway loads");
            assert!(
                admitted(&signer, &gate).await,
                "step {number}, signer first"
            );
            orders.reload().expect("orders loads");
            assert!(admitted(&signer, &gate).await, "step {number}, both");
        }
        // The control: a key replaced outright is refused until the other side reloads.
        let newer = new_secret_line();
        layout.write_secrets("gateway", &[&newer]);
        layout.publish();
        gateway.reload().expect("the gateway loads");
        assert!(
            !admitted(&signer, &gate).await,
            "an unannounced key is refused"
        );
        orders.reload().expect("orders loads");
        assert!(admitted(&signer, &gate).await);
    }

    #[tokio::test]
    async fn files_that_do_not_load_leave_the_keys_in_use() {
        let layout = Layout::new();
        let (gateway, orders) = (layout.ring("gateway"), layout.ring("orders"));
        let signer = gateway.signer(&["orders"]).expect("a signer");
        let gate = orders.gate(&["gateway"]).expect("a gate");
        let public = public_keys_file(layout.dir.path());
        std::fs::write(&public, "gateway not-a-key\n").expect("written");
        assert!(orders.reload().is_err());
        std::fs::write(layout.key_file("gateway"), "").expect("written");
        assert!(gateway.reload().is_err());
        assert!(admitted(&signer, &gate).await, "the keys in use stay");
    }

    #[test]
    fn the_public_keys_file_round_trips_and_refuses_garbage() {
        let keys = PublicKeys::default()
            .with("gateway", PartyKey::from_bytes([1; 32]).public_key())
            .with(
                "orders",
                format!(
                    "{},{}",
                    PartyKey::from_bytes([2; 32]).public_key(),
                    PartyKey::from_bytes([3; 32]).public_key()
                ),
            );
        let text = render_public_keys(&keys);
        assert_eq!(parse_public_keys(text.as_bytes()).expect("parses"), keys);
        assert_eq!(keys.of("orders").len(), 2);
        for garbage in ["gateway", "gateway short", "gateway a,b", "\u{ff}"] {
            assert!(
                parse_public_keys(garbage.as_bytes()).is_err(),
                "{garbage:?}"
            );
        }
    }
}
