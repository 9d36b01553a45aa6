//! Opaque page cursors. A cursor names the last product a page showed;
//! the next page continues below it (keyset paging), so inserts and
//! deletes between requests neither skip nor repeat rows. Clients must not
//! read it: it is versioned base64 so the encoding can change.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

const PREFIX: &str = "p1:";

/// Encodes "continue after the product with this id".
pub fn encode(last_id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{PREFIX}{last_id}"))
}

/// Decodes a cursor produced by [`encode`]; anything else is `None`.
pub fn decode(cursor: &str) -> Option<i64> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    let id: i64 = text.strip_prefix(PREFIX)?.parse().ok()?;
    (id > 0 && id.to_string() == text[PREFIX.len()..]).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        for id in [1, 42, i64::MAX] {
            assert_eq!(decode(&encode(id)), Some(id));
        }
    }

    #[test]
    fn foreign_or_tampered_cursors_are_rejected() {
        for bad in [
            "",
            "abc",
            "42",
            "!!!",
            &URL_SAFE_NO_PAD.encode("p1:-5"),
            &URL_SAFE_NO_PAD.encode("p1:0"),
            &URL_SAFE_NO_PAD.encode("p1:+7"),
            &URL_SAFE_NO_PAD.encode("p2:7"),
            &URL_SAFE_NO_PAD.encode("p1:99999999999999999999"),
        ] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
