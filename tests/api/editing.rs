//! Editing products, and the versions (ETags) that make edits and
//! deletes safe under concurrency.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_PASSWORD, TestApp, WITH_ADMIN, assert_problem, send};

fn etag(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("etag")
        .expect("an ETag")
        .to_str()
        .unwrap()
        .to_owned()
}

/// PATCH with an `If-Match` header.
async fn edit_if(
    app: &TestApp,
    token: &str,
    id: i64,
    if_match: &str,
    body: &Value,
) -> reqwest::Response {
    send(
        app.authed(Method::PATCH, &format!("/api/products/{id}"), token)
            .header("if-match", if_match)
            .json(body),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_owner_edits_fields_and_the_version_and_updated_at_move_on() {
    let app = TestApp::spawn().await;
    let owner = app.new_user("editor").await;
    let created = app
        .create_product(
            &owner.access_token,
            &json!({"name": "Mug", "description": "Blue", "price": 8}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let created_tag = etag(&created);
    let created: Value = created.json().await.unwrap();
    let id = created["id"].as_i64().unwrap();
    let fetched = app.get_product(id).await;
    assert_eq!(etag(&fetched), created_tag, "GET and POST agree");

    app.time.advance(Duration::from_secs(90));
    let edited = app
        .edit_product(&owner.access_token, id, &json!({"price": 9.5}))
        .await;
    assert_eq!(edited.status(), 200);
    let edited_tag = etag(&edited);
    assert_ne!(edited_tag, created_tag);
    let edited: Value = edited.json().await.unwrap();
    assert_eq!(edited["price"], 9.5);
    assert_eq!(edited["name"], "Mug", "left out: kept");
    assert_eq!(edited["description"], "Blue", "left out: kept");
    assert_eq!(edited["created_at"], created["created_at"]);
    assert_ne!(edited["updated_at"], created["updated_at"]);

    // null clears the description; name and price change together.
    let cleared = app
        .edit_product(
            &owner.access_token,
            id,
            &json!({"name": "Big mug", "description": null}),
        )
        .await;
    assert_eq!(cleared.status(), 200);
    let cleared: Value = cleared.json().await.unwrap();
    assert_eq!(
        (&cleared["name"], &cleared["description"], &cleared["price"]),
        (&json!("Big mug"), &Value::Null, &json!(9.5))
    );
    // What an edit answered is what a GET sees.
    let again = app.get_product(id).await;
    let again_tag = etag(&again);
    assert_eq!(again.json::<Value>().await.unwrap(), cleared);
    assert_ne!(again_tag, edited_tag);
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_owner_or_an_admin_may_edit() {
    let app = TestApp::spawn_with(&WITH_ADMIN).await;
    let owner = app.new_user("maker").await;
    let stranger = app.new_user("stranger").await;
    let id = app.new_product(&owner, "Lamp", 20.0).await["id"]
        .as_i64()
        .unwrap();
    let body = json!({"name": "Stolen lamp"});
    assert_problem(
        app.edit_product(&stranger.access_token, id, &body).await,
        403,
        None,
    )
    .await;
    assert_problem(
        send(
            app.client
                .patch(app.url(&format!("/api/products/{id}")))
                .json(&body),
        )
        .await,
        401,
        None,
    )
    .await;
    assert_problem(
        app.edit_product(&owner.access_token, id + 1000, &body)
            .await,
        404,
        None,
    )
    .await;
    assert_eq!(
        app.get_product(id).await.json::<Value>().await.unwrap()["name"],
        "Lamp"
    );

    let admin = &app.access_token("boss", ADMIN_PASSWORD).await;
    let edited = app
        .edit_product(admin, id, &json!({"name": "Moderated lamp"}))
        .await;
    assert_eq!(edited.status(), 200);
    let edited: Value = edited.json().await.unwrap();
    assert_eq!(edited["name"], "Moderated lamp");
    assert_eq!(edited["owner"]["username"], "maker", "the owner stays");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_edits_are_400_naming_the_field() {
    let app = TestApp::spawn().await;
    let owner = app.new_user("careful").await;
    let id = app.new_product(&owner, "Chair", 40.0).await["id"]
        .as_i64()
        .unwrap();
    for (body, field) in [
        (json!({}), "body"),
        (json!({"unknown": 1}), "body"),
        (json!({"name": null}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"name": "x".repeat(513)}), "name"),
        (json!({"price": null}), "price"),
        (json!({"price": -1}), "price"),
        (json!({"price": 1.001}), "price"),
        (json!({"price": "5"}), "price"),
        (json!({"description": 5}), "description"),
        (json!({"description": "x".repeat(10_001)}), "description"),
        (json!([1]), "body"),
    ] {
        let response = app.edit_product(&owner.access_token, id, &body).await;
        assert_problem(response, 400, Some(field)).await;
    }
    let no_type = send(
        app.authed(
            Method::PATCH,
            &format!("/api/products/{id}"),
            &owner.access_token,
        )
        .body("{\"name\":\"x\"}"),
    )
    .await;
    assert_problem(no_type, 415, Some("Content-Type")).await;
    let product: Value = app.get_product(id).await.json().await.unwrap();
    assert_eq!(
        (&product["name"], &product["price"]),
        (&json!("Chair"), &json!(40.0))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn if_none_match_gets_304_until_the_product_changes() {
    let app = TestApp::spawn().await;
    let owner = app.new_user("cacher").await;
    let id = app.new_product(&owner, "Kettle", 30.0).await["id"]
        .as_i64()
        .unwrap();
    let first = app.get_product(id).await;
    let tag = etag(&first);
    let get_if = |value: String| {
        send(
            app.client
                .get(app.url(&format!("/api/products/{id}")))
                .header("if-none-match", value),
        )
    };
    for matching in [
        tag.clone(),
        format!("W/{tag}"),
        format!("\"x\", {tag}"),
        "*".into(),
    ] {
        let response = get_if(matching.clone()).await;
        assert_eq!(response.status(), 304, "{matching}");
        assert_eq!(etag(&response), tag);
        assert!(response.bytes().await.unwrap().is_empty());
    }
    let other = get_if("\"1.999\"".into()).await;
    assert_eq!(other.status(), 200);
    assert_problem(get_if("not-a-tag".into()).await, 400, Some("If-None-Match")).await;

    app.edit_product(&owner.access_token, id, &json!({"price": 31}))
        .await;
    let changed = get_if(tag.clone()).await;
    assert_eq!(changed.status(), 200);
    assert_ne!(etag(&changed), tag);
    assert_eq!(changed.json::<Value>().await.unwrap()["price"], 31.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_if_match_gets_412_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let owner = app.new_user("racer").await;
    let id = app.new_product(&owner, "Desk", 100.0).await["id"]
        .as_i64()
        .unwrap();
    let v1 = etag(&app.get_product(id).await);
    let token = &owner.access_token;

    let second = edit_if(&app, token, id, &v1, &json!({"price": 110})).await;
    assert_eq!(second.status(), 200);
    let v2 = etag(&second);
    // Another writer still holds v1.
    let stale = edit_if(&app, token, id, &v1, &json!({"price": 90})).await;
    let body = assert_problem(stale, 412, Some("If-Match")).await;
    assert!(
        body["detail"].as_str().unwrap().contains("changed"),
        "{body}"
    );
    let stale_delete = send(
        app.authed(Method::DELETE, &format!("/api/products/{id}"), token)
            .header("if-match", &v1),
    )
    .await;
    assert_problem(stale_delete, 412, Some("If-Match")).await;
    let product: Value = app.get_product(id).await.json().await.unwrap();
    assert_eq!(product["price"], 110.0);

    // A list with the current tag, or `*`, matches; a tag of another
    // product never does.
    let listed = edit_if(
        &app,
        token,
        id,
        &format!("\"9.9\", {v2}"),
        &json!({"price": 120}),
    )
    .await;
    assert_eq!(listed.status(), 200);
    let v3 = etag(&listed);
    let any = edit_if(&app, token, id, "*", &json!({"price": 130})).await;
    assert_eq!(any.status(), 200);
    let v4 = etag(&any);
    let other_id = app.new_product(&owner, "Other", 1.0).await["id"]
        .as_i64()
        .unwrap();
    let borrowed = v4.replace(&format!("\"{id}."), &format!("\"{other_id}."));
    assert_problem(
        edit_if(&app, token, other_id, &v4, &json!({"price": 2})).await,
        412,
        Some("If-Match"),
    )
    .await;
    assert_ne!(borrowed, v4);
    // If-Match compares strongly: the weak form of even the current tag
    // never matches (RFC 9110 §13.1.1).
    for tag in [&v3, &v4] {
        assert_problem(
            edit_if(&app, token, id, &format!("W/{tag}"), &json!({"price": 140})).await,
            412,
            Some("If-Match"),
        )
        .await;
    }
    assert_problem(
        edit_if(&app, token, id, "garbage", &json!({"price": 140})).await,
        400,
        Some("If-Match"),
    )
    .await;
    assert_ne!(v3, v4);
    let product: Value = app.get_product(id).await.json().await.unwrap();
    assert_eq!(product["price"], 130.0, "no refused edit changed it");

    // The current version deletes; then the product is gone.
    let delete = send(
        app.authed(Method::DELETE, &format!("/api/products/{id}"), token)
            .header("if-match", &v4),
    )
    .await;
    assert_eq!(delete.status(), 204);
    assert_problem(
        edit_if(&app, token, id, &v4, &json!({"price": 1})).await,
        404,
        None,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_concurrent_edits_with_one_version_make_exactly_one_change() {
    let app = TestApp::spawn().await;
    let owner = app.new_user("crowd").await;
    let id = app.new_product(&owner, "Contested", 1.0).await["id"]
        .as_i64()
        .unwrap();
    let version = etag(&app.get_product(id).await);
    let mut edits = tokio::task::JoinSet::new();
    for i in 0..50 {
        let request = app
            .authed(
                Method::PATCH,
                &format!("/api/products/{id}"),
                &owner.access_token,
            )
            .header("if-match", &version)
            .json(&json!({"price": 100 + i}));
        edits.spawn(async move {
            let response = send(request).await;
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap();
            (status, body)
        });
    }
    let results = edits.join_all().await;
    let winners: Vec<&Value> = results
        .iter()
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| body)
        .collect();
    let refused = results.iter().filter(|(status, _)| *status == 412).count();
    assert_eq!((winners.len(), refused), (1, 49), "{results:?}");
    let product: Value = app.get_product(id).await.json().await.unwrap();
    assert_eq!(
        product["price"], winners[0]["price"],
        "the winner's edit stuck"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_condition_in_bytes_the_server_cannot_read_is_refused_not_ignored() {
    let app = TestApp::spawn().await;
    let owner = app.new_user("bytes").await;
    let id = app.new_product(&owner, "Vase", 12.0).await["id"]
        .as_i64()
        .unwrap();
    let latin1 = reqwest::header::HeaderValue::from_bytes(b"\"caf\xe9\"").unwrap();
    for (method, header) in [
        (Method::PATCH, "if-match"),
        (Method::DELETE, "if-match"),
        (Method::GET, "if-none-match"),
        (Method::POST, "idempotency-key"),
    ] {
        let path = if method == Method::POST {
            "/api/products".to_owned()
        } else {
            format!("/api/products/{id}")
        };
        let response = send(
            app.authed(method.clone(), &path, &owner.access_token)
                .header(header, latin1.clone())
                .json(&json!({"name": "Changed", "price": 1})),
        )
        .await;
        let field = match header {
            "if-match" => "If-Match",
            "if-none-match" => "If-None-Match",
            _ => "Idempotency-Key",
        };
        assert_problem(response, 400, Some(field)).await;
    }
    let product: Value = app.get_product(id).await.json().await.unwrap();
    assert_eq!(product["name"], "Vase");
    assert_eq!(app.count("SELECT COUNT(*) FROM products").await, 1);
}

/// RFC 9110 §13.2.2 on every method: `If-Match` first, by strong
/// comparison; then `If-None-Match`, by weak comparison, which a read
/// answers with 304 and a write with 412.
#[tokio::test(flavor = "multi_thread")]
async fn preconditions_follow_rfc_9110_on_every_method() {
    let app = TestApp::spawn().await;
    let owner = app.new_user("conditions").await;
    let token = &owner.access_token;
    let id = app.new_product(&owner, "Lamp", 20.0).await["id"]
        .as_i64()
        .unwrap();
    let v1 = etag(&app.get_product(id).await);
    let v2 = etag(&edit_if(&app, token, id, "*", &json!({"price": 21})).await);
    let path = format!("/api/products/{id}");
    let request = |method: Method, conditions: &[(&str, &str)]| {
        let mut builder = app.authed(method.clone(), &path, token);
        for (name, value) in conditions {
            builder = builder.header(*name, *value);
        }
        if method == Method::PATCH {
            builder = builder.json(&json!({"price": 99}));
        }
        send(builder)
    };
    let weak_v2 = format!("W/{v2}");

    // Reads.
    for (conditions, status, field) in [
        (vec![("if-match", v1.as_str())], 412, Some("If-Match")),
        (vec![("if-match", weak_v2.as_str())], 412, Some("If-Match")),
        (vec![("if-match", v2.as_str())], 200, None),
        (vec![("if-match", "*")], 200, None),
        (
            vec![("if-match", v2.as_str()), ("if-none-match", v2.as_str())],
            304,
            None,
        ),
        (
            vec![("if-match", v1.as_str()), ("if-none-match", v2.as_str())],
            412,
            Some("If-Match"),
        ),
    ] {
        let response = request(Method::GET, &conditions).await;
        match field {
            Some(field) => {
                assert_problem(response, status, Some(field)).await;
            }
            None => assert_eq!(response.status(), status, "{conditions:?}"),
        }
    }

    // Writes: If-None-Match naming the current version, weakly or by
    // `*`, refuses them; naming an older one does not.
    for conditions in [
        vec![("if-none-match", v2.as_str())],
        vec![("if-none-match", weak_v2.as_str())],
        vec![("if-none-match", "*")],
    ] {
        for method in [Method::PATCH, Method::DELETE] {
            let response = request(method.clone(), &conditions).await;
            let body = assert_problem(response, 412, Some("If-None-Match")).await;
            assert!(
                body["detail"].as_str().unwrap().contains("excludes"),
                "{body}"
            );
        }
    }
    let stale_first = request(
        Method::PATCH,
        &[("if-match", v1.as_str()), ("if-none-match", v2.as_str())],
    )
    .await;
    assert_problem(stale_first, 412, Some("If-Match")).await;
    let product: Value = app.get_product(id).await.json().await.unwrap();
    assert_eq!(product["price"], 21.0, "no refused write changed it");

    let edited = request(Method::PATCH, &[("if-none-match", v1.as_str())]).await;
    assert_eq!(edited.status(), 200);
    let v3 = etag(&edited);
    let deleted = request(
        Method::DELETE,
        &[("if-match", v3.as_str()), ("if-none-match", v2.as_str())],
    )
    .await;
    assert_eq!(deleted.status(), 204);
}
