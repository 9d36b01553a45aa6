//! Searching, filtering and sorting the catalog, and the signed cursors
//! that page through it.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{TEST_SECRET, TestApp, TestUser, assert_problem};

/// A product as the tests know it.
#[derive(Debug, Clone)]
struct Made {
    id: i64,
    name: String,
    cents: i64,
}

/// Creates `name` at `price`, a second after the one before.
async fn make(app: &TestApp, owner: &TestUser, name: &str, price: f64, description: &str) -> Made {
    app.time.advance(Duration::from_secs(1));
    let response = app
        .create_product(
            &owner.access_token,
            &json!({"name": name, "price": price, "description": description}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    Made {
        id: body["id"].as_i64().unwrap(),
        name: name.to_owned(),
        cents: (price * 100.0).round() as i64,
    }
}

/// A small shop: names that differ in case and accents, equal prices,
/// and one product of another owner.
async fn shop(app: &TestApp) -> (TestUser, TestUser, Vec<Made>) {
    let seller = app.new_user("seller").await;
    let other = app.new_user("other").await;
    let made = vec![
        make(app, &seller, "banana bread", 4.5, "fresh every morning").await,
        make(app, &seller, "Apple", 1.0, "crisp and red").await,
        make(app, &seller, "cherry jam", 4.5, "with whole fruit").await,
        make(app, &seller, "apple pie", 12.0, "a whole pie").await,
        make(app, &other, "Éclair", 2.5, "chocolate glaze").await,
        make(app, &seller, "date box", 30.0, "Medjool dates").await,
        make(app, &seller, "eclair", 2.5, "vanilla CRÈME filling").await,
    ];
    (seller, other, made)
}

fn ids(products: &[&Made]) -> Vec<i64> {
    products.iter().map(|p| p.id).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_sort_orders_the_whole_catalog_across_pages() {
    let app = TestApp::spawn().await;
    let (_, _, made) = shop(&app).await;
    let by_id: Vec<&Made> = made.iter().collect();
    let mut by_price = by_id.clone();
    by_price.sort_by_key(|p| (p.cents, p.id));
    // Case and accents are ignored; equal names go by id.
    let position = |name: &str| {
        [
            "Apple",
            "apple pie",
            "banana bread",
            "cherry jam",
            "date box",
            "Éclair",
            "eclair",
        ]
        .iter()
        .position(|n| *n == name)
        .unwrap()
    };
    let mut by_name = by_id.clone();
    by_name.sort_by_key(|p| position(&p.name));
    fn reversed<'a>(list: &[&'a Made]) -> Vec<&'a Made> {
        list.iter().rev().copied().collect()
    }

    for (sort, expected) in [
        ("created_at", by_id.clone()),
        ("-created_at", reversed(&by_id)),
        ("price", by_price.clone()),
        ("-price", reversed(&by_price)),
        ("name", by_name.clone()),
        ("-name", reversed(&by_name)),
    ] {
        for limit in [1, 2, 3, 100] {
            let got = app
                .list_all_ids(&format!("/api/products?sort={sort}"), None, limit)
                .await;
            assert_eq!(got, ids(&expected), "sort={sort} limit={limit}");
        }
    }
    // The default is newest first.
    let got = app.list_all_ids("/api/products", None, 2).await;
    assert_eq!(got, ids(&reversed(&by_id)));
}

