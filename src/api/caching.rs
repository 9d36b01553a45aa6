//! How answers may be cached (RFC 9111). Anonymous reads of products and
//! pages are the same for everyone, so shared caches may keep them for
//! `HTTP_CACHE_MAX_AGE_SECS`; everything else (writes, tokens, the
//! caller's own products, errors) is `no-store`.

use poem::Response;
use poem::http::{HeaderValue, header};

/// How long a shared cache may serve a stale public read while the
/// service answers with an error (a database restart or failover): long
/// enough to ride out one, short enough that a catalog gone for longer
/// shows it.
pub const STALE_IF_ERROR_SECS: u32 = 300;

/// `Cache-Control` of what only its caller may see.
pub const PRIVATE: &str = "private, no-store";

/// How anonymous reads may be cached. No `stale-while-revalidate`: a
/// refresh is one request to the service (milliseconds), which the bundled
/// nginx makes while others wait on its cache lock; and a stale copy
/// served during a refresh would outlive a deletion, whose 404 is never
/// stored to replace it. So a change shows within `max-age` and a second.

#[derive(Debug, Clone, Copy)]
pub struct CachePolicy {
    max_age: u32,
}

impl CachePolicy {
    pub fn new(max_age: u32) -> Self {
        Self { max_age }
    }

    /// `Cache-Control` of an anonymous read.
    pub fn public(&self) -> String {
        if self.max_age == 0 {
            return "no-cache".to_owned();
        }
        format!(
            "public, max-age={}, stale-if-error={STALE_IF_ERROR_SECS}",
            self.max_age
        )
    }
}

/// Gives an answer that says nothing about caching `no-store` (and, for
/// HTTP/1.0 caches, `Pragma: no-cache`, as RFC 6749 §5.1 asks of token
/// responses): only reads that state their own policy may be kept.
pub fn no_store_unless_stated(response: &mut Response) {
    let headers = response.headers_mut();
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    }
}
