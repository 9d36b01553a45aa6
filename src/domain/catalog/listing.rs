//! Listing: the orders, filters and scopes of a page request, and the
//! keyset positions that signed cursors carry between pages.

use chrono::DateTime;

use super::product::Product;
use crate::db::listing::{ListQuery, PageRows};
use crate::db::products::{SortColumn, SortValue};
use crate::domain::cursor::{Cursors, Position};
use crate::domain::error::{Error, Result};
use crate::domain::price::Price;
use crate::domain::search::SearchTerms;
use crate::domain::values::{Username, fold_case};

pub const DEFAULT_PAGE_SIZE: u32 = 20;
pub const MAX_PAGE_SIZE: u32 = 100;

/// The order of a listing: a key, and its direction. Ties are broken
/// by id in the same direction, so the order is total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    NewestFirst,
    OldestFirst,
    CheapestFirst,
    DearestFirst,
    NameAscending,
    NameDescending,
}

impl Sort {
    pub const ALL: [Self; 6] = [
        Self::NewestFirst,
        Self::OldestFirst,
        Self::CheapestFirst,
        Self::DearestFirst,
        Self::NameAscending,
        Self::NameDescending,
    ];

    /// The name clients use: the field, with `-` for descending.
    pub fn name(self) -> &'static str {
        match self {
            Self::NewestFirst => "-created_at",
            Self::OldestFirst => "created_at",
            Self::CheapestFirst => "price",
            Self::DearestFirst => "-price",
            Self::NameAscending => "name",
            Self::NameDescending => "-name",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|sort| sort.name() == name)
    }

    /// The column this order sorts by.
    pub fn column(self) -> SortColumn {
        match self {
            Self::NewestFirst | Self::OldestFirst => SortColumn::CreatedAt,
            Self::CheapestFirst | Self::DearestFirst => SortColumn::Price,
            Self::NameAscending | Self::NameDescending => SortColumn::Name,
        }
    }

    /// Whether this order runs from high to low.
    pub fn descending(self) -> bool {
        matches!(
            self,
            Self::NewestFirst | Self::DearestFirst | Self::NameDescending
        )
    }

    /// `product`'s key in this order, as the database compares it.
    fn key(self, product: &Product) -> SortValue {
        match self.column() {
            SortColumn::CreatedAt => SortValue::Time(product.created_at.naive_utc()),
            SortColumn::Price => SortValue::Cents(product.price.cents()),
            SortColumn::Name => SortValue::Text(product.name.clone()),
        }
    }

    // The sort key's one translation between the database and a cursor
    // runs through the two functions below, one each way.

    /// The cursor position of a page that ended at key `value` and `id`.
    fn position(value: SortValue, id: i64) -> Position {
        match value {
            SortValue::Time(at) => Position::Time(at.and_utc().timestamp_micros(), id),
            SortValue::Cents(cents) => Position::Cents(cents, id),
            SortValue::Text(name) => Position::Text(name, id),
        }
    }

    /// The key and id a cursor position resumes after, if it fits this
    /// order.
    fn after(self, position: Position) -> Option<(SortValue, i64)> {
        match (self.column(), position) {
            (SortColumn::CreatedAt, Position::Time(micros, id)) => {
                let at = DateTime::from_timestamp_micros(micros)?.naive_utc();
                Some((SortValue::Time(at), id))
            }
            (SortColumn::Price, Position::Cents(cents, id)) => Some((SortValue::Cents(cents), id)),
            (SortColumn::Name, Position::Text(name, id)) => Some((SortValue::Text(name), id)),
            _ => None,
        }
    }
}

/// Whose products a listing shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    All,
    /// The caller's own (`/my`).
    OwnedBy(i64),
}

/// What a listing keeps.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub search: Option<SearchTerms>,
    pub min_price: Option<Price>,
    pub max_price: Option<Price>,
    /// Only this user's products.
    pub owner: Option<Username>,
}

/// Which page to show: at most `limit` items after `cursor`.
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub scope: Scope,
    pub filters: Filters,
    pub sort: Sort,
    pub limit: u32,
    pub cursor: Option<String>,
}

/// A page may hold fewer than `limit` items and still not be the last:
/// a filtered read stops after a bounded number of index entries (see
/// [`crate::db::listing`]), and then the page ends where the read did.
#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<Product>,
    /// Where the next page starts; `None` on the last page, and only
    /// there.
    pub next_cursor: Option<String>,
}

