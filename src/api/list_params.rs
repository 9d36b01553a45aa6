//! The query parameters both product lists take, declared once.
//!
//! [`ListParams`] is one handler argument that reads the whole query:
//! `limit`, `cursor`, `sort`, `q`, `min_price`, `max_price` and, for the
//! public list, `owner`. poem-openapi documents one parameter per
//! argument, so the argument stands in the operation's metadata as a
//! placeholder, and [`Expanded`] puts the real parameters in its place
//! when the spec is built. Their descriptions are written from the same
//! constants the parsers check.

use std::collections::HashMap;

use poem::{Request, RequestBody};
use poem_openapi::registry::{MetaApi, MetaOperationParam, MetaParamIn, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseFromParameter, Type};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions, OpenApi};

use crate::domain::catalog::{DEFAULT_PAGE_SIZE, Filters, MAX_PAGE_SIZE, PageRequest, Scope, Sort};
use crate::domain::search::{MAX_QUERY_WORDS, MIN_WORD_CHARS};

use super::params::{Once, OwnerName, PageCursor, PageSize, PriceBound, ProductSort, SearchQuery};
use super::problem::{Problem, reason};

/// The parameters of a product list. `OWNER` says whether it takes
/// `owner` (the public list does; the caller's own does not).
#[derive(Debug, Clone)]
pub struct ListParams<const OWNER: bool> {
    request: PageRequest,
}

/// `GET /api/products`.
pub type AllProductsParams = ListParams<true>;
/// `GET /api/products/my`.
pub type MyProductsParams = ListParams<false>;

impl<const OWNER: bool> ListParams<OWNER> {
    /// The page request these parameters make, for `scope`.
    pub fn request(mut self, scope: Scope) -> PageRequest {
        self.request.scope = scope;
        self.request
    }

    /// The name its placeholder schema goes by until [`Expanded`]
    /// replaces it.
    fn placeholder() -> &'static str {
        if OWNER {
            "x-catalog-list-params"
        } else {
            "x-catalog-my-list-params"
        }
    }

    /// The parameters, as the spec lists them.
    fn documented() -> Vec<MetaOperationParam> {
        let param = |name: &str, description: String, schema: MetaSchemaRef| MetaOperationParam {
            name: name.to_owned(),
            schema,
            in_type: MetaParamIn::Query,
            description: Some(description),
            required: false,
            deprecated: false,
            explode: true,
            style: None,
        };
        let mut params = vec![
            param(
                "limit",
                format!("Items per page, 1–{MAX_PAGE_SIZE} (default {DEFAULT_PAGE_SIZE})."),
                PageSize::schema_ref(),
            ),
            param(
                "cursor",
                "The `next_cursor` of the previous page, with the same filters and sort.".into(),
                PageCursor::schema_ref(),
            ),
            param(
                "sort",
                format!(
                    "The order (default `{}`, newest first).",
                    Sort::NewestFirst.name()
                ),
                ProductSort::schema_ref(),
            ),
            param(
                "q",
                format!(
                    "Words that must all appear in the name or description, ignoring case and \
                     accents: runs of {MIN_WORD_CHARS} or more letters or digits (`_` and \
                     punctuation split words); Chinese, Japanese and Korean text matches by \
                     pairs of characters. At most {MAX_QUERY_WORDS} words."
                ),
                SearchQuery::schema_ref(),
            ),
            param(
                "min_price",
                "The lowest price to include.".into(),
                PriceBound::schema_ref(),
            ),
            param(
                "max_price",
                "The highest price to include.".into(),
                PriceBound::schema_ref(),
            ),
        ];
        if OWNER {
            params.push(param(
                "owner",
                "Only this user's products.".into(),
                OwnerName::schema_ref(),
            ));
        }
        params
    }

    fn parse(query: &[(String, String)]) -> Result<Self, Problem> {
        let limit = one::<PageSize>(query, "limit")?.map_or(DEFAULT_PAGE_SIZE, |size| size.0);
        let sort = one::<ProductSort>(query, "sort")?.map_or(Sort::NewestFirst, |sort| sort.0);
        let owner = if OWNER {
            one::<OwnerName>(query, "owner")?.map(|name| name.0)
        } else {
            None
        };
        Ok(Self {
            request: PageRequest {
                scope: Scope::All,
                filters: Filters {
                    search: one::<SearchQuery>(query, "q")?.map(|q| q.0),
                    min_price: one::<PriceBound>(query, "min_price")?.map(|p| p.0),
                    max_price: one::<PriceBound>(query, "max_price")?.map(|p| p.0),
                    owner,
                },
                sort,
                limit,
                cursor: one::<PageCursor>(query, "cursor")?.map(|cursor| cursor.0),
            },
        })
    }
}

