//! The `catalog` binary's subcommands and start-up checks.

use std::process::{Command, Output};

use crate::helpers::TestApp;

/// Runs the binary with only `vars` set, in an empty folder (so no
/// developer `.env` leaks in).
pub(crate) fn catalog(args: &[&str], vars: &[(&str, &str)]) -> Output {
    let dir = std::env::temp_dir().join(format!("catalog-cli-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_catalog"))
        .args(args)
        .env_clear()
        .envs(vars.iter().copied())
        .current_dir(&dir)
        .output()
        .expect("the binary runs");
    std::fs::remove_dir_all(&dir).ok();
    output
}

fn one_line_error(output: &Output) -> String {
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    stderr
}

#[test]
fn a_missing_secret_stops_start_up_with_one_line_naming_it() {
    let output = catalog(
        &["serve"],
        &[("DATABASE_URL", "mysql://root@127.0.0.1:3306/x")],
    );
    let line = one_line_error(&output);
    assert!(line.contains("JWT_SECRET_KEY"), "{line}");
}

#[test]
fn a_short_secret_stops_start_up() {
    let output = catalog(
        &[],
        &[
            ("DATABASE_URL", "mysql://root@127.0.0.1:3306/x"),
            ("JWT_SECRET_KEY", "too-short"),
        ],
    );
    let line = one_line_error(&output);
    assert!(
        line.contains("JWT_SECRET_KEY") && line.contains("32 bytes"),
        "{line}"
    );
}

#[test]
fn a_malformed_database_url_stops_start_up_without_echoing_it() {
    let output = catalog(
        &["serve"],
        &[
            ("DATABASE_URL", "postgres://user:hunter2@db/x"),
            ("JWT_SECRET_KEY", "0123456789abcdef0123456789abcdef"),
        ],
    );
    let line = one_line_error(&output);
    assert!(
        line.contains("DATABASE_URL") && !line.contains("hunter2"),
        "{line}"
    );
    let output = catalog(&["migrate"], &[]);
    assert!(one_line_error(&output).contains("DATABASE_URL"));
}

