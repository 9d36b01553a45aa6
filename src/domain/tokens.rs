//! JSON Web Tokens: signing and checking access and refresh tokens.
//!
//! Both kinds are HS256 JWTs. A `typ` claim tells them apart, so neither
//! can stand in for the other. Validation pins the algorithm, issuer and
//! audience, requires every claim we issue, checks `nbf` when present and
//! allows 30 s of clock skew. The time comes from the caller (the
//! service's clock), not from the JWT library's own reading of the
//! system time.
//!
//! Keys rotate through a keyring: the current key signs and verifies,
//! previous keys only verify. Each token names its key in the header's
//! `kid`, a fingerprint of the key, so verification picks the right one.
//!
//! Whether a token is still *wanted* (its session revoked, its password
//! changed) is not decided here but in `sessions` and `accounts`, which
//! compare the claims with the database.

use std::collections::HashMap;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const ISSUER: &str = "catalog";
pub const AUDIENCE: &str = "catalog-api";
const LEEWAY_SECS: i64 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    Access,
    Refresh,
}

/// What a token carries. `sub` is the user id as a string, per RFC 7519;
/// `ver` is the user's token version when it was issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub typ: TokenKind,
    pub ver: i32,
    /// Not before (Unix seconds). Never issued here, but honoured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
}

impl Claims {
    /// The user the token speaks for.
    pub fn user_id(&self) -> Result<i64, TokenError> {
        self.sub.parse().map_err(|_| TokenError::Invalid)
    }
}

/// Why a token was refused. The text is safe to show to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token has expired")]
    Expired,
    #[error("the token is invalid")]
    Invalid,
    #[error("a refresh token cannot be used here; send an access token")]
    RefreshInsteadOfAccess,
    #[error("an access token cannot be used here; send a refresh token")]
    AccessInsteadOfRefresh,
    #[error("the account behind this token no longer exists")]
    UnknownUser,
    #[error("the token has been revoked; log in again")]
    Revoked,
    #[error("this refresh token was already used, so its session has been revoked; log in again")]
    Reused,
}

/// A signed token and the claim that matters to its issuer.
#[derive(Debug, Clone)]
pub struct Issued {
    pub token: String,
    pub jti: String,
}

pub struct Tokens {
    signing_kid: String,
    signing_key: EncodingKey,
    /// Every key that verifies, by `kid`: the current one and the previous.
    verifying: HashMap<String, DecodingKey>,
    validation: Validation,
}