/// Parameter `name` of `query`, given at most once.
fn one<T: ParseFromParameter>(
    query: &[(String, String)],
    name: &str,
) -> Result<Option<T>, Problem> {
    let values = query
        .iter()
        .filter(|(key, _)| key == name)
        .map(|(_, value)| value.as_str());
    Once::<T>::parse_from_parameters(values)
        .map(|once| once.0)
        .map_err(|err| {
            let message = err.into_message();
            Problem::invalid(name, format!("`{name}` {}", reason(&message)))
        })
}

impl<'a, const OWNER: bool> ApiExtractor<'a> for ListParams<OWNER> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::Parameter];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        // The schemas the parameters refer to by name.
        ProductSort::register(registry);
    }

    fn param_in() -> Option<MetaParamIn> {
        Some(MetaParamIn::Query)
    }

    fn param_schema_ref() -> Option<MetaSchemaRef> {
        Some(MetaSchemaRef::Reference(Self::placeholder().to_owned()))
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _options: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let query = <poem::web::Query<Vec<(String, String)>> as poem::FromRequest>::from_request(
            request, body,
        )
        .await
        .map_err(|_| Problem::invalid("query", "the query string is not valid URL encoding"))?;
        Ok(Self::parse(&query.0)?)
    }
}

/// An API whose list operations have their [`ListParams`] spelled out
/// in the spec.
pub struct Expanded<T>(pub T);

impl<T: OpenApi> OpenApi for Expanded<T> {
    fn meta() -> Vec<MetaApi> {
        let mut apis = T::meta();
        let operations = apis
            .iter_mut()
            .flat_map(|api| api.paths.iter_mut())
            .flat_map(|path| path.operations.iter_mut());
        for operation in operations {
            operation.params = std::mem::take(&mut operation.params)
                .into_iter()
                .flat_map(expand)
                .collect();
        }
        apis
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn add_routes(
        self,
        route_table: &mut HashMap<
            String,
            HashMap<poem::http::Method, poem::endpoint::BoxEndpoint<'static>>,
        >,
    ) {
        self.0.add_routes(route_table);
    }
}

/// A placeholder parameter's real parameters, or the parameter itself.
fn expand(param: MetaOperationParam) -> Vec<MetaOperationParam> {
    match &param.schema {
        MetaSchemaRef::Reference(name) if name == AllProductsParams::placeholder() => {
            AllProductsParams::documented()
        }
        MetaSchemaRef::Reference(name) if name == MyProductsParams::placeholder() => {
            MyProductsParams::documented()
        }
        _ => vec![param],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn absent_parameters_take_their_defaults() {
        let request = AllProductsParams::parse(&[]).unwrap().request(Scope::All);
        assert_eq!(request.limit, DEFAULT_PAGE_SIZE);
        assert_eq!(request.sort, Sort::NewestFirst);
        assert!(request.cursor.is_none() && request.filters.search.is_none());
    }

    #[test]
    fn each_parameter_is_given_once_and_refusals_name_it() {
        for (pairs, field) in [
            (query(&[("limit", "5"), ("limit", "6")]), "limit"),
            (query(&[("sort", "price desc")]), "sort"),
            (query(&[("min_price", "-1")]), "min_price"),
            (query(&[("q", "a"), ("q", "b")]), "q"),
            (query(&[("owner", "x")]), "owner"),
        ] {
            let problem = AllProductsParams::parse(&pairs).unwrap_err();
            assert_eq!(problem.field(), Some(field), "{pairs:?}");
        }
    }

    #[test]
    fn only_the_public_list_takes_an_owner() {
        let pairs = query(&[("owner", "alice")]);
        let all = AllProductsParams::parse(&pairs).unwrap();
        assert!(all.request(Scope::All).filters.owner.is_some());
        let mine = MyProductsParams::parse(&pairs).unwrap();
        assert!(mine.request(Scope::OwnedBy(1)).filters.owner.is_none());
        let names = |params: Vec<MetaOperationParam>| {
            params.into_iter().map(|p| p.name).collect::<Vec<_>>()
        };
        assert!(names(AllProductsParams::documented()).contains(&"owner".to_owned()));
        assert!(!names(MyProductsParams::documented()).contains(&"owner".to_owned()));
    }
}
