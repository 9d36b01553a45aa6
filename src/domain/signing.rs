//! Short signed tokens made from the JWT secret: page cursors and device
//! tokens. Each use derives a key of its own from the secret (an HMAC of
//! its purpose), so a tag made for one use never verifies as another.
//! A token is `<payload>.<tag>`, both base64url without padding; the tag
//! is an HMAC-SHA256 of the payload and a context, cut to 128 bits.
//! Tokens made under a key in `JWT_PREVIOUS_SECRET_KEYS` still verify.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of the tag kept in a token: 128 bits.
const TAG_BYTES: usize = 16;

/// Signs and checks the tokens of one purpose.
#[derive(Clone)]
pub struct Signer {
    /// The current key first, then the previous ones. Shared: the
    /// services, and so this, are cloned into every request.
    keys: Arc<[[u8; 32]]>,
}

impl Signer {
    /// `purpose` tells this use of the secret apart from every other.
    pub fn new(purpose: &[u8], current: &SecretString, previous: &[SecretString]) -> Self {
        let keys = std::iter::once(current)
            .chain(previous)
            .map(|secret| {
                let mut mac = HmacSha256::new_from_slice(secret.expose_secret().as_bytes())
                    .expect("HMAC takes a key of any length");
                mac.update(purpose);
                mac.finalize().into_bytes().into()
            })
            .collect();
        Self { keys }
    }

    fn mac(key: &[u8; 32], payload: &[u8], context: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length");
        mac.update(payload);
        mac.update(&[0]);
        mac.update(context);
        mac
    }

    /// A token carrying `payload`, valid only with the same `context`.
    pub fn sign(&self, payload: &[u8], context: &[u8]) -> String {
        let tag = Self::mac(&self.keys[0], payload, context)
            .finalize()
            .into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(&tag[..TAG_BYTES])
        )
    }

    /// The payload of a token signed for `context` under one of the keys;
    /// anything else is `None`.
    pub fn verify(&self, token: &str, context: &[u8]) -> Option<Vec<u8>> {
        let (payload, tag) = token.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        if tag.len() != TAG_BYTES {
            return None;
        }
        self.keys
            .iter()
            .any(|key| {
                Self::mac(key, &payload, context)
                    .verify_truncated_left(&tag)
                    .is_ok()
            })
            .then_some(payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(text: &str) -> SecretString {
        SecretString::from(text.to_owned())
    }

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn a_token_verifies_only_for_its_purpose_and_context() {
        let signer = Signer::new(b"one purpose", &secret(KEY), &[]);
        let token = signer.sign(b"payload", b"context");
        assert!(!token.contains(['+', '/', '=']), "{token}");
        assert_eq!(signer.verify(&token, b"context"), Some(b"payload".to_vec()));
        assert_eq!(signer.verify(&token, b"other context"), None);
        let other = Signer::new(b"another purpose", &secret(KEY), &[]);
        assert_eq!(other.verify(&token, b"context"), None);
    }
}
