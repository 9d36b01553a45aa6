//! The Products operations: browse (search, filter, sort), get, create
//! (safely retried with `Idempotency-Key`), edit and delete (optionally
//! conditional on `If-Match`).

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Header, Path};
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::Serialize;

use crate::domain::Services;
use crate::domain::catalog::{
    Catalog, Created, NewProduct, Page, Product, ProductEdit, Scope, Written,
};
use crate::domain::price::Price;
use crate::domain::values::{Description, ProductName};

use super::ApiTags;
use super::body::{JsonBody, request_body};
use super::caching::{self, CachePolicy};
use super::conditional::{
    ConditionHeader, Freshness, Preconditions, none_match, page_tag, product_tag,
};
use super::fields::Nullable;
use super::json::{SerdeJson, rfc3339};
use super::list_params::{AllProductsParams, MyProductsParams};
use super::params::{ConsistencyHeader, IdempotencyKeyHeader, Once, ProductId};
use super::problem::problems;
use super::security::AccessToken;

request_body! {
    pub struct CreateProductRequest {
        pub name: ProductName => required,
        /// Optional; absent or null means no description.
        #[oai(nullable)]
        pub description: Option<Description> => optional,
        pub price: Price => required,
    }
}

request_body! {
    /// The fields to change; at least one. A field left out keeps its value.
    pub struct EditProductRequest min_keys = 1 {
        pub name: Option<ProductName> => unless_absent,
        /// A new description, or null to remove it.
        #[oai(nullable)]
        pub description: MaybeUndefined<Description> => clearable,
        pub price: Option<Price> => unless_absent,
    }
}

impl From<EditProductRequest> for ProductEdit {
    fn from(edit: EditProductRequest) -> Self {
        Self {
            name: edit.name,
            description: match edit.description {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(description) => Some(Some(description)),
            },
            price: edit.price,
        }
    }
}

/// The account that owns a product.
#[derive(Debug, Object, Serialize)]
pub struct ProductOwner {
    pub id: i64,
    pub username: String,
}

#[derive(Debug, Object, Serialize)]
#[oai(rename = "Product")]
pub struct ProductView {
    pub id: i64,
    pub name: String,
    #[oai(nullable)]
    pub description: Nullable<String>,
    pub price: Price,
    pub owner: ProductOwner,
    #[serde(serialize_with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339")]
    pub updated_at: DateTime<Utc>,
}

/// One page of products, in the order asked for. A page may hold fewer
/// than `limit` items, even none, while `next_cursor` is present: a
/// search or a filtered read examines a bounded number of entries per
/// page. Only a null `next_cursor` means the end.
#[derive(Debug, Object, Serialize)]
pub struct ProductPage {
    pub items: Vec<ProductView>,
    /// Pass as `cursor` to get the next page; null on the last page, and
    /// only there.
    #[oai(nullable)]
    pub next_cursor: Nullable<String>,
}

impl From<Product> for ProductView {
    fn from(product: Product) -> Self {
        Self {
            id: product.id,
            name: product.name,
            description: Nullable(product.description),
            price: product.price,
            owner: ProductOwner {
                id: product.owner.id,
                username: product.owner.username,
            },
            created_at: product.created_at,
            updated_at: product.updated_at,
        }
    }
}

impl From<Page> for ProductPage {
    fn from(page: Page) -> Self {
        Self {
            items: page.items.into_iter().map(Into::into).collect(),
            next_cursor: Nullable(page.next_cursor),
        }
    }
}

#[derive(Debug, ApiResponse)]
pub enum ProductPageResponse {
    /// One page of products.
    #[oai(status = 200)]
    Ok(
        SerdeJson<ProductPage>,
        /// A weak tag of what the page holds; send it as `If-None-Match`
        /// to get 304 while the page is unchanged.
        #[oai(header = "ETag")]
        String,
        /// For the public list, how long shared caches may keep it; the
        /// caller's own list is `private, no-store`.
        #[oai(header = "Cache-Control")]
        String,
    ),
    /// `If-None-Match` names the page's current tag: nothing on it has
    /// changed.
    #[oai(status = 304)]
    NotModified(
        #[oai(header = "ETag")] String,
        #[oai(header = "Cache-Control")] String,
    ),
}

