use serde_json::Value;

use crate::helpers::{
    TestApp, admin_sql, assert_problem, create_database, server_url, test_config,
};

#[tokio::test(flavor = "multi_thread")]
async fn liveness_and_readiness_answer_200() {
    let app = TestApp::spawn().await;
    let live = app.get("/healthz").await;
    assert_eq!(live.status(), 200);
    assert_eq!(live.json::<Value>().await.unwrap()["status"], "ok");
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.json::<Value>().await.unwrap()["status"], "ready");
}

#[tokio::test(flavor = "multi_thread")]
async fn readiness_and_the_api_are_503_when_the_database_stops_answering() {
    // The app logs in as its own database user; dropping that user and
    // killing its connections takes the database away from it alone.
    let database = create_database().await;
    let user = format!("u{}", &database[database.len() - 12..]);
    admin_sql(
        None,
        &[
            format!("CREATE USER '{user}'@'%' IDENTIFIED BY 'pw-{user}'"),
            format!("GRANT ALL ON `{database}`.* TO '{user}'@'%'"),
        ],
    )
    .await;
    let url = server_url().replacen("mysql://", "", 1);
    let host = url.rsplit('@').next().unwrap();
    let config = test_config(&format!("mysql://{user}:pw-{user}@{host}/{database}"), &[]);
    let app = TestApp::start(config, database).await;
    assert_eq!(app.get("/readyz").await.status(), 200);

    let ids = connection_ids("user", &user).await;
    let mut statements = vec![format!("DROP USER '{user}'@'%'")];
    statements.extend(ids.iter().map(|id| format!("KILL {id}")));
    admin_sql(None, &statements).await;

    let body = assert_problem(app.get("/readyz").await, 503, None).await;
    assert!(body["detail"].as_str().unwrap().contains("database"));
    assert_eq!(app.get("/healthz").await.status(), 200, "still alive");

    // The API says the same, with a time to come back, rather than 500.
    for response in [
        app.list_products("").await,
        app.get_product(1).await,
        app.login("someone", "password").await,
    ] {
        assert_eq!(response.headers()["retry-after"], "5");
        let body = assert_problem(response, 503, None).await;
        assert_eq!(body["type"], "urn:catalog:problem:unavailable");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_the_database_drops_are_replaced() {
    let app = TestApp::spawn().await;
    // Have the database drop every connection the app holds, as a
    // restart would.
    assert_eq!(app.list_products("").await.status(), 200);
    let ids = connection_ids("db", &app.database).await;
    assert!(!ids.is_empty());
    admin_sql(
        None,
        &ids.iter()
            .map(|id| format!("KILL {id}"))
            .collect::<Vec<_>>(),
    )
    .await;

    // A connection in steady use is not checked before reuse, so each
    // dropped one fails the one request that finds it broken; that
    // failure has it checked and replaced at its next checkout.
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(app.list_products("").await.status().as_u16());
    }
    let failed = statuses.iter().filter(|&&s| s != 200).count();
    assert!(failed <= ids.len(), "{statuses:?}");
    assert!(statuses[8..].iter().all(|&s| s == 200), "{statuses:?}");
}

/// The server's ids of the connections whose `column` (in
/// `information_schema.processlist`) is `value`.
async fn connection_ids(column: &str, value: &str) -> Vec<u64> {
    use mysql_async::prelude::Queryable;
    let mut conn = mysql_async::Conn::new(mysql_async::Opts::from_url(&server_url()).unwrap())
        .await
        .unwrap();
    let ids: Vec<u64> = conn
        .exec(
            format!("SELECT id FROM information_schema.processlist WHERE {column} = ?"),
            (value,),
        )
        .await
        .unwrap();
    conn.disconnect().await.ok();
    ids
}
