//! The keys of identity tokens, as configuration gives them: the public keys of the
//! processes a service makes or checks tokens with ([`TrustOptions`]), and where a process
//! keeps its own secret ([`own_key`]).

use std::path::{Path, PathBuf};

use clap::Args;

use crate::identity::keyring::{KeyRing, PublicSource};
use crate::identity::token::PartyKey;
use crate::identity::{GATEWAY, ORDERS, PRODUCTS, PublicKeys, USERS};

/// The public keys of the processes that make and check identity tokens.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Identity tokens")]
pub struct TrustOptions {
    /// The gateway's public key (base64url)
    /// [default: derived from DATA_DIR/keys/gateway.key].
    #[arg(long, env = "MSA_GATEWAY_PUBLIC_KEY")]
    pub gateway_public_key: Option<String>,

    /// user-service's public key (base64url)
    /// [default: derived from DATA_DIR/keys/users.key].
    #[arg(long, env = "MSA_USERS_PUBLIC_KEY")]
    pub users_public_key: Option<String>,

    /// product-service's public key (base64url)
    /// [default: derived from DATA_DIR/keys/products.key].
    #[arg(long, env = "MSA_PRODUCTS_PUBLIC_KEY")]
    pub products_public_key: Option<String>,

    /// order-service's public key (base64url)
    /// [default: derived from DATA_DIR/keys/orders.key].
    #[arg(long, env = "MSA_ORDERS_PUBLIC_KEY")]
    pub orders_public_key: Option<String>,

    /// A file of every process's public keys (`<party> <key>[,<key>...]` per line), re-read
    /// when it changes, so keys can be rotated without a restart; instead of the four
    /// public key settings. Each setting, and each line, may list several keys, separated
    /// by commas: the current one first, then those still accepted.
    #[arg(long, env = "MSA_PUBLIC_KEYS_FILE", conflicts_with_all = [
        "gateway_public_key", "users_public_key", "products_public_key", "orders_public_key"
    ])]
    pub public_keys_file: Option<PathBuf>,
}

/// The processes that make or check identity tokens, each with a key file in
/// `DATA_DIR/keys`.
pub const PARTIES: [&str; 4] = [GATEWAY, USERS, PRODUCTS, ORDERS];

impl TrustOptions {
    fn configured(&self, party: &str) -> Option<&String> {
        match party {
            GATEWAY => self.gateway_public_key.as_ref(),
            USERS => self.users_public_key.as_ref(),
            PRODUCTS => self.products_public_key.as_ref(),
            ORDERS => self.orders_public_key.as_ref(),
            _ => None,
        }
    }

    /// The public keys of `party`, the current one first and separated by commas: as
    /// configured, else derived from its secrets in `key_file`, or at the default place in
    /// `data_dir` (created there on first use, as on one laptop).
    pub fn public_key(
        &self,
        party: &str,
        key_file: Option<&Path>,
        data_dir: &Path,
    ) -> anyhow::Result<String> {
        match self.configured(party) {
            Some(text) => {
                for key in text.split(',') {
                    crate::identity::token::parse_public_key(key).map_err(|reason| {
                        anyhow::anyhow!("the public key of {party} is unusable: {reason}")
                    })?;
                }
                Ok(text.trim().to_owned())
            }
            None => {
                let path = own_key_file(party, key_file, data_dir)?;
                let bytes = std::fs::read(&path)?;
                let secrets = crate::identity::token::parse_secrets(&bytes)
                    .map_err(|error| anyhow::anyhow!("{}: {error}", path.display()))?;
                Ok(secrets
                    .iter()
                    .map(PartyKey::public_key)
                    .collect::<Vec<_>>()
                    .join(","))
            }
        }
    }

    /// The key ring of `party`, which talks to `peers`: its secrets from `key_file` (or the
    /// data directory), the others' public keys from the public keys file if one is set,
    /// else from the settings.
    pub fn ring(
        &self,
        party: &str,
        key_file: Option<&Path>,
        data_dir: &Path,
        peers: &[&str],
    ) -> anyhow::Result<KeyRing> {
        let own_file = own_key_file(party, key_file, data_dir)?;
        let public = match &self.public_keys_file {
            Some(path) => PublicSource::File(path.clone()),
            None => PublicSource::Fixed(self.keys(peers, data_dir)?),
        };
        KeyRing::open(party, own_file, public, Some(data_dir))
    }

    /// The public keys of `parties`, the processes a service talks to. A service does not
    /// know where another process keeps its secret: a process with a key file of its own
    /// has its public key configured (as `msa up` and the deployments do).
    pub fn keys(&self, parties: &[&str], data_dir: &Path) -> anyhow::Result<PublicKeys> {
        parties
            .iter()
            .try_fold(PublicKeys::default(), |keys, &party| {
                Ok(keys.with(party, self.public_key(party, None, data_dir)?))
            })
    }
}

/// Where `party` keeps its secret when no file is configured.
pub fn default_key_file(data_dir: &Path, party: &str) -> PathBuf {
    data_dir.join("keys").join(format!("{party}.key"))
}

/// The current secret of `party`, read from `key_file` (which must exist: a mounted secret
/// that is missing is an error, not a reason for a new key), or else read from, or generated
/// into, the data directory.
pub fn own_key(party: &str, key_file: Option<&Path>, data_dir: &Path) -> anyhow::Result<PartyKey> {
    crate::identity::token::load_or_generate_key(&own_key_file(party, key_file, data_dir)?)
}

/// The file of `party`'s secrets: `key_file`, which must exist, or the default place in the
/// data directory, where a first secret is generated if there is none.
pub fn own_key_file(
    party: &str,
    key_file: Option<&Path>,
    data_dir: &Path,
) -> anyhow::Result<PathBuf> {
    let path = match key_file {
        Some(path) => {
            anyhow::ensure!(
                path.is_file(),
                "the key file {} of {party} does not exist",
                path.display()
            );
            path.to_owned()
        }
        None => {
            crate::files::ensure_private_dir(data_dir)?;
            crate::files::ensure_private_dir(&data_dir.join("keys"))?;
            default_key_file(data_dir, party)
        }
    };
    if key_file.is_none() {
        crate::identity::token::load_or_generate_key(&path)?;
    }
    Ok(path)
}
