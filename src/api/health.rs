//! Liveness and readiness probes for load balancers and container
//! health checks.

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use crate::domain::Services;

use super::ApiTags;
use super::problem::problems;

#[derive(Debug, Object)]
pub struct HealthStatus {
    /// `ok` or `ready`.
    pub status: String,
}

#[derive(Debug, ApiResponse)]
pub enum HealthResponse {
    /// The service is up (liveness) or can serve requests (readiness).
    #[oai(status = 200)]
    Ok(Json<HealthStatus>),
}

problems! {
    /// Readiness fails only as 503 (the database does not answer), which
    /// every operation documents.
    pub enum ReadinessProblem for [] {}
}

pub struct HealthApi;

#[OpenApi(tag = "ApiTags::Health")]
impl HealthApi {
    /// Liveness
    ///
    /// Answers 200 while the process runs.
    #[oai(path = "/healthz", method = "get", operation_id = "checkLiveness")]
    async fn healthz(&self) -> HealthResponse {
        HealthResponse::Ok(Json(HealthStatus {
            status: "ok".into(),
        }))
    }

    /// Readiness
    ///
    /// Answers 200 only when the database answers.
    #[oai(path = "/readyz", method = "get", operation_id = "checkReadiness")]
    async fn readyz(&self, services: Data<&Services>) -> Result<HealthResponse, ReadinessProblem> {
        services.ready().await?;
        Ok(HealthResponse::Ok(Json(HealthStatus {
            status: "ready".into(),
        })))
    }
}
