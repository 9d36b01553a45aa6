//! Validated input values. Each type can only be built through `parse`,
//! which enforces the rule the API documents; past this point the rest of
//! the code can rely on it.

use std::sync::LazyLock;

use regex::Regex;
use secrecy::SecretString;
use sha2::{Digest, Sha256};

/// Why a value was refused, in words fit for the client.
pub type Reason = String;

fn char_count(text: &str) -> usize {
    text.chars().count()
}

fn length_between(text: &str, min: usize, max: usize) -> Result<(), Reason> {
    let n = char_count(text);
    if (min..=max).contains(&n) {
        Ok(())
    } else {
        Err(format!("must be {min} to {max} characters long (got {n})"))
    }
}

macro_rules! text_value {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_inner(self) -> String {
                self.0
            }
        }
    };
}

text_value!(
    /// 3–80 ASCII letters, digits, `.`, `_` or `-`. Unique regardless of case.
    Username
);
text_value!(
    /// An email-shaped string of 3–120 characters. Unique regardless of case.
    Email
);
text_value!(
    /// What a login names the account by: a username or an email.
    LoginName
);
text_value!(
    /// 1–512 characters with at least one that is not white space.
    ProductName
);
text_value!(
    /// At most 10,000 characters.
    Description
);

pub static USERNAME_PATTERN: &str = "^[A-Za-z0-9._-]+$";
pub static EMAIL_PATTERN: &str = r"^[^@\s]+@[^@\s]+$";
static USERNAME_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(USERNAME_PATTERN).expect("valid regex"));
static EMAIL_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(EMAIL_PATTERN).expect("valid regex"));

impl Username {
    pub const MIN: usize = 3;
    pub const MAX: usize = 80;

    pub fn parse(text: String) -> Result<Self, Reason> {
        length_between(&text, Self::MIN, Self::MAX)?;
        if !USERNAME_RE.is_match(&text) {
            return Err("may contain only letters, digits, '.', '_' and '-'".into());
        }
        Ok(Self(text))
    }
}

impl Email {
    pub const MIN: usize = 3;
    pub const MAX: usize = 120;

    pub fn parse(text: String) -> Result<Self, Reason> {
        length_between(&text, Self::MIN, Self::MAX)?;
        if !EMAIL_RE.is_match(&text) {
            return Err("must look like name@example.com".into());
        }
        Ok(Self(text))
    }
}

impl LoginName {
    pub const MIN: usize = 1;
    pub const MAX: usize = Email::MAX;

    pub fn parse(text: String) -> Result<Self, Reason> {
        length_between(&text, Self::MIN, Self::MAX)?;
        Ok(Self(text))
    }
}

/// What usernames and emails are compared by: a SHA-256 digest of the
/// lower-cased text. Lower-casing can lengthen a string (U+0130 becomes
/// two characters); the digest has a fixed length whatever it does.
pub fn login_key(text: &str) -> [u8; 32] {
    Sha256::digest(text.to_lowercase()).into()
}

impl ProductName {
    pub const MIN: usize = 1;
    pub const MAX: usize = 512;

    pub fn parse(text: String) -> Result<Self, Reason> {
        length_between(&text, Self::MIN, Self::MAX)?;
        if text.chars().all(is_blank) {
            return Err("must not be blank".into());
        }
        Ok(Self(text))
    }
}

/// White space by any common definition: Unicode's, plus the byte-order
/// mark and the ASCII separators that other regex engines count as space.
fn is_blank(c: char) -> bool {
    c.is_whitespace() || c == '\u{feff}' || ('\u{1c}'..='\u{1f}').contains(&c)
}

impl Description {
    pub const MAX: usize = 10_000;

    pub fn parse(text: String) -> Result<Self, Reason> {
        length_between(&text, 0, Self::MAX)?;
        Ok(Self(text))
    }
}

/// A password being set: 8–128 characters. Never printed.
#[derive(Debug, Clone)]
pub struct NewPassword(SecretString);

/// A password being checked at login: 1–128 characters, so that accounts
/// made under older rules can still log in. Never printed.
#[derive(Debug, Clone)]
pub struct Password(SecretString);

impl NewPassword {
    pub const MIN: usize = 8;
    pub const MAX: usize = 128;

    pub fn parse(text: String) -> Result<Self, Reason> {
        length_between(&text, Self::MIN, Self::MAX)?;
        Ok(Self(SecretString::from(text)))
    }

    pub fn into_secret(self) -> SecretString {
        self.0
    }
}

impl Password {
    pub const MIN: usize = 1;
    pub const MAX: usize = NewPassword::MAX;

    pub fn parse(text: String) -> Result<Self, Reason> {
        length_between(&text, Self::MIN, Self::MAX)?;
        Ok(Self(SecretString::from(text)))
    }

    pub fn into_secret(self) -> SecretString {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_the_documented_rule() {
        assert!(Username::parse("ada.lovelace_1-x".into()).is_ok());
        assert!(Username::parse("ab".into()).is_err());
        assert!(Username::parse("a".repeat(81)).is_err());
        assert!(Username::parse("a".repeat(80)).is_ok());
        assert!(Username::parse("bad name".into()).is_err());
        assert!(Username::parse("josé".into()).is_err());
        assert!(Username::parse("x'; DROP TABLE users;--".into()).is_err());
    }

    #[test]
    fn emails_must_be_email_shaped() {
        assert!(Email::parse("a@b".into()).is_ok());
        assert!(Email::parse("ada@example.com".into()).is_ok());
        for bad in [
            "ab",
            "no-at-sign",
            "two@@signs",
            "sp ace@x.io",
            "@x.io",
            "x@",
        ] {
            assert!(Email::parse(bad.into()).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_must_not_be_blank_and_lengths_count_characters() {
        assert!(ProductName::parse(" \t\u{feff}\u{3000}".into()).is_err());
        assert!(ProductName::parse("".into()).is_err());
        assert!(ProductName::parse("☕".repeat(512)).is_ok());
        assert!(ProductName::parse("☕".repeat(513)).is_err());
        assert!(Description::parse("é".repeat(10_000)).is_ok());
        assert!(Description::parse("é".repeat(10_001)).is_err());
    }

    #[test]
    fn passwords_have_length_limits() {
        assert!(NewPassword::parse("1234567".into()).is_err());
        assert!(NewPassword::parse("12345678".into()).is_ok());
        assert!(NewPassword::parse("x".repeat(129)).is_err());
        assert!(Password::parse("".into()).is_err());
        assert!(Password::parse("x".into()).is_ok());
    }
}