impl ProductPageResponse {
    /// A page, or 304 when the client's copy is current.
    fn new(page: Page, if_none_match: &ConditionHeader, cache_control: String) -> Self {
        let etag = page_tag(&page);
        if none_match(if_none_match, &etag) {
            return Self::NotModified(etag, cache_control);
        }
        Self::Ok(SerdeJson(page.into()), etag, cache_control)
    }
}

#[derive(Debug, ApiResponse)]
pub enum GetProductResponse {
    /// The product.
    #[oai(status = 200)]
    Ok(
        SerdeJson<ProductView>,
        /// The product's version; send it as `If-Match` to edit or delete
        /// only this version, or as `If-None-Match` to fetch only a newer one.
        #[oai(header = "ETag")]
        String,
        /// How long shared caches may keep it.
        #[oai(header = "Cache-Control")]
        String,
    ),
    /// `If-None-Match` names the current version: nothing has changed.
    #[oai(status = 304)]
    NotModified(
        #[oai(header = "ETag")] String,
        #[oai(header = "Cache-Control")] String,
    ),
}

#[derive(Debug, ApiResponse)]
pub enum CreateProductResponse {
    /// The product was created (or, for a repeated `Idempotency-Key`, had
    /// been: the same answer again).
    #[oai(status = 201)]
    Created(
        SerdeJson<ProductView>,
        /// Where the new product lives.
        #[oai(header = "Location")]
        String,
        /// The product's version.
        #[oai(header = "ETag")]
        String,
        /// `true` when this answer repeats an earlier request's with the
        /// same `Idempotency-Key`; absent otherwise.
        #[oai(header = "Idempotent-Replayed")]
        Option<String>,
        /// A consistency token for this write: send it as
        /// `Catalog-Consistency` on a later read to see the write there.
        /// Absent when the database keeps no replication position.
        #[oai(header = "Catalog-Consistency")]
        Option<String>,
    ),
}

#[derive(Debug, ApiResponse)]
pub enum EditProductResponse {
    /// The product as edited.
    #[oai(status = 200)]
    Ok(
        SerdeJson<ProductView>,
        /// The product's new version.
        #[oai(header = "ETag")]
        String,
        /// A consistency token for this write: send it as
        /// `Catalog-Consistency` on a later read to see the edit there.
        /// Absent when the database keeps no replication position.
        #[oai(header = "Catalog-Consistency")]
        Option<String>,
    ),
}

#[derive(Debug, ApiResponse)]
pub enum DeleteProductResponse {
    /// The product was deleted.
    #[oai(status = 204)]
    Deleted(
        /// A consistency token for this write: send it as
        /// `Catalog-Consistency` on a later read to see the deletion there.
        /// Absent when the database keeps no replication position.
        #[oai(header = "Catalog-Consistency")]
        Option<String>,
    ),
}

problems! {
    pub enum ListProblem for [Catalog::LIST_FAILURES] {
        /// A parameter or `If-None-Match` is invalid, or `cursor` was not made for this query; `field` names it.
        400 => BadRequest,
    }
}

problems! {
    pub enum ListMineProblem for [Catalog::LIST_FAILURES] {
        /// A parameter or `If-None-Match` is invalid, or `cursor` was not made for this query; `field` names it.
        400 => BadRequest,
        /// The access token is missing, malformed, expired or otherwise invalid.
        #[oai(header(name = "WWW-Authenticate", ty = "String", description = "Always `Bearer`."))]
        401 => Unauthorized,
    }
}

