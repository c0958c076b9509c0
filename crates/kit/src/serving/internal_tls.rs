//! Mutual TLS between the services: each process has a certificate for its own name
//! (`gateway`, `users`, `products`, `orders`) from the deployment's internal CA, presents it
//! on every call, and checks the other side's.
//!
//! - A service listens for TLS only: a plain HTTP request never reaches it.
//! - A client verifies that the server's certificate names the service it meant to call,
//!   whatever host or address the URL has (`127.0.0.1` under `msa up`, `users` in compose).
//! - A server asks for a client certificate; a caller without one completes the handshake
//!   but reaches only the probes and metrics (`/healthz`, `/readyz`, `/metrics`: what
//!   orchestrators and scrapers call, without certificates), and the caller's name is put on
//!   each request ([`PeerName`]) for the gate to check against the token's issuer.
//!
//! The CA signs the four certificates when it is created and its private key is then
//! dropped, never written: nobody who later reads the files can mint a fifth.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};

/// The name of the directory, in the data directory, that `msa up` keeps them in.
pub const DIR_NAME: &str = "internal-tls";
const CA_FILE: &str = "ca.pem";
/// Long enough for a laptop's life; a deployment replaces them by running the script again.
const VALIDITY: Duration = Duration::from_secs(5 * 365 * 24 * 3600);

/// Where a process finds its side of mutual TLS, or that it is off.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
#[command(next_help_heading = "Mutual TLS between services")]
pub struct InternalTlsOptions {
    /// Directory of the internal CA's certificate (`ca.pem`) and this process's certificate
    /// and key (`<name>.pem`, `<name>.key`) [default: DATA_DIR/internal-tls, which `msa up`
    /// creates].
    #[arg(long, env = "MSA_INTERNAL_TLS_DIR")]
    pub internal_tls_dir: Option<PathBuf>,

    /// The internal CA's certificate, where it is not in the directory (a mounted secret)
    /// [default: DIR/ca.pem].
    #[arg(long, env = "MSA_INTERNAL_TLS_CA_FILE")]
    pub internal_tls_ca_file: Option<PathBuf>,

    /// This process's certificate, where it is not in the directory [default:
    /// DIR/<name>.pem].
    #[arg(long, env = "MSA_INTERNAL_TLS_CERT_FILE")]
    pub internal_tls_cert_file: Option<PathBuf>,

    /// This process's private key, where it is not in the directory [default:
    /// DIR/<name>.key].
    #[arg(long, env = "MSA_INTERNAL_TLS_KEY_FILE")]
    pub internal_tls_key_file: Option<PathBuf>,

    /// Plain HTTP between the services, without certificates: for measuring what mutual
    /// TLS costs, or a network that is protected otherwise.
    #[arg(long, env = "MSA_NO_INTERNAL_TLS", conflicts_with_all = [
        "internal_tls_dir", "internal_tls_ca_file", "internal_tls_cert_file", "internal_tls_key_file"
    ])]
    pub no_internal_tls: bool,
}

impl InternalTlsOptions {
    /// The directory of the files, if mutual TLS is on.
    pub fn dir(&self, data_dir: &Path) -> Option<PathBuf> {
        if self.no_internal_tls {
            return None;
        }
        Some(
            self.internal_tls_dir
                .clone()
                .unwrap_or_else(|| data_dir.join(DIR_NAME)),
        )
    }

    /// The side of `party`, or `None` when mutual TLS is off.
    pub fn load(&self, party: &str, data_dir: &Path) -> anyhow::Result<Option<InternalTls>> {
        let Some(dir) = self.dir(data_dir) else {
            return Ok(None);
        };
        let (ca, cert, key) = files(&dir, party);
        let chosen = |given: &Option<PathBuf>, default: PathBuf| given.clone().unwrap_or(default);
        InternalTls::load_files(
            &chosen(&self.internal_tls_ca_file, ca),
            &chosen(&self.internal_tls_cert_file, cert),
            &chosen(&self.internal_tls_key_file, key),
            party,
        )
        .map(Some)
    }
}

/// `url` over HTTPS: with mutual TLS on, a service is called over TLS whatever scheme its
/// configured URL names (the defaults, and `msa up`'s, are `http://`).
pub fn https(url: &str) -> String {
    match url.strip_prefix("http://") {
        Some(rest) => format!("https://{rest}"),
        None => url.to_owned(),
    }
}

/// The service a caller's certificate names, noted on each request it makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerName(pub Arc<str>);

/// Where the files of `party` are in `dir`: the CA certificate, its own certificate, its key.
pub fn files(dir: &Path, party: &str) -> (PathBuf, PathBuf, PathBuf) {
    (
        dir.join(CA_FILE),
        dir.join(format!("{party}.pem")),
        dir.join(format!("{party}.key")),
    )
}

