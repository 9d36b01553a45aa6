//! The Products operations: browse, create, delete.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::Serialize;

use crate::domain::Services;
use crate::domain::catalog::{NewProduct, Page, PageRequest, Product};
use crate::domain::price::Price;
use crate::domain::values::{Description, ProductName};

use super::ApiTags;
use super::body::{Fields, FromFields, JsonBody};
use super::fields::Nullable;
use super::json::{SerdeJson, rfc3339};
use super::params::{PageCursor, PageSize, ProductId};
use super::problem::{Problem, problems};
use super::security::AccessToken;

#[derive(Debug, Object)]
pub struct CreateProductRequest {
    pub name: ProductName,
    /// Optional; absent or null means no description.
    #[oai(nullable)]
    pub description: Option<Description>,
    pub price: Price,
}

impl FromFields for CreateProductRequest {
    fn from_fields(fields: &mut Fields) -> Result<Self, Problem> {
        Ok(Self {
            name: fields.required("name")?,
            description: fields.optional("description")?,
            price: fields.required("price")?,
        })
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

/// One page of products, newest first.
#[derive(Debug, Object, Serialize)]
pub struct ProductPage {
    pub items: Vec<ProductView>,
    /// Pass as `cursor` to get the next page; null on the last page.
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
    /// One page of products, newest first.
    #[oai(status = 200)]
    Ok(SerdeJson<ProductPage>),
}

#[derive(Debug, ApiResponse)]
pub enum ProductResponse {
    /// The product.
    #[oai(status = 200)]
    Ok(SerdeJson<ProductView>),
}

#[derive(Debug, ApiResponse)]
pub enum CreateProductResponse {
    /// The product was created.
    #[oai(status = 201)]
    Created(
        SerdeJson<ProductView>,
        /// Where the new product lives.
        #[oai(header = "Location")]
        String,
    ),
}

#[derive(Debug, ApiResponse)]
pub enum DeleteProductResponse {
    /// The product was deleted.
    #[oai(status = 204)]
    Deleted,
}

problems! {
    pub enum ListProblem {
        /// `limit` or `cursor` is invalid; `field` names it.
        400 => BadRequest,
    }
}

problems! {
    pub enum ListMineProblem {
        /// `limit` or `cursor` is invalid; `field` names it.
        400 => BadRequest,
        /// The access token is missing, malformed, expired or otherwise invalid.
        #[oai(header(name = "WWW-Authenticate", ty = "String", description = "Always `Bearer`."))]
        401 => Unauthorized,
    }
}

problems! {
    pub enum GetProblem {
        /// `id` is not an integer.
        400 => BadRequest,
        /// No product has this id.
        404 => NotFound,
    }
}

problems! {
    pub enum CreateProblem {
        /// A field is missing, has the wrong type or breaks its limits; `field` names it.
        400 => BadRequest,
        /// The access token is missing, malformed, expired or otherwise invalid.
        #[oai(header(name = "WWW-Authenticate", ty = "String", description = "Always `Bearer`."))]
        401 => Unauthorized,
        /// The body is over 64 KiB.
        413 => PayloadTooLarge,
        /// The body is not `application/json`.
        415 => UnsupportedMediaType,
    }
}

problems! {
    pub enum DeleteProblem {
        /// `id` is not an integer.
        400 => BadRequest,
        /// The access token is missing, malformed, expired or otherwise invalid.
        #[oai(header(name = "WWW-Authenticate", ty = "String", description = "Always `Bearer`."))]
        401 => Unauthorized,
        /// The caller neither owns the product nor is an admin.
        403 => Forbidden,
        /// No product has this id.
        404 => NotFound,
    }
}

pub struct ProductsApi;

#[OpenApi(prefix_path = "/api/products", tag = "ApiTags::Products")]
impl ProductsApi {
    /// List products
    ///
    /// All products, newest first, one page at a time.
    #[oai(path = "/", method = "get", operation_id = "listProducts")]
    async fn list(
        &self,
        services: Data<&Services>,
        /// Items per page, 1–100 (default 20).
        limit: Query<PageSize>,
        /// The `next_cursor` of the previous page.
        cursor: Query<PageCursor>,
    ) -> Result<ProductPageResponse, ListProblem> {
        let request = PageRequest {
            limit: Some(limit.0.0),
            cursor: cursor.0.0,
        };
        let page = services.catalog.list(None, request).await?;
        Ok(ProductPageResponse::Ok(SerdeJson(page.into())))
    }

    /// List my products
    ///
    /// The caller's own products, newest first, one page at a time.
    #[oai(path = "/my", method = "get", operation_id = "listMyProducts")]
    async fn list_mine(
        &self,
        services: Data<&Services>,
        caller: AccessToken,
        /// Items per page, 1–100 (default 20).
        limit: Query<PageSize>,
        /// The `next_cursor` of the previous page.
        cursor: Query<PageCursor>,
    ) -> Result<ProductPageResponse, ListMineProblem> {
        let request = PageRequest {
            limit: Some(limit.0.0),
            cursor: cursor.0.0,
        };
        let page = services.catalog.list(Some(caller.0), request).await?;
        Ok(ProductPageResponse::Ok(SerdeJson(page.into())))
    }

    /// Get a product
    #[oai(path = "/:id", method = "get", operation_id = "getProduct")]
    async fn get(
        &self,
        services: Data<&Services>,
        /// The product's id.
        id: Path<ProductId>,
    ) -> Result<ProductResponse, GetProblem> {
        let product = services.catalog.get(id.0.0).await?;
        Ok(ProductResponse::Ok(SerdeJson(product.into())))
    }

    /// Create a product
    ///
    /// The caller becomes its owner.
    #[oai(path = "/", method = "post", operation_id = "createProduct")]
    async fn create(
        &self,
        services: Data<&Services>,
        caller: AccessToken,
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
        let product = services.catalog.create(caller.0, product).await?;
        let location = format!("/api/products/{}", product.id);
        Ok(CreateProductResponse::Created(
            SerdeJson(product.into()),
            location,
        ))
    }

    /// Delete a product
    ///
    /// Only the product's owner or an admin may delete it.
    #[oai(path = "/:id", method = "delete", operation_id = "deleteProduct")]
    async fn delete(
        &self,
        services: Data<&Services>,
        caller: AccessToken,
        /// The product's id.
        id: Path<ProductId>,
    ) -> Result<DeleteProductResponse, DeleteProblem> {
        services.catalog.delete(caller.0, id.0.0).await?;
        Ok(DeleteProductResponse::Deleted)
    }
}

#[cfg(test)]
mod tests {
    use poem_openapi::types::ToJSON;

    use super::*;

    /// Responses are written by serde, the spec comes from the `Object`
    /// derive: both must describe the same JSON.
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
        for page in [page, last] {
            assert_eq!(
                serde_json::to_value(&page).unwrap(),
                page.to_json().unwrap()
            );
        }
    }
}
