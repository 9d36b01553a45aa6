//! The committed spec, the served spec and Swagger UI.

use serde_json::Value;

use crate::helpers::TestApp;

const COMMITTED: &str = include_str!("../../openapi/openapi.json");

#[test]
fn the_committed_spec_matches_the_generated_one() {
    let generated = catalog::api::spec_json();
    assert!(
        COMMITTED.trim_end() == generated.trim_end(),
        "openapi/openapi.json is stale: run scripts/update-openapi.sh and commit the result"
    );
}

#[test]
fn every_operation_is_named_tagged_summarised_and_lists_its_errors() {
    let spec: Value = serde_json::from_str(&catalog::api::spec_json()).unwrap();
    let mut operation_ids = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has an operationId"));
            assert!(
                id.chars().all(|c| c.is_ascii_alphanumeric()),
                "{id} is readable"
            );
            operation_ids.push(id.to_owned());
            assert!(
                op["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{id} has a tag"
            );
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{id} has a summary"
            );
            let responses = op["responses"].as_object().unwrap();
            // Liveness answers from memory and cannot fail.
            if id != "checkLiveness" {
                assert!(responses.contains_key("500"), "{id} documents 500");
            }
            for (status, response) in responses {
                assert!(
                    response["description"]
                        .as_str()
                        .is_some_and(|d| !d.is_empty()),
                    "{id} {status} has a description"
                );
                if status.starts_with('4') || status.starts_with('5') {
                    assert!(
                        response["content"]["application/problem+json"].is_object(),
                        "{id} {status} is problem+json"
                    );
                }
            }
            if op.get("security").is_some() {
                assert!(
                    responses.contains_key("401"),
                    "{id} is protected and documents 401"
                );
            }
        }
    }
    operation_ids.sort();
    assert_eq!(
        operation_ids,
        [
            "changePassword",
            "checkLiveness",
            "checkReadiness",
            "createProduct",
            "deleteProduct",
            "editProduct",
            "editUser",
            "getCurrentUser",
            "getProduct",
            "getUser",
            "listAuditEvents",
            "listMyProducts",
            "listProducts",
            "listUsers",
            "login",
            "logout",
            "logoutEverywhere",
            "logoutUserEverywhere",
            "refreshTokens",
            "signup",
        ]
    );
    // Every admin operation refuses non-admins, and the guard and
    // preconditions of account changes are documented.
    for (path, method) in [
        ("/api/admin/users", "get"),
        ("/api/admin/users/{id}", "get"),
        ("/api/admin/users/{id}", "patch"),
        ("/api/admin/users/{id}/logout-all", "post"),
        ("/api/admin/audit", "get"),
    ] {
        for status in ["401", "403"] {
            assert!(
                spec["paths"][path][method]["responses"]
                    .get(status)
                    .is_some(),
                "{method} {path} {status}"
            );
        }
    }
    for status in ["409", "412"] {
        assert!(
            spec["paths"]["/api/admin/users/{id}"]["patch"]["responses"]
                .get(status)
                .is_some()
        );
    }
    assert!(
        spec["paths"]["/api/auth/login"]["post"]["responses"]
            .get("403")
            .is_some()
    );
    for scheme in ["accessToken", "refreshToken"] {
        let s = &spec["components"]["securitySchemes"][scheme];
        assert_eq!(s["type"], "http", "{scheme}");
        assert_eq!(s["scheme"], "bearer", "{scheme}");
    }
    let documented = |path: &str, method: &str, status: &str| {
        spec["paths"][path][method]["responses"]
            .get(status)
            .is_some()
    };
    assert!(documented("/api/auth/signup", "post", "409"));
    for op in [
        ("/api/auth/signup", "post"),
        ("/api/auth/login", "post"),
        ("/api/products", "post"),
    ] {
        for status in ["400", "413", "415"] {
            assert!(documented(op.0, op.1, status), "{op:?} {status}");
        }
    }
    assert!(documented("/api/auth/signup", "post", "201"));
    assert!(documented("/api/products", "post", "201"));
    assert!(
        spec["paths"]["/api/products"]["post"]["responses"]["201"]["headers"]
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.eq_ignore_ascii_case("location"))
    );
    for status in ["204", "401", "403", "404"] {
        assert!(
            documented("/api/products/{id}", "delete", status),
            "delete {status}"
        );
    }
    assert!(documented("/readyz", "get", "503"));
    assert!(documented("/api/auth/login", "post", "429"));
    for status in ["204", "400", "401", "403", "429"] {
        assert!(
            documented("/api/auth/password", "put", status),
            "password {status}"
        );
    }
    for path in ["/api/auth/logout", "/api/auth/logout-all"] {
        assert!(
            documented(path, "post", "204") && documented(path, "post", "401"),
            "{path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_service_serves_its_spec_as_json_and_yaml() {
    let app = TestApp::spawn().await;
    let json: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    let generated: Value = serde_json::from_str(&catalog::api::spec_json()).unwrap();
    assert_eq!(json, generated);
    let yaml = app.get("/api/openapi.yaml").await;
    assert_eq!(yaml.status(), 200);
    let text = yaml.text().await.unwrap();
    assert!(text.contains("operationId: listProducts"), "yaml spec");
}

#[tokio::test(flavor = "multi_thread")]
async fn swagger_ui_is_served_with_its_assets_embedded() {
    let app = TestApp::spawn().await;
    let response = app.get("/api/docs").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = response.text().await.unwrap();
    assert!(html.contains("SwaggerUIBundle"), "the bundle is inline");
    assert!(html.contains("listMyProducts"), "the spec is inline");
    // Nothing is fetched from elsewhere: no external scripts or styles.
    for needle in [
        "<script src=\"http",
        "<script src='http",
        "<link href=\"http",
        "rel=\"stylesheet\" href=\"http",
    ] {
        assert!(!html.contains(needle), "external asset: {needle}");
    }
}
