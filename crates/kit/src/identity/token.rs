//! Identity tokens: a short-lived statement "this request acts for principal P, with role R
//! and scopes S, and is meant for service A", signed with Ed25519 by the caller that vouches
//! for it (the gateway, or a service calling another).
//!
//! The format is fixed, `v1.<claims>.<signature>` (both base64url without padding), with one
//! algorithm and no header to negotiate it, so the classic confusions of general-purpose
//! token formats (`alg: none`, a public key taken as an HMAC secret) have nowhere to start.
//! The signature covers a domain-separated message, so a signature made for anything else
//! never verifies as a token. Verification checks, in order: shape and size, that the issuer
//! is trusted, the signature by that issuer's key, the audience, and the time window,
//! including a cap on the lifetime so even a validly signed long-lived token is refused.
//!
//! Keys are 32-byte Ed25519 seeds in owner-only files, generated on first start; public
//! keys travel as base64 text in configuration.

use std::collections::HashMap;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use rand::Rng;
use serde::{Deserialize, Serialize};

const VERSION: &str = "v1";
/// Prepended to the signed bytes: a signature for any other purpose cannot pass as a token.
const DOMAIN: &[u8] = b"msa-shop identity token v1\n";
/// No token is longer; anything longer is refused before it is decoded.
pub const MAX_TOKEN_BYTES: usize = 4096;
/// The longest lifetime a verifier accepts, whatever the token says.
pub const MAX_LIFETIME_SECONDS: i64 = 60;
/// Tolerated clock difference between signer and verifier.
pub const CLOCK_LEEWAY_SECONDS: i64 = 5;

/// What a token states. Unknown members are refused, so nothing unsigned can ride along.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    /// Who signed: the name under which verifiers know the signing key.
    pub iss: String,
    /// The one service this token is for.
    pub aud: String,
    /// The principal: `anonymous`, `user:<id>` (through a session or an API key alike) or
    /// `service:<name>`.
    pub sub: String,
    pub role: String,
    pub scopes: Vec<String>,
    /// The request id, tying the token to the logs of one request.
    pub rid: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds.
    pub exp: i64,
}

/// Why a token was refused. Callers answer all of them alike (401), and log the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is malformed")]
    Malformed,
    #[error("token issuer is not trusted")]
    UntrustedIssuer,
    #[error("token signature is invalid")]
    BadSignature,
    #[error("token is meant for another service")]
    WrongAudience,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet, or lives too long")]
    BadLifetime,
}

/// Mints tokens under one issuer name with one key.
pub struct TokenSigner {
    issuer: String,
    key: SigningKey,
}

impl TokenSigner {
    pub fn new(issuer: impl Into<String>, key: SigningKey) -> Self {
        Self {
            issuer: issuer.into(),
            key,
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The key verifiers need, as configuration text.
    pub fn public_key(&self) -> String {
        B64.encode(self.key.verifying_key().to_bytes())
    }

    /// Signs `claims`, stamping this signer as the issuer.
    pub fn sign(&self, mut claims: Claims) -> String {
        claims.iss.clone_from(&self.issuer);
        let payload = B64
            .encode(serde_json::to_vec(&claims).expect("BUG: claims are plain data and serialize"));
        let signature = self.key.sign(&signed_message(&payload));
        format!("{VERSION}.{payload}.{}", B64.encode(signature.to_bytes()))
    }
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner")
            .field("issuer", &self.issuer)
            .field("key", &"[redacted]")
            .finish()
    }
}

/// Checks tokens meant for one audience against the issuers it trusts.
#[derive(Debug, Clone)]
pub struct TokenVerifier {
    audience: String,
    trusted: HashMap<String, VerifyingKey>,
}

impl TokenVerifier {
    pub fn new(audience: impl Into<String>) -> Self {
        Self {
            audience: audience.into(),
            trusted: HashMap::new(),
        }
    }

    /// Trusts tokens signed by `issuer` with the key whose public half is `public_key`.
    pub fn trust(mut self, issuer: impl Into<String>, public_key: &str) -> Result<Self, String> {
        let key = parse_public_key(public_key)?;
        self.trusted.insert(issuer.into(), key);
        Ok(self)
    }

