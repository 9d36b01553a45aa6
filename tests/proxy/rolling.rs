//! A rolling update under traffic, as Kubernetes (or any orchestrator)
//! runs one: two replicas of the real binary behind the project's nginx
//! take steady reads and idempotent creates while each replica in turn is
//! replaced: a new one starts, it is added once `/readyz` answers, the
//! old one is taken out of nginx's list (a graceful reload: an endpoint
//! change), and after a pause for that change to spread (a `preStop`
//! sleep) the old one gets SIGTERM and drains. Five replacements, and no
//! request may fail and no acknowledged write may be lost.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::binary::Binary;
use crate::helpers::{admin_sql, create_database, database_url, sign_up_and_log_in};
use crate::nginx::Nginx;

/// How long the old replica stays up, out of nginx's list, before
/// SIGTERM: the `preStop` sleep.
const ENDPOINT_PROPAGATION: Duration = Duration::from_secs(1);

async fn replica(url: &str) -> Binary {
    let replica = Binary::start_on(
        url,
        &[
            ("DATABASE_POOL_SIZE", "4"),
            ("TRUSTED_PROXIES", "127.0.0.1"),
            ("SHUTDOWN_GRACE_SECS", "10"),
        ],
    )
    .await;
    // Added only once ready, as a readiness probe would.
    for _ in 0..100 {
        if reqwest::get(replica.url("/readyz"))
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return replica;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the new replica never became ready");
}

fn addr(binary: &Binary) -> SocketAddr {
    ([127, 0, 0, 1], binary.port).into()
}

#[tokio::test(flavor = "multi_thread")]
async fn five_rolling_replacements_under_traffic_fail_no_request_and_lose_no_write() {
    const REPLACEMENTS: usize = 5;
    let database = create_database().await;
    let url = database_url(&database);
    let mut replicas = vec![replica(&url).await, replica(&url).await];
    // One load generator is one address: the per-address rate limits
    // are left out, as the caching benchmark does.
    let nginx = Nginx::start_edited(addr(&replicas[0]), |dir| {
        let file = dir.join("conf.d/default.conf");
        let config = std::fs::read_to_string(&file).unwrap();
        let kept: Vec<&str> = config
            .lines()
            .filter(|line| !line.trim_start().starts_with("limit_req zone="))
            .collect();
        std::fs::write(&file, kept.join("\n")).unwrap();
    })
    .await;
    nginx
        .set_upstreams(&[addr(&replicas[0]), addr(&replicas[1])])
        .await;
    // A fresh connection to nginx for each request: a reload (this test's
    // stand-in for an endpoint change) closes the old workers' idle client
    // connections, a race between nginx and the client that has nothing
    // to do with the app. nginx keeps its upstream connections to the
    // replicas alive, which is where a badly drained replica would fail.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let login = sign_up_and_log_in(&client, &nginx.url(""), "roller").await;
    let token = login["access_token"].as_str().unwrap().to_owned();

    let stop = Arc::new(AtomicBool::new(false));
    let (reads, failures) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(Mutex::new(Vec::new())),
    );
    let acknowledged = Arc::new(Mutex::new(Vec::<i64>::new()));
    let workers: Vec<_> = (0..8)
        .map(|worker| {
            let (client, stop, token) = (client.clone(), stop.clone(), token.clone());
            let (reads, failures, acknowledged) =
                (reads.clone(), failures.clone(), acknowledged.clone());
            let base = nginx.url("");
            tokio::spawn(async move {
                let mut round = 0;
                while !stop.load(Ordering::Relaxed) {
                    round += 1;
                    // Half the workers write, the other half read.
                    let outcome = if worker % 2 == 0 {
                        client
                            .post(format!("{base}/api/products"))
                            .bearer_auth(&token)
                            .header("idempotency-key", format!("roll-{worker}-{round}"))
                            .json(
                                &json!({"name": format!("Rolled {worker}-{round}"), "price": 1.0}),
                            )
                            .send()
                            .await
                    } else {
                        client
                            .get(format!("{base}/api/products?limit=5&n={round}"))
                            .send()
                            .await
                    };
                    match outcome {
                        Ok(response) if response.status().is_success() => {
                            if worker % 2 == 0 {
                                let body: Value = response.json().await.unwrap();
                                acknowledged
                                    .lock()
                                    .unwrap()
                                    .push(body["id"].as_i64().unwrap());
                            } else {
                                reads.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Ok(response) => {
                            let status = response.status();
                            let body = response.text().await.unwrap_or_default();
                            failures.lock().unwrap().push(format!("{status}: {body}"));
                        }
                        Err(err) => failures.lock().unwrap().push(err.to_string()),
                    }
                }
            })
        })
        .collect();

    let started = Instant::now();
    let mut drains = Vec::new();
    for step in 0..REPLACEMENTS {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let old = step % 2;
        let new = replica(&url).await;
        let other = &replicas[1 - old];
        // maxUnavailable 0: the new one is in before the old one leaves.
        nginx
            .set_upstreams(&[addr(other), addr(&replicas[old]), addr(&new)])
            .await;
        nginx.set_upstreams(&[addr(other), addr(&new)]).await;
        tokio::time::sleep(ENDPOINT_PROPAGATION).await;
        let mut retired = std::mem::replace(&mut replicas[old], new);
        drains.push(retired.terminate().await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.unwrap();
    }
    let took = started.elapsed();

    let failures = failures.lock().unwrap().clone();
    let acknowledged = acknowledged.lock().unwrap().clone();
    let stored: HashSet<i64> = {
        let mut conn = mysql_async::Conn::new(mysql_async::Opts::from_url(&url).unwrap())
            .await
            .unwrap();
        use mysql_async::prelude::Queryable;
        let ids: Vec<i64> = conn.query("SELECT id FROM products").await.unwrap();
        conn.disconnect().await.ok();
        ids.into_iter().collect()
    };
    let lost: Vec<&i64> = acknowledged
        .iter()
        .filter(|id| !stored.contains(id))
        .collect();
    eprintln!(
        "{REPLACEMENTS} replacements in {:.1} s: {} reads and {} creates answered, {} failed, \
         {} acknowledged writes lost; drains took {:?}",
        took.as_secs_f64(),
        reads.load(Ordering::Relaxed),
        acknowledged.len(),
        failures.len(),
        lost.len(),
        drains
    );
    assert!(failures.is_empty(), "{failures:?}");
    assert!(lost.is_empty(), "{lost:?}");
    assert!(reads.load(Ordering::Relaxed) > 0 && !acknowledged.is_empty());
    drop(nginx);
    drop(replicas);
    admin_sql(None, &[format!("DROP DATABASE IF EXISTS `{database}`")]).await;
}
