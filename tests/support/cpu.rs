//! CPU time of whole processes, from Linux's `/proc`: the service, the
//! database server, the load generator. Included by path from
//! `benches/pages.rs`, `benches/fairness.rs` and `benches/caching.rs` (for
//! `tests/support/load.rs`).

// Each includer uses a part.
#![allow(dead_code)]

/// User plus system CPU seconds a process has used (Linux `/proc`).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised name start at field 3; utime and
    // stime are fields 14 and 15, in clock ticks of 1/100 s.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    Some((ticks(11)? + ticks(12)?) / 100.0)
}

/// CPU seconds of a process and its children (an nginx master and its
/// workers).
pub fn cpu_seconds_with_children(pid: u32) -> Option<f64> {
    let own = cpu_seconds(pid)?;
    let children: f64 = std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .filter_map(|entry| {
            let child: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // The parent's pid is field 4, the second after the name.
            let parent: u32 = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            (parent == pid).then(|| cpu_seconds(child)).flatten()
        })
        .sum();
    Some(own + children)
}

/// A MySQL or MariaDB server process on this machine, if there is one.
pub fn local_database_pid() -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let comm = std::fs::read_to_string(entry.path().join("comm")).ok()?;
            matches!(comm.trim(), "mariadbd" | "mysqld").then_some(pid)
        })
}
