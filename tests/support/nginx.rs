//! The project's nginx config, run by a real nginx in front of the real
//! app on loopback. Needs an `nginx` binary (Debian: nginx-light);
//! `.ci/run` installs it. Included by path from the `proxy` and `outage`
//! tests and from `benches/caching.rs`.

// Each includer uses a part.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A private nginx: the project's template rendered for `upstream`, with
/// its own prefix folder and port.
pub struct Nginx {
    child: Child,
    dir: PathBuf,
    pub port: u16,
}

fn nginx_binary() -> PathBuf {
    ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("nginx is not installed (Debian: apt-get install nginx-light)")
}

impl Nginx {
    pub async fn start(upstream: SocketAddr) -> Self {
        Self::start_edited(upstream, |_| {}).await
    }

    /// Starts it after `edit` has changed the rendered files in the
    /// folder it is given (`nginx.conf`, `conf.d/default.conf`).
    pub async fn start_edited(upstream: SocketAddr, edit: impl FnOnce(&Path)) -> Self {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let dir =
            std::env::temp_dir().join(format!("catalog-nginx-{}", uuid::Uuid::new_v4().simple()));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let rendered = Command::new("bash")
            .arg(repo.join("scripts/nginx-local.sh"))
            .arg(&dir)
            .arg(upstream.to_string())
            .arg(format!("127.0.0.1:{port}"))
            .status()
            .expect("bash runs");
        assert!(rendered.success(), "scripts/nginx-local.sh failed");
        edit(&dir);
        let d = dir.display();
        let child = Command::new(nginx_binary())
            .args([
                "-p",
                &d.to_string(),
                "-c",
                &format!("{d}/nginx.conf"),
                "-g",
                "daemon off;",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nginx starts");
        let nginx = Self { child, dir, port };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return nginx;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let log = std::fs::read_to_string(nginx.dir.join("error.log")).unwrap_or_default();
        panic!("nginx did not start: {log}");
    }

    /// Points nginx at `upstreams` instead (the rendered upstream block's
    /// servers) and reloads it gracefully, as a change of endpoints would:
    /// new connections go to the new list, requests in flight finish.
    pub async fn set_upstreams(&self, upstreams: &[SocketAddr]) {
        let file = self.dir.join("conf.d/default.conf");
        let config = std::fs::read_to_string(&file).unwrap();
        let mut lines: Vec<String> = Vec::new();
        let mut replaced = false;
        for line in config.lines() {
            let directive = line.trim_start();
            if directive.starts_with("server ") && directive.contains("max_fails=") {
                if !replaced {
                    for upstream in upstreams {
                        lines.push(format!(
                            "    server {upstream} max_fails=3 fail_timeout=10s;"
                        ));
                    }
                    replaced = true;
                }
                continue;
            }
            lines.push(line.to_owned());
        }
        assert!(replaced, "the rendered config has an upstream server line");
        std::fs::write(&file, lines.join("\n")).unwrap();
        let d = self.dir.display();
        let reloaded = Command::new(nginx_binary())
            .args([
                "-p",
                &d.to_string(),
                "-c",
                &format!("{d}/nginx.conf"),
                "-s",
                "reload",
            ])
            .status()
            .unwrap();
        assert!(reloaded.success(), "nginx -s reload");
        // The master starts new workers and retires the old ones.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    /// The master process's id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What nginx has written to its access log so far.
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("access.log")).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Nginx {
    /// Stops nginx as its own `-s quit` would (SIGQUIT to the master, which
    /// waits for its workers), so no worker outlives the test. SIGKILL
    /// would orphan the workers, still listening.
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-QUIT", &pid]).status();
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = Command::new("kill").args(["-TERM", &pid]).status();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The `X-Cache-Status` nginx answered with, or "" without one.
pub fn cache_status(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("x-cache-status")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}
