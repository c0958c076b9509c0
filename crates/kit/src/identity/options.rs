//! The keys of identity tokens, as configuration gives them: the public keys a service
//! verifies its callers' tokens with ([`TrustOptions`]), and where a signer keeps its
//! private key ([`signer`]).

use std::path::{Path, PathBuf};

use clap::Args;

use crate::identity::token::TokenSigner;
use crate::identity::{CallSigner, GATEWAY, ORDERS, PublicKeys};

/// The public keys of the processes that sign identity tokens.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Identity tokens")]
pub struct TrustOptions {
    /// Public key (base64url) that verifies the gateway's identity tokens
    /// [default: derived from DATA_DIR/keys/gateway.key].
    #[arg(long, env = "MSA_GATEWAY_PUBLIC_KEY")]
    pub gateway_public_key: Option<String>,

    /// Public key (base64url) that verifies order-service's identity tokens
    /// [default: derived from DATA_DIR/keys/orders.key].
    #[arg(long, env = "MSA_ORDERS_PUBLIC_KEY")]
    pub orders_public_key: Option<String>,
}

/// The processes that sign identity tokens, each with a key file in `DATA_DIR/keys`.
pub const ISSUERS: [&str; 2] = [GATEWAY, ORDERS];

impl TrustOptions {
    fn configured(&self, issuer: &str) -> Option<&String> {
        match issuer {
            GATEWAY => self.gateway_public_key.as_ref(),
            ORDERS => self.orders_public_key.as_ref(),
            _ => None,
        }
    }

    /// The public key of `issuer`: as configured, else derived from its signing key in
    /// `key_file`, or at the default place in `data_dir` (created there on first use, as on
    /// one laptop).
    pub fn public_key(
        &self,
        issuer: &str,
        key_file: Option<&Path>,
        data_dir: &Path,
    ) -> anyhow::Result<String> {
        match self.configured(issuer) {
            Some(text) => {
                crate::identity::token::parse_public_key(text).map_err(|reason| {
                    anyhow::anyhow!("the public key of {issuer} is unusable: {reason}")
                })?;
                Ok(text.trim().to_owned())
            }
            None => Ok(signer(issuer, key_file, data_dir)?.public_key()),
        }
    }

    /// The public keys of `issuers`, the callers a service trusts. A service does not know
    /// where another process keeps its key: an issuer with a key file of its own has its
    /// public key configured (as `msa up` and the deployments do).
    pub fn keys(&self, issuers: &[&str], data_dir: &Path) -> anyhow::Result<PublicKeys> {
        issuers
            .iter()
            .try_fold(PublicKeys::default(), |keys, &issuer| {
                Ok(keys.with(issuer, self.public_key(issuer, None, data_dir)?))
            })
    }
}

/// Where `issuer` keeps its signing key when no file is configured.
pub fn default_key_file(data_dir: &Path, issuer: &str) -> PathBuf {
    data_dir.join("keys").join(format!("{issuer}.key"))
}

/// The signer of `issuer`, its key read from `key_file` (which must exist: a mounted secret
/// that is missing is an error, not a reason for a new key), or else read from, or
/// generated into, the data directory.
pub fn signer(
    issuer: &str,
    key_file: Option<&Path>,
    data_dir: &Path,
) -> anyhow::Result<CallSigner> {
    let path = match key_file {
        Some(path) => {
            anyhow::ensure!(
                path.is_file(),
                "the signing key file {} of {issuer} does not exist",
                path.display()
            );
            path.to_owned()
        }
        None => {
            crate::files::ensure_private_dir(data_dir)?;
            crate::files::ensure_private_dir(&data_dir.join("keys"))?;
            default_key_file(data_dir, issuer)
        }
    };
    let key = crate::identity::token::load_or_generate_key(&path)?;
    Ok(CallSigner::new(TokenSigner::new(issuer, key)))
}