impl Page {
    pub fn empty() -> Self {
        Self {
            items: Vec::new(),
            next_cursor: None,
        }
    }
}

impl PageRequest {
    /// The query a cursor is bound to: everything but the position.
    pub fn binding(&self) -> String {
        let scope = match self.scope {
            Scope::All => "all".to_owned(),
            Scope::OwnedBy(id) => format!("my:{id}"),
        };
        let cents = |price: Option<Price>| price.map(|p| p.cents().to_string());
        let filters = &self.filters;
        format!(
            "{scope}|sort={}|q={}|min={}|max={}|owner={}",
            self.sort.name(),
            filters
                .search
                .as_ref()
                .map(SearchTerms::canonical)
                .unwrap_or_default(),
            cents(filters.min_price).unwrap_or_default(),
            cents(filters.max_price).unwrap_or_default(),
            filters
                .owner
                .as_ref()
                .map(|name| fold_case(name.as_str()))
                .unwrap_or_default(),
        )
    }

    /// The read this request asks for, with the owner left to fill in;
    /// refuses a limit out of range, crossed price bounds and a cursor
    /// that was not made for this query.
    pub(super) fn query(&self, cursors: &Cursors) -> Result<ListQuery> {
        if !(1..=MAX_PAGE_SIZE).contains(&self.limit) {
            return Err(Error::Invalid {
                field: "limit",
                reason: format!("must be from 1 to {MAX_PAGE_SIZE}"),
            });
        }
        let filters = &self.filters;
        if let (Some(min), Some(max)) = (filters.min_price, filters.max_price)
            && min > max
        {
            return Err(Error::Invalid {
                field: "max_price",
                reason: "must not be below `min_price`".into(),
            });
        }
        let after = match self.cursor.as_deref() {
            None => None,
            Some(text) => Some(
                cursors
                    .decode(text, &self.binding())
                    .and_then(|position| self.sort.after(position))
                    .ok_or_else(|| Error::Invalid {
                        field: "cursor",
                        reason: "is not a cursor this service made for this query; pass a \
                                 page's `next_cursor` unchanged, with the same filters and sort"
                            .into(),
                    })?,
            ),
        };
        Ok(ListQuery {
            owner: None,
            terms: filters
                .search
                .as_ref()
                .map(|terms| terms.words().to_vec())
                .unwrap_or_default(),
            min_cents: filters.min_price.map(Price::cents),
            max_cents: filters.max_price.map(Price::cents),
            column: self.sort.column(),
            descending: self.sort.descending(),
            after,
            // One more than the page, to tell whether another follows.
            limit: i64::from(self.limit) + 1,
        })
    }

    /// The page a read of [`Self::query`] gives, with the cursor of the
    /// next one.
    pub(super) fn page(&self, read: PageRows, cursors: &Cursors) -> Result<Page> {
        let limit = self.limit as usize;
        let mut rows = read.rows;
        let has_more = rows.len() > limit;
        rows.truncate(limit);
        let items = rows
            .into_iter()
            .map(Product::try_from)
            .collect::<Result<Vec<_>>>()?;
        let end = match (items.last(), read.resume_after) {
            (Some(last), _) if has_more => Some((self.sort.key(last), last.id)),
            // The read stopped at its bound before the page was full.
            (_, resume_after) => resume_after,
        };
        let next_cursor =
            end.map(|(value, id)| cursors.encode(&Sort::position(value, id), &self.binding()));
        Ok(Page { items, next_cursor })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_names_round_trip() {
        for sort in Sort::ALL {
            assert_eq!(Sort::from_name(sort.name()), Some(sort));
        }
        assert_eq!(Sort::from_name("price desc"), None);
    }

    #[test]
    fn a_position_resumes_only_the_order_it_came_from() {
        let at = DateTime::from_timestamp_micros(1_795_000_000_123_456)
            .unwrap()
            .naive_utc();
        for (sort, value) in [
            (Sort::NewestFirst, SortValue::Time(at)),
            (Sort::DearestFirst, SortValue::Cents(1999)),
            (Sort::NameAscending, SortValue::Text("Mug ☕".into())),
        ] {
            let position = Sort::position(value.clone(), 7);
            assert_eq!(sort.after(position.clone()), Some((value, 7)));
            for other in Sort::ALL
                .into_iter()
                .filter(|o| o.column() != sort.column())
            {
                assert_eq!(other.after(position.clone()), None, "{other:?}");
            }
        }
    }
}
