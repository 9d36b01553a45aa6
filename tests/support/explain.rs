//! A statement run under `EXPLAIN` (or `ANALYZE`) exactly as the code
//! builds it: prepared with its binds, or as text with the binds written
//! in. Included by path from `tests/api/main.rs`.

use diesel::mysql::Mysql;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::Binary;

/// `prefix` followed by a statement exactly as the code builds it, binds
/// included; the server answers with one text column.
pub struct Explain<'q, Q> {
    pub prefix: &'static str,
    pub statement: &'q Q,
}

impl<Q: QueryFragment<Mysql>> QueryFragment<Mysql> for Explain<'_, Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Mysql>) -> QueryResult<()> {
        out.unsafe_to_cache_prepared();
        out.push_sql(self.prefix);
        self.statement.walk_ast(out.reborrow())
    }
}

impl<Q> QueryId for Explain<'_, Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q> Query for Explain<'_, Q> {
    type SqlType = Binary;
}

/// The statement as SQL text with every bind written in as a literal,
/// for a server that will not prepare `EXPLAIN ANALYZE` (the text protocol
/// takes any statement). Diesel shows binds only through their `Debug`
/// text (`-- binds: [5, "lamp", 2026-01-01T00:00:00, [1, 2]]`), which is
/// read back here: integers, strings, date-times, bytes, `Some`/`None`.
pub fn inlined<Q: QueryFragment<Mysql>>(statement: &Q) -> String {
    let shown = diesel::debug_query::<Mysql, _>(statement).to_string();
    let (sql, binds) = shown
        .rsplit_once(" -- binds: ")
        .expect("diesel shows the binds after the SQL");
    let mut literals = debug_list(binds).into_iter();
    let mut out = String::with_capacity(sql.len());
    let mut pieces = sql.split('?');
    out.push_str(pieces.next().unwrap_or_default());
    for piece in pieces {
        out.push_str(&literals.next().expect("a bind for every placeholder"));
        out.push_str(piece);
    }
    assert!(
        literals.next().is_none(),
        "more binds than placeholders: {shown}"
    );
    out
}

/// The items of a `Debug` list (`[a, "b, c", [1, 2]]`) as SQL literals.
fn debug_list(list: &str) -> Vec<String> {
    let inner = list
        .trim()
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .expect("a Debug list");
    let mut items = Vec::new();
    let (mut item, mut depth, mut in_string, mut escaped) = (String::new(), 0, false, false);
    for c in inner.chars() {
        if in_string {
            item.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                item.push(c);
            }
            '[' | '(' => {
                depth += 1;
                item.push(c);
            }
            ']' | ')' => {
                depth -= 1;
                item.push(c);
            }
            ',' if depth == 0 => items.push(std::mem::take(&mut item)),
            _ => item.push(c),
        }
    }
    if !item.trim().is_empty() {
        items.push(item);
    }
    items.iter().map(|item| literal(item.trim())).collect()
}

/// One `Debug`-shown value as an SQL literal.
fn literal(shown: &str) -> String {
    if shown == "None" {
        return "NULL".to_owned();
    }
    if let Some(inner) = shown
        .strip_prefix("Some(")
        .and_then(|s| s.strip_suffix(')'))
    {
        return literal(inner);
    }
    if let Some(quoted) = shown.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        let text = unescape_debug(quoted);
        return format!("'{}'", text.replace('\\', "\\\\").replace('\'', "''"));
    }
    if shown.starts_with('[') {
        let bytes: String = debug_list_numbers(shown)
            .iter()
            .map(|byte| format!("{byte:02X}"))
            .collect();
        return format!("X'{bytes}'");
    }
    if shown == "true" || shown == "false" {
        return if shown == "true" { "1" } else { "0" }.to_owned();
    }
    // A date-time (`2026-01-01T00:00:00.5`) or a number.
    if shown.len() >= 19 && shown.as_bytes()[10] == b'T' {
        return format!("'{}'", shown.replacen('T', " ", 1));
    }
    assert!(
        shown.parse::<f64>().is_ok(),
        "a bind this reader does not know: {shown}"
    );
    shown.to_owned()
}

fn debug_list_numbers(shown: &str) -> Vec<u8> {
    shown
        .trim_matches(|c| c == '[' || c == ']')
        .split(',')
        .filter(|n| !n.trim().is_empty())
        .map(|n| n.trim().parse().expect("a byte"))
        .collect()
}

/// Undoes Rust's `Debug` escaping of a string.
fn unescape_debug(quoted: &str) -> String {
    let mut out = String::with_capacity(quoted.len());
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('0') => out.push('\0'),
            Some('u') => {
                let code: String = chars.by_ref().skip(1).take_while(|c| *c != '}').collect();
                let value = u32::from_str_radix(&code, 16).expect("a \\u{…} escape");
                out.push(char::from_u32(value).expect("a scalar value"));
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}
