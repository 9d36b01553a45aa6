//! Load for the benchmarks: keep-alive HTTP/1.1 connections sending
//! requests back to back, or driver connections executing one statement,
//! with the latency of every request finished inside a measured window
//! and the CPU each process spent in it. Included by path from
//! `benches/pages.rs` and `benches/caching.rs`.

// Each includer uses a part.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use catalog::db::listing::{ListQuery, ReadLimit, plain_statement};
use catalog::db::products::{SortColumn, SortValue};
use diesel::mysql::{Mysql, MysqlQueryBuilder};
use diesel::query_builder::{QueryBuilder, QueryFragment};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use mysql_async::prelude::Queryable;

use crate::cpu::{cpu_seconds, cpu_seconds_with_children};

/// Latencies of the requests that finished inside the measured window,
/// and the CPU each process spent in it.
pub struct Sample {
    pub latencies: Vec<Duration>,
    pub seconds: f64,
    pub cpu: CpuUse,
    /// Answers nginx served from its cache (`X-Cache-Status: HIT`).
    pub hits: usize,
}

impl Sample {
    fn new(per_worker: Vec<(Vec<Duration>, usize)>, seconds: f64, cpu: CpuUse) -> Self {
        let hits = per_worker.iter().map(|(_, hits)| hits).sum();
        let mut latencies: Vec<Duration> = per_worker.into_iter().flat_map(|(l, _)| l).collect();
        latencies.sort();
        Self {
            latencies,
            seconds,
            cpu,
            hits,
        }
    }

    /// CPU microseconds per request of one process, when known.
    pub fn cpu_us(&self, seconds: Option<f64>) -> String {
        match seconds {
            Some(s) if !self.latencies.is_empty() => {
                format!("{:.0}", s * 1e6 / self.latencies.len() as f64)
            }
            _ => "n/a".to_owned(),
        }
    }

    pub fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.seconds
    }

    pub fn ms(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let index = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[index].as_secs_f64() * 1000.0
    }
}

/// The processes whose CPU time a run accounts for: the service (absent
/// for driver runs), this load generator, the database server when it
/// runs on this machine, and a proxy in front (its master's pid: its
/// workers are counted).
#[derive(Clone, Copy)]
pub struct Processes {
    pub service: Option<u32>,
    pub load: u32,
    pub database: Option<u32>,
    pub proxy: Option<u32>,
    /// A second database server (a read replica) on this machine.
    pub replica: Option<u32>,
}

/// CPU seconds each process spent inside a measured window.
#[derive(Default, Clone, Copy)]
pub struct CpuUse {
    pub service: Option<f64>,
    pub load: Option<f64>,
    pub database: Option<f64>,
    pub proxy: Option<f64>,
    pub replica: Option<f64>,
}

impl Processes {
    fn snapshot(&self) -> CpuUse {
        CpuUse {
            service: self.service.and_then(cpu_seconds),
            load: cpu_seconds(self.load),
            database: self.database.and_then(cpu_seconds),
            proxy: self.proxy.and_then(cpu_seconds_with_children),
            replica: self.replica.and_then(cpu_seconds),
        }
    }

    /// The CPU each process spends inside `window`.
    async fn during(self, window: Window) -> CpuUse {
        tokio::time::sleep_until(window.measure_from.into()).await;
        let before = self.snapshot();
        tokio::time::sleep_until(window.stop_at.into()).await;
        let after = self.snapshot();
        let diff = |a: Option<f64>, b: Option<f64>| Some(a? - b?);
        CpuUse {
            service: diff(after.service, before.service),
            load: diff(after.load, before.load),
            database: diff(after.database, before.database),
            proxy: diff(after.proxy, before.proxy),
            replica: diff(after.replica, before.replica),
        }
    }
}

/// When a run warms up, when it measures from and when it stops.
#[derive(Clone, Copy)]
pub struct Window {
    measure_from: Instant,
    stop_at: Instant,
}

impl Window {
    fn starting_now(seconds: f64) -> Self {
        let measure_from = Instant::now() + Duration::from_secs(1);
        Self {
            measure_from,
            stop_at: measure_from + Duration::from_secs_f64(seconds),
        }
    }

    fn is_open(&self) -> bool {
        Instant::now() < self.stop_at
    }

    /// Keeps the latency of a call that started after the warm-up and
    /// finished inside the window; answers whether it was kept.
    fn record(&self, started: Instant, latencies: &mut Vec<Duration>) -> bool {
        let finished = Instant::now();
        let inside = started >= self.measure_from && finished <= self.stop_at;
        if inside {
            latencies.push(finished - started);
        }
        inside
    }
}

/// Runs `worker(n, window)` for each of `connections` connections over one
/// measured window. Each worker answers the latencies it kept and how many
/// of those were cache hits.
async fn measure<Fut>(
    connections: usize,
    seconds: f64,
    processes: Processes,
    worker: impl Fn(usize, Window) -> Fut,
) -> Sample
where
    Fut: Future<Output = (Vec<Duration>, usize)> + Send + 'static,
{
    let window = Window::starting_now(seconds);
    let cpu = tokio::spawn(processes.during(window));
    let mut workers = tokio::task::JoinSet::new();
    for n in 0..connections {
        workers.spawn(worker(n, window));
    }
    let per_worker = workers.join_all().await;
    Sample::new(per_worker, seconds, cpu.await.unwrap())
}

