//! Identity tokens: a short-lived statement "this request, `METHOD /path` with this body,
//! acts for principal P, with role R and scopes S, and is meant for service A", made by the
//! caller that vouches for it (the gateway, or a service calling another) under a key that
//! only it and service A hold. What ties a token to its one request is checked by
//! [`crate::identity::binding`]; that a state-changing one is used once, by
//! [`crate::identity::replay`].
//!
//! The format is fixed, `v3.<claims>.<tag>` (both base64url without padding), with one
//! algorithm and no header to negotiate it, so the classic confusions of general-purpose
//! token formats (`alg: none`, a public key taken as an HMAC secret) have nowhere to start.
//! The tag is HMAC-SHA256 over a domain-separated message, so a tag made for anything else
//! never verifies as a token. Verification checks, in order: shape and size, that the issuer
//! is trusted, the tag under that issuer's key for this audience, the audience, and the time
//! window, including a cap on the lifetime so even an authentic long-lived token is refused.
//!
//! Keys: every process holds one X25519 secret (32 bytes in an owner-only file, generated
//! on first start), and configuration gives it the public keys of the processes it talks
//! to. An issuer and an audience each derive the same MAC key for tokens from the one to
//! the other (X25519, then HKDF-SHA256 bound to both names and the direction), and no third
//! process can: it holds neither secret. An Ed25519 signature gave the same guarantee (a
//! token for service A is made by its issuer and checked by A, and by no one else) at a
//! hundred times the cost per hop; `docs/security.md` compares the two.

use std::collections::HashMap;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use curve25519_dalek::montgomery::MontgomeryPoint;
use hmac::{Hmac, KeyInit, Mac};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

const VERSION: &str = "v3";
/// Prepended to the authenticated bytes: a tag for any other purpose cannot pass as a token.
const DOMAIN: &[u8] = b"msa-shop identity token v3\n";
/// The HKDF salt of the pair keys: an agreed secret used for anything else gives other keys.
const KEY_DOMAIN: &[u8] = b"msa-shop identity token pair key v2";
const TAG_BYTES: usize = 32;
/// No token is longer; anything longer is refused before it is decoded.
pub const MAX_TOKEN_BYTES: usize = 4096;
/// The longest lifetime a verifier accepts, whatever the token says.
pub const MAX_LIFETIME_SECONDS: i64 = 60;
/// Tolerated clock difference between issuer and verifier.
pub const CLOCK_LEEWAY_SECONDS: i64 = 5;

type HmacSha256 = Hmac<Sha256>;

/// What a token states. Unknown members are refused, so nothing unauthenticated can ride
/// along.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    /// Who made the token: the name under which the audience knows the issuer's key.
    pub iss: String,
    /// Which of the issuer's pair keys with the audience made the tag ([`PairKey::id`]):
    /// while a key is being rotated, a verifier holds the old and the new one.
    pub kid: String,
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
    /// This token's unique id, 16 random bytes in base64url: a state-changing request's
    /// token is accepted once.
    pub jti: String,
    /// The method of the one request this token is for.
    pub htm: String,
    /// The target (path and query, as sent) of the one request this token is for.
    pub htu: String,
    /// For a request that changes state, the SHA-256 of its body in base64url: the token
    /// vouches for that body and no other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bdh: Option<String>,
}

/// Why a token was refused. Callers answer all of them alike (401), and log the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is malformed")]
    Malformed,
    #[error("token issuer is not trusted")]
    UntrustedIssuer,
    #[error("token was made under a key this service does not hold")]
    UnknownKey,
    #[error("token tag is invalid")]
    BadTag,
    #[error("token is meant for another service")]
    WrongAudience,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet, or lives too long")]
    BadLifetime,
    #[error("token was made for another method or path")]
    WrongRequest,
    #[error("token was made for another body")]
    WrongBody,
    #[error("token was used before")]
    Replayed,
}

/// The secret of one process: an X25519 scalar, from which it agrees a MAC key with each
/// process it calls or answers.
#[derive(Clone)]
pub struct PartyKey([u8; 32]);

impl PartyKey {
    pub fn from_bytes(secret: [u8; 32]) -> Self {
        Self(secret)
    }

