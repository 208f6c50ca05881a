//! Connector secrets: generated at random, stored only as a SHA-256 hash, compared in
//! constant time.
//!
//! A connector secret is 32 random bytes, so a fast hash is enough: there is nothing to
//! brute-force that a slow password hash would protect.

use rand::RngCore;
use sha2::{Digest, Sha256};

const PREFIX: &str = "sha256:";

/// A fresh random secret, 64 hex digits.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The stored form of a secret: `sha256:<hex>`.
pub fn hash(secret: &str) -> String {
    format!("{PREFIX}{}", hex::encode(Sha256::digest(secret.as_bytes())))
}

/// Checks the stored form; the error says what is wrong.
pub fn validate_hash(stored: &str) -> Result<[u8; 32], String> {
    let hex_part = stored
        .strip_prefix(PREFIX)
        .ok_or_else(|| format!("must start with \"{PREFIX}\" (run `switchyard secret`)"))?;
    let bytes = hex::decode(hex_part).map_err(|_| "is not hexadecimal".to_string())?;
    bytes
        .try_into()
        .map_err(|_| "must hold 64 hex digits".to_string())
}

/// True when `secret` hashes to `digest`, compared without early exit.
pub fn verify(secret: &str, digest: &[u8; 32]) -> bool {
    let got = Sha256::digest(secret.as_bytes());
    got.iter()
        .zip(digest.iter())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_round_trip() {
        let s = generate();
        assert_eq!(s.len(), 64);
        let stored = hash(&s);
        let digest = validate_hash(&stored).expect("valid hash");
        assert!(verify(&s, &digest));
        assert!(!verify("wrong", &digest));
    }

    #[test]
    fn bad_hashes_are_rejected() {
        assert!(validate_hash("abc").is_err());
        assert!(validate_hash("sha256:zz").is_err());
        assert!(validate_hash("sha256:abcd").is_err());
    }
}