    /// The claims of `token` if it is authentic, meant for this audience and current at `now`.
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(VERSION), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let claims_json = B64.decode(payload).map_err(|_| TokenError::Malformed)?;
        let signature: [u8; 64] = B64
            .decode(signature)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(TokenError::Malformed)?;
        // The issuer is read before the signature is checked only to pick the key; nothing
        // else in the claims is believed until the signature holds.
        let claims: Claims =
            serde_json::from_slice(&claims_json).map_err(|_| TokenError::Malformed)?;
        let key = self
            .trusted
            .get(&claims.iss)
            .ok_or(TokenError::UntrustedIssuer)?;
        key.verify_strict(&signed_message(payload), &Signature::from_bytes(&signature))
            .map_err(|_| TokenError::BadSignature)?;
        if claims.aud != self.audience {
            return Err(TokenError::WrongAudience);
        }
        if claims.exp <= now - CLOCK_LEEWAY_SECONDS {
            return Err(TokenError::Expired);
        }
        let lifetime = claims.exp - claims.iat;
        if claims.iat > now + CLOCK_LEEWAY_SECONDS
            || !(1..=MAX_LIFETIME_SECONDS).contains(&lifetime)
        {
            return Err(TokenError::BadLifetime);
        }
        Ok(claims)
    }
}

fn signed_message(payload: &str) -> Vec<u8> {
    let mut message = Vec::with_capacity(DOMAIN.len() + payload.len());
    message.extend_from_slice(DOMAIN);
    message.extend_from_slice(payload.as_bytes());
    message
}

/// Reads a public key from configuration text (base64url of the 32 key bytes).
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, String> {
    let bytes: [u8; 32] = B64
        .decode(text.trim())
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| "a public key is 32 bytes in unpadded base64url".to_owned())?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| "not a valid Ed25519 public key".to_owned())
}

