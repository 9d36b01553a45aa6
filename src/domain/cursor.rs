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

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::signing::Signer;

/// Tells this key apart from every other use of the JWT secret.
const KEY_PURPOSE: &[u8] = b"catalog page cursor v1";

/// Where a page ended: its last product's sort value and id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Position {
    /// Microseconds since the Unix epoch.
    Time(i64, i64),
    Cents(i64, i64),
    Text(String, i64),
    /// An id alone, for lists in id order.
    Id(i64),
    /// A step of a list read in several parts, and the text key and id
    /// where it stopped.
    Step(u8, String, i64),
}

/// Signs and checks cursors.
#[derive(Clone)]
pub struct Cursors {
    signer: Signer,
}

impl Cursors {
    pub fn new(current: &SecretString, previous: &[SecretString]) -> Self {
        Self {
            signer: Signer::new(KEY_PURPOSE, current, previous),
        }
    }

    /// A cursor for `position` in the query described by `query`.
    pub fn encode(&self, position: &Position, query: &str) -> String {
        let payload = serde_json::to_vec(position).expect("a position serializes");
        self.signer.sign(&payload, query.as_bytes())
    }

    /// The position in a cursor this service made for `query`; anything
    /// else is `None`.
    pub fn decode(&self, cursor: &str, query: &str) -> Option<Position> {
        let payload = self.signer.verify(cursor, query.as_bytes())?;
        serde_json::from_slice(&payload).ok()
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

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
