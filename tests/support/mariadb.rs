//! A private MariaDB server for one test: its own data folder and port,
//! from the machine's `mariadb-install-db` and `mariadbd`. For tests that
//! stop the server (SIGSTOP) or otherwise do what the shared one must not
//! suffer. Dropping it resumes and kills the server and removes its files.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::helpers::free_port;

pub struct PrivateMariaDb {
    child: Child,
    dir: PathBuf,
    pub port: u16,
    /// Options beyond the defaults, kept for a restart.
    extra: Vec<String>,
}

fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status();
}

impl PrivateMariaDb {
    pub async fn start() -> Self {
        Self::start_with(Vec::new()).await
    }

    /// Starts it with `extra` options (`--require-secure-transport=ON`…).
    pub async fn start_with(extra: Vec<String>) -> Self {
        let dir =
            std::env::temp_dir().join(format!("catalog-mariadb-{}", uuid::Uuid::new_v4().simple()));
        let (data, tmp) = (dir.join("data"), dir.join("tmp"));
        std::fs::create_dir_all(&data).unwrap();
        std::fs::create_dir_all(&tmp).unwrap();
        // A temporary folder of its own: bootstraps sharing /tmp were seen
        // to crash (a segfault dropping an Aria temporary table) when two
        // ran at once. Should it fail anyway, it is tried again.
        let install = || {
            let _ = std::fs::remove_dir_all(&data);
            std::fs::create_dir_all(&data).unwrap();
            Command::new("mariadb-install-db")
                .args([
                    "--no-defaults".to_owned(),
                    format!("--datadir={}", data.display()),
                    format!("--tmpdir={}", tmp.display()),
                    "--user=root".to_owned(),
                    "--auth-root-authentication-method=normal".to_owned(),
                    "--skip-test-db".to_owned(),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("mariadb-install-db runs (Debian: mariadb-server)")
                .success()
        };
        assert!(
            (0..3).any(|_| install()),
            "mariadb-install-db failed three times"
        );
        let port = free_port();
        let child = Self::spawn(&dir, port, &extra);
        let server = Self {
            child,
            dir,
            port,
            extra,
        };
        server.wait_until_up().await;
        server
    }

    fn spawn(dir: &std::path::Path, port: u16, extra: &[String]) -> Child {
        Command::new("/usr/sbin/mariadbd")
            .args([
                "--no-defaults".to_owned(),
                format!("--datadir={}", dir.join("data").display()),
                format!("--tmpdir={}", dir.join("tmp").display()),
                format!("--socket={}", dir.join("mariadb.sock").display()),
                format!("--pid-file={}", dir.join("mariadb.pid").display()),
                format!("--port={port}"),
                "--bind-address=127.0.0.1".to_owned(),
                "--user=root".to_owned(),
                "--character-set-server=utf8mb4".to_owned(),
                "--collation-server=utf8mb4_bin".to_owned(),
                "--innodb-buffer-pool-size=32M".to_owned(),
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mariadbd starts")
    }

    /// Waits until the server takes connections on its socket.
    async fn wait_until_up(&self) {
        for _ in 0..300 {
            if mysql_async::Conn::new(
                mysql_async::Opts::from_url(&self.socket_url()).expect("a mysql:// URL"),
            )
            .await
            .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the private MariaDB did not start");
    }

    /// Stops the server cleanly and starts it again on the same data and
    /// port, as a database restart or failover would.
    pub async fn restart(&mut self) {
        signal(self.child.id(), "TERM");
        let _ = self.child.wait();
        self.child = Self::spawn(&self.dir, self.port, &self.extra);
        self.wait_until_up().await;
    }

    /// Its URL through the local socket (allowed even where TCP must use
    /// TLS), without a database name.
    pub fn socket_url(&self) -> String {
        format!(
            "mysql://root@localhost/?socket={}",
            self.dir.join("mariadb.sock").display()
        )
    }

    /// Its URL, without a database name.
    pub fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}", self.port)
    }

    /// Kills the server at once (SIGKILL), as a crash or a lost host would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts a killed server again on the same data and port.
    pub async fn start_again(&mut self) {
        self.child = Self::spawn(&self.dir, self.port, &self.extra);
        self.wait_until_up().await;
    }

    /// Freezes the server, as a stuck disk or a paused VM would.
    pub fn stop(&self) {
        signal(self.child.id(), "STOP");
    }

    /// Lets a frozen server go on.
    pub fn resume(&self) {
        signal(self.child.id(), "CONT");
    }
}

impl Drop for PrivateMariaDb {
    fn drop(&mut self) {
        // Never leave it frozen: a stopped server would outlive the test.
        self.resume();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
