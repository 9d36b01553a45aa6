//! A real replicating pair for one test: a private MariaDB primary with
//! its binary log (and so GTIDs) on, and a private replica following it
//! by GTID (`MASTER_USE_GTID=slave_pos`), each from the machine's
//! `mariadb-install-db` and `mariadbd` on a free port. Dropping it kills
//! both and removes their files.

// Each includer uses a part.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;

use crate::mariadb::PrivateMariaDb;

pub struct ReplicaPair {
    pub primary: PrivateMariaDb,
    pub replica: PrivateMariaDb,
    /// The database the service uses, on both.
    pub database: String,
}

impl ReplicaPair {
    /// Starts both servers, makes the replica follow the primary, and
    /// creates `catalog` on the primary, waiting until the replica has it.
    pub async fn start() -> Self {
        let (primary, replica) = tokio::join!(
            PrivateMariaDb::start_with(vec![
                "--server-id=1".into(),
                "--log-bin=primary-bin".into(),
                "--binlog-format=ROW".into(),
            ]),
            PrivateMariaDb::start_with(vec![
                "--server-id=2".into(),
                "--read-only".into(),
                "--relay-log=replica-relay".into(),
            ]),
        );
        // mariadb-install-db's anonymous users would shadow repl@'%' for
        // connections from localhost.
        sql(
            &primary.url(),
            &[
                "DELETE FROM mysql.global_priv WHERE User=''",
                "FLUSH PRIVILEGES",
                "CREATE USER repl@'%' IDENTIFIED BY 'repl-pass'",
                "GRANT REPLICATION SLAVE ON *.* TO repl@'%'",
            ],
        )
        .await;
        sql(
            &replica.url(),
            &[
                &format!(
                    "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={}, \
                     MASTER_USER='repl', MASTER_PASSWORD='repl-pass', \
                     MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1",
                    primary.port
                ),
                "START SLAVE",
            ],
        )
        .await;
        let pair = Self {
            primary,
            replica,
            database: "catalog".to_owned(),
        };
        pair.primary_sql(&["CREATE DATABASE catalog CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"])
            .await;
        pair.wait_until_caught_up().await;
        pair
    }

    /// The service's database on the primary.
    pub fn primary_url(&self) -> String {
        format!("{}/{}", self.primary.url(), self.database)
    }

    /// The service's database on the replica.
    pub fn replica_url(&self) -> String {
        format!("{}/{}", self.replica.url(), self.database)
    }

    pub async fn primary_sql(&self, statements: &[&str]) {
        sql(&self.primary.url(), statements).await;
    }

    pub async fn replica_sql(&self, statements: &[&str]) {
        sql(&self.replica.url(), statements).await;
    }

    /// Stops applying what the primary sends: the replica falls behind
    /// with every write.
    pub async fn stop_applying(&self) {
        self.replica_sql(&["STOP SLAVE SQL_THREAD"]).await;
    }

    pub async fn start_applying(&self) {
        self.replica_sql(&["START SLAVE SQL_THREAD"]).await;
    }

    /// Waits (up to 20 s) until the replica has applied everything the
    /// primary has committed.
    pub async fn wait_until_caught_up(&self) {
        let position: String = query_one(&self.primary.url(), "SELECT @@gtid_binlog_pos").await;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            let applied: i64 = query_one(
                &self.replica.url(),
                &format!("SELECT MASTER_GTID_WAIT('{position}', 1)"),
            )
            .await;
            if applied == 0 {
                return;
            }
        }
        panic!("the replica did not reach {position} in 20 s");
    }
}

/// Runs `statements` in order at `url`.
pub async fn sql(url: &str, statements: &[&str]) {
    let mut conn = connect(url).await;
    for statement in statements {
        conn.query_drop(*statement)
            .await
            .unwrap_or_else(|err| panic!("{statement}: {err}"));
    }
    conn.disconnect().await.ok();
}

/// The first column of the first row `query` answers at `url`.
pub async fn query_one<T: mysql_async::prelude::FromValue + Send + 'static>(
    url: &str,
    query: &str,
) -> T {
    let mut conn = connect(url).await;
    let value: Option<T> = conn
        .query_first(query)
        .await
        .unwrap_or_else(|err| panic!("{query}: {err}"));
    conn.disconnect().await.ok();
    value.unwrap_or_else(|| panic!("{query} answered no row"))
}

async fn connect(url: &str) -> mysql_async::Conn {
    mysql_async::Conn::new(mysql_async::Opts::from_url(url).expect("a mysql:// URL"))
        .await
        .unwrap_or_else(|err| panic!("{url} answers: {err}"))
}