problems! {
    pub enum GetProblem for [Catalog::GET_FAILURES, Preconditions::READ_FAILURES] {
        /// `id` is not a product id, or `If-Match` or `If-None-Match` is malformed.
        400 => BadRequest,
        /// No product has this id. It carries the same `Cache-Control` as
        /// a product, so a cache replaces a deleted product's copy with it.
        #[oai(header(name = "Cache-Control", ty = "String", description = "As on a product."))]
        404 => NotFound,
        /// `If-Match` names none of the product's current version (by strong comparison).
        412 => PreconditionFailed,
    }
}

problems! {
    pub enum CreateProblem for [Catalog::CREATE_FAILURES] {
        /// A field or `Idempotency-Key` is missing, has the wrong type or breaks its limits; `field` names it.
        400 => BadRequest,
        /// The access token is missing, malformed, expired or otherwise invalid.
        #[oai(header(name = "WWW-Authenticate", ty = "String", description = "Always `Bearer`."))]
        401 => Unauthorized,
        /// The body is over 64 KiB.
        413 => PayloadTooLarge,
        /// The body is not `application/json`.
        415 => UnsupportedMediaType,
        /// This `Idempotency-Key` was used (within 24 hours) with a different request.
        422 => IdempotencyKeyReused,
    }
}

problems! {
    pub enum EditProblem for [Catalog::EDIT_FAILURES] {
        /// A field is invalid, none is given, or `If-Match` or `If-None-Match` is malformed; `field` names it.
        400 => BadRequest,
        /// The access token is missing, malformed, expired or otherwise invalid.
        #[oai(header(name = "WWW-Authenticate", ty = "String", description = "Always `Bearer`."))]
        401 => Unauthorized,
        /// The caller neither owns the product nor is an admin.
        403 => Forbidden,
        /// No product has this id.
        404 => NotFound,
        /// `If-Match` does not name the product's current version by strong comparison (it changed meanwhile), or `If-None-Match` does (`*` names every version); `field` says which.
        412 => PreconditionFailed,
        /// The body is over 64 KiB.
        413 => PayloadTooLarge,
        /// The body is not `application/json`.
        415 => UnsupportedMediaType,
    }
}

problems! {
    pub enum DeleteProblem for [Catalog::DELETE_FAILURES] {
        /// `id` is not a product id, or `If-Match` or `If-None-Match` is malformed.
        400 => BadRequest,
        /// The access token is missing, malformed, expired or otherwise invalid.
        #[oai(header(name = "WWW-Authenticate", ty = "String", description = "Always `Bearer`."))]
        401 => Unauthorized,
        /// The caller neither owns the product nor is an admin.
        403 => Forbidden,
        /// No product has this id.
        404 => NotFound,
        /// `If-Match` does not name the product's current version by strong comparison (it changed meanwhile), or `If-None-Match` does (`*` names every version); `field` says which.
        412 => PreconditionFailed,
    }
}

/// A product with its `ETag`.
fn tagged(product: Product) -> (SerdeJson<ProductView>, String) {
    let etag = product_tag(&product);
    (SerdeJson(product.into()), etag)
}

pub struct ProductsApi;

#[OpenApi(prefix_path = "/api/products", tag = "ApiTags::Products")]
impl ProductsApi {
    /// List products
    ///
    /// All products, one page at a time: newest first unless `sort` says
    /// otherwise, and only those that match every filter given.
    #[oai(path = "/", method = "get", operation_id = "listProducts")]
    async fn list(
        &self,
        services: Data<&Services>,
        policy: Data<&CachePolicy>,
        params: AllProductsParams,
        /// Page tags the caller already has: 304 when one is current.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<ConditionHeader>,
        /// A consistency token from a write's answer: the page reflects
        /// that write (and every earlier one).
        #[oai(name = "Catalog-Consistency")]
        consistency: Header<Once<ConsistencyHeader>>,
    ) -> Result<ProductPageResponse, ListProblem> {
        let token = consistency.0.0.as_ref().map(ConsistencyHeader::as_str);
        let page = services
            .catalog
            .list(params.request(Scope::All), token)
            .await?;
        Ok(ProductPageResponse::new(
            page,
            &if_none_match.0,
            policy.public(),
        ))
    }

