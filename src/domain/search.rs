//! What a search word is: one definition, used both to index a product
//! and to read a query, so the two always agree (and agree on MySQL and
//! MariaDB alike, since the database only compares the words this module
//! makes).
//!
//! Text is folded first: Unicode compatibility decomposition (NFKD) with
//! the combining marks dropped, so `Café`, `CAFE` and `ｃａｆé` are the same
//! word, then lower-cased (with `ß` as `ss` and `ς` as `σ`, as full case
//! folding has them). Then it is cut into words:
//! - a run of letters and digits is a word (`snake_case` is the two words
//!   `snake` and `case`; `4k` and `tv` are words), if it is at least
//!   [`MIN_WORD_CHARS`] long;
//! - Chinese, Japanese and Korean text, written without spaces, becomes
//!   its overlapping pairs of characters (`无线耳机` is `无线`, `线耳`,
//!   `耳机`), so any two-character word inside it is found; a lone such
//!   character is a word by itself.
//!
//! There is no stop-word list. A word is cut to [`MAX_WORD_CHARS`].

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// The shortest word outside Chinese, Japanese and Korean text.
pub const MIN_WORD_CHARS: usize = 2;
/// The longest word kept; longer words are cut to this many characters,
/// in the index and in queries alike.
pub const MAX_WORD_CHARS: usize = 32;
/// The longest query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 200;
/// The most distinct words a query may hold.
pub const MAX_QUERY_WORDS: usize = 16;
/// The most distinct words indexed for one product: its name's first,
/// then its description's, in order.
pub const MAX_PRODUCT_WORDS: usize = 1_000;

/// The distinct words of `text`, in order of first appearance, folded.
fn words(text: &str) -> Vec<String> {
    let mut words = Words::default();
    let unmarked = text.nfkd().filter(|c| !is_combining_mark(*c)).nfc();
    for c in unmarked.flat_map(char::to_lowercase) {
        match c {
            'ß' => words.letters("ss"),
            'ς' => words.letters("σ"),
            c if is_cjk(c) => {
                words.end_run();
                words.ideographs.push(c);
            }
            c if c.is_alphanumeric() => {
                words.end_ideographs();
                words.run.push(c);
            }
            _ => {
                words.end_run();
                words.end_ideographs();
            }
        }
    }
    words.end_run();
    words.end_ideographs();
    words.found
}

/// The cutter's state: the words found, and the one being read.
#[derive(Default)]
struct Words {
    found: Vec<String>,
    run: String,
    ideographs: Vec<char>,
}

impl Words {
    fn letters(&mut self, text: &str) {
        self.end_ideographs();
        self.run.push_str(text);
    }

    fn keep(&mut self, word: String) {
        if !self.found.contains(&word) {
            self.found.push(word);
        }
    }

    fn end_run(&mut self) {
        let run = std::mem::take(&mut self.run);
        if run.chars().count() >= MIN_WORD_CHARS {
            self.keep(run.chars().take(MAX_WORD_CHARS).collect());
        }
    }

    fn end_ideographs(&mut self) {
        let chars = std::mem::take(&mut self.ideographs);
        if let [alone] = chars[..] {
            self.keep(alone.to_string());
        }
        for pair in chars.windows(2) {
            self.keep(pair.iter().collect());
        }
    }
}

/// Chinese, Japanese and Korean scripts, which do not put spaces between
/// words: Han ideographs, kana and Hangul syllables.
fn is_cjk(c: char) -> bool {
    matches!(u32::from(c),
        0x3040..=0x30FF      // Hiragana, Katakana
        | 0x31F0..=0x31FF    // Katakana extensions
        | 0x3400..=0x4DBF    // Han extension A
        | 0x4E00..=0x9FFF    // Han
        | 0xAC00..=0xD7AF    // Hangul syllables
        | 0xF900..=0xFAFF    // Han compatibility
        | 0x20000..=0x3134F  // Han extensions B–G
    )
}

/// The words a product is found by: those of its name, then of its
/// description, at most [`MAX_PRODUCT_WORDS`].
pub fn product_words(name: &str, description: Option<&str>) -> Vec<String> {
    let mut all = words(name);
    for word in words(description.unwrap_or_default()) {
        if all.len() == MAX_PRODUCT_WORDS {
            break;
        }
        if !all.contains(&word) {
            all.push(word);
        }
    }
    all.truncate(MAX_PRODUCT_WORDS);
    all
}

