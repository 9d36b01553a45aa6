//! Start-up: migrations and several replicas on one database.

use crate::helpers::{TestApp, create_database, database_url, test_config};

#[tokio::test(flavor = "multi_thread")]
async fn replicas_starting_together_share_one_migrated_database() {
    let database = create_database().await;
    let url = database_url(&database);
    let (a, b, c) = tokio::join!(
        TestApp::start(test_config(&url, &[]), database.clone()),
        TestApp::start(test_config(&url, &[]), database.clone()),
        TestApp::start(test_config(&url, &[]), database),
    );
    // Any replica can serve what another wrote: no state is per-process.
    let user = a.new_user("shared").await;
    let product = b.new_product(&user, "made on b", 3.5).await;
    let fetched = c.get_product(&product["id"]).await;
    assert_eq!(fetched.status(), 200);
    assert_eq!(c.me(&user.access_token).await.status(), 200);
    assert_eq!(b.refresh(&user.refresh_token).await.status(), 200);
}
