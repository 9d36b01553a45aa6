use std::collections::HashSet;

use serde_json::{Value, json};

use crate::helpers::{ADMIN_PASSWORD, TestApp, WITH_ADMIN, assert_problem, send};

#[tokio::test(flavor = "multi_thread")]
async fn create_returns_201_with_location_and_the_product() {
    let app = TestApp::spawn().await;
    let owner = app.new_user("maker").await;
    let response = app
        .create_product(
            &owner.access_token,
            &json!({"name": "Espresso cup", "price": 19.99, "description": "90 ml"}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    let id = body["id"].as_i64().unwrap();
    assert_eq!(location, format!("/api/products/{id}"));
    assert_eq!(body["name"], "Espresso cup");
    assert_eq!(body["description"], "90 ml");
    assert_eq!(body["price"], json!(19.99));
    assert_eq!(body["owner"], json!({"id": owner.id, "username": "maker"}));
    assert_eq!(body["created_at"], body["updated_at"]);

    let fetched: Value = app.get(&location).await.json().await.unwrap();
    assert_eq!(fetched, body);
}

#[tokio::test(flavor = "multi_thread")]
async fn prices_are_stored_exactly() {
    let app = TestApp::spawn().await;
    let owner = app.new_user("pricer").await;
    for (sent, expected) in [
        (json!(19.99), "19.99"),
        (json!(0.1), "0.1"),
        (json!(0.29), "0.29"),
        (json!(0), "0.0"),
        (json!(20), "20.0"),
        (json!(1.10), "1.1"),
        (json!(9999999999.99), "9999999999.99"),
    ] {
        let response = app
            .create_product(&owner.access_token, &json!({"name": "p", "price": sent}))
            .await;
        assert_eq!(response.status(), 201, "{sent}");
        let raw = response.text().await.unwrap();
        let id = serde_json::from_str::<Value>(&raw).unwrap()["id"].clone();
        assert!(
            raw.contains(&format!("\"price\":{expected}")),
            "{sent} -> {raw}"
        );
        let again = app.get_product(id).await.text().await.unwrap();
        assert!(
            again.contains(&format!("\"price\":{expected}")),
            "{sent} -> {again}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn text_round_trips_exactly() {
    let app = TestApp::spawn().await;
    let owner = app.new_user("unicode").await;
    for name in [
        "Crème brûlée ☕ 🍰 naïve façade",
        "👩‍👩‍👧‍👦 family pack",
        "'; DROP TABLE products; --",
        "<script>alert(1)</script>",
        "  leading and trailing spaces  ",
        "日本語の商品名",
        "tab\tand\nnewline",
    ] {
        let created: Value = app
            .create_product(
                &owner.access_token,
                &json!({"name": name, "price": 1, "description": format!("about {name}")}),
            )
            .await
            .json()
            .await
            .unwrap();
        let fetched: Value = app.get_product(&created["id"]).await.json().await.unwrap();
        assert_eq!(fetched["name"], name);
        assert_eq!(fetched["description"], format!("about {name}"));
    }
    let max_name = "é".repeat(512);
    let max_description = "🍰".repeat(10_000);
    let created: Value = app
        .create_product(
            &owner.access_token,
            &json!({"name": max_name, "price": 1, "description": max_description}),
        )
        .await
        .json()
        .await
        .unwrap();
    let fetched: Value = app.get_product(&created["id"]).await.json().await.unwrap();
    assert_eq!(fetched["name"], max_name.as_str());
    assert_eq!(fetched["description"], max_description.as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn create_rejects_bad_input_naming_the_field() {
    let app = TestApp::spawn().await;
    let owner = app.new_user("strict").await;
    let cases = [
        (json!({"price": 1}), "name"),
        (json!({"name": "", "price": 1}), "name"),
        (json!({"name": "   \t\n", "price": 1}), "name"),
        (json!({"name": "x".repeat(513), "price": 1}), "name"),
        (json!({"name": 42, "price": 1}), "name"),
        (json!({"name": "ok"}), "price"),
        (json!({"name": "ok", "price": null}), "price"),
        (json!({"name": "ok", "price": "19.99"}), "price"),
        (json!({"name": "ok", "price": -0.01}), "price"),
        (json!({"name": "ok", "price": 19.999}), "price"),
        (json!({"name": "ok", "price": 10000000000.0}), "price"),
        (json!({"name": "ok", "price": 1e300}), "price"),
        (
            json!({"name": "ok", "price": 1, "description": 5}),
            "description",
        ),
        (
            json!({"name": "ok", "price": 1, "description": "d".repeat(10_001)}),
            "description",
        ),
    ];
    for (body, field) in cases {
        let response = app.create_product(&owner.access_token, &body).await;
        assert_problem(response, 400, Some(field)).await;
    }
    let page: Value = app.list_products("").await.json().await.unwrap();
    assert_eq!(page["items"], json!([]), "nothing was stored");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_huge_body_is_413() {
    let app = TestApp::spawn().await;
    let owner = app.new_user("bulky").await;
    let body = json!({"name": "x", "price": 1, "description": "d".repeat(100 * 1024)});
    let response = app.create_product(&owner.access_token, &body).await;
    assert_problem(response, 413, None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn description_is_optional_and_null_when_absent() {
    let app = TestApp::spawn().await;
    let owner = app.new_user("terse").await;
    for body in [
        json!({"name": "a", "price": 1}),
        json!({"name": "b", "price": 1, "description": null}),
    ] {
        let created: Value = app
            .create_product(&owner.access_token, &body)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(created["description"], Value::Null);
        assert!(created.as_object().unwrap().contains_key("description"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn get_answers_404_for_a_missing_product_and_400_for_a_bad_id() {
    let app = TestApp::spawn().await;
    assert_problem(app.get_product(999_999).await, 404, None).await;
    assert_problem(app.get_product(-1).await, 400, Some("id")).await;
    assert_problem(app.get_product("abc").await, 400, Some("id")).await;
    assert_problem(
        app.get_product("99999999999999999999999").await,
        400,
        Some("id"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_list_pages_newest_first_with_an_opaque_cursor() {
    let app = TestApp::spawn().await;
    let owner = app.new_user("seller").await;
    let mut ids = Vec::new();
    for i in 0..25 {
        ids.push(
            app.new_product(&owner, &format!("p{i}"), 1.0).await["id"]
                .as_i64()
                .unwrap(),
        );
    }
    ids.reverse();

    let first: Value = app.list_products("").await.json().await.unwrap();
    let items = first["items"].as_array().unwrap();
    assert_eq!(items.len(), 20, "default limit");
    let got: Vec<i64> = items.iter().map(|p| p["id"].as_i64().unwrap()).collect();
    assert_eq!(got, ids[..20]);
    let cursor = first["next_cursor"].as_str().unwrap();

    let second: Value = app
        .list_products(&format!("?cursor={cursor}"))
        .await
        .json()
        .await
        .unwrap();
    let got: Vec<i64> = second["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    assert_eq!(got, ids[20..]);
    assert_eq!(second["next_cursor"], Value::Null);

    let exact: Value = app.list_products("?limit=25").await.json().await.unwrap();
    assert_eq!(exact["items"].as_array().unwrap().len(), 25);
    assert_eq!(exact["next_cursor"], Value::Null, "no empty last page");
    let hundred = app.list_products("?limit=100").await;
    assert_eq!(hundred.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn paging_stays_correct_while_rows_come_and_go() {
    let app = TestApp::spawn().await;
    let owner = app.new_user("churn").await;
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(
            app.new_product(&owner, &format!("p{i}"), 1.0).await["id"]
                .as_i64()
                .unwrap(),
        );
    }
    let page1: Value = app.list_products("?limit=4").await.json().await.unwrap();
    let mut seen: Vec<i64> = page1["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    // Between requests: two new products arrive, one already seen and one
    // not yet seen are deleted.
    app.new_product(&owner, "new1", 1.0).await;
    app.new_product(&owner, "new2", 1.0).await;
    app.delete_product(&owner.access_token, seen[0]).await;
    let unseen_deleted = ids[2];
    assert_eq!(
        app.delete_product(&owner.access_token, unseen_deleted)
            .await
            .status(),
        204
    );

    let cursor = page1["next_cursor"].as_str().unwrap().to_owned();
    seen.extend(
        app.list_ids_after("/api/products", None, 4, Some(cursor))
            .await,
    );
    let expected: Vec<i64> = ids
        .iter()
        .rev()
        .copied()
        .filter(|id| *id != unseen_deleted)
        .collect();
    assert_eq!(seen, expected, "no row skipped or repeated");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), seen.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_paging_parameters_are_400_naming_the_parameter() {
    let app = TestApp::spawn().await;
    let user = app.new_user("pager").await;
    for (query, field) in [
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?limit=-1", "limit"),
        ("?limit=ten", "limit"),
        ("?cursor=not-a-cursor", "cursor"),
        ("?cursor=cDE6LTU", "cursor"),
    ] {
        assert_problem(app.list_products(query).await, 400, Some(field)).await;
        assert_problem(
            app.my_products(&user.access_token, query).await,
            400,
            Some(field),
        )
        .await;
    }
    let long_cursor = format!("?cursor={}", "A".repeat(500));
    assert_problem(app.list_products(&long_cursor).await, 400, Some("cursor")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn my_products_lists_only_the_callers_products() {
    let app = TestApp::spawn().await;
    let alice = app.new_user("alice").await;
    let bob = app.new_user("bob").await;
    for i in 0..3 {
        app.new_product(&alice, &format!("a{i}"), 1.0).await;
    }
    app.new_product(&bob, "b0", 2.0).await;

    let mine: Value = app
        .my_products(&alice.access_token, "?limit=2")
        .await
        .json()
        .await
        .unwrap();
    let items = mine["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|p| p["owner"]["id"] == alice.id));
    let cursor = mine["next_cursor"].as_str().unwrap();
    let rest: Value = app
        .my_products(&alice.access_token, &format!("?limit=2&cursor={cursor}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert_eq!(rest["items"][0]["name"], "a0");
    assert_eq!(rest["next_cursor"], Value::Null);

    let bobs: Value = app
        .my_products(&bob.access_token, "")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(bobs["items"].as_array().unwrap().len(), 1);
    let all: Value = app.list_products("").await.json().await.unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_owner_deletes_with_204_and_then_it_is_gone() {
    let app = TestApp::spawn().await;
    let owner = app.new_user("owner").await;
    let id = app.new_product(&owner, "doomed", 1.0).await["id"]
        .as_i64()
        .unwrap();
    let response = app.delete_product(&owner.access_token, id).await;
    assert_eq!(response.status(), 204);
    assert!(response.bytes().await.unwrap().is_empty());
    assert_problem(app.get_product(id).await, 404, None).await;
    assert_problem(app.delete_product(&owner.access_token, id).await, 404, None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_by_non_owner_is_forbidden() {
    let app = TestApp::spawn().await;
    let owner = app.new_user("rightful").await;
    let other = app.new_user("intruder").await;
    let id = app.new_product(&owner, "mine", 1.0).await["id"]
        .as_i64()
        .unwrap();
    assert_problem(app.delete_product(&other.access_token, id).await, 403, None).await;
    assert_eq!(app.get_product(id).await.status(), 200, "still there");
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_of_a_missing_product_is_404_and_a_bad_id_400() {
    let app = TestApp::spawn().await;
    let user = app.new_user("deleter").await;
    assert_problem(
        app.delete_product(&user.access_token, 424_242).await,
        404,
        None,
    )
    .await;
    assert_problem(
        app.delete_product(&user.access_token, "x1").await,
        400,
        Some("id"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_may_delete_any_product() {
    let app = TestApp::spawn_with(&WITH_ADMIN).await;
    let owner = app.new_user("regular").await;
    let id = app.new_product(&owner, "reported", 1.0).await["id"]
        .as_i64()
        .unwrap();
    let admin_token = app.access_token("boss", ADMIN_PASSWORD).await;
    assert_eq!(app.delete_product(&admin_token, id).await.status(), 204);
    assert_problem(app.get_product(id).await, 404, None).await;
}

/// Without replicas or a binary log (the shared test server keeps none),
/// writes answer no consistency token, and reads take any well-formed
/// one: there is only the primary to read from. A malformed one, or two,
/// is the caller's mistake, named.
#[tokio::test(flavor = "multi_thread")]
async fn consistency_tokens_are_checked_for_shape_and_otherwise_read_from_the_primary() {
    let app = TestApp::spawn().await;
    let user = app.new_user("tokened").await;
    let created = app
        .create_product(&user.access_token, &json!({"name": "Lamp", "price": 5.0}))
        .await;
    assert_eq!(created.status(), 201);
    assert!(created.headers().get("catalog-consistency").is_none());
    let product: Value = created.json().await.unwrap();
    let path = format!("/api/products/{}", product["id"]);
    let foreign = "MC0xLTQy.AAAAAAAAAAAAAAAAAAAAAA";
    for path in [path.as_str(), "/api/products"] {
        let read = send(
            app.client
                .get(app.url(path))
                .header("catalog-consistency", foreign),
        )
        .await;
        assert_eq!(read.status(), 200, "{path}");
        for bad in [
            "0-1-42",
            "MC0xLTQy.short",
            "MC0x LTQy.AAAAAAAAAAAAAAAAAAAAAA",
        ] {
            let refused = send(
                app.client
                    .get(app.url(path))
                    .header("catalog-consistency", bad),
            )
            .await;
            assert_problem(refused, 400, Some("Catalog-Consistency")).await;
        }
        let twice = send(
            app.client
                .get(app.url(path))
                .header("catalog-consistency", foreign)
                .header("catalog-consistency", foreign),
        )
        .await;
        assert_problem(twice, 400, Some("Catalog-Consistency")).await;
    }
}
