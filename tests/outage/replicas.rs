//! Read replicas against a real replicating pair (tests/support/
//! replication.rs): which reads a replica serves, reads that must see a
//! write (consistency tokens) while the replica lags, a replica that falls
//! too far behind, and one killed under load. The service is the real
//! binary, so its metrics are its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::binary::{Binary, metric};
use crate::helpers::sign_up_and_log_in;
use crate::replication::ReplicaPair;

/// A row only the replica has: an id far above any the primary gives.
const REPLICA_ONLY_ID: i64 = 1_000_000;

struct Service {
    app: Binary,
    client: reqwest::Client,
    token: String,
    owner_id: i64,
}

impl Service {
    /// The binary on the pair's primary, reading from its replica, with
    /// `vars`, and a signed-in user.
    async fn start(pair: &ReplicaPair, vars: &[(&str, &str)]) -> Self {
        let replica = pair.replica_url();
        let mut all = vec![("DATABASE_REPLICA_URLS", replica.as_str())];
        all.extend_from_slice(vars);
        let app = Binary::start_on(&pair.primary_url(), &all).await;
        let client = reqwest::Client::new();
        let login = sign_up_and_log_in(&client, &app.url(""), "alice").await;
        Self {
            app,
            client,
            token: login["access_token"].as_str().unwrap().to_owned(),
            owner_id: login["user"]["id"].as_i64().unwrap(),
        }
    }