/// `connections` keep-alive HTTP/1.1 connections, each sending `GET path`
/// back to back and reading the whole answer.
pub async fn http_load(
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
    connections: usize,
    seconds: f64,
    processes: Processes,
) -> Sample {
    let paths = Arc::new(vec![path.to_owned()]);
    http_load_over(addr, paths, token, connections, seconds, processes).await
}

/// As [`http_load`], each connection sending the `paths` in turn, from
/// its own place in the list. Every answer must be a 200 with a body.
pub async fn http_load_over(
    addr: SocketAddr,
    paths: Arc<Vec<String>>,
    token: Option<&str>,
    connections: usize,
    seconds: f64,
    processes: Processes,
) -> Sample {
    let headers: Vec<(String, String)> = token
        .map(|t| ("authorization".to_owned(), format!("Bearer {t}")))
        .into_iter()
        .collect();
    http_load_with(addr, paths, headers, connections, seconds, processes).await
}

/// As [`http_load_over`], every request carrying `headers`.
pub async fn http_load_with(
    addr: SocketAddr,
    paths: Arc<Vec<String>>,
    headers: Vec<(String, String)>,
    connections: usize,
    seconds: f64,
    processes: Processes,
) -> Sample {
    let headers = Arc::new(headers);
    measure(connections, seconds, processes, |worker, window| {
        let paths = paths.clone();
        let headers = headers.clone();
        async move {
            let mut sender = connect(addr).await;
            let mut latencies = Vec::new();
            let mut hits = 0;
            let mut next = worker * paths.len() / connections;
            while window.is_open() {
                let path = &paths[next % paths.len()];
                next += 1;
                // nginx closes a connection after 1,000 requests
                // (`keepalive_requests`), as a client would see it do.
                if sender.ready().await.is_err() {
                    sender = connect(addr).await;
                }
                let started = Instant::now();
                let mut request = hyper::Request::get(path.as_str()).header("host", "bench");
                for (name, value) in headers.iter() {
                    request = request.header(name, value);
                }
                let response = sender
                    .send_request(request.body(Empty::<Bytes>::new()).unwrap())
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200, "{path}");
                let hit = response
                    .headers()
                    .get("x-cache-status")
                    .is_some_and(|v| v == "HIT");
                let body = response.into_body().collect().await.unwrap().to_bytes();
                assert!(body.len() > 50, "a product or a page of them");
                if window.record(started, &mut latencies) && hit {
                    hits += 1;
                }
            }
            (latencies, hits)
        }
    })
    .await
}

/// A keep-alive HTTP/1.1 connection to `addr`, ready for requests.
async fn connect(addr: SocketAddr) -> hyper::client::conn::http1::SendRequest<Empty<Bytes>> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    sender
}

/// The raw driver bound: `connections` connections, each executing the
/// prepared statement back to back and reading every row.
pub async fn driver_load(
    url: &str,
    statement: &str,
    params: &[mysql_async::Value],
    connections: usize,
    seconds: f64,
    processes: Processes,
) -> Sample {
    let opts = mysql_async::Opts::from_url(url).unwrap();
    measure(connections, seconds, processes, |_, window| {
        let (opts, statement, params) = (opts.clone(), statement.to_owned(), params.to_vec());
        async move {
            let mut conn = mysql_async::Conn::new(opts).await.unwrap();
            let prepared = conn.prep(statement).await.unwrap();
            let mut latencies = Vec::new();
            while window.is_open() {
                let started = Instant::now();
                let rows: Vec<mysql_async::Row> =
                    conn.exec(&prepared, params.clone()).await.unwrap();
                assert!(!rows.is_empty());
                window.record(started, &mut latencies);
            }
            conn.disconnect().await.ok();
            (latencies, 0)
        }
    })
    .await
}

/// Where a page ends: its last product's creation time and id.
pub type Before = (chrono::NaiveDateTime, i64);

/// The default page statement (newest first) exactly as the service
/// issues it, with `?` for binds, and the binds in order.
pub fn page_statement(
    owner: Option<i64>,
    before: Option<Before>,
    page: i64,
) -> (String, Vec<mysql_async::Value>) {
    let query = ListQuery {
        owner,
        terms: Vec::new(),
        min_cents: None,
        max_cents: None,
        column: SortColumn::CreatedAt,
        descending: true,
        after: before.map(|(at, id)| (SortValue::Time(at), id)),
        limit: page + 1,
    };
    // The service's time limit, as it words it for MariaDB.
    let limit = ReadLimit {
        mariadb: true,
        max: Duration::from_secs(1),
    };
    let statement = plain_statement(limit, &query);
    let mut builder = MysqlQueryBuilder::new();
    QueryFragment::<Mysql>::to_sql(&statement, &mut builder, &Mysql).unwrap();
    let mut binds: Vec<mysql_async::Value> = owner.into_iter().map(Into::into).collect();
    if let Some((at, id)) = before {
        let at = at.format("%Y-%m-%d %H:%M:%S%.6f").to_string();
        binds.extend([at.clone().into(), at.into(), id.into()]);
    }
    binds.push((page + 1).into());
    (builder.finish(), binds)
}
