//! Slow, silent and numerous clients against the real binary, reached
//! directly as `scripts/dev.sh` or a bare VM would reach it: the
//! header-read and keep-alive timeouts, the per-client and global
//! connection caps, and a shutdown that half-sent requests do not hold up.
//! Other clients come from other loopback addresses (127.0.0.2, …).

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::binary::{Binary, GET_HEALTHZ, metric};
use crate::helpers::client_from;

/// Reads one response, its head and the body its `Content-Length` gives,
/// and answers it as text.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut buf = vec![0u8; 4096];
    let mut received = Vec::new();
    let head_end = loop {
        if let Some(at) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before a response");
        received.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&received[..head_end]).to_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .map_or(0, |value| value.trim().parse().unwrap());
    while received.len() < head_end + length {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed within a body");
        received.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&received).into_owned()
}

/// How many API connections the server closed by `timeout` (`header` or
/// `keep_alive`).
async fn timed_out(binary: &Binary, timeout: &str) -> f64 {
    let series =
        format!("catalog_connections_timed_out_total{{listener=\"api\",timeout=\"{timeout}\"}}");
    metric(&binary.metrics().await, &series)
}

/// Waits until the server holds `open` API connections.
async fn wait_for_open(binary: &Binary, open: f64) {
    let series = "catalog_connections_open{listener=\"api\"}";
    for _ in 0..500 {
        if metric(&binary.metrics().await, series) == open {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the server never held {open} connections");
}

/// Reads until the peer closes the connection and answers when that was
/// and what arrived. Gives up after `HANG` (a broken server, not a slow
/// machine).
async fn until_closed(stream: &mut TcpStream) -> (Instant, Vec<u8>) {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(HANG, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return Instant::now(),
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    (
        read.expect("the server never closed the connection"),
        received,
    )
}

/// How long a test waits for something that must happen before it
/// decides the server will never do it.
const HANG: Duration = Duration::from_secs(30);

// Timeouts are checked against the server's own account (which timeout
// closed a connection, from `catalog_connections_timed_out_total`) and a
// lower bound the clocks guarantee (a connection cannot be closed before
// its timeout has run from the moment the test connected); an upper bound
// appears only where it tells two behaviours apart.

#[tokio::test(flavor = "multi_thread")]
async fn a_head_that_trickles_in_is_cut_off_at_the_header_timeout() {
    let binary = Binary::start(&[("HEADER_READ_TIMEOUT_SECS", "0.5")]).await;
    let connected = Instant::now();
    let mut stream = binary.connect().await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\n")
        .await
        .unwrap();
    // A header line every 50 ms keeps bytes coming, but the head never
    // ends.
    let closed = tokio::time::timeout(HANG, async {
        for i in 0.. {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let line = format!("X-Slow-{i}: 1\r\n");
            if stream.write_all(line.as_bytes()).await.is_err() {
                break;
            }
            let mut probe = [0u8; 1];
            if let Ok(Ok(0) | Err(_)) =
                tokio::time::timeout(Duration::from_millis(10), stream.read(&mut probe)).await
            {
                break;
            }
        }
        Instant::now()
    })
    .await
    .expect("the trickling head was never cut off");
    let lived = closed - connected;
    assert!(
        lived >= Duration::from_millis(500),
        "closed early: {lived:?}"
    );
    assert_eq!(timed_out(&binary, "header").await, 1.0);
    // The server still serves others.
    assert_eq!(binary.healthz_status().await, Some(200));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_connection_lives_as_long_as_a_head_and_an_idle_one_until_keep_alive() {
    let binary = Binary::start(&[
        ("HEADER_READ_TIMEOUT_SECS", "0.5"),
        ("KEEP_ALIVE_TIMEOUT_SECS", "1.5"),
    ])
    .await;
    // Connected, but never a byte: it gets the header timeout from the
    // accept, not the longer keep-alive timer.
    let connected = Instant::now();
    let mut silent = binary.connect().await;
    // One request answered, then nothing.
    let mut idle = binary.connect().await;
    let asked = Instant::now();
    idle.write_all(GET_HEALTHZ).await.unwrap();
    let ((silent_closed, _), (idle_closed, answer)) =
        tokio::join!(until_closed(&mut silent), until_closed(&mut idle));
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert!(silent_closed - connected >= Duration::from_millis(500));
    assert!(idle_closed - asked >= Duration::from_millis(1500));
    assert!(
        silent_closed < idle_closed,
        "the silent one outlived the idle one"
    );
    assert_eq!(timed_out(&binary, "header").await, 1.0, "the silent one");
    assert_eq!(timed_out(&binary, "keep_alive").await, 1.0, "the idle one");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_first_head_sent_late_still_has_only_the_header_timeout_from_the_accept() {
    let binary = Binary::start(&[
        ("HEADER_READ_TIMEOUT_SECS", "1"),
        ("KEEP_ALIVE_TIMEOUT_SECS", "30"),
    ])
    .await;
    let connected = Instant::now();
    let mut stream = binary.connect().await;
    // Its first byte comes late; the clock started at the accept.
    tokio::time::sleep(Duration::from_millis(700)).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\n")
        .await
        .unwrap();
    let (closed, answer) = until_closed(&mut stream).await;
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    let lived = closed - connected;
    assert!(lived >= Duration::from_secs(1), "closed early: {lived:?}");
    // A clock started by the first byte would have run to 1.7 s.
    assert!(lived < Duration::from_millis(1700), "{lived:?}");
    assert_eq!(timed_out(&binary, "header").await, 1.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn eleven_hundred_silent_sockets_from_one_address_leave_others_served() {
    let binary = Binary::start(&[
        ("HEADER_READ_TIMEOUT_SECS", "2"),
        ("MAX_CONNECTIONS_PER_CLIENT", "64"),
    ])
    .await;
    // The test holds 1,100 sockets of its own.
    rlimit::increase_nofile_limit(4096).unwrap();
    let started = Instant::now();
    let mut silent = Vec::new();
    for _ in 0..1100 {
        silent.push(binary.connect_from([127, 0, 0, 2]).await);
    }
    // Another client is served before the silent ones' header timeout
    // could have made room for it.
    let served = Instant::now();
    let mut other = binary.connect().await;
    other.write_all(GET_HEALTHZ).await.unwrap();
    let mut head = [0u8; 12];
    other.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    let waited = served.elapsed();
    assert!(waited < Duration::from_secs(2), "{waited:?}");
    // Every silent socket is closed: refused at once for their address's
    // limit (all but 64, unless opening them outlasted a header timeout)
    // or by the header timeout.
    let mut closing = tokio::task::JoinSet::new();
    for mut stream in silent {
        closing.spawn(async move { until_closed(&mut stream).await.0 });
    }
    closing.join_all().await;
    let metrics = binary.metrics().await;
    let refused = metric(
        &metrics,
        "catalog_connections_refused_total{listener=\"api\",reason=\"client_limit\"}",
    );
    let timed_out = timed_out(&binary, "header").await;
    assert_eq!(
        refused + timed_out,
        1100.0,
        "{refused} refused, {timed_out} timed out"
    );
    assert!(timed_out >= 64.0, "{timed_out}");
    assert!(started.elapsed() >= Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn at_the_cap_the_longest_idle_connection_makes_room_for_a_new_client() {
    let binary =
        Binary::start(&[("MAX_CONNECTIONS", "3"), ("KEEP_ALIVE_TIMEOUT_SECS", "30")]).await;
    // Three keep-alive connections, each idle after a request, oldest
    // first.
    let mut idle = Vec::new();
    for source in [[127, 0, 0, 2], [127, 0, 0, 3], [127, 0, 0, 4]] {
        let mut stream = binary.connect_from(source).await;
        stream.write_all(GET_HEALTHZ).await.unwrap();
        // Answered in turn, so they fell idle in this order.
        read_response(&mut stream).await;
        idle.push(stream);
    }
    let mut newcomer = binary.connect_from([127, 0, 0, 5]).await;
    newcomer.write_all(GET_HEALTHZ).await.unwrap();
    // Long before any keep-alive timeout could make room.
    let answer = tokio::time::timeout(HANG, read_response(&mut newcomer))
        .await
        .expect("the new client was never admitted");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // The oldest was closed to make room; the others still serve.
    let (_, rest) = until_closed(&mut idle[0]).await;
    assert!(rest.is_empty());
    for stream in &mut idle[1..] {
        stream.write_all(GET_HEALTHZ).await.unwrap();
        assert!(read_response(stream).await.starts_with("HTTP/1.1 200"));
    }
    let metrics = binary.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            "catalog_connections_evicted_total{listener=\"api\"}"
        ),
        1.0
    );
    assert_eq!(timed_out(&binary, "keep_alive").await, 0.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn at_the_cap_new_clients_wait_while_every_connection_is_busy() {
    let binary =
        Binary::start(&[("MAX_CONNECTIONS", "3"), ("HEADER_READ_TIMEOUT_SECS", "30")]).await;
    // Three connections each in the middle of a head: none is idle.
    let mut held = Vec::new();
    for source in [[127, 0, 0, 2], [127, 0, 0, 3], [127, 0, 0, 4]] {
        let mut stream = binary.connect_from(source).await;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\n")
            .await
            .unwrap();
        held.push(stream);
    }
    wait_for_open(&binary, 3.0).await;
    // The fourth is taken from the backlog but waits for room; the fifth
    // stays in the backlog.
    let mut fourth = binary.connect_from([127, 0, 0, 5]).await;
    fourth.write_all(GET_HEALTHZ).await.unwrap();
    let mut fifth = binary.connect_from([127, 0, 0, 6]).await;
    fifth.write_all(GET_HEALTHZ).await.unwrap();
    for _ in 0..250 {
        if binary.accept_queue() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(binary.accept_queue(), 1, "the fifth was not left waiting");
    // The fourth waits for room: the server still holds only the three.
    let open = metric(
        &binary.metrics().await,
        "catalog_connections_open{listener=\"api\"}",
    );
    assert_eq!(open, 3.0);
    // One finishes its request and falls idle: it makes room for the
    // fourth, and so on.
    held[0].write_all(b"Host: x\r\n\r\n").await.unwrap();
    assert!(
        read_response(&mut held[0])
            .await
            .starts_with("HTTP/1.1 200")
    );
    let answer = tokio::time::timeout(HANG, read_response(&mut fourth))
        .await
        .expect("never answered after a connection fell idle");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
#[tokio::test(flavor = "multi_thread")]
async fn a_body_that_trickles_in_gets_408() {
    let binary = Binary::start(&[("HEADER_READ_TIMEOUT_SECS", "0.5")]).await;
    let mut stream = binary.connect().await;
    let started = Instant::now();
    stream
        .write_all(
            b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"username\"",
        )
        .await
        .unwrap();
    let (closed, answer) = until_closed(&mut stream).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(closed - started >= Duration::from_millis(500));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cap_fits_under_a_low_open_file_limit_and_the_server_stays_calm() {
    // With 100 descriptors allowed, the cap drops to what fits; a flood of
    // connections then waits in the backlog instead of failing accept()
    // in a busy loop.
    let mut binary = Binary::start_with_file_limit(
        &[
            ("KEEP_ALIVE_TIMEOUT_SECS", "0.5"),
            ("MAX_CONNECTIONS", "1000"),
        ],
        Some(100),
    )
    .await;
    let mut flood = Vec::new();
    for _ in 0..150 {
        flood.push(binary.connect().await);
    }
    binary.wait_for_empty_backlog().await;
    binary.assert_idle("waiting").await;
    // Once the idle ones are closed, the queue moves and health answers.
    binary.assert_answers_again().await;
    drop(flood);
    let logs = binary.kill_and_read_logs().await;
    assert!(
        logs.contains("MAX_CONNECTIONS lowered to fit the open-file limit"),
        "{logs}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_half_sent_request_does_not_hold_up_shutdown() {
    let mut binary = Binary::start(&[("SHUTDOWN_GRACE_SECS", "20")]).await;
    let mut half = binary.connect().await;
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut idle = binary.connect().await;
    idle.write_all(GET_HEALTHZ).await.unwrap();
    let mut head = [0u8; 12];
    idle.read_exact(&mut head).await.unwrap();
    wait_for_open(&binary, 2.0).await;
    let took = binary.terminate().await;
    // Had it waited for the half-sent request, it would have taken the
    // whole grace.
    assert!(took < Duration::from_secs(20), "shutdown took {took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn accept_errors_are_logged_and_retried_calmly() {
    // Start with room for the default cap, then take the descriptors
    // away from the running process (as a limit lowered from outside, or
    // descriptors used up elsewhere, would): accept() now fails.
    let mut binary = Binary::start(&[("KEEP_ALIVE_TIMEOUT_SECS", "30")]).await;
    let pid = binary.child.id().unwrap();
    let limited = std::process::Command::new("prlimit")
        .args(["--pid", &pid.to_string(), "--nofile=40:40"])
        .status()
        .expect("prlimit (util-linux) runs");
    assert!(limited.success());
    let mut flood = Vec::new();
    for _ in 0..60 {
        flood.push(binary.connect().await);
    }
    binary.wait_for_log("accepting a connection failed").await;
    binary.assert_idle("failing accepts").await;
    // Descriptors come free: the server serves again.
    drop(flood);
    binary.assert_answers_again().await;
    let logs = binary.kill_and_read_logs().await;
    assert!(logs.contains("accepting a connection failed"), "{logs}");
    assert!(logs.contains("retry_in_ms"), "{logs}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_request_log_names_the_client_a_trusted_proxy_reports() {
    let mut binary = Binary::start(&[("TRUSTED_PROXIES", "127.0.0.1"), ("RUST_LOG", "info")]).await;
    let client = reqwest::Client::new();
    let response = client
        .get(binary.url("/healthz"))
        .header("x-forwarded-for", "198.51.100.7, 203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let direct = client_from(2);
    let response = direct
        .get(binary.url("/healthz"))
        .header("x-forwarded-for", "198.51.100.7")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    binary.wait_for_log("127.0.0.2").await;
    let logs = binary.kill_and_read_logs().await;
    let clients: Vec<String> = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["message"] == "request")
        .map(|line| line["client"].as_str().unwrap_or_default().to_owned())
        .collect();
    // After the start-up probes: the right-most address the trusted proxy
    // reported, then a peer that is no proxy, whatever it claimed.
    assert_eq!(
        clients[clients.len() - 2..],
        ["203.0.113.9", "127.0.0.2"],
        "{logs}"
    );
}