    /// The key other processes need, as configuration text.
    pub fn public_key(&self) -> String {
        B64.encode(MontgomeryPoint::mul_base_clamped(self.0).to_bytes())
    }

    /// A key of this process's own for `purpose` (such as signing its forms), which no other
    /// process can compute and which changes with nothing but the secret.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let mut key = [0u8; 32];
        hkdf::Hkdf::<Sha256>::new(Some(KEY_DOMAIN), &self.0)
            .expand(purpose.as_bytes(), &mut key)
            .expect("BUG: 32 bytes is a valid HKDF-SHA256 output length");
        key
    }

    /// The key for tokens from `issuer` to `audience`, one of which is this process and the
    /// other the holder of `peer`'s secret.
    pub fn pair_key(
        &self,
        peer: &PublicKey,
        issuer: &str,
        audience: &str,
    ) -> Result<PairKey, String> {
        if peer.0 == MontgomeryPoint::mul_base_clamped(self.0) {
            return Err("it is this process's own key; each process needs its own".to_owned());
        }
        let shared = peer.0.mul_clamped(self.0).to_bytes();
        // A point of small order agrees the same (zero) secret with everyone.
        if shared == [0; 32] {
            return Err("not a usable X25519 public key".to_owned());
        }
        let mut info = Vec::with_capacity(issuer.len() + audience.len() + 2);
        info.extend_from_slice(issuer.as_bytes());
        info.push(0);
        info.extend_from_slice(audience.as_bytes());
        info.push(0);
        let mut key = [0u8; 32];
        hkdf::Hkdf::<Sha256>::new(Some(KEY_DOMAIN), &shared)
            .expand(&info, &mut key)
            .expect("BUG: 32 bytes is a valid HKDF-SHA256 output length");
        let mac = HmacSha256::new_from_slice(&key).expect("BUG: HMAC takes keys of any length");
        let own = MontgomeryPoint::mul_base_clamped(self.0).to_bytes();
        Ok(PairKey {
            mac,
            id: key_id(&own, &peer.0.to_bytes(), &info),
        })
    }
}

impl std::fmt::Debug for PartyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PartyKey([redacted])")
    }
}

/// Another process's public key, as configuration gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(MontgomeryPoint);

/// The MAC key of tokens from one issuer to one audience, keyed once.
#[derive(Clone)]
pub struct PairKey {
    mac: HmacSha256,
    id: String,
}

impl PairKey {
    fn tag(&self, payload: &str) -> HmacSha256 {
        let mut mac = self.mac.clone();
        mac.update(DOMAIN);
        mac.update(payload.as_bytes());
        mac
    }

    /// Names this key without revealing it: a digest of the two public keys and the two
    /// names it was agreed for, the same at both ends.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// The id of the pair key of two public keys (in either order) and `names`.
fn key_id(one: &[u8; 32], other: &[u8; 32], names: &[u8]) -> String {
    use sha2::Digest;
    let (low, high) = if one <= other {
        (one, other)
    } else {
        (other, one)
    };
    let digest = Sha256::new()
        .chain_update(b"msa-shop identity token key id v3\n")
        .chain_update(low)
        .chain_update(high)
        .chain_update(names)
        .finalize();
    B64.encode(&digest[..9])
}

impl std::fmt::Debug for PairKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PairKey([redacted])")
    }
}

/// Makes tokens under one issuer name for the audiences it has a pair key with.
#[derive(Debug, Clone)]
pub struct TokenSigner {
    issuer: String,
    audiences: HashMap<String, PairKey>,
}

impl TokenSigner {
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audiences: HashMap::new(),
        }
    }

    /// Makes tokens for `audience` under `key`.
    pub fn towards(mut self, audience: impl Into<String>, key: PairKey) -> Self {
        self.audiences.insert(audience.into(), key);
        self
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The token stating `claims`, stamped with this issuer, if it has a key for their
    /// audience.
    pub fn sign(&self, mut claims: Claims) -> Option<String> {
        let key = self.audiences.get(&claims.aud)?;
        claims.iss.clone_from(&self.issuer);
        claims.kid.clone_from(&key.id);
        let payload = B64
            .encode(serde_json::to_vec(&claims).expect("BUG: claims are plain data and serialize"));
        let tag = key.tag(&payload).finalize().into_bytes();
        Some(format!("{VERSION}.{payload}.{}", B64.encode(tag)))
    }
}

