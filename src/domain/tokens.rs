//! JSON Web Tokens: issuing access/refresh pairs and checking them.
//!
//! Both kinds are HS256 JWTs signed with `JWT_SECRET_KEY`. A `typ` claim
//! tells them apart, so neither can stand in for the other. Validation
//! pins the algorithm, issuer and audience, requires every claim we issue,
//! checks `nbf` when present and allows 30 s of clock skew.

use std::time::Duration;

use chrono::Utc;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

pub const ISSUER: &str = "catalog";
pub const AUDIENCE: &str = "catalog-api";
const LEEWAY_SECS: u64 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    Access,
    Refresh,
}

/// What a token carries. `sub` is the user id as a string, per RFC 7519.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub typ: TokenKind,
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
}

/// A freshly issued pair.
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    /// Lifetime of the access token in seconds.
    pub expires_in: u64,
}

pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    access_ttl: Duration,
    refresh_ttl: Duration,
}

impl Tokens {
    pub fn new(secret: &SecretString, access_ttl: Duration, refresh_ttl: Duration) -> Self {
        let key = secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        Self {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            validation,
            access_ttl,
            refresh_ttl,
        }
    }

    pub fn issue_pair(&self, user_id: i64) -> Result<TokenPair, jsonwebtoken::errors::Error> {
        Ok(TokenPair {
            access_token: self.issue(user_id, TokenKind::Access)?,
            refresh_token: self.issue(user_id, TokenKind::Refresh)?,
            expires_in: self.access_ttl.as_secs(),
        })
    }

    fn issue(&self, user_id: i64, kind: TokenKind) -> Result<String, jsonwebtoken::errors::Error> {
        let ttl = match kind {
            TokenKind::Access => self.access_ttl,
            TokenKind::Refresh => self.refresh_ttl,
        };
        let now = Utc::now().timestamp();
        let claims = Claims {
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            sub: user_id.to_string(),
            iat: now,
            exp: now + ttl.as_secs() as i64,
            jti: uuid::Uuid::new_v4().to_string(),
            typ: kind,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    /// Checks a token's signature, claims and kind.
    pub fn verify(&self, token: &str, expected: TokenKind) -> Result<Claims, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|err| match err.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::InvalidToken
                | ErrorKind::Base64(_)
                | ErrorKind::Json(_)
                | ErrorKind::Utf8(_) => TokenError::Malformed,
                _ => TokenError::Invalid,
            })?;
        let claims = data.claims;
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

    fn tokens() -> Tokens {
        Tokens::new(
            &SecretString::from("0123456789abcdef0123456789abcdef"),
            Duration::from_secs(900),
            Duration::from_secs(3600),
        )
    }

    #[test]
    fn issued_claims_carry_kind_subject_and_lifetime() {
        let tokens = tokens();
        let pair = tokens.issue_pair(7).unwrap();
        let access = tokens
            .verify(&pair.access_token, TokenKind::Access)
            .unwrap();
        assert_eq!(access.user_id(), Ok(7));
        assert_eq!(access.exp - access.iat, 900);
        assert_eq!(
            (access.iss.as_str(), access.aud.as_str()),
            (ISSUER, AUDIENCE)
        );
        let refresh = tokens
            .verify(&pair.refresh_token, TokenKind::Refresh)
            .unwrap();
        assert_eq!(refresh.exp - refresh.iat, 3600);
        assert_ne!(access.jti, refresh.jti);
        assert_eq!(pair.expires_in, 900);
    }

    #[test]
    fn kinds_cannot_stand_in_for_each_other() {
        let tokens = tokens();
        let pair = tokens.issue_pair(7).unwrap();
        assert_eq!(
            tokens.verify(&pair.refresh_token, TokenKind::Access),
            Err(TokenError::RefreshInsteadOfAccess)
        );
        assert_eq!(
            tokens.verify(&pair.access_token, TokenKind::Refresh),
            Err(TokenError::AccessInsteadOfRefresh)
        );
    }

    #[test]
    fn garbage_and_foreign_keys_are_refused() {
        let tokens = tokens();
        assert_eq!(
            tokens.verify("nope", TokenKind::Access),
            Err(TokenError::Malformed)
        );
        let other = Tokens::new(
            &SecretString::from("another-secret-another-secret-xx"),
            Duration::from_secs(900),
            Duration::from_secs(3600),
        );
        let foreign = other.issue_pair(7).unwrap().access_token;
        assert_eq!(
            tokens.verify(&foreign, TokenKind::Access),
            Err(TokenError::Invalid)
        );
    }
}
