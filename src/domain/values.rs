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
        }
    };
}

text_value!(
    /// 3–80 ASCII letters, digits, `.`, `_` or `-`. Unique regardless of case.
    Username
);
text_value!(
    /// An email-shaped string of 3–120 characters without control or
    /// format characters. Unique regardless of case.
    Email
);
text_value!(
    /// What a login names the account by: a username or an email.
    LoginName
);
text_value!(
    /// 1–512 characters, no control characters but tabs and line breaks,
    /// and at least one that is neither white space nor invisible.
    ProductName
);
text_value!(
    /// At most 10,000 characters; no control characters but tabs and line
    /// breaks.
    Description
);

pub static USERNAME_PATTERN: &str = "^[A-Za-z0-9._-]+$";
/// The email rule, one pattern for the spec and the code: a local part
/// of dot-separated atoms and a domain of dot-separated labels, no white
/// space, and none of the control and invisible formatting characters of
/// the Basic Multilingual Plane (the code refuses the few outside it too).
/// An atom may hold anything else but `@`, `.` and RFC 5322's specials
/// `()<>[]:;\,"` (so `+tags` and non-ASCII letters are fine); a label,
/// as in a host name, no ASCII punctuation but `-` (non-ASCII letters,
/// for internationalized domains, are fine). So `x@example.com*` and
/// `a..b@x.io` are refused, and `admin@localhost` is accepted.
pub static EMAIL_PATTERN: &str = concat!(
    r#"^[^@.()<>\[\]:;\\,"\s\u0000-\u001F\u007F-\u009F\u00AD\u0600-\u0605\u061C\u06DD\u070F\u0890\u0891\u08E2\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF\uFFF9-\uFFFB]+"#,
    r#"(?:\.[^@.()<>\[\]:;\\,"\s\u0000-\u001F\u007F-\u009F\u00AD\u0600-\u0605\u061C\u06DD\u070F\u0890\u0891\u08E2\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF\uFFF9-\uFFFB]+)*"#,
    r"@[^\s\u0000-\u002C\u002E\u002F\u003A-\u0040\u005B-\u0060\u007B-\u009F\u00AD\u0600-\u0605\u061C\u06DD\u070F\u0890\u0891\u08E2\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF\uFFF9-\uFFFB]+",
    r"(?:\.[^\s\u0000-\u002C\u002E\u002F\u003A-\u0040\u005B-\u0060\u007B-\u009F\u00AD\u0600-\u0605\u061C\u06DD\u070F\u0890\u0891\u08E2\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF\uFFF9-\uFFFB]+)*$",
);
/// The product-name rule as the spec states it: no control characters but
/// tabs and line breaks, and at least one character that is neither white
/// space nor invisible (default-ignorable, or the blank Braille pattern
/// U+2800).
pub static PRODUCT_NAME_PATTERN: &str = concat!(
    r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*",
    r"[^\s\u0000-\u001F\u007F-\u009F\u00AD\u034F\u061C\u115F\u1160\u17B4\u17B5\u180B-\u180F\u200B-\u200F\u202A-\u202E\u2060-\u206F\u2800\u3164\uFE00-\uFE0F\uFEFF\uFFA0\uFFF0-\uFFF8]",
    r"[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$",
);
/// Descriptions, like names, may hold line breaks and tabs, but no other
/// control characters.
pub static DESCRIPTION_PATTERN: &str = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$";

