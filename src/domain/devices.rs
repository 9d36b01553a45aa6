//! Device tokens: how the login throttle recognises a client that has
//! logged in to an account before (OWASP's "device cookies").
//!
//! Every successful login (and signup) answers a device token for that
//! account: signed with a key derived from the JWT secret, it names the
//! account, when it was issued and a random id of its own. A later login
//! to the same account that sends it back, within `LOGIN_DEVICE_TTL_SECS`
//! of its issue, comes from a recognised client: it gets through while
//! the account's global failure budget is spent by someone else, and its
//! own failures count under the token's id instead. The token grants no
//! access by itself; it only decides which failure counters apply.

use std::time::Duration;

use chrono::NaiveDateTime;

use super::signing::Signer;

/// Tells this key apart from every other use of the JWT secret.
const KEY_PURPOSE: &[u8] = b"catalog device token v1";

/// A device token as a client sends it: 1–200 characters of base64url
/// and dots. Whether it is genuine is [`DeviceTokens::recognise`]'s call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceToken(String);

/// The id of a recognised device token, which its failures count under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceId(pub [u8; 16]);

impl DeviceToken {
    pub const MAX: usize = 200;
    pub const PATTERN: &str = "^[A-Za-z0-9_.-]+$";

    pub fn parse(text: String) -> Result<Self, String> {
        if !text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        {
            return Err("must be a device token this service issued".into());
        }
        // Only ASCII is left, so bytes are characters.
        if text.is_empty() || text.len() > Self::MAX {
            return Err(format!("must be 1 to {} characters long", Self::MAX));
        }
        Ok(Self(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Issues and recognises device tokens.
#[derive(Clone)]
pub struct DeviceTokens {
    signer: Signer,
    ttl: Duration,
}

const PAYLOAD_BYTES: usize = 8 + 8 + 16;

impl DeviceTokens {
    pub fn new(
        signer_secret: &secrecy::SecretString,
        previous: &[secrecy::SecretString],
        ttl: Duration,
    ) -> Self {
        Self {
            signer: Signer::new(KEY_PURPOSE, signer_secret, previous),
            ttl,
        }
    }

    /// A new token for `user_id`'s account, issued `now`.
    pub fn issue(&self, user_id: i64, now: NaiveDateTime) -> DeviceToken {
        let mut payload = Vec::with_capacity(PAYLOAD_BYTES);
        payload.extend_from_slice(&user_id.to_be_bytes());
        payload.extend_from_slice(&now.and_utc().timestamp().to_be_bytes());
        payload.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        DeviceToken(self.signer.sign(&payload, b""))
    }

    /// The id of `token` if this service issued it for `user_id`'s account
    /// within the lifetime before `now`.
    pub fn recognise(
        &self,
        token: &DeviceToken,
        user_id: i64,
        now: NaiveDateTime,
    ) -> Option<DeviceId> {
        let payload = self.signer.verify(token.as_str(), b"")?;
        let payload: [u8; PAYLOAD_BYTES] = payload.try_into().ok()?;
        let (owner, rest) = payload.split_at(8);
        let (issued, id) = rest.split_at(8);
        if i64::from_be_bytes(owner.try_into().ok()?) != user_id {
            return None;
        }
        let issued = i64::from_be_bytes(issued.try_into().ok()?);
        let age = now.and_utc().timestamp().checked_sub(issued)?;
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX);
        (age < ttl).then(|| DeviceId(id.try_into().expect("16 bytes")))
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    fn tokens(ttl_days: u64) -> DeviceTokens {
        let secret = SecretString::from("0123456789abcdef0123456789abcdef".to_owned());
        DeviceTokens::new(&secret, &[], Duration::from_secs(ttl_days * 86_400))
    }

    fn at(day: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000 + day * 86_400, 0)
            .unwrap()
            .naive_utc()
    }

    #[test]
    fn a_token_recognises_its_own_account_within_its_lifetime() {
        let tokens = tokens(30);
        let token = tokens.issue(7, at(0));
        assert!(DeviceToken::parse(token.as_str().to_owned()).is_ok());
        let id = tokens.recognise(&token, 7, at(29)).expect("recognised");
        assert_eq!(tokens.recognise(&token, 7, at(1)), Some(id));
        assert_eq!(tokens.recognise(&token, 8, at(1)), None, "another account");
        assert_eq!(tokens.recognise(&token, 7, at(30)), None, "expired");
        let again = tokens.issue(7, at(0));
        assert_ne!(tokens.recognise(&again, 7, at(1)), Some(id), "ids differ");
    }

    #[test]
    fn forged_tokens_are_not_recognised() {
        let tokens = tokens(30);
        let genuine = tokens.issue(7, at(0));
        let other_key = DeviceTokens::new(
            &SecretString::from("another-secret-another-secret-xx".to_owned()),
            &[],
            Duration::from_secs(86_400),
        );
        let (payload, tag) = genuine.as_str().split_once('.').unwrap();
        for bad in [
            other_key.issue(7, at(0)).as_str().to_owned(),
            format!("{payload}.{}", &tag[1..]),
            format!("A{payload}.{tag}"),
            payload.to_owned(),
        ] {
            let token = DeviceToken::parse(bad.clone()).unwrap();
            assert_eq!(tokens.recognise(&token, 7, at(1)), None, "{bad}");
        }
    }

    #[test]
    fn the_shape_is_checked_before_anything_else() {
        for bad in ["", "has space", "a+b", &"x".repeat(201)] {
            assert!(DeviceToken::parse(bad.to_owned()).is_err(), "{bad:?}");
        }
    }
}