    /// Creates a product; answers its id and the write's token.
    async fn create(&self, name: &str) -> (i64, String) {
        let created = self
            .client
            .post(self.app.url("/api/products"))
            .bearer_auth(&self.token)
            .json(&json!({"name": name, "price": 5.0}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
        let token = consistency(&created).expect("a write on a primary with GTIDs has a token");
        let body: Value = created.json().await.unwrap();
        (body["id"].as_i64().unwrap(), token)
    }

    /// `GET path`, with `token` as `Catalog-Consistency` when given.
    async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut request = self.client.get(self.app.url(path));
        if let Some(token) = token {
            request = request.header("catalog-consistency", token);
        }
        request.send().await.unwrap()
    }

    async fn list_text(&self) -> String {
        let page = self.get("/api/products", None).await;
        assert_eq!(page.status(), 200);
        page.text().await.unwrap()
    }

    async fn series(&self, series: &str) -> f64 {
        metric(&self.app.metrics().await, series)
    }

    /// Waits (up to 10 s) until the replica's health is `healthy`.
    async fn wait_for_health(&self, pair: &ReplicaPair, healthy: bool) {
        let series = format!(
            "catalog_db_replica_healthy{{replica=\"127.0.0.1:{}\"}}",
            pair.replica.port
        );
        let want = if healthy { 1.0 } else { 0.0 };
        for _ in 0..100 {
            if self.series(&series).await == want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "the replica never became {}",
            if healthy { "healthy" } else { "unhealthy" }
        );
    }

    /// Adds a product to the replica alone.
    async fn insert_on_replica_only(&self, pair: &ReplicaPair, name: &str) {
        pair.replica_sql(&[&format!(
            "INSERT INTO catalog.products (id, owner_id, name, price_cents, version, \
             created_at, updated_at) VALUES ({REPLICA_ONLY_ID}, {}, '{name}', 100, 1, \
             NOW(6), NOW(6))",
            self.owner_id
        )])
        .await;
    }
}

fn consistency(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("catalog-consistency")
        .map(|value| value.to_str().unwrap().to_owned())
}

const REPLICA_READS: &str = "catalog_db_reads_total{target=\"replica\"}";
const PRIMARY_READS: &str = "catalog_db_reads_total{target=\"primary\"}";

#[tokio::test(flavor = "multi_thread")]
async fn the_public_catalog_is_read_from_the_replica_and_the_callers_own_from_the_primary() {
    let pair = ReplicaPair::start().await;
    let service = Service::start(&pair, &[]).await;
    service.create("Lamp from the primary").await;
    pair.wait_until_caught_up().await;
    service
        .insert_on_replica_only(&pair, "Only on the replica")
        .await;
    let list = service.list_text().await;
    assert!(
        list.contains("Only on the replica") && list.contains("Lamp from the primary"),
        "{list}"
    );
    let one = service
        .get(&format!("/api/products/{REPLICA_ONLY_ID}"), None)
        .await;
    assert_eq!(one.status(), 200);
    let mine = service
        .client
        .get(service.app.url("/api/products/my"))
        .bearer_auth(&service.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        mine.contains("Lamp from the primary") && !mine.contains("Only on the replica"),
        "{mine}"
    );
    let metrics = service.app.metrics().await;
    assert_eq!(metric(&metrics, REPLICA_READS), 2.0, "{metrics}");
    assert_eq!(metric(&metrics, PRIMARY_READS), 0.0, "{metrics}");
    assert_eq!(
        metric(&metrics, "catalog_db_replicas{state=\"healthy\"}"),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_with_a_writes_token_sees_it_while_the_replica_lags() {
    let pair = ReplicaPair::start().await;
    // Lag alone never takes this replica out: the token does the work.
    let service = Service::start(&pair, &[("DATABASE_REPLICA_MAX_LAG_SECS", "600")]).await;
    pair.wait_until_caught_up().await;
    pair.stop_applying().await;
    let (id, token) = service.create("Made while the replica lags").await;
    let path = format!("/api/products/{id}");

    let started = Instant::now();
    let seen = service.get(&path, Some(&token)).await;
    let took = started.elapsed();
    assert_eq!(seen.status(), 200, "the write is seen with its token");
    assert!(
        took >= Duration::from_millis(190) && took < Duration::from_millis(1500),
        "the replica waited the causal wait (200 ms), then the primary answered: {took:?}"
    );
    let listed = service
        .get("/api/products", Some(&token))
        .await
        .text()
        .await
        .unwrap();
    assert!(listed.contains("Made while the replica lags"), "{listed}");
    // Documented staleness: without the token, the lagging replica
    // answers, and it does not have the product yet.
    let stale = service.get(&path, None).await;
    assert_eq!(stale.status(), 404);
    let metrics = service.app.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            "catalog_db_causal_waits_total{outcome=\"timed_out\"}"
        ),
        2.0
    );
    assert_eq!(
        metric(
            &metrics,
            "catalog_db_read_fallbacks_total{reason=\"causal_timeout\"}"
        ),
        2.0
    );

    pair.start_applying().await;
    pair.wait_until_caught_up().await;
    let replica_reads = service.series(REPLICA_READS).await;
    let seen = service.get(&path, Some(&token)).await;
    assert_eq!(seen.status(), 200);
    let metrics = service.app.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            "catalog_db_causal_waits_total{outcome=\"applied\"}"
        ),
        1.0,
        "the replica has it now, and serves it"
    );
    assert_eq!(metric(&metrics, REPLICA_READS), replica_reads + 1.0);
    // Every replica series is described (some exist only with replicas,
    // so tests/api/metrics.rs cannot see them).
    use catalog::metric_names as names;
    for name in [
        names::DB_READS,
        names::DB_READ_FALLBACKS,
        names::DB_CAUSAL_WAITS,
        names::DB_CAUSAL_WAIT_DURATION,
        names::DB_REPLICAS,
        names::DB_REPLICA_HEALTHY,
        names::DB_REPLICA_LAG,
        names::DB_REPLICA_OUTAGES,
        names::DB_REPLICA_POOL_CONNECTIONS,
    ] {
        assert!(
            metrics.contains(&format!("# HELP {name} ")),
            "{name} has no HELP line"
        );
    }

    // A token this cluster did not sign (another deployment's): the
    // primary answers at once, without an error or a wait.
    let foreign = "MC0xLTk5OTk5OTk5.AAAAAAAAAAAAAAAAAAAAAA";
    let started = Instant::now();
    assert_eq!(service.get(&path, Some(foreign)).await.status(), 200);
    assert!(started.elapsed() < Duration::from_millis(150));
    assert_eq!(
        service
            .series("catalog_db_read_fallbacks_total{reason=\"foreign_position\"}")
            .await,
        1.0
    );
    // A malformed one is the caller's mistake.
    let malformed = service.get(&path, Some("0-1-42")).await;
    assert_eq!(malformed.status(), 400);
    let problem: Value = malformed.json().await.unwrap();
    assert_eq!(problem["field"], "Catalog-Consistency", "{problem}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_stopped_longer_than_the_lag_limit_is_skipped_until_it_catches_up() {
    let pair = ReplicaPair::start().await;
    let service = Service::start(&pair, &[("DATABASE_REPLICA_MAX_LAG_SECS", "1")]).await;
    service.create("Lamp").await;
    pair.wait_until_caught_up().await;
    service.wait_for_health(&pair, true).await;
    pair.stop_applying().await;
    service
        .insert_on_replica_only(&pair, "Replica marker")
        .await;
    assert!(service.list_text().await.contains("Replica marker"));

    service.wait_for_health(&pair, false).await;
    service.app.wait_for_log("read replica is unhealthy").await;
    let primary_reads = service.series(PRIMARY_READS).await;
    assert!(!service.list_text().await.contains("Replica marker"));
    let metrics = service.app.metrics().await;
    assert_eq!(metric(&metrics, PRIMARY_READS), primary_reads + 1.0);
    assert!(
        metric(
            &metrics,
            "catalog_db_read_fallbacks_total{reason=\"unhealthy\"}"
        ) >= 1.0
    );
    assert_eq!(metric(&metrics, "catalog_db_replica_outages_total"), 1.0);
    assert_eq!(
        metric(&metrics, "catalog_db_replicas{state=\"unhealthy\"}"),
        1.0
    );
    service.app.wait_for_log("no read replica is healthy").await;

    pair.start_applying().await;
    service.wait_for_health(&pair, true).await;
    assert!(service.list_text().await.contains("Replica marker"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_killed_under_load_costs_no_request_an_error_and_takes_reads_again_after_restart()
{
    let mut pair = ReplicaPair::start().await;
    let service = Arc::new(
        Service::start(
            &pair,
            &[
                ("DATABASE_POOL_SIZE", "4"),
                ("DATABASE_REPLICA_POOL_SIZE", "4"),
            ],
        )
        .await,
    );
    let (id, _) = service.create("Lamp").await;
    pair.wait_until_caught_up().await;
    service.wait_for_health(&pair, true).await;

    let stop = Arc::new(AtomicBool::new(false));
    let (answered, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let workers: Vec<_> = (0..4)
        .map(|worker| {
            let (service, stop) = (service.clone(), stop.clone());
            let (answered, failed) = (answered.clone(), failed.clone());
            tokio::spawn(async move {
                let path = if worker % 2 == 0 {
                    "/api/products".to_owned()
                } else {
                    format!("/api/products/{id}")
                };
                while !stop.load(Ordering::Relaxed) {
                    let status = service.get(&path, None).await.status();
                    if status.is_success() {
                        answered.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                        eprintln!("{path}: {status}");
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before_kill = service.series(REPLICA_READS).await;
    assert!(before_kill > 0.0, "the load was on the replica");
    pair.replica.kill();
    tokio::time::sleep(Duration::from_secs(2)).await;
    service.wait_for_health(&pair, false).await;
    let during = answered.load(Ordering::Relaxed);
    pair.replica.start_again().await;
    service.wait_for_health(&pair, true).await;
    let back = service.series(REPLICA_READS).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.unwrap();
    }
    let metrics = service.app.metrics().await;
    assert_eq!(failed.load(Ordering::Relaxed), 0, "no request failed");
    assert!(
        answered.load(Ordering::Relaxed) > during,
        "reads went on after the restart"
    );
    assert!(
        metric(&metrics, REPLICA_READS) > back,
        "reads returned to the replica: {metrics}"
    );
    assert!(
        metric(
            &metrics,
            "catalog_db_read_fallbacks_total{reason=\"replica_failed\"}"
        ) >= 1.0
    );
    eprintln!(
        "{} reads answered, none failed; {} fell back on a failed replica",
        answered.load(Ordering::Relaxed),
        metric(
            &metrics,
            "catalog_db_read_fallbacks_total{reason=\"replica_failed\"}"
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_thousand_writes_read_back_with_their_tokens_under_induced_lag_are_never_stale() {
    const WORKERS: usize = 16;
    const PAIRS: usize = 10_000;
    let pair = Arc::new(ReplicaPair::start().await);
    let service = Arc::new(
        Service::start(
            &pair,
            &[
                ("DATABASE_POOL_SIZE", "8"),
                ("DATABASE_REPLICA_POOL_SIZE", "8"),
                ("DATABASE_REPLICA_MAX_LAG_SECS", "600"),
                ("DATABASE_CAUSAL_WAIT_MS", "50"),
            ],
        )
        .await,
    );
    let mut products = Vec::new();
    for worker in 0..WORKERS {
        products.push(service.create(&format!("Product {worker}")).await.0);
    }
    pair.wait_until_caught_up().await;
    service.wait_for_health(&pair, true).await;

    // Lag on and off: applying stops for 100 ms in every 200.
    let done = Arc::new(AtomicBool::new(false));
    let lag = tokio::spawn({
        let (pair, done) = (pair.clone(), done.clone());
        async move {
            while !done.load(Ordering::Relaxed) {
                pair.stop_applying().await;
                tokio::time::sleep(Duration::from_millis(100)).await;
                pair.start_applying().await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    let started = Instant::now();
    let stale = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = products
        .into_iter()
        .enumerate()
        .map(|(worker, id)| {
            let (service, stale) = (service.clone(), stale.clone());
            tokio::spawn(async move {
                for round in 0..PAIRS / WORKERS {
                    // Every tenth pair a create, the rest edits.
                    let (id, price, token) = if round % 10 == 9 {
                        let (id, token) = service.create(&format!("New {worker}-{round}")).await;
                        (id, 5.0, token)
                    } else {
                        // Whole cents over 100: the same number the
                        // service's answer parses to.
                        let price = (100 + round * WORKERS + worker) as f64 / 100.0;
                        let edited = service
                            .client
                            .patch(service.app.url(&format!("/api/products/{id}")))
                            .bearer_auth(&service.token)
                            .json(&json!({"price": price}))
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(edited.status(), 200);
                        (id, price, consistency(&edited).unwrap())
                    };
                    let read = service
                        .get(&format!("/api/products/{id}"), Some(&token))
                        .await;
                    let fresh = read.status() == 200
                        && read.json::<Value>().await.unwrap()["price"].as_f64() == Some(price);
                    if !fresh {
                        stale.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    let took = started.elapsed();
    done.store(true, Ordering::Relaxed);
    lag.await.unwrap();
    pair.start_applying().await;
    let metrics = service.app.metrics().await;
    let from_replica = metric(&metrics, REPLICA_READS);
    let timed_out = metric(
        &metrics,
        "catalog_db_causal_waits_total{outcome=\"timed_out\"}",
    );
    let applied = metric(
        &metrics,
        "catalog_db_causal_waits_total{outcome=\"applied\"}",
    );
    eprintln!(
        "{PAIRS} write-then-read pairs in {:.1} s: {} stale; causal waits: {applied} applied \
         on the replica, {timed_out} timed out (read from the primary); {from_replica} reads \
         served by the replica",
        took.as_secs_f64(),
        stale.load(Ordering::Relaxed)
    );
    assert_eq!(stale.load(Ordering::Relaxed), 0, "no read missed its write");
    assert!(applied > 0.0 && timed_out > 0.0, "both paths were taken");
}

#[tokio::test(flavor = "multi_thread")]
async fn sixteen_clients_waiting_on_tokens_leave_reads_without_one_their_replica() {
    let pair = ReplicaPair::start().await;
    let service = Arc::new(
        Service::start(
            &pair,
            &[
                ("DATABASE_POOL_SIZE", "8"),
                ("DATABASE_REPLICA_POOL_SIZE", "4"),
                ("DATABASE_REPLICA_MAX_LAG_SECS", "600"),
            ],
        )
        .await,
    );
    pair.wait_until_caught_up().await;
    service.wait_for_health(&pair, true).await;
    // The worst a client can choose: a real token the lagging replica
    // will not reach, sent again and again by 16 clients at once.
    pair.stop_applying().await;
    let (id, token) = service.create("Awaited lamp").await;
    let stop = Arc::new(AtomicBool::new(false));
    let tokened: Vec<_> = (0..16)
        .map(|_| {
            let (service, stop, token) = (service.clone(), stop.clone(), token.clone());
            tokio::spawn(async move {
                let mut answered = 0;
                while !stop.load(Ordering::Relaxed) {
                    let read = service
                        .get(&format!("/api/products/{id}"), Some(&token))
                        .await;
                    assert_eq!(read.status(), 200);
                    answered += 1;
                }
                answered
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let replica_reads = service.series(REPLICA_READS).await;
    let mut latencies = Vec::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        let sent = Instant::now();
        assert_eq!(service.get("/api/products", None).await.status(), 200);
        latencies.push(sent.elapsed());
    }
    stop.store(true, Ordering::Relaxed);
    let mut tokened_answers = 0;
    for client in tokened {
        tokened_answers += client.await.unwrap();
    }
    latencies.sort();
    let p99 = latencies[latencies.len() * 99 / 100];
    let metrics = service.app.metrics().await;
    let served = metric(&metrics, REPLICA_READS) - replica_reads;
    eprintln!(
        "{} reads without a token (p99 {p99:?}, {served} served by the replica) beside \
         {tokened_answers} reads waiting on a token the replica lacks; fallbacks: {} \
         busy, {} timed out",
        latencies.len(),
        metric(
            &metrics,
            "catalog_db_read_fallbacks_total{reason=\"replica_busy\"}"
        ),
        metric(
            &metrics,
            "catalog_db_read_fallbacks_total{reason=\"causal_timeout\"}"
        ),
    );
    assert!(p99 < Duration::from_millis(150), "{p99:?}");
    assert!(
        served >= latencies.len() as f64,
        "the replica kept serving reads without a token"
    );
    assert!(
        metric(
            &metrics,
            "catalog_db_read_fallbacks_total{reason=\"replica_busy\"}"
        ) > 0.0
    );
    pair.start_applying().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_that_never_answers_is_logged_at_start_and_its_reads_go_to_the_primary() {
    let nowhere = format!(
        "mysql://root@127.0.0.1:{}/catalog",
        crate::helpers::free_port()
    );
    let app = Binary::start(&[("DATABASE_REPLICA_URLS", nowhere.as_str())]).await;
    app.wait_for_log("read replica is unhealthy").await;
    app.wait_for_log("no read replica is healthy").await;
    let page = reqwest::get(app.url("/api/products")).await.unwrap();
    assert_eq!(page.status(), 200);
    let metrics = app.metrics().await;
    assert_eq!(metric(&metrics, "catalog_db_replica_outages_total"), 1.0);
    assert_eq!(metric(&metrics, PRIMARY_READS), 1.0);
    assert_eq!(
        metric(
            &metrics,
            "catalog_db_read_fallbacks_total{reason=\"unhealthy\"}"
        ),
        1.0
    );
}
