//! Consistency tokens: what a write hands its caller so that a later read
//! sees it, whichever database serves the read.
//!
//! A token carries the replication position of the write's commit,
//! signed with a key derived from the JWT secret (as cursors are). The
//! signature is what keeps the wait bounded: a read can only make a
//! replica wait for a position this cluster really reached, never for
//! one a client made up. A well-formed token that does not verify (from
//! another deployment, or signed with a key since retired) is answered by
//! the primary, which has every write, instead of being refused.

use secrecy::SecretString;

use crate::db::replicas::{Consistency, Position};

use super::signing::Signer;

/// The longest token read: room for a position with many GTID domains.
pub const MAX_TOKEN_CHARS: usize = 4096;

/// Characters in a token's tag (128 bits, base64url without padding).
const TAG_CHARS: usize = 22;

/// Signs positions into tokens and reads them back.
#[derive(Clone)]
pub struct ConsistencyTokens {
    signer: Signer,
}

impl ConsistencyTokens {
    pub fn new(current: &SecretString, previous: &[SecretString]) -> Self {
        Self {
            signer: Signer::new(b"catalog consistency token", current, previous),
        }
    }

    /// The token for `position`.
    pub fn issue(&self, position: &Position) -> String {
        self.signer.sign(position.as_str().as_bytes(), b"")
    }

    /// What a read bringing `token` must see. The token's shape is
    /// checked by the caller ([`well_formed`]).
    pub fn read(&self, token: Option<&str>) -> Consistency {
        let Some(token) = token else {
            return Consistency::Any;
        };
        self.signer
            .verify(token, b"")
            .and_then(|payload| String::from_utf8(payload).ok())
            .and_then(|text| Position::parse(&text))
            .map_or(Consistency::Primary, Consistency::After)
    }
}

/// Whether `token` has a token's shape: base64url characters, a dot and a
/// 22-character base64url tag, at most [`MAX_TOKEN_CHARS`] long (the
/// spec's pattern, word for word). One of that shape that does not decode
/// or verify is another cluster's, not a malformed one.
pub fn well_formed(token: &str) -> bool {
    let base64url = |text: &str| {
        text.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let Some((payload, tag)) = token.split_once('.') else {
        return false;
    };
    token.len() <= MAX_TOKEN_CHARS
        && !payload.is_empty()
        && base64url(payload)
        && tag.len() == TAG_CHARS
        && base64url(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(secret: &str) -> ConsistencyTokens {
        ConsistencyTokens::new(&SecretString::from(secret.to_owned()), &[])
    }

    #[test]
    fn a_token_carries_its_position_and_only_its_cluster_can_read_it() {
        let ours = tokens("0123456789abcdef0123456789abcdef-ours");
        let position = Position::parse("0-1-42").unwrap();
        let token = ours.issue(&position);
        assert!(well_formed(&token), "{token}");
        assert_eq!(ours.read(Some(&token)), Consistency::After(position));
        assert_eq!(ours.read(None), Consistency::Any);
        let theirs = tokens("0123456789abcdef0123456789abcdef-theirs");
        assert_eq!(theirs.read(Some(&token)), Consistency::Primary);
        // "0-1-43" under the tag of "0-1-42".
        let (payload, tag) = token.split_once('.').unwrap();
        assert_eq!(payload, "MC0xLTQy");
        let forged = format!("MC0xLTQz.{tag}");
        assert_eq!(ours.read(Some(&forged)), Consistency::Primary);
    }

    #[test]
    fn only_the_token_shape_is_well_formed() {
        for bad in [
            "",
            "0-1-42",
            "abc.",
            ".AAAAAAAAAAAAAAAAAAAAAA",
            "abc.short",
            "a b.AAAAAAAAAAAAAAAAAAAAAA",
            "abc.AAAAAAAAAAAAAAAAAAAAAA.x",
        ] {
            assert!(!well_formed(bad), "{bad}");
        }
        let long = format!("{}.AAAAAAAAAAAAAAAAAAAAAA", "A".repeat(MAX_TOKEN_CHARS));
        assert!(!well_formed(&long));
    }
}
