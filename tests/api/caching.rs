//! What answers say about caching (RFC 9111), and page tags: anonymous
//! reads are public for `HTTP_CACHE_MAX_AGE_SECS`, with a tag a client
//! can revalidate with; the caller's own list is private; writes, tokens
//! and errors are never stored.

use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, send};

const PUBLIC: &str = "public, max-age=1, stale-while-revalidate=1, stale-if-error=300";

fn header(response: &Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// The page's tag, and what `If-None-Match` with `tag` answers.
async fn revalidate(app: &TestApp, path: &str, token: Option<&str>, tag: &str) -> Response {
    let mut request = app.client.get(app.url(path)).header("if-none-match", tag);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    send(request).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_tag_answers_304_until_what_the_page_holds_changes() {
    let app = TestApp::spawn().await;
    let owner = app.new_user("tagger").await;
    let token = &owner.access_token;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            app.new_product(&owner, &format!("Lamp {i}"), 10.0).await["id"]
                .as_i64()
                .unwrap(),
        );
    }
    let path = "/api/products?limit=2";
    let first = app.list_products("?limit=2").await;
    assert_eq!(header(&first, "cache-control"), PUBLIC);
    let tag = header(&first, "etag");
    assert!(tag.starts_with("W/\""), "a page's tag is weak: {tag}");

    let same = revalidate(&app, path, None, &tag).await;
    assert_eq!(same.status(), 304);
    assert_eq!(header(&same, "etag"), tag);
    assert_eq!(header(&same, "cache-control"), PUBLIC);
    assert!(same.bytes().await.unwrap().is_empty());
    // The strong form names the same page under weak comparison.
    let strong = tag.trim_start_matches("W/");
    assert_eq!(revalidate(&app, path, None, strong).await.status(), 304);

    // An item on the page is edited: a new tag.
    app.edit_product(token, ids[2], &json!({"price": 11})).await;
    let edited = revalidate(&app, path, None, &tag).await;
    assert_eq!(edited.status(), 200);
    let tag_edited = header(&edited, "etag");
    assert_ne!(tag_edited, tag);
    // An item off the page (the oldest) is edited: the page is the same.
    app.edit_product(token, ids[0], &json!({"price": 12})).await;
    assert_eq!(
        revalidate(&app, path, None, &tag_edited).await.status(),
        304
    );
    // A new item enters the page.
    app.new_product(&owner, "Lamp 3", 10.0).await;
    let entered = revalidate(&app, path, None, &tag_edited).await;
    assert_eq!(entered.status(), 200);
    let tag_entered = header(&entered, "etag");
    assert_ne!(tag_entered, tag_edited);
    // An item on the page is deleted.
    let newest = entered.json::<Value>().await.unwrap()["items"][0]["id"]
        .as_i64()
        .unwrap();
    assert_eq!(app.delete_product(token, newest).await.status(), 204);
    let deleted = revalidate(&app, path, None, &tag_entered).await;
    assert_eq!(deleted.status(), 200);
    assert_ne!(header(&deleted, "etag"), tag_entered);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_callers_own_list_is_private_and_revalidates_too() {
    let app = TestApp::spawn().await;
    let owner = app.new_user("private").await;
    app.new_product(&owner, "Diary", 3.0).await;
    let mine = app.my_products(&owner.access_token, "").await;
    assert_eq!(mine.status(), 200);
    assert_eq!(header(&mine, "cache-control"), "private, no-store");
    let tag = header(&mine, "etag");
    let again = revalidate(&app, "/api/products/my", Some(&owner.access_token), &tag).await;
    assert_eq!(again.status(), 304);
    assert_eq!(header(&again, "cache-control"), "private, no-store");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_product_is_public_and_writes_tokens_and_errors_are_never_stored() {
    let app = TestApp::spawn().await;
    let signup = app
        .signup(&json!({"username": "storer", "email": "storer@example.com", "password": PASSWORD}))
        .await;
    let login = app.login("storer", PASSWORD).await;
    let refresh_token = login.json::<Value>().await.unwrap()["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let refresh = app.refresh(&refresh_token).await;
    let login = app.login("storer", PASSWORD).await;
    let token = app.access_token("storer", PASSWORD).await;
    let created = app
        .create_product(&token, &json!({"name": "Kettle", "price": 20}))
        .await;
    let id = created.headers()["location"]
        .to_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let read = app.get_product(&id).await;
    assert_eq!(header(&read, "cache-control"), PUBLIC);
    let tag = header(&read, "etag");
    let fresh = send(
        app.client
            .get(app.url(&format!("/api/products/{id}")))
            .header("if-none-match", &tag),
    )
    .await;
    assert_eq!(fresh.status(), 304);
    assert_eq!(header(&fresh, "cache-control"), PUBLIC);

    let edited = app.edit_product(&token, &id, &json!({"price": 21})).await;
    let me = app.me(&token).await;
    // A product's absence is as public as its presence, so a cache
    // replaces a deleted product's copy with the 404.
    let missing = app.get_product(999_999).await;
    assert_eq!(missing.status(), 404);
    assert_eq!(header(&missing, "cache-control"), PUBLIC);
    let no_route = send(app.client.get(app.url("/api/nothing-here"))).await;
    assert_eq!(no_route.status(), 404);
    let bad_id = app.get_product("abc").await;
    assert_eq!(bad_id.status(), 400);
    let stranger_edit = send(
        app.authed(Method::PATCH, "/api/products/999999", &token)
            .json(&json!({"price": 1})),
    )
    .await;
    let deleted = app.delete_product(&token, &id).await;
    for (what, response) in [
        ("signup", &signup),
        ("login", &login),
        ("refresh", &refresh),
        ("create", &created),
        ("edit", &edited),
        ("me", &me),
        ("a 404 of no route", &no_route),
        ("a 400 of a product read", &bad_id),
        ("a failed edit", &stranger_edit),
        ("delete", &deleted),
    ] {
        assert_eq!(header(response, "cache-control"), "no-store", "{what}");
        assert_eq!(header(response, "pragma"), "no-cache", "{what}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_max_age_of_zero_makes_every_cache_revalidate() {
    let app = TestApp::spawn_with(&[("HTTP_CACHE_MAX_AGE_SECS", "0")]).await;
    let page = app.list_products("").await;
    assert_eq!(header(&page, "cache-control"), "no-cache");
    assert!(header(&page, "etag").starts_with("W/\""));
}

#[tokio::test(flavor = "multi_thread")]
async fn stale_if_error_is_configurable() {
    let app = TestApp::spawn_with(&[("HTTP_CACHE_STALE_IF_ERROR_SECS", "7")]).await;
    let page = app.list_products("").await;
    assert_eq!(
        header(&page, "cache-control"),
        "public, max-age=1, stale-while-revalidate=1, stale-if-error=7"
    );
}