    /// List my products
    ///
    /// The caller's own products, one page at a time, with the same
    /// filters and sorts as `listProducts`.
    #[oai(path = "/my", method = "get", operation_id = "listMyProducts")]
    async fn list_mine(
        &self,
        services: Data<&Services>,
        caller: AccessToken,
        params: MyProductsParams,
        /// Page tags the caller already has: 304 when one is current.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<ConditionHeader>,
    ) -> Result<ProductPageResponse, ListMineProblem> {
        let request = params.request(Scope::OwnedBy(caller.0));
        // The caller's own list is read from the primary: it always
        // shows their writes.
        let page = services.catalog.list(request, None).await?;
        let private = caching::PRIVATE.to_owned();
        Ok(ProductPageResponse::new(page, &if_none_match.0, private))
    }

    /// Get a product
    ///
    /// With `If-None-Match` naming the current `ETag`, answers 304 without
    /// a body.
    #[oai(path = "/:id", method = "get", operation_id = "getProduct")]
    async fn get(
        &self,
        services: Data<&Services>,
        policy: Data<&CachePolicy>,
        /// The product's id.
        id: Path<ProductId>,
        /// Answer only if the product is at the version one of these
        /// strong `ETag`s names; otherwise 412.
        #[oai(name = "If-Match")]
        if_match: Header<ConditionHeader>,
        /// `ETag`s the caller already has: 304 when one names the current
        /// version.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<ConditionHeader>,
        /// A consistency token from a write's answer: the product is
        /// read as of that write or later.
        #[oai(name = "Catalog-Consistency")]
        consistency: Header<Once<ConsistencyHeader>>,
    ) -> Result<GetProductResponse, GetProblem> {
        let cache_control = policy.public();
        let token = consistency.0.0.as_ref().map(ConsistencyHeader::as_str);
        let product = match services.catalog.get(id.0.0, token).await {
            Ok(product) => product,
            Err(err) => {
                return Err(match GetProblem::from(err) {
                    GetProblem::NotFound(absent) => {
                        GetProblem::NotFound(absent.with_cache_control(cache_control))
                    }
                    other => other,
                });
            }
        };
        let freshness = Preconditions::new(if_match.0, if_none_match.0).for_read(&product)?;
        let (body, etag) = tagged(product);
        Ok(match freshness {
            Freshness::Changed => GetProductResponse::Ok(body, etag, cache_control),
            Freshness::NotModified => GetProductResponse::NotModified(etag, cache_control),
        })
    }

    /// Create a product
    ///
    /// The caller becomes its owner. With an `Idempotency-Key`, retrying
    /// the same request within 24 hours answers the first one's response
    /// again (marked `Idempotent-Replayed: true`) instead of creating
    /// another product, however many retries arrive at once.
    #[oai(path = "/", method = "post", operation_id = "createProduct")]
    async fn create(
        &self,
        services: Data<&Services>,
        caller: AccessToken,
        /// A unique value per intended product (a UUID, say), kept for 24 hours.
        #[oai(name = "Idempotency-Key")]
        idempotency_key: Header<Once<IdempotencyKeyHeader>>,
        body: JsonBody<CreateProductRequest>,
    ) -> Result<CreateProductResponse, CreateProblem> {
        let JsonBody(CreateProductRequest {
            name,
            description,
            price,
        }) = body;
        let product = NewProduct {
            name,
            description,
            price,
        };
        let Created {
            product,
            replayed,
            consistency,
        } = services
            .catalog
            .create(
                caller.0,
                product,
                idempotency_key
                    .0
                    .0
                    .as_ref()
                    .map(IdempotencyKeyHeader::bytes),
            )
            .await?;
        let location = format!("/api/products/{}", product.id);
        let (body, etag) = tagged(product);
        Ok(CreateProductResponse::Created(
            body,
            location,
            etag,
            replayed.then(|| "true".to_owned()),
            consistency,
        ))
    }

