//! The product: what the catalog stores, what a create and an edit ask
//! for, and the version a conditional write expects.

use chrono::{DateTime, Utc};

use crate::db::products::ProductWithOwner;
use crate::domain::error::{Error, Result, VersionCondition};
use crate::domain::price::Price;
use crate::domain::values::{Description, ProductName};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub id: i64,
    pub username: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub price: Price,
    pub owner: Owner,
    /// Moves on with every edit.
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<ProductWithOwner> for Product {
    type Error = Error;

    fn try_from((row, owner_name): ProductWithOwner) -> Result<Self> {
        Ok(Self {
            id: row.id,
            name: row.name,
            description: row.description,
            price: Price::from_cents(row.price_cents).map_err(Error::internal)?,
            owner: Owner {
                id: row.owner_id,
                username: owner_name,
            },
            version: row.version,
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        })
    }
}

pub struct NewProduct {
    pub name: ProductName,
    pub description: Option<Description>,
    pub price: Price,
}

/// What an edit changes; `None` keeps a field.
#[derive(Debug, Default)]
pub struct ProductEdit {
    pub name: Option<ProductName>,
    /// `Some(None)` clears the description.
    pub description: Option<Option<Description>>,
    pub price: Option<Price>,
}

impl ProductEdit {
    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.description.is_none() && self.price.is_none()
    }
}

/// Which versions of a product a request may act on: its preconditions,
/// as version numbers. The default expects nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    /// Only one of these versions; any version when `None`.
    pub one_of: Option<Vec<i32>>,
    /// Not one of these versions.
    pub none_of: Excluded,
}

/// The versions a request refuses to act on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Excluded {
    #[default]
    Nothing,
    /// Every version: the request may act only where there is no product.
    Every,
    These(Vec<i32>),
}

impl Expected {
    /// Whether a request may act on a product at `version`: the first
    /// condition it fails, in the order RFC 9110 §13.2.2 evaluates them
    /// (the versions it must be at, then those it must not be at).
    pub fn check(&self, version: i32) -> Result<()> {
        if let Some(allowed) = &self.one_of
            && !allowed.contains(&version)
        {
            return Err(Error::PreconditionFailed(VersionCondition::OneOf));
        }
        let excluded = match &self.none_of {
            Excluded::Nothing => false,
            Excluded::Every => true,
            Excluded::These(versions) => versions.contains(&version),
        };
        if excluded {
            return Err(Error::PreconditionFailed(VersionCondition::NoneOf));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(expected: &Expected, version: i32) -> Option<VersionCondition> {
        match expected.check(version) {
            Ok(()) => None,
            Err(Error::PreconditionFailed(condition)) => Some(condition),
            Err(other) => panic!("{other}"),
        }
    }

    #[test]
    fn the_versions_it_must_be_at_come_before_those_it_must_not() {
        assert_eq!(failed(&Expected::default(), 3), None);
        let both = Expected {
            one_of: Some(vec![2]),
            none_of: Excluded::Every,
        };
        assert_eq!(failed(&both, 3), Some(VersionCondition::OneOf));
        assert_eq!(failed(&both, 2), Some(VersionCondition::NoneOf));
        let newer = Expected {
            one_of: None,
            none_of: Excluded::These(vec![1, 2]),
        };
        assert_eq!(failed(&newer, 2), Some(VersionCondition::NoneOf));
        assert_eq!(failed(&newer, 3), None);
    }
}
