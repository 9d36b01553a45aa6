//! Search through the service's own index: what a word is, and the index
//! staying exact through every write.

use std::collections::{BTreeMap, HashSet};

use catalog::domain::search::product_words;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncMysqlConnection, RunQueryDsl};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, server_url};

async fn create(app: &TestApp, owner: &TestUser, body: Value) -> i64 {
    let response = app.create_product(&owner.access_token, &body).await;
    assert_eq!(response.status(), 201, "{body}");
    response.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap()
}

async fn found(app: &TestApp, query: &str) -> HashSet<i64> {
    app.list_all_ids(&format!("/api/products?{query}"), None, 3)
        .await
        .into_iter()
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn words_are_found_whatever_their_case_accents_script_or_length() {
    let app = TestApp::spawn().await;
    let seller = app.new_user("seller").await;
    let headset = create(&app, &seller, json!({"name": "无线耳机套装", "price": 30})).await;
    let earphones = create(&app, &seller, json!({"name": "无线耳机", "price": 20})).await;
    let snake = create(
        &app,
        &seller,
        json!({"name": "snake_case widget", "price": 1}),
    )
    .await;
    let tv = create(&app, &seller, json!({"name": "4K TV stand", "price": 99})).await;
    let brulee = create(
        &app,
        &seller,
        json!({"name": "Dessert", "description": "Crème BRÛLÉE, Straße-style", "price": 5}),
    )
    .await;
    let set = |ids: &[i64]| ids.iter().copied().collect::<HashSet<_>>();
    for (query, expected) in [
        ("q=%E8%80%B3%E6%9C%BA", set(&[headset, earphones])), // 耳机
        (
            "q=%E6%97%A0%E7%BA%BF%E8%80%B3%E6%9C%BA",
            set(&[headset, earphones]),
        ), // 无线耳机
        (
            "q=%E8%80%B3%E6%9C%BA%20%E6%97%A0%E7%BA%BF",
            set(&[headset, earphones]),
        ), // 耳机 无线
        ("q=%E5%A5%97%E8%A3%85", set(&[headset])),            // 套装
        ("q=snake", set(&[snake])),
        ("q=snake_case", set(&[snake])),
        ("q=CASE", set(&[snake])),
        ("q=tv", set(&[tv])),
        ("q=4k", set(&[tv])),
        ("q=4K%20tv%20STAND", set(&[tv])),
        ("q=creme%20brulee", set(&[brulee])),
        ("q=CR%C3%88ME", set(&[brulee])),
        ("q=strasse", set(&[brulee])),
        (
            "q=%EF%BD%83%EF%BD%92%EF%BD%85%EF%BD%8D%EF%BD%85",
            set(&[brulee]),
        ), // ｃｒｅｍｅ
        ("q=widget%20stand", set(&[])),
        ("q=snak", set(&[])),
    ] {
        assert_eq!(found(&app, query).await, expected, "{query}");
    }
}

/// Index rows (product, word, owner, cents, name), and word counts.
type Index = (Vec<(i64, String, i64, i64, String)>, BTreeMap<String, i64>);

/// What the index holds for a database: each product's words with the
/// keys it carries, and each word's count.
async fn index_of(app: &TestApp) -> Index {
    use catalog::db::schema::{product_terms as t, search_terms as c};
    let mut conn = AsyncMysqlConnection::establish(&format!("{}/{}", server_url(), app.database))
        .await
        .unwrap();
    let mut rows: Vec<(i64, String, i64, i64, String)> = t::table
        .select((t::product_id, t::term, t::owner_id, t::price_cents, t::name))
        .load(&mut conn)
        .await
        .unwrap();
    rows.sort();
    let counts: Vec<(String, i64)> = c::table
        .select((c::term, c::products))
        .filter(c::products.gt(0))
        .load(&mut conn)
        .await
        .unwrap();
    (rows, counts.into_iter().collect())
}

/// What the index must hold for the products as the API shows them.
async fn expected_index(app: &TestApp) -> Index {
    let mut rows = Vec::new();
    let mut counts = BTreeMap::new();
    for id in app.list_all_ids("/api/products", None, 100).await {
        let product: Value = app.get_product(id).await.json().await.unwrap();
        let name = product["name"].as_str().unwrap().to_owned();
        let cents = (product["price"].as_f64().unwrap() * 100.0).round() as i64;
        let owner = product["owner"]["id"].as_i64().unwrap();
        for word in product_words(&name, product["description"].as_str()) {
            *counts.entry(word.clone()).or_insert(0) += 1;
            rows.push((id, word, owner, cents, name.clone()));
        }
    }
    rows.sort();
    (rows, counts)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_index_stays_exact_through_create_edit_and_delete() {
    let app = TestApp::spawn().await;
    let seller = app.new_user("seller").await;
    let other = app.new_user("other").await;
    let mug = create(
        &app,
        &seller,
        json!({"name": "Blue mug", "description": "a blue porcelain mug", "price": 8}),
    )
    .await;
    let cup = create(&app, &other, json!({"name": "Blue cup", "price": 6})).await;
    let bowl = create(
        &app,
        &seller,
        json!({"name": "Bowl", "description": "porcelain", "price": 9}),
    )
    .await;
    assert_eq!(index_of(&app).await, expected_index(&app).await);

    // A new name, description and price: old words go, new ones come,
    // kept words carry the new keys.
    let edited = app
        .edit_product(
            &seller.access_token,
            mug,
            &json!({"name": "Green mug", "description": null, "price": 10}),
        )
        .await;
    assert_eq!(edited.status(), 200);
    assert_eq!(index_of(&app).await, expected_index(&app).await);
    assert_eq!(found(&app, "q=blue").await, HashSet::from([cup]));
    assert_eq!(found(&app, "q=porcelain").await, HashSet::from([bowl]));
    assert_eq!(
        found(&app, "q=green&min_price=10&max_price=10").await,
        HashSet::from([mug])
    );
    assert!(found(&app, "q=mug&max_price=9").await.is_empty());

    let edited = app
        .edit_product(&seller.access_token, bowl, &json!({"price": 1.5}))
        .await;
    assert_eq!(edited.status(), 200);
    assert_eq!(index_of(&app).await, expected_index(&app).await);

    assert_eq!(
        app.delete_product(&seller.access_token, mug).await.status(),
        204
    );
    assert_eq!(index_of(&app).await, expected_index(&app).await);
    assert!(found(&app, "q=green").await.is_empty());
    let (_, counts) = index_of(&app).await;
    assert_eq!(counts.get("mug"), None);
    assert_eq!(counts.get("blue"), Some(&1));
}

/// Creates and edits at once, all sharing words, lock the word counts in
/// the same order: every one succeeds and the counts come out exact.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_writes_sharing_words_all_succeed_and_count_exactly() {
    let app = TestApp::spawn().await;
    let seller = app.new_user("seller").await;
    let seeded = create(&app, &seller, json!({"name": "zeta alpha", "price": 1})).await;
    let mut writes = tokio::task::JoinSet::new();
    for n in 0..50 {
        let (client, url, token) = (
            app.client.clone(),
            app.url("/api/products"),
            seller.access_token.clone(),
        );
        writes.spawn(async move {
            let name = if n % 2 == 0 {
                "alpha beta gamma"
            } else {
                "gamma beta alpha delta"
            };
            client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"name": format!("{name} {n}"), "price": n}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
    }
    let edit = app
        .edit_product(
            &seller.access_token,
            seeded,
            &json!({"name": "delta gamma"}),
        )
        .await;
    assert_eq!(edit.status(), 200);
    let statuses = writes.join_all().await;
    assert!(statuses.iter().all(|status| *status == 201), "{statuses:?}");
    let (rows, counts) = index_of(&app).await;
    assert_eq!((rows, counts.clone()), expected_index(&app).await);
    assert_eq!(counts["alpha"], 50);
    assert_eq!(counts["gamma"], 51);
}

/// Products from before the index (simulated by emptying it) are missed
/// by searches, and start-up says so, until `catalog reindex` has run:
/// in batches, to the end, and again without changing anything.
#[tokio::test(flavor = "multi_thread")]
async fn reindex_fills_the_index_for_products_from_before_it() {
    let app = TestApp::spawn().await;
    let seller = app.new_user("seller").await;
    for n in 0..7 {
        create(
            &app,
            &seller,
            json!({"name": format!("Old lamp {n}"), "price": n + 1}),
        )
        .await;
    }
    let indexed = index_of(&app).await;
    crate::helpers::admin_sql(
        Some(&app.database),
        &[
            "DELETE FROM product_terms".to_owned(),
            "DELETE FROM search_terms".to_owned(),
            "UPDATE search_backfill SET next_product_id = 0, finished_at = NULL".to_owned(),
        ],
    )
    .await;
    assert!(found(&app, "q=lamp").await.is_empty());
    let url = format!("{}/{}", server_url(), app.database);
    let mut binary = crate::binary::Binary::start_on(&url, &[]).await;
    binary.wait_for_log("catalog reindex").await;
    binary.kill_and_read_logs().await;

    let reindex = |args: &'static [&'static str]| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            let output = crate::cli::catalog(
                args,
                &[("DATABASE_URL", url.as_str()), ("LOG_FORMAT", "json")],
            );
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8_lossy(&output.stdout).into_owned()
        })
    };
    let logs = reindex(&["reindex", "--batch", "2"]).await.unwrap();
    assert!(logs.contains("the search index is complete"), "{logs}");
    assert!(logs.contains(r#""products":7"#), "{logs}");
    assert_eq!(index_of(&app).await, indexed);
    assert_eq!(found(&app, "q=lamp").await.len(), 7);

    // Finished: a second run has nothing left; a restart rewrites the
    // same index.
    let logs = reindex(&["reindex"]).await.unwrap();
    assert!(logs.contains(r#""products":0"#), "{logs}");
    let logs = reindex(&["reindex", "--restart"]).await.unwrap();
    assert!(logs.contains(r#""products":7"#), "{logs}");
    assert_eq!(index_of(&app).await, indexed);
}