/// The words of a search, folded, in order, without repeats: a product
/// matches when it has every one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchTerms(Vec<String>);

impl SearchTerms {
    pub fn parse(query: &str) -> Result<Self, String> {
        if query.chars().count() > MAX_QUERY_CHARS {
            return Err(format!("must be at most {MAX_QUERY_CHARS} characters"));
        }
        let words = words(query);
        if words.is_empty() {
            return Err(format!(
                "needs a word: {MIN_WORD_CHARS} or more letters or digits, or Chinese, \
                 Japanese or Korean text"
            ));
        }
        if words.len() > MAX_QUERY_WORDS {
            return Err(format!(
                "has {} different words; at most {MAX_QUERY_WORDS} are allowed",
                words.len()
            ));
        }
        Ok(Self(words))
    }

    /// The words joined by spaces: what the query means, for binding a
    /// cursor to it.
    pub fn canonical(&self) -> String {
        self.0.join(" ")
    }

    pub fn words(&self) -> &[String] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(query: &str) -> Vec<String> {
        SearchTerms::parse(query).unwrap().0
    }

    #[test]
    fn words_fold_case_accents_and_width() {
        assert_eq!(
            parsed("The Café-CRÈME mug, for Tea (a mug!) +x -y \"*\""),
            ["the", "cafe", "creme", "mug", "for", "tea"]
        );
        assert_eq!(parsed("ｃａｆé Ｃafe"), ["cafe"]);
        assert_eq!(parsed("STRASSE straße"), ["strasse"]);
        assert_eq!(parsed("ΟΔΟΣ οδος"), ["οδοσ"]);
        // U+0130 lower-cases to two characters, and its dot is a mark.
        assert_eq!(parsed("İSTANBUL"), ["istanbul"]);
        assert_eq!(parsed("ﬁne"), ["fine"]);
    }

    #[test]
    fn two_letters_make_a_word_and_underscores_split() {
        assert_eq!(parsed("4K TV"), ["4k", "tv"]);
        assert_eq!(parsed("snake_case"), ["snake", "case"]);
        assert_eq!(parsed("a b cd"), ["cd"]);
    }

    #[test]
    fn cjk_text_becomes_pairs_of_characters() {
        assert_eq!(parsed("耳机"), ["耳机"]);
        assert_eq!(
            parsed("无线耳机套装"),
            ["无线", "线耳", "耳机", "机套", "套装"]
        );
        assert_eq!(parsed("耳机 无线"), ["耳机", "无线"]);
        assert_eq!(parsed("书"), ["书"]);
        assert_eq!(parsed("USB耳机"), ["usb", "耳机"]);
        // Hangul stays whole syllables through the decomposition.
        assert_eq!(parsed("한국어"), ["한국", "국어"]);
        let product = product_words("无线耳机套装", None);
        for query in ["耳机", "无线耳机", "耳机 无线", "无线耳机套装"] {
            assert!(
                parsed(query).iter().all(|word| product.contains(word)),
                "{query}"
            );
        }
    }

    #[test]
    fn long_words_are_cut_the_same_way_everywhere() {
        let long = "x".repeat(40);
        assert_eq!(parsed(&long), ["x".repeat(MAX_WORD_CHARS)]);
        assert_eq!(product_words(&long, None), ["x".repeat(MAX_WORD_CHARS)]);
    }

    #[test]
    fn a_product_is_found_by_its_name_then_its_description() {
        assert_eq!(
            product_words("Sturdy widget", Some("A sturdy, blue widget")),
            ["sturdy", "widget", "blue"]
        );
        let many: String = (0..3000).map(|i| format!("w{i} ")).collect();
        let words = product_words("name", Some(&many));
        assert_eq!(words.len(), MAX_PRODUCT_WORDS);
        assert_eq!(words[0], "name");
    }

    #[test]
    fn a_query_with_nothing_searchable_is_refused() {
        for bad in [
            "",
            "  ",
            "a b c",
            "+-*\"()~<>@",
            "\u{200b}",
            &"x".repeat(201),
        ] {
            assert!(SearchTerms::parse(bad).is_err(), "{bad:?}");
        }
        let many: String = (0..17).map(|i| format!("w{i} ")).collect();
        assert!(SearchTerms::parse(&many).is_err());
    }
}
