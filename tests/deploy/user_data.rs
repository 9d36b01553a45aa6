//! `scripts/user-data.sh` in a scratch root, with apt-get, dpkg, docker,
//! systemctl, git, aws, curl and openssl replaced by stubs that log their
//! calls.

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SSM_JWT: &str = "jwt-from-ssm-0123456789abcdef0123456789abcdef";
const ADMIN: &str = "admin-from-template-42";

struct Sandbox {
    root: PathBuf,
    stubs: PathBuf,
}

fn write_stub(dir: &Path, name: &str, body: &str) {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!("#!/usr/bin/env bash\necho \"{name} $*\" >> \"$CATALOG_ROOT/calls.log\"\n{body}\n"),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

impl Sandbox {
    fn new() -> Self {
        let base = std::env::temp_dir().join(format!(
            "catalog-userdata-{}",
            uuid::Uuid::new_v4().simple()
        ));
        let (root, stubs) = (base.join("root"), base.join("stubs"));
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&stubs).unwrap();
        let installed = "\"$CATALOG_ROOT/installed\"";
        write_stub(
            &stubs,
            "dpkg",
            &format!("[ \"$1\" = -s ] && grep -qx \"$2\" {installed} 2>/dev/null"),
        );
        write_stub(
            &stubs,
            "apt-get",
            &format!(
                "if [ \"$1\" = install ]; then for p in \"$@\"; do case $p in -*|install) ;; *) echo \"$p\" >> {installed};; esac; done; fi"
            ),
        );
        write_stub(&stubs, "systemctl", "exit 0");
        write_stub(&stubs, "docker", "exit 0");
        write_stub(
            &stubs,
            "git",
            "if [ \"$1\" = clone ]; then dir=\"${@: -1}\"; mkdir -p \"$dir/.git\"; echo 'services: {}' > \"$dir/docker-compose.yml\"; fi",
        );
        write_stub(
            &stubs,
            "aws",
            &format!("case \"$*\" in *JWT_SECRET_KEY*) echo '{SSM_JWT}';; *) exit 255;; esac"),
        );
        // Readiness answers; the metadata service does not exist here.
        write_stub(
            &stubs,
            "curl",
            "case \"$*\" in *readyz*) exit 0;; *) exit 7;; esac",
        );
        write_stub(
            &stubs,
            "openssl",
            "od -An -tx1 -N32 /dev/urandom | tr -d ' \\n'; echo",
        );
        Self { root, stubs }
    }

    fn run(&self) -> Output {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/user-data.sh");
        let path = format!("{}:/usr/bin:/bin", self.stubs.display());
        Command::new("bash")
            .arg(script)
            .env_clear()
            .env("PATH", path)
            .env("CATALOG_ROOT", &self.root)
            .env("repo_url", "https://git.example.invalid/catalog.git")
            .env("git_ref", "v1.2.3")
            .env("app_dir", "/opt/catalog")
            .env("ssm_parameter_path", "/catalog/prod")
            .env("aws_region", "eu-west-1")
            .env("db_name", "")
            .env("db_user", "")
            .env("db_password", "")
            .env("db_root_password", "")
            .env("jwt_secret_key", "")
            .env("admin_password", ADMIN)
            .output()
            .unwrap()
    }

    fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.root.join(path.trim_start_matches('/'))).unwrap_or_default()
    }

    fn calls(&self) -> String {
        self.read("calls.log")
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.root.parent().unwrap());
    }
}

fn env_value(env: &str, key: &str) -> String {
    env.lines()
        .find_map(|line| line.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("{key} in .env"))
        .to_owned()
}