/// Creates the CA and a certificate for each of `parties` in `dir`, unless the CA exists.
/// Says whether it created them.
pub fn ensure(dir: &Path, parties: &[&str]) -> anyhow::Result<bool> {
    if dir.join(CA_FILE).exists() {
        return Ok(false);
    }
    crate::files::ensure_private_dir(dir)?;
    let issued = issue(parties).context("Failed to create the internal certificate authority")?;
    for (party, cert, key) in &issued.certificates {
        let (_, cert_file, key_file) = files(dir, party);
        crate::files::write_private_file(&key_file, key.as_bytes())?;
        crate::files::write_private_file(&cert_file, cert.as_bytes())?;
    }
    // Last: its presence says the set is whole.
    crate::files::write_private_file(&dir.join(CA_FILE), issued.ca.as_bytes())?;
    Ok(true)
}

struct Issued {
    ca: String,
    /// (party, certificate, key), PEM.
    certificates: Vec<(String, String, String)>,
}

fn issue(parties: &[&str]) -> Result<Issued, rcgen::Error> {
    let now = ::time::OffsetDateTime::now_utc();
    let yesterday = now - ::time::Duration::days(1);
    let (ca, issuer) = crate::serving::tls::new_authority("msa-shop internal CA", VALIDITY)?;
    let mut certificates = Vec::new();
    for party in parties {
        let mut params = CertificateParams::new(vec![(*party).to_owned()])?;
        params.distinguished_name.push(DnType::CommonName, *party);
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        // Each process is both a server and a client.
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.not_before = yesterday;
        params.not_after = now + VALIDITY;
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &issuer)?;
        certificates.push(((*party).to_owned(), cert.pem(), key.serialize_pem()));
    }
    Ok(Issued { ca, certificates })
}

/// One process's side of mutual TLS: the CA it trusts, and its own certificate and key.
#[derive(Clone)]
pub struct InternalTls {
    party: Arc<str>,
    roots: Arc<RootCertStore>,
    chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
}

impl std::fmt::Debug for InternalTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InternalTls")
            .field("party", &self.party)
            .finish_non_exhaustive()
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl InternalTls {
    /// The files of `party` in `dir`.
    pub fn load(dir: &Path, party: &str) -> anyhow::Result<Self> {
        let (ca, cert, key) = files(dir, party);
        Self::load_files(&ca, &cert, &key, party)
    }

    /// `party`'s side from the CA certificate `ca`, its certificate `cert` and key `key`.
    pub fn load_files(ca: &Path, cert: &Path, key: &Path, party: &str) -> anyhow::Result<Self> {
        let missing = [ca, cert, key].into_iter().find(|file| !file.is_file());
        if let Some(missing) = missing {
            anyhow::bail!(
                "{} does not exist: mutual TLS between the services needs the internal CA's \
                 files (`msa up` creates them; `msa certs` for other deployments), or \
                 --no-internal-tls",
                missing.display()
            );
        }
        let roots = roots_from(ca)?;
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .with_context(|| format!("Failed to read {}", cert.display()))?
            .collect::<Result<_, _>>()
            .with_context(|| format!("{} holds no valid certificate", cert.display()))?;
        anyhow::ensure!(!chain.is_empty(), "{} holds no certificate", cert.display());
        anyhow::ensure!(
            names_party(&chain[0], party),
            "{} is not a certificate for {party}",
            cert.display()
        );
        let key = PrivateKeyDer::from_pem_file(key)
            .with_context(|| format!("{} holds no private key", key.display()))?;
        Ok(Self {
            party: party.into(),
            roots,
            chain,
            key: Arc::new(key),
        })
    }

    pub fn party(&self) -> &str {
        &self.party
    }

    /// The server side: this process's certificate, and a request for the caller's, which
    /// must chain to the internal CA if it is given at all.
    pub fn server_config(&self) -> anyhow::Result<Arc<ServerConfig>> {
        let verifier = WebPkiClientVerifier::builder_with_provider(self.roots.clone(), provider())
            .allow_unauthenticated()
            .build()
            .context("the internal CA cannot verify clients")?;
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .context("TLS protocol versions")?
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .context("The internal certificate and its key do not belong together")?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// The client side, for calls to `service`: the server must prove to be `service`, and
    /// this process proves to be itself.
    pub fn client_config(&self, service: &str) -> anyhow::Result<ClientConfig> {
        self.client_config_expecting(Expected::Service(service.to_owned()))
    }

    /// The client side, accepting any server of the internal CA whose certificate names one
    /// of `services` (for tests, which call every service with one client).
    pub fn client_config_for_any(&self, services: &[&str]) -> anyhow::Result<ClientConfig> {
        self.client_config_expecting(Expected::any_of(services))
    }

    /// Like [`Self::client_config_for_any`], presenting no certificate: what a probe, or
    /// a stranger on the network who trusts the CA, gets.
    pub fn client_config_without_certificate(
        &self,
        services: &[&str],
    ) -> anyhow::Result<ClientConfig> {
        Ok(client_builder(self.roots.clone(), Expected::any_of(services))?.with_no_client_auth())
    }

    fn client_config_expecting(&self, expected: Expected) -> anyhow::Result<ClientConfig> {
        client_builder(self.roots.clone(), expected)?
            .with_client_auth_cert(self.chain.clone(), self.key.clone_key())
            .context("The internal certificate and its key do not belong together")
    }
}

/// The CA certificates in `ca`.
fn roots_from(ca: &Path) -> anyhow::Result<Arc<RootCertStore>> {
    let mut roots = RootCertStore::empty();
    for certificate in CertificateDer::pem_file_iter(ca)
        .with_context(|| format!("Failed to read {}", ca.display()))?
    {
        let certificate =
            certificate.with_context(|| format!("{} holds no valid certificate", ca.display()))?;
        roots
            .add(certificate)
            .with_context(|| format!("{} holds an unusable CA certificate", ca.display()))?;
    }
    Ok(Arc::new(roots))
}

/// A client that trusts the CA in `ca` and accepts a server whose certificate names one of
/// `services`, presenting none of its own: what a container's health check needs.
pub fn probe_config(ca: &Path, services: &[&str]) -> anyhow::Result<ClientConfig> {
    Ok(client_builder(roots_from(ca)?, Expected::any_of(services))?.with_no_client_auth())
}

/// A client that trusts `roots` and checks the server against `expected`.
fn client_builder(
    roots: Arc<RootCertStore>,
    expected: Expected,
) -> anyhow::Result<rustls::ConfigBuilder<ClientConfig, rustls::client::WantsClientCert>> {
    let inner = WebPkiServerVerifier::builder_with_provider(roots, provider())
        .build()
        .context("the internal CA cannot verify servers")?;
    Ok(ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .context("TLS protocol versions")?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NamedServer { inner, expected })))
}

