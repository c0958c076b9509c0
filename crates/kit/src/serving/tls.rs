//! HTTPS for the edge: the server configuration (rustls with the ring provider, TLS 1.2
//! and 1.3 only, HTTP/2 and HTTP/1.1 by ALPN), certificates from PEM files, and a local
//! certificate authority for development that `msa up` creates on first start.
//!
//! The local CA signs one server certificate and its private key is then dropped, never
//! written: a developer who trusts `ca.pem` trusts exactly that certificate, and nobody
//! who later reads the data directory can mint another one.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Where a server's certificate chain and private key are, both PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The files of the local development CA in its directory.
#[derive(Debug, Clone)]
pub struct LocalCa {
    /// The CA certificate a client trusts: `curl --cacert <ca>`.
    pub ca: PathBuf,
    pub server: CertificateFiles,
}

const CA_FILE: &str = "ca.pem";
const CERT_FILE: &str = "cert.pem";
const KEY_FILE: &str = "key.pem";
/// Browsers refuse server certificates valid for longer than 398 days.
const SERVER_VALIDITY: Duration = Duration::from_secs(397 * 24 * 3600);
const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

impl LocalCa {
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            ca: dir.join(CA_FILE),
            server: CertificateFiles {
                cert: dir.join(CERT_FILE),
                key: dir.join(KEY_FILE),
            },
        }
    }

    /// Creates the CA and a server certificate for `names` in `dir`, unless they exist.
    /// Returns the files and whether they were created just now.
    pub fn ensure(dir: &Path, names: &[String]) -> anyhow::Result<(Self, bool)> {
        let files = Self::in_dir(dir);
        if files.ca.exists() && files.server.cert.exists() && files.server.key.exists() {
            return Ok((files, false));
        }
        crate::files::ensure_private_dir(dir)?;
        let (ca_pem, cert_pem, key_pem) =
            generate(names).context("Failed to generate the local certificate authority")?;
        // The CA certificate is public; the server key is not.
        crate::files::write_private_file(&files.server.key, key_pem.as_bytes())?;
        crate::files::write_private_file(&files.server.cert, cert_pem.as_bytes())?;
        crate::files::write_private_file(&files.ca, ca_pem.as_bytes())?;
        Ok((files, true))
    }
}

/// A new certificate authority named `name`, valid from yesterday for `validity`, that may
/// sign end-entity certificates only: its certificate (PEM) and the issuer that signs with
/// its key, which is never written anywhere.
pub(crate) fn new_authority(
    name: &str,
    validity: Duration,
) -> Result<(String, Issuer<'static, KeyPair>), rcgen::Error> {
    let now = ::time::OffsetDateTime::now_utc();
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.distinguished_name.push(DnType::CommonName, name);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "msa-shop");
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = now - ::time::Duration::days(1);
    params.not_after = now + validity;
    let key = KeyPair::generate()?;
    let certificate = params.self_signed(&key)?.pem();
    Ok((certificate, Issuer::new(params, key)))
}

/// (CA certificate, server certificate, server key), all PEM.
fn generate(names: &[String]) -> Result<(String, String, String), rcgen::Error> {
    let now = ::time::OffsetDateTime::now_utc();
    let yesterday = now - ::time::Duration::days(1);
    let (ca_pem, issuer) = new_authority("msa-shop local development CA", CA_VALIDITY)?;

    let mut params = CertificateParams::new(names.to_vec())?;
    params.distinguished_name.push(
        DnType::CommonName,
        names.first().map_or("localhost", String::as_str),
    );
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = yesterday;
    params.not_after = now + SERVER_VALIDITY;
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    Ok((ca_pem, cert.pem(), key.serialize_pem()))
}

/// The rustls configuration of a server presenting the certificate in `files`.
pub fn server_config(files: &CertificateFiles) -> anyhow::Result<Arc<ServerConfig>> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .with_context(|| format!("Failed to read {}", files.cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("{} holds no valid certificate", files.cert.display()))?;
    anyhow::ensure!(
        !chain.is_empty(),
        "{} holds no certificate",
        files.cert.display()
    );
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .with_context(|| format!("{} holds no private key", files.key.display()))?;
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .context("TLS protocol versions")?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .context("The certificate and private key do not belong together")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_ca_is_created_once_and_makes_a_usable_server_config() {
        let dir = tempfile::tempdir().expect("tempdir");
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let (files, created) = LocalCa::ensure(dir.path(), &names).expect("generated");
        assert!(created);
        let first = std::fs::read(&files.server.cert).expect("cert");
        let (again, created) = LocalCa::ensure(dir.path(), &names).expect("kept");
        assert!(!created);
        assert_eq!(std::fs::read(&again.server.cert).expect("cert"), first);
        server_config(&files.server).expect("a server config");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&files.server.key)
            .expect("key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let listing: Vec<_> = std::fs::read_dir(dir.path())
            .expect("dir")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(listing.len(), 3, "no CA key is kept: {listing:?}");
    }

    #[test]
    fn a_key_that_does_not_match_is_refused() {
        let one = tempfile::tempdir().expect("tempdir");
        let two = tempfile::tempdir().expect("tempdir");
        let names = vec!["localhost".to_owned()];
        let (a, _) = LocalCa::ensure(one.path(), &names).expect("a");
        let (b, _) = LocalCa::ensure(two.path(), &names).expect("b");
        let mixed = CertificateFiles {
            cert: a.server.cert,
            key: b.server.key,
        };
        assert!(server_config(&mixed).is_err());
    }
}
