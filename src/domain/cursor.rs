//! Page cursors. A cursor names where a page ended, as the sort key and
//! id of its last product; the next page continues after it (keyset
//! paging), so inserts and deletes between requests neither skip nor
//! repeat rows.
//!
//! Cursors are signed: an HMAC-SHA256 over the position and over the
//! query that made it (the scope, the filters and the sort), with a key
//! derived from the JWT secret. A forged or altered cursor, or one from
//! another query, fails the check, so a client cannot page a query with
//! another one's position. Cursors made under a previous JWT key still
//! verify while that key is listed. Clients must not read them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Tells this key apart from every other use of the JWT secret.
const KEY_PURPOSE: &[u8] = b"catalog page cursor v1";
/// Bytes of the tag kept in a cursor: 128 bits.
const TAG_BYTES: usize = 16;

/// Where a page ended: its last product's sort value and id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Position {
    /// Microseconds since the Unix epoch.
    Time(i64, i64),
    Cents(i64, i64),
    Text(String, i64),
}

/// Signs and checks cursors.
#[derive(Clone)]
pub struct Cursors {
    /// The current key first, then the previous ones.
    keys: Vec<[u8; 32]>,
}

impl Cursors {
    pub fn new(current: &SecretString, previous: &[SecretString]) -> Self {
        let keys = std::iter::once(current)
            .chain(previous)
            .map(|secret| {
                let mut mac = HmacSha256::new_from_slice(secret.expose_secret().as_bytes())
                    .expect("HMAC takes a key of any length");
                mac.update(KEY_PURPOSE);
                mac.finalize().into_bytes().into()
            })
            .collect();
        Self { keys }
    }

    fn mac(key: &[u8; 32], payload: &[u8], query: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length");
        mac.update(payload);
        mac.update(&[0]);
        mac.update(query.as_bytes());
        mac
    }

    /// A cursor for `position` in the query described by `query`.
    pub fn encode(&self, position: &Position, query: &str) -> String {
        let payload = serde_json::to_vec(position).expect("a position serializes");
        let tag = Self::mac(&self.keys[0], &payload, query)
            .finalize()
            .into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(&tag[..TAG_BYTES])
        )
    }

    /// The position in a cursor this service made for `query`; anything
    /// else is `None`.
    pub fn decode(&self, cursor: &str, query: &str) -> Option<Position> {
        let (payload, tag) = cursor.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        if tag.len() != TAG_BYTES {
            return None;
        }
        let genuine = self.keys.iter().any(|key| {
            Self::mac(key, &payload, query)
                .verify_truncated_left(&tag)
                .is_ok()
        });
        if !genuine {
            return None;
        }
        serde_json::from_slice(&payload).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(text: &str) -> SecretString {
        SecretString::from(text.to_owned())
    }

    const KEY: &str = "0123456789abcdef0123456789abcdef";
    const OLD: &str = "an-older-secret-an-older-secret-!";
    const QUERY: &str = "all|sort=-price|q=|min=|max=|owner=";

    #[test]
    fn cursors_round_trip_for_their_own_query() {
        let cursors = Cursors::new(&secret(KEY), &[]);
        for position in [
            Position::Time(1_795_000_000_123_456, 7),
            Position::Cents(1999, 42),
            Position::Text("Mug \"☕\"\n.".into(), i64::MAX),
        ] {
            let cursor = cursors.encode(&position, QUERY);
            assert!(!cursor.contains(['+', '/', '=']), "{cursor}");
            assert_eq!(cursors.decode(&cursor, QUERY), Some(position));
        }
    }

    #[test]
    fn forged_altered_and_foreign_cursors_are_refused() {
        let cursors = Cursors::new(&secret(KEY), &[]);
        let cursor = cursors.encode(&Position::Cents(1999, 42), QUERY);
        let (payload, tag) = cursor.split_once('.').unwrap();
        // Another position with the old tag.
        let forged = URL_SAFE_NO_PAD.encode(br#"{"Cents":[1999,41]}"#);
        // Another key entirely.
        let other = Cursors::new(&secret("another-secret-another-secret-xx"), &[]);
        for bad in [
            format!("{forged}.{tag}"),
            format!("{payload}.{}", &tag[1..]),
            format!("{payload}."),
            payload.to_owned(),
            other.encode(&Position::Cents(1999, 42), QUERY),
            String::new(),
            "...".into(),
        ] {
            assert_eq!(cursors.decode(&bad, QUERY), None, "{bad}");
        }
        // The same cursor with other filters or another sort.
        assert_eq!(
            cursors.decode(&cursor, "all|sort=price|q=|min=|max=|owner="),
            None
        );
        assert_eq!(
            cursors.decode(&cursor, "my:7|sort=-price|q=|min=|max=|owner="),
            None
        );
    }

    #[test]
    fn cursors_made_under_a_previous_key_still_verify() {
        let old = Cursors::new(&secret(OLD), &[]);
        let cursor = old.encode(&Position::Cents(5, 1), QUERY);
        let rotated = Cursors::new(&secret(KEY), &[secret(OLD)]);
        assert_eq!(rotated.decode(&cursor, QUERY), Some(Position::Cents(5, 1)));
        let retired = Cursors::new(&secret(KEY), &[]);
        assert_eq!(retired.decode(&cursor, QUERY), None);
    }
}
