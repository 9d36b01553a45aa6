//! How answers may be cached (RFC 9111). Anonymous reads of products and
//! pages are the same for everyone, so shared caches may keep them for
//! `HTTP_CACHE_MAX_AGE_SECS`; everything else (writes, tokens, the
//! caller's own products, errors) is `no-store`.

use poem::Response;
use poem::http::{HeaderValue, header};

/// How long past `max-age` a shared cache may answer from its copy while
/// it asks the service for a fresh one in the background. A refresh takes
/// milliseconds, so one second covers it; and a change (a deletion
/// included, whose 404 is cached like the product was) shows within
/// `max-age` plus one request, and at worst a second later.
pub const STALE_WHILE_REVALIDATE_SECS: u32 = 1;

/// `Cache-Control` of what only its caller may see.
pub const PRIVATE: &str = "private, no-store";

/// How anonymous reads may be cached.
#[derive(Debug, Clone, Copy)]
pub struct CachePolicy {
    max_age: u32,
    stale_if_error: u32,
}

impl CachePolicy {
    /// `max_age` from `HTTP_CACHE_MAX_AGE_SECS`, `stale_if_error` from
    /// `HTTP_CACHE_STALE_IF_ERROR_SECS`.
    pub fn new(max_age: u32, stale_if_error: u32) -> Self {
        Self {
            max_age,
            stale_if_error,
        }
    }

    /// `Cache-Control` of an anonymous read: of a product or a page, and
    /// of a product's absence, so a cache replaces a deleted product's
    /// copy with its 404 instead of serving the copy on.
    pub fn public(&self) -> String {
        if self.max_age == 0 {
            return "no-cache".to_owned();
        }
        format!(
            "public, max-age={}, stale-while-revalidate={STALE_WHILE_REVALIDATE_SECS}, stale-if-error={}",
            self.max_age, self.stale_if_error
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