#[test]
fn user_data_provisions_a_fresh_machine_and_a_second_run_changes_nothing() {
    let sandbox = Sandbox::new();
    let first = sandbox.run();
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(
        stdout.contains("catalog is ready: http://127.0.0.1/api/docs"),
        "{stdout}"
    );

    // Packages from the distribution, Docker enabled, code cloned at the ref.
    let calls = sandbox.calls();
    assert!(calls.contains("apt-get install"), "{calls}");
    for package in ["docker.io", "docker-compose-v2", "git", "awscli"] {
        assert!(
            sandbox.read("installed").lines().any(|l| l == package),
            "{package}"
        );
    }
    assert!(calls.contains("systemctl enable --now docker"));
    assert!(
        calls.contains(
            "git clone --depth 1 --branch v1.2.3 https://git.example.invalid/catalog.git"
        )
    );
    assert!(
        !calls.contains("curl -L") && !calls.contains("releases/download"),
        "no binary downloads"
    );

    // .env: mode 0600, every value, each from the right place.
    let env_path = sandbox.root.join("opt/catalog/.env");
    let mode = std::fs::metadata(&env_path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let env = sandbox.read("/opt/catalog/.env");
    assert_eq!(env_value(&env, "MYSQL_DATABASE"), "catalog");
    assert_eq!(env_value(&env, "MYSQL_USER"), "catalog");
    assert_eq!(env_value(&env, "JWT_SECRET_KEY"), SSM_JWT, "from SSM");
    assert_eq!(
        env_value(&env, "ADMIN_PASSWORD"),
        ADMIN,
        "from the template"
    );
    let db_password = env_value(&env, "MYSQL_PASSWORD");
    let root_password = env_value(&env, "MYSQL_ROOT_PASSWORD");
    for generated in [&db_password, &root_password] {
        assert_eq!(generated.len(), 64, "generated: {generated}");
        assert!(generated.chars().all(|c| c.is_ascii_hexdigit()));
    }
    assert_ne!(db_password, root_password);

    // The systemd unit brings the stack back after a reboot.
    let unit = sandbox.read("/etc/systemd/system/catalog.service");
    assert!(unit.contains("WorkingDirectory=/opt/catalog\n"), "{unit}");
    assert!(
        unit.contains("ExecStart=/usr/bin/docker compose up -d"),
        "{unit}"
    );
    assert!(unit.contains("Requires=docker.service"));
    assert!(unit.contains("WantedBy=multi-user.target"));
    assert!(calls.contains("systemctl enable catalog.service"));
    assert!(calls.contains("systemctl start catalog.service"));

    // The log says where values came from, never what they are.
    let log = sandbox.read("/var/log/catalog-user-data.log");
    assert!(
        log.contains("JWT_SECRET_KEY: from SSM") && log.contains("MYSQL_PASSWORD: generated"),
        "{log}"
    );
    for secret in [SSM_JWT, ADMIN, &db_password, &root_password] {
        assert!(
            !log.contains(secret) && !stdout.contains(secret),
            "a secret reached the log"
        );
    }

    // Again: nothing changes.
    std::fs::remove_file(sandbox.root.join("calls.log")).unwrap();
    let second = sandbox.run();
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert_eq!(sandbox.read("/opt/catalog/.env"), env, ".env kept");
    assert_eq!(sandbox.read("/etc/systemd/system/catalog.service"), unit);
    let calls = sandbox.calls();
    assert!(!calls.contains("apt-get"), "no reinstall: {calls}");
    assert!(!calls.contains("git clone"), "no second clone: {calls}");
    assert!(!calls.contains("daemon-reload"), "unit untouched: {calls}");
    assert!(
        !calls.lines().any(|l| l.starts_with("aws ")),
        "no secrets fetched again: {calls}"
    );
    let log = sandbox.read("/var/log/catalog-user-data.log");
    assert!(log.contains("keeping the existing") && log.contains("systemd unit unchanged"));
}

#[test]
fn user_data_stops_without_a_repository() {
    let sandbox = Sandbox::new();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/user-data.sh");
    let output = Command::new("bash")
        .arg(script)
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", sandbox.stubs.display()))
        .env("CATALOG_ROOT", &sandbox.root)
        .output()
        .unwrap();
    assert!(!output.status.success());
    // The script sends everything through its log, on stdout.
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(said.contains("repo_url is empty"), "{said}");
}

/// Terraform's templatefile interpolates every `${…}` and `%{…}`, so the
/// script may use them only for its declared template values.
#[test]
fn user_data_is_a_valid_terraform_template() {
    let script =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/user-data.sh"))
            .unwrap();
    let allowed: HashSet<&str> = [
        "repo_url",
        "git_ref",
        "app_dir",
        "ssm_parameter_path",
        "aws_region",
        "db_name",
        "db_user",
        "db_password",
        "db_root_password",
        "jwt_secret_key",
        "admin_password",
    ]
    .into();
    assert!(!script.contains("%{"), "no template directives");
    let mut used = HashSet::new();
    for (index, _) in script.match_indices("${") {
        let rest = &script[index + 2..];
        let name = &rest[..rest.find('}').unwrap()];
        assert!(
            allowed.contains(name),
            "`${{{name}}}` would be read by Terraform"
        );
        used.insert(name);
    }
    assert_eq!(used, allowed, "every template value is used");
}
