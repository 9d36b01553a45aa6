//! `docker/Dockerfile`, read as text: what its dependency layer needs.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// The dependency layer builds from the manifests with stub sources, and
/// cargo refuses a manifest naming a target whose file is missing: a new
/// test or bench target without a stub breaks `docker compose build`.
#[test]
fn the_dependency_layer_stubs_every_target_the_manifest_names() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(option_env!("CARGO").unwrap_or("cargo"))
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(repo)
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).unwrap();
    let dockerfile = std::fs::read_to_string(repo.join("docker/Dockerfile")).unwrap();
    let stubs = dockerfile
        .split("COPY src src")
        .next()
        .expect("the dependency layer comes first");
    let targets = metadata["packages"][0]["targets"].as_array().unwrap();
    assert!(targets.len() >= 5, "{targets:?}");
    for target in targets {
        let path = Path::new(target["src_path"].as_str().unwrap());
        let relative = path.strip_prefix(repo).unwrap().to_str().unwrap();
        assert!(
            stubs.contains(relative),
            "the Dockerfile's dependency layer has no stub for {relative}"
        );
    }
}