/// The signing key in `path`, created there (owner-only) with fresh randomness if absent.
pub fn load_or_generate_key(path: &Path) -> anyhow::Result<SigningKey> {
    use anyhow::Context;
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let seed: [u8; 32] = B64
                .decode(text.trim())
                .ok()
                .and_then(|bytes| bytes.try_into().ok())
                .with_context(|| format!("{} does not hold a signing key", path.display()))?;
            Ok(SigningKey::from_bytes(&seed))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            rand::rng().fill_bytes(&mut seed);
            crate::files::write_private_file(path, B64.encode(seed).as_bytes())?;
            Ok(SigningKey::from_bytes(&seed))
        }
        Err(error) => Err(error).with_context(|| format!("Failed to read {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn claims(aud: &str, iat: i64, exp: i64) -> Claims {
        Claims {
            iss: String::new(),
            aud: aud.to_owned(),
            sub: "user:1".to_owned(),
            role: "customer".to_owned(),
            scopes: vec!["orders:write".to_owned()],
            rid: "req-1".to_owned(),
            iat,
            exp,
        }
    }

    fn gateway() -> TokenSigner {
        TokenSigner::new("gateway", key(1))
    }

    fn orders_verifier() -> TokenVerifier {
        TokenVerifier::new("orders")
            .trust("gateway", &gateway().public_key())
            .expect("valid key")
    }

    #[test]
    fn a_token_for_this_audience_verifies() {
        let token = gateway().sign(claims("orders", NOW, NOW + 30));
        let verified = orders_verifier().verify(&token, NOW + 1);
        let mut expected = claims("orders", NOW, NOW + 30);
        expected.iss = "gateway".to_owned();
        assert_eq!(verified, Ok(expected));
    }

    #[test]
    fn a_token_for_another_audience_is_refused() {
        let token = gateway().sign(claims("products", NOW, NOW + 30));
        assert_eq!(
            orders_verifier().verify(&token, NOW),
            Err(TokenError::WrongAudience)
        );
    }

    #[test]
    fn expired_future_and_long_lived_tokens_are_refused() {
        let verifier = orders_verifier();
        let expired = gateway().sign(claims("orders", NOW - 40, NOW - 10));
        assert_eq!(verifier.verify(&expired, NOW), Err(TokenError::Expired));
        let future = gateway().sign(claims("orders", NOW + 60, NOW + 90));
        assert_eq!(verifier.verify(&future, NOW), Err(TokenError::BadLifetime));
        let forever = gateway().sign(claims("orders", NOW, NOW + 3600));
        assert_eq!(verifier.verify(&forever, NOW), Err(TokenError::BadLifetime));
        let backwards = gateway().sign(claims("orders", NOW, NOW - 1));
        assert!(verifier.verify(&backwards, NOW).is_err());
    }

    #[test]
    fn a_token_signed_by_an_untrusted_key_is_refused() {
        // Claims to be the gateway, but signed with another key.
        let impostor = TokenSigner::new("gateway", key(2)).sign(claims("orders", NOW, NOW + 30));
        assert_eq!(
            orders_verifier().verify(&impostor, NOW),
            Err(TokenError::BadSignature)
        );
        let stranger = TokenSigner::new("stranger", key(2)).sign(claims("orders", NOW, NOW + 30));
        assert_eq!(
            orders_verifier().verify(&stranger, NOW),
            Err(TokenError::UntrustedIssuer)
        );
    }

    #[test]
    fn tampered_tokens_are_refused() {
        let token = gateway().sign(claims("orders", NOW, NOW + 30));
        let (head, signature) = token.rsplit_once('.').expect("three parts");
        // Promote the principal to an admin while keeping the signature.
        let mut forged = claims("orders", NOW, NOW + 30);
        forged.iss = "gateway".to_owned();
        forged.role = "admin".to_owned();
        let forged_payload = B64.encode(serde_json::to_vec(&forged).expect("json"));
        let forged_token = format!("v1.{forged_payload}.{signature}");
        assert_eq!(
            orders_verifier().verify(&forged_token, NOW),
            Err(TokenError::BadSignature)
        );
        let mut bad_signature = B64.decode(signature).expect("b64");
        bad_signature[0] ^= 1;
        let flipped = format!("{head}.{}", B64.encode(bad_signature));
        assert_eq!(
            orders_verifier().verify(&flipped, NOW),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn malformed_tokens_are_refused_without_panicking() {
        let verifier = orders_verifier();
        let token = gateway().sign(claims("orders", NOW, NOW + 30));
        let too_long = "v".repeat(MAX_TOKEN_BYTES + 1);
        let extra_member = {
            let mut value = serde_json::to_value(claims("orders", NOW, NOW + 30)).expect("json");
            value["admin"] = true.into();
            let payload = B64.encode(serde_json::to_vec(&value).expect("json"));
            let signature = gateway().key.sign(&signed_message(&payload));
            format!("v1.{payload}.{}", B64.encode(signature.to_bytes()))
        };
        for bad in [
            "",
            "v1",
            "v1..",
            "v2.a.b",
            "v1.!!!.???",
            "v1.e30.AAAA",
            &token.replacen("v1.", "v0.", 1),
            &format!("{token}.extra"),
            &too_long,
            &extra_member,
        ] {
            assert!(verifier.verify(bad, NOW).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn a_signature_from_another_context_is_no_token() {
        // The same key signing the bare payload (no domain prefix) must not verify.
        let mut stated = claims("orders", NOW, NOW + 30);
        stated.iss = "gateway".to_owned();
        let payload = B64.encode(serde_json::to_vec(&stated).expect("json"));
        let signature = gateway().key.sign(payload.as_bytes());
        let token = format!("v1.{payload}.{}", B64.encode(signature.to_bytes()));
        assert_eq!(
            orders_verifier().verify(&token, NOW),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn keys_are_generated_once_into_private_files() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("gateway.key");
        let first = load_or_generate_key(&path).expect("generated");
        let mode = std::fs::metadata(&path).expect("file").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = load_or_generate_key(&path).expect("loaded");
        assert_eq!(first.to_bytes(), again.to_bytes());
        std::fs::write(&path, "not a key").expect("write");
        assert!(load_or_generate_key(&path).is_err());
        assert!(parse_public_key("short").is_err());
        let debug = format!("{:?}", TokenSigner::new("gateway", first));
        assert!(debug.contains("[redacted]") && !debug.contains("key: ["));
    }
}