/// Whether `certificate` is valid for the DNS name `party`.
fn names_party(certificate: &CertificateDer<'_>, party: &str) -> bool {
    let Ok(name) = ServerName::try_from(party) else {
        return false;
    };
    webpki::EndEntityCert::try_from(certificate)
        .is_ok_and(|cert| cert.verify_is_valid_for_subject_name(&name).is_ok())
}

/// Which of `parties` the caller's certificate names (rustls has already checked that it
/// chains to the internal CA), if it presented one.
pub fn peer_name(
    certificates: Option<&[CertificateDer<'_>]>,
    parties: &[&str],
) -> Option<PeerName> {
    let first = certificates?.first()?;
    parties
        .iter()
        .find(|party| names_party(first, party))
        .map(|party| PeerName((*party).into()))
}

#[derive(Debug)]
enum Expected {
    Service(String),
    AnyOf(Vec<String>),
}

impl Expected {
    fn any_of(services: &[&str]) -> Self {
        Self::AnyOf(services.iter().map(|&name| name.to_owned()).collect())
    }
}

/// Checks the server's certificate against the name of the service meant, not the URL's
/// host: on loopback every service is `127.0.0.1`, and only the name tells them apart.
#[derive(Debug)]
struct NamedServer {
    inner: Arc<WebPkiServerVerifier>,
    expected: Expected,
}

impl ServerCertVerifier for NamedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _url_host: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let names: Vec<&str> = match &self.expected {
            Expected::Service(name) => vec![name.as_str()],
            Expected::AnyOf(names) => names.iter().map(String::as_str).collect(),
        };
        let mut last = rustls::Error::General("no service name to expect".to_owned());
        for name in names {
            let name = ServerName::try_from(name)
                .map_err(|_| rustls::Error::General(format!("{name} is not a DNS name")))?;
            match self.inner.verify_server_cert(
                end_entity,
                intermediates,
                &name,
                ocsp_response,
                now,
            ) {
                Ok(verified) => return Ok(verified),
                Err(error) => last = error,
            }
        }
        Err(last)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ca_is_made_once_and_each_certificate_names_its_process() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(ensure(dir.path(), &["gateway", "users"]).expect("created"));
        assert!(!ensure(dir.path(), &["gateway", "users"]).expect("kept"));
        let gateway = InternalTls::load(dir.path(), "gateway").expect("loads");
        gateway.server_config().expect("a server config");
        gateway.client_config("users").expect("a client config");
        assert!(names_party(&gateway.chain[0], "gateway"));
        assert!(!names_party(&gateway.chain[0], "users"));
        assert_eq!(
            peer_name(Some(&gateway.chain), &["users", "gateway"]),
            Some(PeerName("gateway".into()))
        );
        assert_eq!(peer_name(None, &["gateway"]), None);
        // The users certificate is not the gateway's.
        std::fs::copy(dir.path().join("users.pem"), dir.path().join("gateway.pem")).expect("copy");
        assert!(InternalTls::load(dir.path(), "gateway").is_err());
        let listing: Vec<_> = std::fs::read_dir(dir.path())
            .expect("dir")
            .flatten()
            .map(|entry| entry.file_name())
            .collect();
        assert_eq!(listing.len(), 5, "no CA key is kept: {listing:?}");
    }
}