/// Checks tokens meant for one audience against the issuers it trusts, each with one or
/// more pair keys (more while a key is being rotated).
#[derive(Debug, Clone)]
pub struct TokenVerifier {
    audience: String,
    trusted: HashMap<String, Vec<PairKey>>,
}

impl TokenVerifier {
    pub fn new(audience: impl Into<String>) -> Self {
        Self {
            audience: audience.into(),
            trusted: HashMap::new(),
        }
    }

    /// Trusts tokens from `issuer` made under `key`, one of their pair keys.
    pub fn trust(mut self, issuer: impl Into<String>, key: PairKey) -> Self {
        self.trusted.entry(issuer.into()).or_default().push(key);
        self
    }

    /// The ids of the keys trusted for `issuer`.
    pub fn key_ids(&self, issuer: &str) -> Vec<&str> {
        self.trusted
            .get(issuer)
            .map(|keys| keys.iter().map(PairKey::id).collect())
            .unwrap_or_default()
    }

    /// The claims of `token` if it is authentic, meant for this audience and current at `now`.
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(VERSION), Some(payload), Some(tag), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let claims_json = B64.decode(payload).map_err(|_| TokenError::Malformed)?;
        let tag = B64
            .decode(tag)
            .ok()
            .filter(|tag| tag.len() == TAG_BYTES)
            .ok_or(TokenError::Malformed)?;
        // The issuer is read before the tag is checked only to pick the key; nothing else in
        // the claims is believed until the tag holds.
        let claims: Claims =
            serde_json::from_slice(&claims_json).map_err(|_| TokenError::Malformed)?;
        let key = self
            .trusted
            .get(&claims.iss)
            .ok_or(TokenError::UntrustedIssuer)?
            .iter()
            .find(|key| key.id == claims.kid)
            .ok_or(TokenError::UnknownKey)?;
        // In constant time: how much of a guess matched tells an attacker nothing.
        key.tag(payload)
            .verify_slice(&tag)
            .map_err(|_| TokenError::BadTag)?;
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
        if token_id(&claims.jti).is_none() {
            return Err(TokenError::Malformed);
        }
        Ok(claims)
    }
}

/// A fresh token id: 128 random bits, as [`Claims::jti`] carries them.
pub fn new_token_id() -> String {
    let mut id = [0u8; 16];
    rand::rng().fill_bytes(&mut id);
    B64.encode(id)
}

/// The 128 bits of a token id, if `jti` is one.
pub fn token_id(jti: &str) -> Option<u128> {
    let bytes: [u8; 16] = B64.decode(jti).ok()?.try_into().ok()?;
    Some(u128::from_le_bytes(bytes))
}

/// Reads a public key from configuration text (base64url of the 32 key bytes).
pub fn parse_public_key(text: &str) -> Result<PublicKey, String> {
    let bytes: [u8; 32] = B64
        .decode(text.trim())
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| "a public key is 32 bytes in unpadded base64url".to_owned())?;
    Ok(PublicKey(MontgomeryPoint(bytes)))
}

