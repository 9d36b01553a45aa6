//! `docker-compose.yml`, validated by a real Compose implementation
//! (Debian's docker-compose) and then checked for the properties the
//! deployment relies on.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// The resolved configuration, as JSON, with `env` as the .env file.
fn resolved(env: &str) -> Result<Value, String> {
    resolved_with(env, &[])
}

/// [`resolved`] with more arguments before `config` (`--profile …`).
fn resolved_with(env: &str, options: &[&str]) -> Result<Value, String> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir =
        std::env::temp_dir().join(format!("catalog-compose-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let env_file = dir.join("test.env");
    std::fs::write(&env_file, env).unwrap();
    let output = Command::new("docker-compose")
        .arg("--project-directory")
        .arg(repo)
        .arg("-f")
        .arg(repo.join("docker-compose.yml"))
        .arg("--env-file")
        .arg(&env_file)
        .args(options)
        .arg("config")
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .output()
        .expect("docker-compose is installed (Debian: apt-get install docker-compose)");
    std::fs::remove_dir_all(&dir).ok();
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    // docker-compose prints YAML; PyYAML (its own dependency) turns it
    // into JSON.
    let mut python = Command::new("python3")
        .args([
            "-c",
            "import sys, json, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    python
        .stdin
        .take()
        .unwrap()
        .write_all(&output.stdout)
        .unwrap();
    let json = python.wait_with_output().unwrap();
    assert!(json.status.success());
    Ok(serde_json::from_slice(&json.stdout).unwrap())
}

const ENV: &str = "MYSQL_PASSWORD=db-pass-123\nMYSQL_ROOT_PASSWORD=root-pass-456\nJWT_SECRET_KEY=jwt-secret-0123456789abcdef0123456789\n";

#[test]
fn the_compose_file_is_valid_and_wired_as_documented() {
    let config = resolved(ENV).unwrap();
    let services = &config["services"];
    let (mysql, app, nginx) = (&services["mysql"], &services["app"], &services["nginx"]);

    assert_eq!(mysql["image"], "mysql:8.4");
    assert!(mysql.get("ports").is_none(), "MySQL is not published");
    assert!(mysql["healthcheck"]["test"].is_array());
    assert!(
        mysql["volumes"][0]["source"] == "mysql-data"
            || mysql["volumes"][0]
                .as_str()
                .is_some_and(|v| v.starts_with("mysql-data:"))
    );
    let command = mysql["command"].to_string();
    assert!(command.contains("utf8mb4"), "{command}");

    assert_eq!(app["build"]["dockerfile"], "docker/Dockerfile");
    assert!(app.get("container_name").is_none(), "scalable");
    assert!(app.get("ports").is_none(), "only nginx is published");
    assert_eq!(app["depends_on"]["mysql"]["condition"], "service_healthy");
    assert_eq!(app["read_only"], true);
    assert_eq!(app["cap_drop"], serde_json::json!(["ALL"]));
    assert_eq!(
        app["security_opt"],
        serde_json::json!(["no-new-privileges:true"])
    );
    assert!(app["mem_limit"].is_string() || app["mem_limit"].is_number());
    assert!(app["pids_limit"].as_i64().is_some_and(|n| n > 0));
    assert!(app["restart"].as_str().is_some_and(|r| r != "no"));
    assert_eq!(app["stop_grace_period"], "30s");
    assert_eq!(
        app["environment"]["SHUTDOWN_GRACE_SECS"], "20",
        "drain time < grace period"
    );
    assert_eq!(
        app["environment"]["DATABASE_URL"],
        "mysql://catalog:db-pass-123@mysql:3306/catalog"
    );
    assert_eq!(
        app["healthcheck"]["test"],
        serde_json::json!(["CMD", "/usr/local/bin/catalog", "healthcheck"])
    );
    // nginx, on the stack's private network, is trusted to name clients;
    // the configuration the binary reads from these variables accepts
    // them, and nginx's address (from any private range a Compose network
    // takes) is among them.
    let environment: Vec<(String, String)> = app["environment"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, value)| (name.clone(), value.as_str().unwrap_or_default().to_owned()))
        .collect();
    let config = catalog::config::Config::from_vars(environment).expect("the app's settings load");
    for nginx_address in ["172.18.0.5", "192.168.16.3", "10.89.0.7"] {
        assert!(
            config
                .http
                .trusted_proxies
                .contains(nginx_address.parse().unwrap()),
            "{nginx_address}"
        );
    }

    assert!(nginx["image"].as_str().unwrap().starts_with("nginx:"));
    assert_eq!(nginx["ports"].as_array().unwrap().len(), 1);
    assert_eq!(nginx["environment"]["CATALOG_UPSTREAM"], "app:8080");
    assert_eq!(nginx["depends_on"]["app"]["condition"], "service_healthy");
}

#[test]
fn the_compose_file_refuses_to_run_without_its_secrets() {
    for missing in ["MYSQL_PASSWORD", "MYSQL_ROOT_PASSWORD", "JWT_SECRET_KEY"] {
        let env: String = ENV
            .lines()
            .filter(|l| !l.starts_with(missing))
            .map(|l| format!("{l}\n"))
            .collect();
        let error = resolved(&env).expect_err(missing);
        assert!(error.contains(missing), "{error}");
    }
}

#[test]
fn the_monitoring_profile_adds_prometheus_and_grafana_wired_to_the_repo_files() {
    // Without the profile nothing changes: the two services belong to it
    // alone (this Compose lists them in `config` anyway, with the profile
    // that keeps `up` from starting them).
    let plain = resolved(ENV).unwrap();
    for (name, service) in plain["services"].as_object().unwrap() {
        let profiles = service.get("profiles").cloned().unwrap_or_default();
        if name == "prometheus" || name == "grafana" {
            assert_eq!(profiles, serde_json::json!(["monitoring"]), "{name}");
        } else if name == "mysql-replica" {
            assert_eq!(profiles, serde_json::json!(["replicas"]), "{name}");
        } else {
            assert!(profiles.is_null(), "{name} is in a profile: {profiles}");
        }
    }

    let env = format!("{ENV}GRAFANA_ADMIN_PASSWORD=grafana-pass-789\nGRAFANA_PORT=3300\n");
    let config = resolved_with(&env, &["--profile", "monitoring"]).unwrap();
    let services = &config["services"];
    let (prometheus, grafana, app) = (
        &services["prometheus"],
        &services["grafana"],
        &services["app"],
    );
    assert!(
        prometheus["image"]
            .as_str()
            .unwrap()
            .starts_with("prom/prometheus:")
    );
    assert!(
        prometheus.get("ports").is_none(),
        "Prometheus is not published"
    );
    let mounts = |service: &Value| -> Vec<(String, String)> {
        service["volumes"]
            .as_array()
            .unwrap()
            .iter()
            // `source:target:mode` here; `{source, target}` in Compose v2.
            .map(|v| match v.as_str() {
                Some(short) => {
                    let mut parts = short.split(':');
                    let source = parts.next().unwrap_or_default().to_owned();
                    (source, parts.next().unwrap_or_default().to_owned())
                }
                None => (
                    v["source"].as_str().unwrap_or_default().to_owned(),
                    v["target"].as_str().unwrap_or_default().to_owned(),
                ),
            })
            .collect()
    };
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mounted = |service: &Value, dir: &str, target: &str| {
        let source = repo.join(dir);
        assert!(
            mounts(service)
                .iter()
                .any(|(s, t)| Path::new(s) == source && t == target),
            "{dir} on {target}: {:?}",
            mounts(service)
        );
        assert!(source.is_dir(), "{dir} exists");
    };
    mounted(prometheus, "monitoring/prometheus", "/etc/prometheus");
    mounted(
        grafana,
        "monitoring/grafana/provisioning",
        "/etc/grafana/provisioning",
    );
    mounted(
        grafana,
        "monitoring/grafana/dashboards",
        "/etc/grafana/dashboards",
    );
    let ports = grafana["ports"].as_array().unwrap();
    assert_eq!(ports.len(), 1);
    assert_eq!(ports[0]["published"].to_string().trim_matches('"'), "3300");
    assert_eq!(ports[0]["target"], 3000);
    assert_eq!(
        grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"],
        "grafana-pass-789"
    );
    // The replicas serve /metrics to the network on the port the
    // Prometheus config scrapes, and do not publish it.
    assert_eq!(app["environment"]["METRICS_ADDR"], "0.0.0.0:9000");
    assert!(app.get("ports").is_none());
    let scrape =
        std::fs::read_to_string(repo.join("monitoring/prometheus/prometheus.yml")).unwrap();
    assert!(
        scrape.contains("names: [app]") && scrape.contains("port: 9000"),
        "{scrape}"
    );
}

#[test]
fn the_primary_keeps_a_gtid_binary_log_and_the_replicas_profile_adds_a_seeded_replica() {
    // In every profile: turning GTIDs on later needs a restart.
    let plain = resolved(ENV).unwrap();
    let command = |service: &Value| -> Vec<String> {
        service["command"]
            .as_array()
            .unwrap()
            .iter()
            .map(|arg| arg.as_str().unwrap().to_owned())
            .collect()
    };
    let primary = command(&plain["services"]["mysql"]);
    for flag in [
        "--server-id=1",
        "--log-bin=mysql-bin",
        "--loose-gtid-mode=ON",
        "--loose-enforce-gtid-consistency=ON",
    ] {
        assert!(primary.iter().any(|arg| arg == flag), "{flag}: {primary:?}");
    }
    // Without a replica URL the app reads from the primary alone.
    assert_eq!(
        plain["services"]["app"]["environment"]["DATABASE_REPLICA_URLS"],
        ""
    );

    let url = "mysql://catalog:db-pass-123@mysql-replica:3306/catalog";
    let env =
        format!("{ENV}MYSQL_REPLICATION_PASSWORD=repl-pass-789\nDATABASE_REPLICA_URLS={url}\n");
    let config = resolved_with(&env, &["--profile", "replicas"]).unwrap();
    let (replica, app) = (
        &config["services"]["mysql-replica"],
        &config["services"]["app"],
    );
    assert_eq!(replica["image"], config["services"]["mysql"]["image"]);
    assert!(
        replica.get("ports").is_none(),
        "the replica is not published"
    );
    let flags = command(replica);
    for flag in ["--server-id=2", "--loose-gtid-mode=ON", "--read-only=ON"] {
        assert!(flags.iter().any(|arg| arg == flag), "{flag}: {flags:?}");
    }
    assert_eq!(
        replica["environment"]["MYSQL_REPLICATION_PASSWORD"],
        "repl-pass-789"
    );
    assert_eq!(replica["environment"]["PRIMARY_HOST"], "mysql");
    assert_eq!(
        replica["depends_on"]["mysql"]["condition"],
        "service_healthy"
    );
    let seeding = Path::new(env!("CARGO_MANIFEST_DIR")).join("docker/mysql/replica");
    // `source:target:mode` here; `{source, target}` in Compose v2.
    let mounted = replica["volumes"].as_array().unwrap().iter().any(|volume| {
        let (source, target) = match volume.as_str() {
            Some(short) => {
                let mut parts = short.split(':');
                (parts.next(), parts.next())
            }
            None => (volume["source"].as_str(), volume["target"].as_str()),
        };
        source.is_some_and(|source| Path::new(source) == seeding)
            && target == Some("/docker-entrypoint-initdb.d")
    });
    assert!(mounted, "{}", replica["volumes"]);
    assert_eq!(app["environment"]["DATABASE_REPLICA_URLS"], url);
}

#[test]
fn replica_seeding_refuses_to_start_without_its_password() {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docker/mysql/replica/seed-from-primary.sh");
    let output = Command::new("bash")
        .arg(&script)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim(),
        "replica seeding: MYSQL_REPLICATION_PASSWORD is not set: set it in .env (openssl rand -hex 24)"
    );
}