static USERNAME_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(USERNAME_PATTERN).expect("valid regex"));
static EMAIL_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(EMAIL_PATTERN).expect("valid regex"));
/// Control (Cc) and format (Cf) characters: NUL, zero-width spaces, bidi
/// overrides. Invisible in an address, so two accounts could look alike.
static CONTROL_OR_FORMAT_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[\p{Cc}\p{Cf}]").expect("valid regex"));
static CONTROL_BUT_LINE_BREAKS_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[\p{Cc}&&[^\t\n\r]]").expect("valid regex"));
/// A character that shows: not white space, not a control character, not
/// default-ignorable (zero-width characters, fillers such as U+3164) and
/// not the blank Braille pattern.
static VISIBLE_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[^\s\p{Cc}\p{Default_Ignorable_Code_Point}\u{2800}]").expect("valid regex")
});

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
        if CONTROL_OR_FORMAT_RE.is_match(&text) {
            return Err("must not contain control or invisible formatting characters".into());
        }
        if !EMAIL_RE.is_match(&text) {
            return Err(
                "must look like name@example.com: no white space, a domain of letters, digits \
                 and `-` in dot-separated parts"
                    .into(),
            );
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

/// The form in which usernames and emails are compared: lower-cased.
pub fn fold_case(text: &str) -> String {
    text.to_lowercase()
}

/// What usernames and emails are looked up by: a SHA-256 digest of their
/// folded form. Lower-casing can lengthen a string (U+0130 becomes two
/// characters); the digest has a fixed length whatever it does.
pub fn login_key(text: &str) -> [u8; 32] {
    Sha256::digest(fold_case(text)).into()
}

impl ProductName {
    pub const MIN: usize = 1;
    pub const MAX: usize = 512;

    pub fn parse(text: String) -> Result<Self, Reason> {
        length_between(&text, Self::MIN, Self::MAX)?;
        if CONTROL_BUT_LINE_BREAKS_RE.is_match(&text) {
            return Err(
                "must not contain control characters other than tabs and line breaks".into(),
            );
        }
        if !VISIBLE_RE.is_match(&text) {
            return Err(
                "must not be blank: it needs a character other than white space and invisible ones"
                    .into(),
            );
        }
        Ok(Self(text))
    }
}

impl Description {
    pub const MAX: usize = 10_000;

    pub fn parse(text: String) -> Result<Self, Reason> {
        length_between(&text, 0, Self::MAX)?;
        if CONTROL_BUT_LINE_BREAKS_RE.is_match(&text) {
            return Err(
                "must not contain control characters other than tabs and line breaks".into(),
            );
        }
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
    fn emails_refuse_invisible_and_control_characters() {
        for bad in [
            "zw\u{200b}X@x.io",
            "zwX\u{0}@x.io",
            "a\u{202e}b@x.io",
            "a@x\u{feff}.io",
            "a@x.io\u{e0001}",
        ] {
            assert!(Email::parse(bad.into()).is_err(), "{bad:?}");
        }
        assert!(Email::parse("zoë.İ@ex.io".into()).is_ok());
    }

    #[test]
    fn invisible_names_are_blank_and_controls_are_refused() {
        for blank in [
            "\u{200b}",
            "\u{2800}\u{2800}",
            "\u{3164}",
            "\u{115f}\u{fe0f}",
            "\u{1d173}",
        ] {
            assert!(ProductName::parse(blank.into()).is_err(), "{blank:?}");
        }
        assert!(ProductName::parse("a\u{0}b".into()).is_err());
        assert!(ProductName::parse("tab\there".into()).is_ok());
        assert!(ProductName::parse("\t\n".into()).is_err());
        assert!(ProductName::parse("👨\u{200d}👩\u{200d}👧".into()).is_ok());
        assert!(ProductName::parse("İ".into()).is_ok());
        assert!(Description::parse("line one\r\nline\ttwo".into()).is_ok());
        assert!(Description::parse("bell\u{7}".into()).is_err());
    }

    #[test]
    fn the_spec_patterns_agree_with_the_code_on_the_basic_plane() {
        let email = Regex::new(EMAIL_PATTERN).unwrap();
        let name = Regex::new(PRODUCT_NAME_PATTERN).unwrap();
        let description = Regex::new(DESCRIPTION_PATTERN).unwrap();
        for c in (0u32..0x10000).filter_map(char::from_u32) {
            for text in [format!("a{c}b@x.io"), format!("ab@x{c}y.io")] {
                assert_eq!(
                    email.is_match(&text),
                    Email::parse(text.clone()).is_ok(),
                    "{c:?} in {text:?}"
                );
            }
            let alone = c.to_string();
            assert_eq!(
                name.is_match(&alone),
                ProductName::parse(alone.clone()).is_ok(),
                "{c:?}"
            );
            assert_eq!(
                description.is_match(&alone),
                Description::parse(alone.clone()).is_ok(),
                "{c:?}"
            );
        }
    }

    #[test]
    fn emails_have_a_local_part_and_a_host_like_domain() {
        for good in [
            "admin@localhost",
            "first.last+tag@example.co.uk",
            "o'brien@example.com",
            "用户@例子.广告",
            "a@xn--bcher-kva.example",
        ] {
            assert!(Email::parse(good.into()).is_ok(), "{good}");
        }
        for bad in [
            "x@example.com*",
            "1e100@yzjt.bp8iyjb.com*",
            "a..b@x.io",
            ".a@x.io",
            "a.@x.io",
            "a@x..io",
            "a@x.io.",
            "a@b_c.io",
            "\"quoted\"@x.io",
            "a@[127.0.0.1]",
            "a b@x.io",
            "a@b@c",
        ] {
            assert!(Email::parse(bad.into()).is_err(), "{bad}");
        }
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