/// The secrets in a key file: one per line (base64url of 32 bytes), the current one first;
/// more than one while a rotation is under way.
pub fn parse_secrets(bytes: &[u8]) -> anyhow::Result<Vec<PartyKey>> {
    let text = std::str::from_utf8(bytes).map_err(|_| anyhow::anyhow!("not UTF-8"))?;
    let secrets = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| {
            B64.decode(line)
                .ok()
                .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                .map(PartyKey)
                .ok_or_else(|| anyhow::anyhow!("a line is not a key"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    anyhow::ensure!(!secrets.is_empty(), "no key");
    Ok(secrets)
}

/// A fresh secret, as a key file's line.
pub fn new_secret_line() -> String {
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    B64.encode(secret)
}

/// The current secret in `path`, created there (owner-only) with fresh randomness if absent.
pub fn load_or_generate_key(path: &Path) -> anyhow::Result<PartyKey> {
    use anyhow::Context;
    match std::fs::read(path) {
        Ok(bytes) => Ok(parse_secrets(&bytes)
            .with_context(|| format!("{} does not hold a key", path.display()))?
            .swap_remove(0)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let line = new_secret_line();
            crate::files::write_private_file(path, format!("{line}\n").as_bytes())?;
            Ok(parse_secrets(line.as_bytes())?.swap_remove(0))
        }
        Err(error) => Err(error).with_context(|| format!("Failed to read {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn key(seed: u8) -> PartyKey {
        PartyKey::from_bytes([seed; 32])
    }

    fn public(seed: u8) -> PublicKey {
        parse_public_key(&key(seed).public_key()).expect("a public key parses")
    }

    const GATEWAY: u8 = 1;
    const ORDERS: u8 = 2;
    const PRODUCTS: u8 = 3;

    fn claims(aud: &str, iat: i64, exp: i64) -> Claims {
        Claims {
            iss: String::new(),
            kid: String::new(),
            aud: aud.to_owned(),
            sub: "user:1".to_owned(),
            role: "customer".to_owned(),
            scopes: vec!["orders:write".to_owned()],
            rid: "req-1".to_owned(),
            iat,
            exp,
            jti: new_token_id(),
            htm: "GET".to_owned(),
            htu: "/orders/1".to_owned(),
            bdh: None,
        }
    }

    /// The gateway, with the keys it derives for orders and products.
    fn gateway() -> TokenSigner {
        let own = key(GATEWAY);
        TokenSigner::new("gateway")
            .towards(
                "orders",
                own.pair_key(&public(ORDERS), "gateway", "orders")
                    .expect("agreed"),
            )
            .towards(
                "products",
                own.pair_key(&public(PRODUCTS), "gateway", "products")
                    .expect("agreed"),
            )
    }

    /// order-service, with the key it derives for the gateway's tokens.
    fn orders_verifier() -> TokenVerifier {
        let own = key(ORDERS);
        TokenVerifier::new("orders").trust(
            "gateway",
            own.pair_key(&public(GATEWAY), "gateway", "orders")
                .expect("agreed"),
        )
    }

    fn sign(signer: &TokenSigner, claims: Claims) -> String {
        signer
            .sign(claims)
            .expect("the signer has a key for the audience")
    }

    #[test]
    fn a_token_for_this_audience_verifies() {
        let stated = claims("orders", NOW, NOW + 30);
        let token = sign(&gateway(), stated.clone());
        let verified = orders_verifier().verify(&token, NOW + 1);
        let mut expected = stated;
        expected.iss = "gateway".to_owned();
        expected.kid = orders_kid();
        assert_eq!(verified, Ok(expected));
    }

    /// The id of the genuine key of tokens from the gateway to order-service.
    fn orders_kid() -> String {
        key(ORDERS)
            .pair_key(&public(GATEWAY), "gateway", "orders")
            .expect("agreed")
            .id()
            .to_owned()
    }

    /// A token with `claims` exactly as given (issuer and key id included), tagged under
    /// `key`: what a forger can make with a key that is not the right one.
    fn forged(key: &PairKey, claims: &Claims) -> String {
        let payload = B64.encode(serde_json::to_vec(claims).expect("json"));
        let tag = key.tag(&payload).finalize().into_bytes();
        format!("v3.{payload}.{}", B64.encode(tag))
    }

    /// `claims` from the gateway, naming the genuine key of its tokens for order-service.
    fn as_if_for_orders(mut claims: Claims) -> Claims {
        claims.iss = "gateway".to_owned();
        claims.kid = orders_kid();
        claims
    }

    #[test]
    fn a_token_for_another_audience_is_refused() {
        // Made under the gateway's key for products: order-service holds no key of that id.
        let token = sign(&gateway(), claims("products", NOW, NOW + 30));
        assert_eq!(
            orders_verifier().verify(&token, NOW),
            Err(TokenError::UnknownKey)
        );
        // Naming order-service's key id does not make the tag match.
        let products_key = key(GATEWAY)
            .pair_key(&public(PRODUCTS), "gateway", "products")
            .expect("agreed");
        let token = forged(
            &products_key,
            &as_if_for_orders(claims("products", NOW, NOW + 30)),
        );
        assert_eq!(
            orders_verifier().verify(&token, NOW),
            Err(TokenError::BadTag)
        );
        // An audience the issuer has no key for gets no token at all.
        assert_eq!(gateway().sign(claims("users", NOW, NOW + 30)), None);
    }

    #[test]
    fn a_token_relabelled_for_another_audience_is_refused() {
        // products, holding its own key with the gateway, makes a token that claims to be
        // for order-service: that key is not order-service's.
        let products_key = key(PRODUCTS)
            .pair_key(&public(GATEWAY), "gateway", "products")
            .expect("agreed");
        let products = TokenSigner::new("gateway").towards("orders", products_key.clone());
        let token = sign(&products, claims("orders", NOW, NOW + 30));
        assert_eq!(
            orders_verifier().verify(&token, NOW),
            Err(TokenError::UnknownKey)
        );
        let token = forged(
            &products_key,
            &as_if_for_orders(claims("orders", NOW, NOW + 30)),
        );
        assert_eq!(
            orders_verifier().verify(&token, NOW),
            Err(TokenError::BadTag)
        );
    }

    #[test]
    fn both_ends_derive_the_same_key_and_the_direction_counts() {
        let issuer_side = key(GATEWAY)
            .pair_key(&public(ORDERS), "gateway", "orders")
            .expect("agreed");
        let audience_side = key(ORDERS)
            .pair_key(&public(GATEWAY), "gateway", "orders")
            .expect("agreed");
        let reverse = key(ORDERS)
            .pair_key(&public(GATEWAY), "orders", "gateway")
            .expect("agreed");
        let tag = |key: &PairKey| key.tag("payload").finalize().into_bytes();
        assert_eq!(tag(&issuer_side), tag(&audience_side));
        assert_ne!(tag(&issuer_side), tag(&reverse));
    }

    #[test]
    fn a_small_order_public_key_is_refused() {
        // The identity point: every secret would agree the same all-zero secret with it.
        let zero = parse_public_key(&B64.encode([0u8; 32])).expect("32 bytes");
        assert!(key(GATEWAY).pair_key(&zero, "gateway", "orders").is_err());
        let mut one = [0u8; 32];
        one[0] = 1;
        let one = parse_public_key(&B64.encode(one)).expect("32 bytes");
        assert!(key(GATEWAY).pair_key(&one, "gateway", "orders").is_err());
    }

    #[test]
    fn expired_future_and_long_lived_tokens_are_refused() {
        let verifier = orders_verifier();
        let expired = sign(&gateway(), claims("orders", NOW - 40, NOW - 10));
        assert_eq!(verifier.verify(&expired, NOW), Err(TokenError::Expired));
        let future = sign(&gateway(), claims("orders", NOW + 60, NOW + 90));
        assert_eq!(verifier.verify(&future, NOW), Err(TokenError::BadLifetime));
        let forever = sign(&gateway(), claims("orders", NOW, NOW + 3600));
        assert_eq!(verifier.verify(&forever, NOW), Err(TokenError::BadLifetime));
        let backwards = sign(&gateway(), claims("orders", NOW, NOW - 1));
        assert!(verifier.verify(&backwards, NOW).is_err());
    }

    #[test]
    fn a_token_made_with_an_untrusted_key_is_refused() {
        // Claims to be the gateway, but a stranger's secret agreed its key.
        let stranger_key = key(9)
            .pair_key(&public(ORDERS), "gateway", "orders")
            .expect("agreed");
        let impostor = TokenSigner::new("gateway").towards("orders", stranger_key.clone());
        assert_eq!(
            orders_verifier().verify(&sign(&impostor, claims("orders", NOW, NOW + 30)), NOW),
            Err(TokenError::UnknownKey)
        );
        let token = forged(
            &stranger_key,
            &as_if_for_orders(claims("orders", NOW, NOW + 30)),
        );
        assert_eq!(
            orders_verifier().verify(&token, NOW),
            Err(TokenError::BadTag)
        );
        let stranger = TokenSigner::new("stranger").towards("orders", stranger_key);
        assert_eq!(
            orders_verifier().verify(&sign(&stranger, claims("orders", NOW, NOW + 30)), NOW),
            Err(TokenError::UntrustedIssuer)
        );
    }

    #[test]
    fn tampered_tokens_are_refused() {
        let token = sign(&gateway(), claims("orders", NOW, NOW + 30));
        let (head, tag) = token.rsplit_once('.').expect("three parts");
        // Promote the principal to an admin while keeping the tag.
        let mut promoted = as_if_for_orders(claims("orders", NOW, NOW + 30));
        promoted.role = "admin".to_owned();
        let forged_payload = B64.encode(serde_json::to_vec(&promoted).expect("json"));
        let forged_token = format!("v3.{forged_payload}.{tag}");
        assert_eq!(
            orders_verifier().verify(&forged_token, NOW),
            Err(TokenError::BadTag)
        );
        let mut bad_tag = B64.decode(tag).expect("b64");
        bad_tag[0] ^= 1;
        let flipped = format!("{head}.{}", B64.encode(bad_tag));
        assert_eq!(
            orders_verifier().verify(&flipped, NOW),
            Err(TokenError::BadTag)
        );
    }

    #[test]
    fn malformed_tokens_are_refused_without_panicking() {
        let verifier = orders_verifier();
        let token = sign(&gateway(), claims("orders", NOW, NOW + 30));
        let too_long = "v".repeat(MAX_TOKEN_BYTES + 1);
        let pair = key(GATEWAY)
            .pair_key(&public(ORDERS), "gateway", "orders")
            .expect("agreed");
        let extra_member = {
            let mut value = serde_json::to_value(claims("orders", NOW, NOW + 30)).expect("json");
            value["iss"] = "gateway".into();
            value["admin"] = true.into();
            let payload = B64.encode(serde_json::to_vec(&value).expect("json"));
            let tag = pair.tag(&payload).finalize().into_bytes();
            format!("v3.{payload}.{}", B64.encode(tag))
        };
        let not_an_id = {
            let mut value = as_if_for_orders(claims("orders", NOW, NOW + 30));
            value.jti = "short".to_owned();
            let payload = B64.encode(serde_json::to_vec(&value).expect("json"));
            let tag = pair.tag(&payload).finalize().into_bytes();
            format!("v3.{payload}.{}", B64.encode(tag))
        };
        let short_tag = {
            let (head, tag) = token.rsplit_once('.').expect("three parts");
            format!("{head}.{}", &tag[..20])
        };
        for bad in [
            "",
            "v3",
            "v3..",
            "v4.a.b",
            "v3.!!!.???",
            "v3.e30.AAAA",
            &token.replacen("v3.", "v2.", 1),
            &format!("{token}.extra"),
            &too_long,
            &extra_member,
            &not_an_id,
            &short_tag,
        ] {
            assert!(verifier.verify(bad, NOW).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn a_tag_from_another_context_is_no_token() {
        // The same key over the bare payload (no domain prefix) must not verify.
        let stated = as_if_for_orders(claims("orders", NOW, NOW + 30));
        let payload = B64.encode(serde_json::to_vec(&stated).expect("json"));
        let pair = key(GATEWAY)
            .pair_key(&public(ORDERS), "gateway", "orders")
            .expect("agreed");
        let mut mac = pair.mac.clone();
        mac.update(payload.as_bytes());
        let token = format!("v3.{payload}.{}", B64.encode(mac.finalize().into_bytes()));
        assert_eq!(
            orders_verifier().verify(&token, NOW),
            Err(TokenError::BadTag)
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
        assert_eq!(first.public_key(), again.public_key());
        std::fs::write(&path, "not a key").expect("write");
        assert!(load_or_generate_key(&path).is_err());
        assert!(parse_public_key("short").is_err());
        let debug = format!("{first:?} {:?}", gateway());
        assert!(debug.contains("[redacted]") && !debug.contains(&B64.encode(first.0)));
    }
}