#[test]
fn openapi_prints_the_committed_spec_without_any_configuration() {
    let output = catalog(&["openapi"], &[]);
    assert!(output.status.success());
    let printed = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        printed.trim_end(),
        include_str!("../../openapi/openapi.json").trim_end()
    );
    let yaml = catalog(&["openapi", "--format", "yaml"], &[]);
    assert!(
        String::from_utf8(yaml.stdout)
            .unwrap()
            .contains("openapi: 3.")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn healthcheck_exits_zero_only_when_ready() {
    let app = TestApp::spawn().await;
    let url = app.url("/readyz");
    let ok = tokio::task::spawn_blocking(move || catalog(&["healthcheck", "--url", &url], &[]))
        .await
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let down = tokio::task::spawn_blocking(|| {
        catalog(&["healthcheck"], &[("LISTEN_ADDR", "127.0.0.1:9")])
    })
    .await
    .unwrap();
    assert!(!down.status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn migrate_applies_every_migration_and_a_second_run_finds_none() {
    let database = crate::helpers::create_database().await;
    let url = format!("{}/{database}", crate::helpers::server_url());
    let run = |url: String| {
        tokio::task::spawn_blocking(move || {
            catalog(
                &["migrate"],
                &[
                    ("DATABASE_URL", url.as_str()),
                    ("RUST_LOG", "info"),
                    ("LOG_FORMAT", "json"),
                ],
            )
        })
    };
    let first = run(url.clone()).await.unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let logs = String::from_utf8_lossy(&first.stdout).into_owned();
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .count();
    assert!(
        logs.contains(&format!(r#""applied":{migrations}"#)),
        "{logs}"
    );
    let second = run(url).await.unwrap();
    assert!(second.status.success());
    let logs = String::from_utf8_lossy(&second.stdout).into_owned();
    assert!(logs.contains(r#""applied":0"#), "{logs}");
    crate::helpers::admin_sql(None, &[format!("DROP DATABASE `{database}`")]).await;
}

#[test]
fn start_up_retries_an_unreachable_database_then_gives_up_with_one_line() {
    // Nothing listens on port 9 (discard) here.
    let started = std::time::Instant::now();
    let output = catalog(
        &["migrate"],
        &[
            ("DATABASE_URL", "mysql://nobody@127.0.0.1:9/catalog"),
            ("DATABASE_STARTUP_TIMEOUT_SECS", "2"),
            ("DATABASE_ACQUIRE_TIMEOUT_SECS", "1"),
        ],
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "bounded"
    );
    let line = one_line_error(&output);
    assert!(line.contains("database"), "{line}");
    let logs = String::from_utf8_lossy(&output.stdout);
    assert!(
        logs.contains("database not ready yet"),
        "the retries are logged: {logs}"
    );
}

/// Runs the binary like [`catalog`], with `input` on its standard input.
fn catalog_with_input(args: &[&str], vars: &[(&str, &str)], input: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_catalog"))
        .args(args)
        .env_clear()
        .envs(vars.iter().copied())
        .current_dir(std::env::temp_dir())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// The variables an operator's admin commands run with on `app`'s
/// database, as the operating-system user `ops`.
fn operator(app: &TestApp) -> [(&'static str, String); 2] {
    [
        ("DATABASE_URL", crate::helpers::database_url(&app.database)),
        ("USER", "ops".to_owned()),
    ]
}

fn vars<'a>(pairs: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    pairs.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_sets_a_password_from_standard_input_never_from_arguments() {
    use crate::helpers::{ADMIN_PASSWORD, WITH_ADMIN};
    let app = TestApp::spawn_with(&WITH_ADMIN).await;
    let env = operator(&app);
    let env = vars(&env);
    let old_token = app.access_token("boss", ADMIN_PASSWORD).await;
    let events = || app.count("SELECT COUNT(*) FROM audit_events");

    // Refused, changing nothing: a password in the arguments, however
    // it is spelled, and a password the policy refuses.
    for args in [
        &["admin", "set-password", "boss", "new-password-456"][..],
        &[
            "admin",
            "set-password",
            "boss",
            "--password=new-password-456",
        ][..],
        &["admin", "set-password", "boss", "--", "new-password-456"][..],
    ] {
        let output = catalog_with_input(args, &env, "new-password-456\n");
        let line = one_line_error(&output);
        assert!(line.contains("never from the command line"), "{line}");
    }
    let output = catalog_with_input(&["admin", "set-password", "boss"], &env, "short\n");
    let line = one_line_error(&output);
    assert!(line.contains("password") && line.contains('8'), "{line}");
    let output = catalog_with_input(
        &["admin", "set-password", "nobody"],
        &env,
        "long-enough-pass\n",
    );
    assert!(one_line_error(&output).contains("no account"));
    assert_eq!(events().await, 0);
    assert_eq!(app.me(&old_token).await.status(), 200);

    let output = catalog_with_input(
        &["admin", "set-password", "BOSS"],
        &env,
        "new-password-456\n",
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(app.login("boss", "new-password-456").await.status(), 200);
    assert_eq!(app.login("boss", ADMIN_PASSWORD).await.status(), 401);
    assert_eq!(app.me(&old_token).await.status(), 401, "sessions ended");
    assert_eq!(events().await, 1);
    let recorded = app
        .count(
            "SELECT COUNT(*) FROM audit_events WHERE actor = 'cli:ops' \
             AND action = 'user.set_password' AND request_id IS NULL \
             AND changes NOT LIKE '%argon2%'",
        )
        .await;
    assert_eq!(recorded, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_promotes_disables_and_enables_under_the_apis_rules() {
    use crate::helpers::{ADMIN_PASSWORD, PASSWORD, WITH_ADMIN};
    let app = TestApp::spawn_with(&WITH_ADMIN).await;
    let env = operator(&app);
    let env = vars(&env);
    let user = app.new_user("deputy").await;

    // The last active admin stays.
    let output = catalog(&["admin", "disable", "boss"], &env);
    assert!(one_line_error(&output).contains("last active admin"));
    let output = catalog(&["admin", "promote", "nobody"], &env);
    assert!(one_line_error(&output).contains("no account"));
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_events").await, 0);

    let output = catalog(&["admin", "promote", "deputy"], &env);
    assert!(output.status.success());
    let output = catalog(&["admin", "list"], &env);
    assert!(output.status.success());
    let listed = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        listed.contains("boss") && listed.contains("deputy"),
        "{listed}"
    );

    // Disabling ends the sessions, as through the API.
    let output = catalog(&["admin", "disable", "boss"], &env);
    assert!(output.status.success());
    assert_eq!(app.login("boss", ADMIN_PASSWORD).await.status(), 403);
    let output = catalog(&["admin", "list"], &env);
    assert!(String::from_utf8_lossy(&output.stdout).contains("disabled"));
    let output = catalog(&["admin", "disable", "deputy"], &env);
    assert!(one_line_error(&output).contains("last active admin"));
    assert_eq!(app.me(&user.access_token).await.status(), 200);

    let output = catalog(&["admin", "enable", "boss"], &env);
    assert!(output.status.success());
    assert_eq!(app.login("boss", ADMIN_PASSWORD).await.status(), 200);
    assert_eq!(app.login("deputy", PASSWORD).await.status(), 200);
    let recorded = app
        .count(
            "SELECT COUNT(*) FROM audit_events WHERE actor = 'cli:ops' AND action = 'user.update'",
        )
        .await;
    assert_eq!(recorded, 3, "promote, disable, enable");
    // Without DATABASE_URL: one line naming it.
    let output = catalog(&["admin", "list"], &[]);
    assert!(one_line_error(&output).contains("DATABASE_URL"));
}
