//! Search words for the catalog's FULLTEXT index.
//!
//! A query is split into words (runs of letters and digits); a product
//! matches when its name or description holds every word, ignoring case
//! and accents. The index leaves out words under three characters and a
//! short list of stop words, so those are dropped from the query too
//! (they would otherwise match nothing); a query left with no word is
//! refused, naming why.

/// The words MySQL's and MariaDB's InnoDB FULLTEXT indexes skip by
/// default (`INFORMATION_SCHEMA.INNODB_FT_DEFAULT_STOPWORD`).
const STOP_WORDS: [&str; 35] = [
    "a", "about", "an", "are", "as", "at", "be", "by", "com", "de", "en", "for", "from", "how",
    "i", "in", "is", "it", "la", "of", "on", "or", "that", "the", "this", "to", "was", "what",
    "when", "where", "who", "will", "with", "und", "www",
];

/// The shortest word the index keeps (`innodb_ft_min_token_size`).
const MIN_WORD_CHARS: usize = 3;
/// The longest query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 200;

/// The words of a search, lower-cased, in order, without repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchTerms(Vec<String>);

impl SearchTerms {
    pub fn parse(query: &str) -> Result<Self, String> {
        if query.chars().count() > MAX_QUERY_CHARS {
            return Err(format!("must be at most {MAX_QUERY_CHARS} characters"));
        }
        let mut words: Vec<String> = Vec::new();
        for word in query.split(|c: char| !c.is_alphanumeric()) {
            let word = word.to_lowercase();
            if word.chars().count() >= MIN_WORD_CHARS
                && !STOP_WORDS.contains(&word.as_str())
                && !words.contains(&word)
            {
                words.push(word);
            }
        }
        if words.is_empty() {
            return Err(format!(
                "needs a word of at least {MIN_WORD_CHARS} letters or digits that is not a \
                 common word such as `the`"
            ));
        }
        Ok(Self(words))
    }

    /// The words joined by spaces: what the query means, for binding a
    /// cursor to it.
    pub fn canonical(&self) -> String {
        self.0.join(" ")
    }

    /// The FULLTEXT boolean-mode expression: every word required. Words
    /// hold only letters and digits, so none is read as an operator.
    pub fn boolean_mode(&self) -> String {
        self.0
            .iter()
            .map(|word| format!("+{word}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_split_folded_and_stripped_of_what_the_index_skips() {
        let terms = SearchTerms::parse("The Café-crème MUG, for tea (a mug!) +x -y \"*\"").unwrap();
        assert_eq!(terms.canonical(), "café crème mug tea");
        assert_eq!(terms.boolean_mode(), "+café +crème +mug +tea");
    }

    #[test]
    fn a_query_with_nothing_searchable_is_refused() {
        for bad in [
            "",
            "  ",
            "a an the",
            "ab cd",
            "+-*\"()~<>@",
            &"x".repeat(201),
        ] {
            assert!(SearchTerms::parse(bad).is_err(), "{bad:?}");
        }
    }
}
