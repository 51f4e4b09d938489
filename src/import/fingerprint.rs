//! Keyed fingerprints: how a leaked secret is recognised again without
//! being kept.
//!
//! A plain SHA-256 of a short secret can be reversed by guessing; an
//! HMAC-SHA256 under a key kept in the store (meta `fingerprint_key`, 32
//! random bytes made on first import) cannot, by anyone who has a
//! fingerprint (an export, a ticket, an API response) but not the key. The
//! key is in the same database: a copy of the whole database allows
//! guessing (docs/import.md).
//! Equal secrets give equal fingerprints within one store, whichever
//! detector reported them, so one credential is one case.

use hmac::{KeyInit, Mac};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Computes fingerprints under one key.
#[derive(Clone)]
pub struct Fingerprinter {
    key: [u8; 32],
}

impl std::fmt::Debug for Fingerprinter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is a secret too.
        f.write_str("Fingerprinter(..)")
    }
}

impl Fingerprinter {
    /// A fingerprinter under `key` (the store's `fingerprint_key`).
    pub fn new(key: [u8; 32]) -> Self {
        Fingerprinter { key }
    }

    /// A fingerprinter under a fresh random key (for a store's first import).
    pub fn random() -> Self {
        Fingerprinter {
            key: rand::random(),
        }
    }

    /// The key, for the store to keep.
    pub fn key(&self) -> [u8; 32] {
        self.key
    }

    /// The fingerprint of `value` in `domain` (`secret`, `aws-access-key`,
    /// `gitguardian`): 32 lowercase hex digits (the first 128 bits of
    /// HMAC-SHA256(key, domain ‖ 0 ‖ value)). Surrounding whitespace of
    /// `value` is ignored (detectors differ in what they trim).
    pub fn of(&self, domain: &str, value: &str) -> String {
        // Infallible: HMAC takes a key of any length.
        let mut mac = match <HmacSha256 as KeyInit>::new_from_slice(&self.key) {
            Ok(mac) => mac,
            Err(_) => return String::new(),
        };
        mac.update(domain.as_bytes());
        mac.update(&[0]);
        mac.update(value.trim().as_bytes());
        let bytes = mac.finalize().into_bytes();
        hex::encode(&bytes[..16])
    }

    /// The credential key of a leaked secret: `secret:<fingerprint>`.
    pub fn secret(&self, value: &str) -> String {
        format!("secret:{}", self.of("secret", value))
    }

    /// The credential key of an AWS access key id (`AKIA…`/`ASIA…`):
    /// `aws-access-key:<fingerprint>`, the same whichever detector saw it
    /// (trufflehog's match, Access Analyzer's `accessKeyId`, ASFF's
    /// `AccessKeyId`).
    pub fn aws_access_key(&self, key_id: &str) -> String {
        format!("aws-access-key:{}", self.of("aws-access-key", key_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_agree_and_keys_separate_stores() {
        let a = Fingerprinter::new([1; 32]);
        let b = Fingerprinter::new([2; 32]);
        assert_eq!(a.secret("ghp_x"), a.secret(" ghp_x\n"));
        assert_ne!(a.secret("ghp_x"), b.secret("ghp_x"));
        assert_ne!(a.secret("x"), a.of("aws-access-key", "x"));
        assert_eq!(a.of("secret", "x").len(), 32);
        assert!(!a.secret("ghp_x").contains("ghp_x"));
    }
}
