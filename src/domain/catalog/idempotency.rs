//! Idempotent creates: what makes two creates "the same request", and
//! the created product as stored with its key, so that a retry gets
//! exactly what the first request got.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::product::{NewProduct, Owner, Product};
use crate::domain::error::{Error, Result};
use crate::domain::price::Price;
use crate::domain::values::Description;

/// How long a key is remembered, in hours.
pub const IDEMPOTENCY_TTL_HOURS: u64 = 24;

/// How long a key is remembered.
pub const IDEMPOTENCY_TTL: Duration = Duration::from_secs(IDEMPOTENCY_TTL_HOURS * 3600);

/// What a key is stored as: its digest, so keys of any shape take the
/// same room.
pub(super) fn key_digest(key: &[u8]) -> [u8; 32] {
    Sha256::digest(key).into()
}

/// What makes two creates "the same request": the product they ask for.
pub(super) fn request_digest(product: &NewProduct) -> [u8; 32] {
    let canonical = serde_json::json!([
        product.name.as_str(),
        product.description.as_ref().map(Description::as_str),
        product.price.cents(),
    ]);
    Sha256::digest(canonical.to_string()).into()
}

/// A created product as stored with its idempotency key.
#[derive(Serialize, Deserialize)]
struct Snapshot {
    id: i64,
    name: String,
    description: Option<String>,
    price_cents: i64,
    owner_id: i64,
    owner_username: String,
    version: i32,
    created_at_micros: i64,
    updated_at_micros: i64,
}

/// The stored form of a created product.
pub(super) fn snapshot(product: &Product) -> Result<String> {
    serde_json::to_string(&Snapshot {
        id: product.id,
        name: product.name.clone(),
        description: product.description.clone(),
        price_cents: product.price.cents(),
        owner_id: product.owner.id,
        owner_username: product.owner.username.clone(),
        version: product.version,
        created_at_micros: product.created_at.timestamp_micros(),
        updated_at_micros: product.updated_at.timestamp_micros(),
    })
    .map_err(Error::internal)
}

/// The product a stored snapshot holds.
pub(super) fn restore(stored: &str) -> Result<Product> {
    let snapshot: Snapshot = serde_json::from_str(stored).map_err(Error::internal)?;
    let at = |micros| {
        DateTime::<Utc>::from_timestamp_micros(micros)
            .ok_or_else(|| Error::internal("a stored creation has an impossible time"))
    };
    Ok(Product {
        id: snapshot.id,
        name: snapshot.name,
        description: snapshot.description,
        price: Price::from_cents(snapshot.price_cents).map_err(Error::internal)?,
        owner: Owner {
            id: snapshot.owner_id,
            username: snapshot.owner_username,
        },
        version: snapshot.version,
        created_at: at(snapshot.created_at_micros)?,
        updated_at: at(snapshot.updated_at_micros)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_restores_the_product_it_was_taken_of() {
        let at = |micros| DateTime::from_timestamp_micros(micros).unwrap();
        let product = Product {
            id: 7,
            name: "Mug ☕".into(),
            description: None,
            price: Price::from_cents(1999).unwrap(),
            owner: Owner {
                id: 3,
                username: "alice".into(),
            },
            version: 2,
            created_at: at(1_795_000_000_123_456),
            updated_at: at(1_795_000_000_999_999),
        };
        assert_eq!(restore(&snapshot(&product).unwrap()).unwrap(), product);
    }
}