/// The `kid` of a key: a short fingerprint that names it without
/// revealing it.
pub fn key_id(secret: &SecretString) -> String {
    let digest = Sha256::digest(secret.expose_secret().as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

impl Tokens {
    /// A keyring that signs with `current` and also verifies `previous`.
    pub fn new(current: &SecretString, previous: &[SecretString]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        // Checked in `verify` against the caller's time instead.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let verifying = std::iter::once(current)
            .chain(previous)
            .map(|secret| {
                let key = DecodingKey::from_secret(secret.expose_secret().as_bytes());
                (key_id(secret), key)
            })
            .collect();
        Self {
            signing_kid: key_id(current),
            signing_key: EncodingKey::from_secret(current.expose_secret().as_bytes()),
            verifying,
            validation,
        }
    }

    /// Signs a token of `kind` for `user_id`, issued at `iat` and expiring
    /// at `exp` (both Unix seconds).
    pub fn issue(
        &self,
        user_id: i64,
        kind: TokenKind,
        version: i32,
        iat: i64,
        exp: i64,
    ) -> Result<Issued, jsonwebtoken::errors::Error> {
        let claims = Claims {
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            sub: user_id.to_string(),
            iat,
            exp,
            jti: uuid::Uuid::new_v4().to_string(),
            typ: kind,
            ver: version,
            nbf: None,
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.signing_kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &self.signing_key)?;
        Ok(Issued {
            token,
            jti: claims.jti,
        })
    }

    /// Checks a token's key, signature, claims and kind, and that it is
    /// valid at `now` (Unix seconds).
    pub fn verify(&self, token: &str, expected: TokenKind, now: i64) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.verifying.get(kid))
            .ok_or(TokenError::Invalid)?;
        let data =
            jsonwebtoken::decode::<Claims>(token, key, &self.validation).map_err(
                |err| match err.kind() {
                    ErrorKind::ExpiredSignature => TokenError::Expired,
                    ErrorKind::InvalidToken
                    | ErrorKind::Base64(_)
                    | ErrorKind::Json(_)
                    | ErrorKind::Utf8(_) => TokenError::Malformed,
                    _ => TokenError::Invalid,
                },
            )?;
        let claims = data.claims;
        if claims.exp.saturating_add(LEEWAY_SECS) < now {
            return Err(TokenError::Expired);
        }
        if claims
            .nbf
            .is_some_and(|nbf| nbf.saturating_sub(LEEWAY_SECS) > now)
        {
            return Err(TokenError::Invalid);
        }
        match (expected, claims.typ) {
            (TokenKind::Access, TokenKind::Refresh) => Err(TokenError::RefreshInsteadOfAccess),
            (TokenKind::Refresh, TokenKind::Access) => Err(TokenError::AccessInsteadOfRefresh),
            _ => Ok(claims),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(text: &str) -> SecretString {
        SecretString::from(text.to_owned())
    }

    const CURRENT: &str = "0123456789abcdef0123456789abcdef";
    const OLD: &str = "an-older-secret-an-older-secret-!";

    /// The time the tests issue and verify at (Unix seconds).
    const NOW: i64 = 1_800_000_000;

    fn in_ten_minutes() -> i64 {
        NOW + 600
    }

    #[test]
    fn issued_claims_carry_kind_subject_version_and_expiry() {
        let tokens = Tokens::new(&secret(CURRENT), &[]);
        let exp = in_ten_minutes();
        let issued = tokens.issue(7, TokenKind::Access, 3, NOW, exp).unwrap();
        let claims = tokens
            .verify(&issued.token, TokenKind::Access, NOW)
            .unwrap();
        assert_eq!(claims.user_id(), Ok(7));
        assert_eq!((claims.exp, claims.ver), (exp, 3));
        assert_eq!(claims.jti, issued.jti);
        assert_eq!(
            (claims.iss.as_str(), claims.aud.as_str()),
            (ISSUER, AUDIENCE)
        );
        let header = jsonwebtoken::decode_header(&issued.token).unwrap();
        assert_eq!(header.kid, Some(key_id(&secret(CURRENT))));
        assert_eq!(header.alg, Algorithm::HS256);
    }

    #[test]
    fn expiry_and_not_before_are_judged_at_the_given_time_with_30_s_of_skew() {
        let tokens = Tokens::new(&secret(CURRENT), &[]);
        let exp = in_ten_minutes();
        let issued = tokens.issue(7, TokenKind::Access, 0, NOW, exp).unwrap();
        let at = |now| {
            tokens
                .verify(&issued.token, TokenKind::Access, now)
                .map(|_| ())
        };
        assert_eq!(at(exp + 30), Ok(()));
        assert_eq!(at(exp + 31), Err(TokenError::Expired));

        let mut early = tokens
            .verify(&issued.token, TokenKind::Access, NOW)
            .unwrap();
        early.nbf = Some(NOW + 60);
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(key_id(&secret(CURRENT)));
        let key = EncodingKey::from_secret(CURRENT.as_bytes());
        let early = jsonwebtoken::encode(&header, &early, &key).unwrap();
        let at = |now| tokens.verify(&early, TokenKind::Access, now).map(|_| ());
        assert_eq!(at(NOW + 29), Err(TokenError::Invalid));
        assert_eq!(at(NOW + 30), Ok(()));
    }

    #[test]
    fn kinds_cannot_stand_in_for_each_other() {
        let tokens = Tokens::new(&secret(CURRENT), &[]);
        let refresh = tokens
            .issue(7, TokenKind::Refresh, 0, NOW, in_ten_minutes())
            .unwrap();
        let access = tokens
            .issue(7, TokenKind::Access, 0, NOW, in_ten_minutes())
            .unwrap();
        assert_eq!(
            tokens.verify(&refresh.token, TokenKind::Access, NOW),
            Err(TokenError::RefreshInsteadOfAccess)
        );
        assert_eq!(
            tokens.verify(&access.token, TokenKind::Refresh, NOW),
            Err(TokenError::AccessInsteadOfRefresh)
        );
    }

    #[test]
    fn previous_keys_verify_but_never_sign() {
        let old = Tokens::new(&secret(OLD), &[]);
        let rotated = Tokens::new(&secret(CURRENT), &[secret(OLD)]);
        let from_old = old
            .issue(7, TokenKind::Access, 0, NOW, in_ten_minutes())
            .unwrap();
        assert!(
            rotated
                .verify(&from_old.token, TokenKind::Access, NOW)
                .is_ok()
        );
        let fresh = rotated
            .issue(7, TokenKind::Access, 0, NOW, in_ten_minutes())
            .unwrap();
        let kid = jsonwebtoken::decode_header(&fresh.token).unwrap().kid;
        assert_eq!(kid, Some(key_id(&secret(CURRENT))));
        // Once the old key is dropped from the ring, its tokens fail.
        let retired = Tokens::new(&secret(CURRENT), &[]);
        assert_eq!(
            retired.verify(&from_old.token, TokenKind::Access, NOW),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn garbage_and_foreign_keys_are_refused() {
        let tokens = Tokens::new(&secret(CURRENT), &[]);
        assert_eq!(
            tokens.verify("nope", TokenKind::Access, NOW),
            Err(TokenError::Malformed)
        );
        let other = Tokens::new(&secret("another-secret-another-secret-xx"), &[]);
        let foreign = other
            .issue(7, TokenKind::Access, 0, NOW, in_ten_minutes())
            .unwrap();
        assert_eq!(
            tokens.verify(&foreign.token, TokenKind::Access, NOW),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn key_ids_are_stable_short_fingerprints() {
        assert_eq!(key_id(&secret(CURRENT)), key_id(&secret(CURRENT)));
        assert_ne!(key_id(&secret(CURRENT)), key_id(&secret(OLD)));
        assert_eq!(key_id(&secret(CURRENT)).len(), 16);
    }
}
