//! Bearer secrets (session tokens, API keys): 256 random bits, stored only as a digest.
//!
//! A plain SHA-256 digest is enough for these, unlike for passwords: a 256-bit random
//! secret cannot be guessed from its digest, so no slow hash is needed, and a lookup by
//! digest is one indexed read.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use rand::Rng;
use sha2::{Digest, Sha256};

/// A fresh secret, as text safe in a cookie or header.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    B64.encode(bytes)
}

/// What is stored and looked up in place of the secret.
pub fn digest(secret: &str) -> String {
    kit::hex::encode(&Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_unique_and_256_bits() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert_eq!(B64.decode(&a).map(|bytes| bytes.len()), Ok(32));
        assert_eq!(digest(&a).len(), 64);
        assert_ne!(digest(&a), digest(&b));
    }
}