    /// Edit a product
    ///
    /// Changes the fields given and moves `updated_at` and the `ETag` on.
    /// Only the product's owner or an admin may edit it. With `If-Match`,
    /// only the version it names is edited; otherwise 412.
    #[oai(path = "/:id", method = "patch", operation_id = "editProduct")]
    async fn edit(
        &self,
        services: Data<&Services>,
        caller: AccessToken,
        /// The product's id.
        id: Path<ProductId>,
        /// The strong `ETag` of the version being edited.
        #[oai(name = "If-Match")]
        if_match: Header<ConditionHeader>,
        /// `ETag`s of versions not to edit, or `*` for any.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<ConditionHeader>,
        body: JsonBody<EditProductRequest>,
    ) -> Result<EditProductResponse, EditProblem> {
        let id = id.0.0;
        let expected = Preconditions::new(if_match.0, if_none_match.0).for_write(id);
        let Written {
            value: product,
            consistency,
        } = services
            .catalog
            .edit(caller.0, id, expected, body.0.into())
            .await?;
        let (body, etag) = tagged(product);
        Ok(EditProductResponse::Ok(body, etag, consistency))
    }

    /// Delete a product
    ///
    /// Only the product's owner or an admin may delete it. With
    /// `If-Match`, only the version it names is deleted; otherwise 412.
    #[oai(path = "/:id", method = "delete", operation_id = "deleteProduct")]
    async fn delete(
        &self,
        services: Data<&Services>,
        caller: AccessToken,
        /// The product's id.
        id: Path<ProductId>,
        /// The strong `ETag` of the version being deleted.
        #[oai(name = "If-Match")]
        if_match: Header<ConditionHeader>,
        /// `ETag`s of versions not to delete, or `*` for any.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<ConditionHeader>,
    ) -> Result<DeleteProductResponse, DeleteProblem> {
        let id = id.0.0;
        let expected = Preconditions::new(if_match.0, if_none_match.0).for_write(id);
        let written = services.catalog.delete(caller.0, id, expected).await?;
        Ok(DeleteProductResponse::Deleted(written.consistency))
    }
}

#[cfg(test)]
mod tests {
    use poem_openapi::types::ToJSON;

    use super::*;

    /// Responses are written by serde, the spec comes from the `Object`
    /// derive: both must describe the same JSON. These are the only types
    /// answered through serde (`SerdeJson`): a product alone and a page.
    #[test]
    fn serde_writes_what_the_schema_describes() {
        let at = |micros| DateTime::from_timestamp_micros(micros).unwrap();
        let product = |id, description: Option<&str>, cents| ProductView {
            id,
            name: format!("Mug \"{id}\" ☕"),
            description: Nullable(description.map(str::to_owned)),
            price: Price::from_cents(cents).unwrap(),
            owner: ProductOwner {
                id: 7,
                username: "alice".into(),
            },
            created_at: at(1_795_000_000_123_456),
            updated_at: at(1_795_000_000_000_000),
        };
        let page = ProductPage {
            items: vec![product(2, Some("Porcelain"), 1999), product(1, None, 100)],
            next_cursor: Nullable(Some("cDE6MQ".into())),
        };
        let last = ProductPage {
            items: vec![],
            next_cursor: Nullable(None),
        };
        let lone = product(3, None, 0);
        assert_eq!(
            serde_json::to_value(&lone).unwrap(),
            lone.to_json().unwrap()
        );
        for page in [page, last] {
            assert_eq!(
                serde_json::to_value(&page).unwrap(),
                page.to_json().unwrap()
            );
        }
    }
}
