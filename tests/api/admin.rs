//! Administration through the API: who may call it, what disabling and
//! demoting do to sessions, the last-admin guard under concurrent
//! requests, the audit trail each change leaves, and the user list.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_PASSWORD, PASSWORD, TestApp, TestUser, WITH_ADMIN, assert_problem};

async fn boss(app: &TestApp) -> String {
    app.access_token("boss", ADMIN_PASSWORD).await
}

async fn patch_user(app: &TestApp, token: &str, id: i64, body: Value) -> reqwest::Response {
    app.authed(Method::PATCH, &format!("/api/admin/users/{id}"), token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn get_json(app: &TestApp, token: &str, path: &str) -> Value {
    let response = app.authed(Method::GET, path, token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.json().await.unwrap()
}

/// Every audit event, newest first.
async fn events(app: &TestApp) -> Vec<Value> {
    let token = boss(app).await;
    let page = get_json(app, &token, "/api/admin/audit?limit=100").await;
    page["items"].as_array().unwrap().clone()
}

async fn event_count(app: &TestApp) -> i64 {
    app.count("SELECT COUNT(*) FROM audit_events").await
}

async fn active_admins(app: &TestApp) -> i64 {
    app.count("SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL")
        .await
}

/// Promotes `user` (as `boss`) and returns a fresh token of theirs.
async fn promote(app: &TestApp, admin_token: &str, user: &TestUser) -> String {
    let response = patch_user(app, admin_token, user.id, json!({"role": "admin"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    app.access_token(&user.username, PASSWORD).await
}

#[tokio::test]
async fn every_admin_route_refuses_anonymous_callers_and_users() {
    let app = TestApp::spawn_with(&WITH_ADMIN).await;
    let user = app.new_user("plain").await;
    let admin = boss(&app).await;
    let routes: [(Method, String, Option<Value>); 5] = [
        (Method::GET, "/api/admin/users".into(), None),
        (Method::GET, format!("/api/admin/users/{}", user.id), None),
        (
            Method::PATCH,
            format!("/api/admin/users/{}", user.id),
            Some(json!({"role": "user"})),
        ),
        (
            Method::POST,
            format!("/api/admin/users/{}/logout-all", user.id),
            None,
        ),
        (Method::GET, "/api/admin/audit".into(), None),
    ];
    for (method, path, body) in &routes {
        let mut anonymous = app.client.request(method.clone(), app.url(path));
        let mut as_user = app.authed(method.clone(), path, &user.access_token);
        if let Some(body) = body {
            anonymous = anonymous.json(body);
            as_user = as_user.json(body);
        }
        assert_problem(anonymous.send().await.unwrap(), 401, None).await;
        let refused = assert_problem(as_user.send().await.unwrap(), 403, None).await;
        assert_eq!(refused["type"], "urn:catalog:problem:forbidden", "{path}");
    }
    // None of that changed anything.
    assert_eq!(event_count(&app).await, 0);
    let me = app.me(&user.access_token).await;
    assert_eq!(me.status(), StatusCode::OK);

    // A second admin's token works as an admin's until the demotion,
    // and not on the request after it.
    let second = app.new_user("second").await;
    let second_token = promote(&app, &admin, &second).await;
    let listed = app
        .authed(Method::GET, "/api/admin/users", &second_token)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    let demoted = patch_user(&app, &admin, second.id, json!({"role": "user"})).await;
    assert_eq!(demoted.status(), StatusCode::OK);
    let refused = app
        .authed(Method::GET, "/api/admin/users", &second_token)
        .send()
        .await
        .unwrap();
    assert_problem(refused, 403, None).await;
    // Still a valid user's token.
    assert_eq!(app.me(&second_token).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn disabling_ends_every_session_and_login_says_so_only_to_the_right_password() {
    let app = TestApp::spawn_with(&WITH_ADMIN).await;
    let admin = boss(&app).await;
    let user = app.new_user("suspect").await;
    assert_eq!(app.me(&user.access_token).await.status(), StatusCode::OK);

    let response = patch_user(&app, &admin, user.id, json!({"disabled": true})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["disabled"], true);

    assert_problem(app.me(&user.access_token).await, 401, None).await;
    assert_problem(app.refresh(&user.refresh_token).await, 401, None).await;
    let refused = assert_problem(app.login("suspect", PASSWORD).await, 403, None).await;
    assert_eq!(refused["type"], "urn:catalog:problem:account-disabled");
    let wrong = assert_problem(app.login("suspect", "not the password").await, 401, None).await;
    assert_eq!(wrong["type"], "urn:catalog:problem:unauthenticated");
    // By email too.
    assert_problem(app.login("suspect@example.com", PASSWORD).await, 403, None).await;

    // Enabled again: login works, the old sessions stay ended.
    let response = patch_user(&app, &admin, user.id, json!({"disabled": false})).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        app.login("suspect", PASSWORD).await.status(),
        StatusCode::OK
    );
    assert_problem(app.me(&user.access_token).await, 401, None).await;
    assert_problem(app.refresh(&user.refresh_token).await, 401, None).await;

    // Ending sessions without disabling.
    let fresh = app.access_token("suspect", PASSWORD).await;
    let ended = app
        .authed(
            Method::POST,
            &format!("/api/admin/users/{}/logout-all", user.id),
            &admin,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), StatusCode::NO_CONTENT);
    assert_problem(app.me(&fresh).await, 401, None).await;
    assert_eq!(
        app.login("suspect", PASSWORD).await.status(),
        StatusCode::OK
    );
    let missing = app
        .authed(Method::POST, "/api/admin/users/999999/logout-all", &admin)
        .send()
        .await
        .unwrap();
    assert_problem(missing, 404, None).await;
}

#[tokio::test]
async fn the_last_active_admin_is_never_demoted_or_disabled() {
    let app = TestApp::spawn_with(&WITH_ADMIN).await;
    let admin = boss(&app).await;
    let boss_id = app.me(&admin).await.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();
    for change in [
        json!({"role": "user"}),
        json!({"disabled": true}),
        json!({"role": "user", "disabled": true}),
    ] {
        let refused =
            assert_problem(patch_user(&app, &admin, boss_id, change).await, 409, None).await;
        assert_eq!(refused["type"], "urn:catalog:problem:last-admin");
    }
    assert_eq!(
        event_count(&app).await,
        0,
        "a refused change leaves no event"
    );
    // A disabled admin does not count as one.
    let other = app.new_user("other").await;
    promote(&app, &admin, &other).await;
    let response = patch_user(&app, &admin, other.id, json!({"disabled": true})).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_problem(
        patch_user(&app, &admin, boss_id, json!({"role": "user"})).await,
        409,
        None,
    )
    .await;
    // With another active admin, the boss may step down.
    let response = patch_user(&app, &admin, other.id, json!({"disabled": false})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = patch_user(&app, &admin, boss_id, json!({"role": "user"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(active_admins(&app).await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_admins_removing_each_other_at_once_leave_exactly_one() {
    let app = TestApp::spawn_with(&WITH_ADMIN).await;
    let mut survivor = (
        app.me(&boss(&app).await)
            .await
            .json::<Value>()
            .await
            .unwrap()["id"]
            .as_i64()
            .unwrap(),
        boss(&app).await,
    );
    let mut changes = 0;
    for round in 0..12 {
        let newcomer = app.new_user(&format!("rival{round}")).await;
        let newcomer_token = promote(&app, &survivor.1, &newcomer).await;
        changes += 1;
        assert_eq!(active_admins(&app).await, 2);
        // Demote each other, disable each other, or one admin removing
        // both at once.
        let body = if round % 2 == 0 {
            json!({"role": "user"})
        } else {
            json!({"disabled": true})
        };
        let (first, second) = if round % 3 == 2 {
            (
                patch_user(&app, &survivor.1, newcomer.id, body.clone()),
                patch_user(&app, &survivor.1, survivor.0, body.clone()),
            )
        } else {
            (
                patch_user(&app, &survivor.1, newcomer.id, body.clone()),
                patch_user(&app, &newcomer_token, survivor.0, body.clone()),
            )
        };
        let (first, second) = tokio::join!(first, second);
        let statuses = [first.status().as_u16(), second.status().as_u16()];
        let wins = statuses.iter().filter(|s| **s == 200).count();
        assert_eq!(wins, 1, "round {round}: {statuses:?}");
        // The loser is refused: 409 (it would leave no admin), 403 (its
        // caller was demoted first) or 401 (its caller was disabled
        // first, which ended their sessions).
        assert!(
            statuses.iter().all(|s| [200, 401, 403, 409].contains(s)),
            "round {round}: {statuses:?}"
        );
        changes += 1;
        assert_eq!(active_admins(&app).await, 1, "round {round}");
        assert_eq!(event_count(&app).await, changes, "round {round}");
        // Whoever is still an active admin carries on.
        let still: i64 = app
            .count("SELECT id FROM users WHERE role = 'admin' AND disabled_at IS NULL")
            .await;
        if still != survivor.0 {
            survivor = (still, newcomer_token);
        }
    }
}

#[tokio::test]
async fn every_change_leaves_exactly_one_event_with_its_before_and_after() {
    let app = TestApp::spawn_with(&WITH_ADMIN).await;
    let admin = boss(&app).await;
    let boss_id = app.me(&admin).await.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();
    let actor = format!("user:{boss_id}");
    let owner = app.new_user("owner").await;
    let target = format!("user:{}", owner.id);

    // A role change, with the request id of its answer.
    let response = patch_user(&app, &admin, owner.id, json!({"role": "admin"})).await;
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(response.status(), StatusCode::OK);
    let all = events(&app).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["actor"], actor.as_str());
    assert_eq!(all[0]["action"], "user.update");
    assert_eq!(all[0]["target"], target.as_str());
    assert_eq!(all[0]["before"], json!({"role": "user"}));
    assert_eq!(all[0]["after"], json!({"role": "admin"}));
    assert_eq!(all[0]["request_id"], request_id.as_str());

    // Back, and disabled, in one change: one event naming both fields.
    let response = patch_user(
        &app,
        &admin,
        owner.id,
        json!({"role": "user", "disabled": true}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let all = events(&app).await;
    assert_eq!(all.len(), 2);
    assert_eq!(
        all[0]["before"],
        json!({"role": "admin", "disabled": false})
    );
    assert_eq!(all[0]["after"], json!({"role": "user", "disabled": true}));
    // A change to what the account already is changes nothing.
    let response = patch_user(&app, &admin, owner.id, json!({"disabled": true})).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(event_count(&app).await, 2);
    patch_user(&app, &admin, owner.id, json!({"disabled": false})).await;
    assert_eq!(event_count(&app).await, 3);

    // Sessions ended.
    let ended = app
        .authed(
            Method::POST,
            &format!("/api/admin/users/{}/logout-all", owner.id),
            &admin,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), StatusCode::NO_CONTENT);
    let all = events(&app).await;
    assert_eq!(all[0]["action"], "user.logout_all");
    let before = all[0]["before"]["token_version"].as_i64().unwrap();
    assert_eq!(all[0]["after"]["token_version"], before + 1);

    // Another user's product, edited and deleted by the admin; the
    // owner's own edit is not an admin action.
    let owner_token = app.access_token("owner", PASSWORD).await;
    let owner = TestUser {
        access_token: owner_token.clone(),
        ..owner
    };
    let product = app.new_product(&owner, "Lamp", 10.0).await;
    let id = product["id"].as_i64().unwrap();
    let edited = app
        .edit_product(&owner_token, id, &json!({"name": "Desk lamp"}))
        .await;
    assert_eq!(edited.status(), StatusCode::OK);
    assert_eq!(event_count(&app).await, 4);
    let edited = app.edit_product(&admin, id, &json!({"price": 12.5})).await;
    assert_eq!(edited.status(), StatusCode::OK);
    let all = events(&app).await;
    assert_eq!(all[0]["action"], "product.edit");
    assert_eq!(all[0]["target"], format!("product:{id}").as_str());
    assert_eq!(all[0]["before"], json!({"price": "10.00"}));
    assert_eq!(all[0]["after"], json!({"price": "12.50"}));
    let deleted = app.delete_product(&admin, id).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let all = events(&app).await;
    assert_eq!(all[0]["action"], "product.delete");
    assert_eq!(
        all[0]["before"],
        json!({"name": "Desk lamp", "description": null, "price": "12.50", "owner_id": owner.id})
    );
    assert_eq!(all[0]["after"], json!({}));
    assert_eq!(all.len(), 6);

    // Failed changes leave none: stale If-Match, unknown user, the last
    // admin, a user's attempt.
    let stale = app
        .authed(
            Method::PATCH,
            &format!("/api/admin/users/{}", owner.id),
            &admin,
        )
        .header("If-Match", format!("\"u{}.1\"", owner.id))
        .json(&json!({"role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_problem(stale, 412, Some("If-Match")).await;
    assert_problem(
        patch_user(&app, &admin, 999_999, json!({"role": "admin"})).await,
        404,
        None,
    )
    .await;
    assert_problem(
        patch_user(&app, &admin, boss_id, json!({"disabled": true})).await,
        409,
        None,
    )
    .await;
    assert_problem(
        patch_user(&app, &owner_token, boss_id, json!({"disabled": true})).await,
        403,
        None,
    )
    .await;
    assert_eq!(event_count(&app).await, 6);

    // Filters and pages.
    let by_target = get_json(
        &app,
        &admin,
        &format!("/api/admin/audit?target={target}&limit=2"),
    )
    .await;
    assert_eq!(by_target["items"].as_array().unwrap().len(), 2);
    let cursor = by_target["next_cursor"].as_str().unwrap();
    let rest = get_json(
        &app,
        &admin,
        &format!("/api/admin/audit?target={target}&limit=2&cursor={cursor}"),
    )
    .await;
    let ids: Vec<i64> = [&by_target, &rest]
        .iter()
        .flat_map(|page| page["items"].as_array().unwrap().clone())
        .map(|event| event["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 4, "the four changes to the account");
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    assert!(rest["next_cursor"].is_null());
    let by_actor = get_json(&app, &admin, &format!("/api/admin/audit?actor={actor}")).await;
    assert_eq!(by_actor["items"].as_array().unwrap().len(), 6);
    let none = get_json(&app, &admin, "/api/admin/audit?actor=cli:nobody").await;
    assert!(none["items"].as_array().unwrap().is_empty());
    // A cursor is bound to its filters.
    let misused = app
        .authed(
            Method::GET,
            &format!("/api/admin/audit?limit=2&cursor={cursor}"),
            &admin,
        )
        .send()
        .await
        .unwrap();
    assert_problem(misused, 400, Some("cursor")).await;
    for (query, field) in [
        ("actor=boss", "actor"),
        ("target=user:0", "target"),
        ("limit=0", "limit"),
    ] {
        let response = app
            .authed(Method::GET, &format!("/api/admin/audit?{query}"), &admin)
            .send()
            .await
            .unwrap();
        assert_problem(response, 400, Some(field)).await;
    }
    // No event holds a password hash.
    let stored = app
        .count("SELECT COUNT(*) FROM audit_events WHERE changes LIKE '%argon2%'")
        .await;
    assert_eq!(stored, 0);
    // Events cannot be changed through the API.
    for method in [Method::DELETE, Method::PATCH, Method::PUT] {
        let response = app
            .authed(method, "/api/admin/audit", &admin)
            .send()
            .await
            .unwrap();
        assert_problem(response, 405, None).await;
    }
}

#[tokio::test]
async fn users_are_listed_in_pages_and_found_by_a_prefix_of_either_name() {
    let app = TestApp::spawn_with(&WITH_ADMIN).await;
    let admin = boss(&app).await;
    let mut ids = std::collections::HashMap::new();
    for (name, email) in [
        ("alice", "alice@example.com"),
        ("ALIBABA", "Sesame@example.com"),
        ("bob", "Ali.Bob@example.org"),
        ("carol", "carol@example.com"),
        ("a_i", "underscore@example.com"),
    ] {
        let response = app
            .signup(&json!({"username": name, "email": email, "password": PASSWORD}))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        ids.insert(name, body["id"].as_i64().unwrap());
    }

    // Everyone, newest first, two at a time.
    let mut seen = Vec::new();
    let mut path = "/api/admin/users?limit=2".to_owned();
    loop {
        let page = get_json(&app, &admin, &path).await;
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|user| user["id"].as_i64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/admin/users?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 6);
    assert!(seen.windows(2).all(|w| w[0] > w[1]), "{seen:?}");

    // A prefix in any case: usernames first (in folded order), then
    // emails, each account once, whatever the page size.
    for limit in [1, 2, 10] {
        let mut found = Vec::new();
        let mut path = format!("/api/admin/users?q=ALi&limit={limit}");
        loop {
            let page = get_json(&app, &admin, &path).await;
            found.extend(
                page["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|user| user["username"].as_str().unwrap().to_owned()),
            );
            match page["next_cursor"].as_str() {
                Some(cursor) => {
                    path = format!("/api/admin/users?q=ALi&limit={limit}&cursor={cursor}");
                }
                None => break,
            }
        }
        assert_eq!(found, ["ALIBABA", "alice", "bob"], "limit {limit}");
    }
    // Wildcards match only themselves.
    let page = get_json(&app, &admin, "/api/admin/users?q=a_").await;
    let names: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|user| user["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a_i"]);
    let page = get_json(&app, &admin, "/api/admin/users?q=%25").await;
    assert!(page["items"].as_array().unwrap().is_empty());
    // Text whose case mapping changes its length is no 500.
    for q in ["%C4%B0", "%C3%9F", "%E1%BA%9E", "%F0%9F%98%80"] {
        let page = get_json(&app, &admin, &format!("/api/admin/users?q={q}")).await;
        assert!(page["items"].as_array().unwrap().is_empty(), "{q}");
    }

    // One account, its product count and its ETag.
    let alice = ids["alice"];
    let alice_user = TestUser {
        id: alice,
        username: "alice".into(),
        email: "alice@example.com".into(),
        access_token: app.access_token("alice", PASSWORD).await,
        refresh_token: String::new(),
    };
    let path = format!("/api/admin/users/{alice}");
    let first = app.authed(Method::GET, &path, &admin).send().await.unwrap();
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let body: Value = first.json().await.unwrap();
    assert_eq!(body["products"], 0);
    assert_eq!(body["role"], "user");
    assert_eq!(body["disabled"], false);
    let product = app.new_product(&alice_user, "Cup", 3.0).await;
    app.new_product(&alice_user, "Plate", 4.0).await;
    let deleted = app
        .delete_product(&alice_user.access_token, product["id"].as_i64().unwrap())
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let now = app.authed(Method::GET, &path, &admin).send().await.unwrap();
    let current = now.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(current, etag, "the count is part of the representation");
    assert_eq!(now.json::<Value>().await.unwrap()["products"], 1);
    // The old tag no longer matches; a product's tag never does.
    for stale in [etag.clone(), format!("\"{alice}.1\"")] {
        let response = app
            .authed(Method::PATCH, &path, &admin)
            .header("If-Match", stale)
            .json(&json!({"role": "admin"}))
            .send()
            .await
            .unwrap();
        assert_problem(response, 412, Some("If-Match")).await;
    }
    let response = app
        .authed(Method::PATCH, &path, &admin)
        .header("If-Match", &current)
        .json(&json!({"role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_ne!(response.headers()["etag"].to_str().unwrap(), current);

    // Bad input names its field.
    for (path, field) in [
        ("/api/admin/users?limit=101", "limit"),
        ("/api/admin/users?q=", "q"),
        ("/api/admin/users?cursor=nonsense", "cursor"),
        ("/api/admin/users/01", "id"),
        ("/api/admin/users?q=a%E2%80%8Bb", "q"),
        ("/api/admin/users?q=a%00", "q"),
        ("/api/admin/users?q=a&q=b", "q"),
    ] {
        let response = app.authed(Method::GET, path, &admin).send().await.unwrap();
        assert_problem(response, 400, Some(field)).await;
    }
    let long = "a".repeat(121);
    let response = app
        .authed(Method::GET, &format!("/api/admin/users?q={long}"), &admin)
        .send()
        .await
        .unwrap();
    assert_problem(response, 400, Some("q")).await;
    let response = app
        .authed(Method::GET, "/api/admin/users/999999", &admin)
        .send()
        .await
        .unwrap();
    assert_problem(response, 404, None).await;
    for (body, field) in [
        (json!({}), "body"),
        (json!({"role": "root"}), "role"),
        (json!({"disabled": "yes"}), "disabled"),
        (json!({"role": null}), "role"),
    ] {
        let response = patch_user(&app, &admin, alice, body).await;
        assert_problem(response, 400, Some(field)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn product_counts_stay_exact_under_concurrent_creates_and_deletes_by_one_owner() {
    let app = TestApp::spawn_with(&WITH_ADMIN).await;
    let admin = boss(&app).await;
    let owner = app.new_user("busy").await;
    let mut doomed = Vec::new();
    for i in 0..10 {
        let product = app
            .new_product(&owner, &format!("shared words {i}"), 1.0)
            .await;
        doomed.push(product["id"].as_i64().unwrap());
    }
    // 40 creates (half with an idempotency key) and 10 deletes at once,
    // all sharing search words: every one succeeds, none deadlocks.
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..40 {
        let mut request = app
            .authed(Method::POST, "/api/products", &owner.access_token)
            .json(&json!({"name": format!("shared words new {i}"), "price": 2.0}));
        if i % 2 == 0 {
            request = request.header("Idempotency-Key", format!("key-{i}"));
        }
        requests.spawn(async move { (StatusCode::CREATED, request.send().await) });
    }
    for id in &doomed {
        let request = app.authed(
            Method::DELETE,
            &format!("/api/products/{id}"),
            &owner.access_token,
        );
        requests.spawn(async move { (StatusCode::NO_CONTENT, request.send().await) });
    }
    while let Some(done) = requests.join_next().await {
        let (expected, response) = done.unwrap();
        assert_eq!(response.unwrap().status(), expected);
    }
    let user = get_json(&app, &admin, &format!("/api/admin/users/{}", owner.id)).await;
    let actual = app
        .count(&format!(
            "SELECT COUNT(*) FROM products WHERE owner_id = {}",
            owner.id
        ))
        .await;
    assert_eq!(actual, 40);
    assert_eq!(user["products"], 40);
}

#[tokio::test(flavor = "multi_thread")]
async fn each_admin_action_is_counted_and_logged_with_its_request_id() {
    use crate::binary::{Binary, metric};
    use crate::helpers::sign_up_and_log_in;
    let mut vars = WITH_ADMIN.to_vec();
    vars.push(("RUST_LOG", "info"));
    let binary = Binary::start(&vars).await;
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{}", binary.port);
    let user = sign_up_and_log_in(&client, &base, "metered").await;
    let admin = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": "boss", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let series = r#"catalog_admin_actions_total{action="user.update"}"#;
    assert_eq!(metric(&binary.metrics().await, series), 0.0);
    let response = client
        .patch(format!("{base}/api/admin/users/{}", user["user"]["id"]))
        .bearer_auth(admin["access_token"].as_str().unwrap())
        .header("X-Request-Id", "admin-action-42")
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(metric(&binary.metrics().await, series), 1.0);
    binary.wait_for_log(r#""message":"admin action""#).await;
    binary
        .wait_for_log(r#""request_id":"admin-action-42""#)
        .await;
    binary.wait_for_log(r#""action":"user.update""#).await;
}