#[tokio::test(flavor = "multi_thread")]
async fn paging_in_any_sort_survives_inserts_and_deletes_between_pages() {
    for sort in [
        "-created_at",
        "created_at",
        "price",
        "-price",
        "name",
        "-name",
    ] {
        let app = TestApp::spawn().await;
        let (seller, _, made) = shop(&app).await;
        let page: Value = app
            .get(&format!("/api/products?sort={sort}&limit=3"))
            .await
            .json()
            .await
            .unwrap();
        let mut seen: Vec<i64> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_i64().unwrap())
            .collect();
        // Between pages: a seen product and an unseen one are deleted, and
        // two arrive, one at each end of every order.
        let unseen = made.iter().find(|p| !seen.contains(&p.id)).unwrap().id;
        for id in [seen[0], unseen] {
            assert_eq!(
                app.delete_product(&seller.access_token, id).await.status(),
                204
            );
        }
        make(
            &app,
            &seller,
            "Aardvark mug",
            0.5,
            "first by name and price",
        )
        .await;
        make(&app, &seller, "Zebra mug", 99.0, "last by name and price").await;

        let cursor = page["next_cursor"].as_str().unwrap().to_owned();
        let rest = app
            .list_ids_after(&format!("/api/products?sort={sort}"), None, 3, Some(cursor))
            .await;
        seen.extend(rest);
        let unique: HashSet<i64> = seen.iter().copied().collect();
        assert_eq!(
            unique.len(),
            seen.len(),
            "{sort}: a product came twice: {seen:?}"
        );
        for product in &made {
            if product.id != unseen {
                assert!(
                    seen.contains(&product.id),
                    "{sort}: {product:?} was skipped"
                );
            }
        }
        assert!(
            !seen.contains(&unseen),
            "{sort}: a deleted product was shown"
        );
        // What the pages showed is in the order a fresh listing has now.
        let now = app
            .list_all_ids(&format!("/api/products?sort={sort}"), None, 100)
            .await;
        let in_order: Vec<i64> = now.iter().copied().filter(|id| seen.contains(id)).collect();
        let shown_still_there: Vec<i64> =
            seen.iter().copied().filter(|id| now.contains(id)).collect();
        assert_eq!(shown_still_there, in_order, "{sort}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn filters_keep_what_they_say_and_combine() {
    let app = TestApp::spawn().await;
    let (seller, other, made) = shop(&app).await;
    let named = |names: &[&str]| -> HashSet<i64> {
        made.iter()
            .filter(|p| names.contains(&p.name.as_str()))
            .map(|p| p.id)
            .collect()
    };
    let found = |ids: Vec<i64>| ids.into_iter().collect::<HashSet<_>>();
    for (query, expected) in [
        // Words in the name or the description, any case, any accents.
        ("q=ECLAIR", named(&["Éclair", "eclair"])),
        ("q=apple", named(&["Apple", "apple pie"])),
        ("q=creme", named(&["eclair"])),
        ("q=whole", named(&["cherry jam", "apple pie"])),
        // Every word must appear, common ones too; one letter is no word.
        ("q=a+whole+pie", named(&["apple pie"])),
        ("q=the+whole+pie", HashSet::new()),
        ("q=with%20a%20whole", named(&["cherry jam"])),
        ("q=apple+jam", HashSet::new()),
        // Two-letter words and words nobody has.
        ("q=box", named(&["date box"])),
        (&format!("q={}", "x".repeat(150)), HashSet::new()),
        ("q=%E8%8C%B6%E6%9D%AF%E5%AD%90", HashSet::new()),
        ("q=%C4%B0%C4%B0%C4%B0", HashSet::new()),
        // Prices are inclusive bounds.
        (
            "min_price=4.5",
            named(&["banana bread", "cherry jam", "apple pie", "date box"]),
        ),
        ("max_price=2.50", named(&["Apple", "Éclair", "eclair"])),
        (
            "min_price=2.5&max_price=4.5",
            named(&["banana bread", "cherry jam", "Éclair", "eclair"]),
        ),
        ("min_price=31", HashSet::new()),
        // By owner, however the name is cased; nobody by that name: nothing.
        ("owner=OTHER", named(&["Éclair"])),
        ("owner=nobody_here", HashSet::new()),
        // All at once.
        (
            "q=eclair&max_price=3&owner=seller&sort=-price",
            named(&["eclair"]),
        ),
    ] {
        let got = app
            .list_all_ids(&format!("/api/products?{query}"), None, 2)
            .await;
        assert_eq!(found(got.clone()), expected, "{query}");
        assert_eq!(found(got.clone()).len(), got.len(), "{query}: repeats");
    }
    // /my takes the same filters, within the caller's products.
    let mine = app
        .list_all_ids(
            "/api/products/my?q=eclair&sort=price",
            Some(&seller.access_token),
            1,
        )
        .await;
    assert_eq!(found(mine), named(&["eclair"]));
    let theirs = app
        .list_all_ids(
            "/api/products/my?max_price=100",
            Some(&other.access_token),
            1,
        )
        .await;
    assert_eq!(found(theirs), named(&["Éclair"]));
    // Filtered pages keep the sort.
    let cheapest_first = app
        .list_all_ids("/api/products?min_price=2.5&sort=price", None, 1)
        .await;
    let prices: Vec<i64> = cheapest_first
        .iter()
        .map(|id| made.iter().find(|p| p.id == *id).unwrap().cents)
        .collect();
    assert!(prices.is_sorted(), "{prices:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_filters_and_sorts_are_400_naming_the_parameter() {
    let app = TestApp::spawn().await;
    let user = app.new_user("picky").await;
    for (query, field) in [
        ("?sort=cheapest", "sort"),
        ("?sort=-PRICE", "sort"),
        ("?sort=price&sort=name", "sort"),
        ("?q=", "q"),
        ("?q=a+b+c", "q"),
        ("?q=%E2%80%8B", "q"),
        (
            "?q=w1+w2+w3+w4+w5+w6+w7+w8+w9+w10+w11+w12+w13+w14+w15+w16+w17",
            "q",
        ),
        ("?q=mug&q=cup", "q"),
        (&format!("?q={}", "x".repeat(201)), "q"),
        ("?min_price=cheap", "min_price"),
        ("?min_price=-1", "min_price"),
        ("?max_price=1.001", "max_price"),
        ("?max_price=1e3", "max_price"),
        ("?min_price=5&max_price=4.99", "max_price"),
        ("?min_price=1&min_price=2", "min_price"),
    ] {
        assert_problem(app.list_products(query).await, 400, Some(field)).await;
        assert_problem(
            app.my_products(&user.access_token, query).await,
            400,
            Some(field),
        )
        .await;
    }
    for owner in ["no spaces", "x", "ünïcode"] {
        let query = format!("?owner={}", owner.replace(' ', "%20"));
        assert_problem(app.list_products(&query).await, 400, Some("owner")).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cursors_are_signed_and_bound_to_their_query() {
    let app = TestApp::spawn().await;
    let (seller, _, _) = shop(&app).await;
    let page: Value = app
        .list_products("?sort=price&limit=2")
        .await
        .json()
        .await
        .unwrap();
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    // The control: the cursor works with its own query.
    let next = app
        .list_products(&format!("?sort=price&limit=2&cursor={cursor}"))
        .await;
    assert_eq!(next.status(), 200);
    // A smaller page size is the same query.
    let smaller = app
        .list_products(&format!("?sort=price&limit=1&cursor={cursor}"))
        .await;
    assert_eq!(smaller.status(), 200);

    // Another sort, other filters, another scope.
    for query in [
        format!("?sort=-price&cursor={cursor}"),
        format!("?sort=name&cursor={cursor}"),
        format!("?cursor={cursor}"),
        format!("?sort=price&q=apple&cursor={cursor}"),
        format!("?sort=price&min_price=1&cursor={cursor}"),
        format!("?sort=price&max_price=100&cursor={cursor}"),
        format!("?sort=price&owner=seller&cursor={cursor}"),
    ] {
        assert_problem(app.list_products(&query).await, 400, Some("cursor")).await;
    }
    let mine = app
        .my_products(
            &seller.access_token,
            &format!("?sort=price&cursor={cursor}"),
        )
        .await;
    assert_problem(mine, 400, Some("cursor")).await;

    // Altered: another position under the old tag, the tag cut or
    // replaced, or no tag at all.
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (payload, tag) = cursor.split_once('.').unwrap();
    let mut position: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let id = position["Cents"][1].as_i64().expect("a price position");
    position["Cents"][1] = json!(id + 1);
    let forged_payload = URL_SAFE_NO_PAD.encode(position.to_string());
    for forged in [
        format!("{forged_payload}.{tag}"),
        format!("{payload}.{}", &tag[..tag.len() - 1]),
        format!("{payload}.AAAAAAAAAAAAAAAAAAAAAA"),
        payload.to_owned(),
    ] {
        let response = app
            .list_products(&format!("?sort=price&limit=2&cursor={forged}"))
            .await;
        assert_problem(response, 400, Some("cursor")).await;
    }

    // A cursor from another deployment (another secret) means nothing here.
    let elsewhere =
        TestApp::spawn_with(&[("JWT_SECRET_KEY", "a-different-deployment-secret-0123456789")])
            .await;
    let (_, _, _) = shop(&elsewhere).await;
    let foreign: Value = elsewhere
        .list_products("?sort=price&limit=2")
        .await
        .json()
        .await
        .unwrap();
    let foreign = foreign["next_cursor"].as_str().unwrap();
    let response = app
        .list_products(&format!("?sort=price&limit=2&cursor={foreign}"))
        .await;
    assert_problem(response, 400, Some("cursor")).await;
    assert_ne!(TEST_SECRET, "a-different-deployment-secret-0123456789");
}
