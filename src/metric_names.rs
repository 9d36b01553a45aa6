//! Every metric's name and every label value the service records,
//! written once: a typo in a name is a compile error here rather than a
//! new, silent series. Recorders in every layer and the HELP lines in
//! `monitoring` use these.

pub const HTTP_REQUESTS: &str = "catalog_http_requests_total";
pub const HTTP_REQUEST_DURATION: &str = "catalog_http_request_duration_seconds";
pub const HTTP_REQUESTS_IN_FLIGHT: &str = "catalog_http_requests_in_flight";

pub const DB_POOL_MAX_CONNECTIONS: &str = "catalog_db_pool_max_connections";
pub const DB_POOL_CONNECTIONS: &str = "catalog_db_pool_connections";
pub const DB_ACQUIRE_DURATION: &str = "catalog_db_acquire_duration_seconds";
pub const DB_ACQUIRE_TIMEOUTS: &str = "catalog_db_acquire_timeouts_total";
pub const DB_DEADLINE_EXCEEDED: &str = "catalog_db_deadline_exceeded_total";
pub const DB_CONNECTIONS_DISCARDED: &str = "catalog_db_connections_discarded_total";
pub const DB_QUERY_ERRORS: &str = "catalog_db_query_errors_total";

pub const DB_READS: &str = "catalog_db_reads_total";
pub const DB_READ_FALLBACKS: &str = "catalog_db_read_fallbacks_total";
pub const DB_CAUSAL_WAITS: &str = "catalog_db_causal_waits_total";
pub const DB_CAUSAL_WAIT_DURATION: &str = "catalog_db_causal_wait_seconds";
pub const DB_REPLICAS: &str = "catalog_db_replicas";
pub const DB_REPLICA_HEALTHY: &str = "catalog_db_replica_healthy";
pub const DB_REPLICA_LAG: &str = "catalog_db_replica_lag_seconds";
pub const DB_REPLICA_OUTAGES: &str = "catalog_db_replica_outages_total";
pub const DB_REPLICA_POOL_CONNECTIONS: &str = "catalog_db_replica_pool_connections";

pub const CONNECTIONS_OPEN: &str = "catalog_connections_open";
pub const CONNECTIONS_REFUSED: &str = "catalog_connections_refused_total";
pub const CONNECTIONS_EVICTED: &str = "catalog_connections_evicted_total";
pub const CONNECTIONS_TIMED_OUT: &str = "catalog_connections_timed_out_total";

pub const LIST_TIME_LIMIT: &str = "catalog_list_time_limit_total";
pub const LIST_SCAN_REFUSED: &str = "catalog_list_scan_refused_total";

pub const THROTTLE_REFUSALS: &str = "catalog_throttle_refusals_total";
pub const LOGINS: &str = "catalog_logins_total";
pub const SIGNUPS: &str = "catalog_signups_total";
pub const PASSWORD_HASH_QUEUE: &str = "catalog_password_hash_queue_seconds";
pub const PASSWORD_HASH: &str = "catalog_password_hash_seconds";
pub const PASSWORD_HASH_SLOTS_IN_USE: &str = "catalog_password_hash_slots_in_use";
pub const REFRESH_ROTATIONS: &str = "catalog_refresh_rotations_total";
pub const REFRESH_REUSE_DETECTED: &str = "catalog_refresh_reuse_detected_total";
pub const SESSIONS_ENDED: &str = "catalog_sessions_ended_total";
pub const ADMIN_ACTIONS: &str = "catalog_admin_actions_total";

pub const READY: &str = "catalog_ready";
pub const UPTIME: &str = "catalog_uptime_seconds";
pub const BUILD_INFO: &str = "catalog_build_info";

/// Every name above.
pub const ALL: &[&str] = &[
    HTTP_REQUESTS,
    HTTP_REQUEST_DURATION,
    HTTP_REQUESTS_IN_FLIGHT,
    DB_POOL_MAX_CONNECTIONS,
    DB_POOL_CONNECTIONS,
    DB_ACQUIRE_DURATION,
    DB_ACQUIRE_TIMEOUTS,
    DB_DEADLINE_EXCEEDED,
    DB_CONNECTIONS_DISCARDED,
    DB_QUERY_ERRORS,
    DB_READS,
    DB_READ_FALLBACKS,
    DB_CAUSAL_WAITS,
    DB_CAUSAL_WAIT_DURATION,
    DB_REPLICAS,
    DB_REPLICA_HEALTHY,
    DB_REPLICA_LAG,
    DB_REPLICA_OUTAGES,
    DB_REPLICA_POOL_CONNECTIONS,
    CONNECTIONS_OPEN,
    CONNECTIONS_REFUSED,
    CONNECTIONS_EVICTED,
    CONNECTIONS_TIMED_OUT,
    LIST_TIME_LIMIT,
    LIST_SCAN_REFUSED,
    THROTTLE_REFUSALS,
    LOGINS,
    SIGNUPS,
    PASSWORD_HASH_QUEUE,
    PASSWORD_HASH,
    PASSWORD_HASH_SLOTS_IN_USE,
    REFRESH_ROTATIONS,
    REFRESH_REUSE_DETECTED,
    SESSIONS_ENDED,
    ADMIN_ACTIONS,
    READY,
    UPTIME,
    BUILD_INFO,
];

/// Label values, by the label they go with.
pub mod label {
    /// `catalog_logins_total{outcome}`.
    pub mod outcome {
        pub const SUCCESS: &str = "success";
        pub const BAD_CREDENTIALS: &str = "bad_credentials";
        pub const THROTTLED: &str = "throttled";
        /// The password was right, but the account is disabled.
        pub const DISABLED: &str = "disabled";
        pub const ALL: [&str; 4] = [SUCCESS, BAD_CREDENTIALS, THROTTLED, DISABLED];
    }

    /// `catalog_sessions_ended_total{by}`.
    pub mod ended_by {
        pub const LOGOUT: &str = "logout";
        pub const LOGOUT_ALL: &str = "logout_all";
        pub const ALL: [&str; 2] = [LOGOUT, LOGOUT_ALL];
    }

    /// `catalog_admin_actions_total{action}`, and the `action` of each
    /// audit event: what an admin (or an operator at the command line)
    /// did.
    pub mod admin_action {
        /// A user's role or disabled state changed.
        pub const USER_UPDATE: &str = "user.update";
        /// A user's sessions were ended.
        pub const USER_LOGOUT_ALL: &str = "user.logout_all";
        /// A user's password was set by an operator.
        pub const USER_SET_PASSWORD: &str = "user.set_password";
        /// Another user's product was edited by an admin.
        pub const PRODUCT_EDIT: &str = "product.edit";
        /// Another user's product was deleted by an admin.
        pub const PRODUCT_DELETE: &str = "product.delete";
        pub const ALL: [&str; 5] = [
            USER_UPDATE,
            USER_LOGOUT_ALL,
            USER_SET_PASSWORD,
            PRODUCT_EDIT,
            PRODUCT_DELETE,
        ];
    }

    /// `catalog_db_query_errors_total{kind}`.
    pub mod query_error {
        pub const UNAVAILABLE: &str = "unavailable";
        pub const QUERY: &str = "query";
        pub const TIME_LIMIT: &str = "time_limit";
        pub const ALL: [&str; 3] = [UNAVAILABLE, QUERY, TIME_LIMIT];
    }

    /// `catalog_db_reads_total{target}`.
    pub mod read_target {
        pub const PRIMARY: &str = "primary";
        pub const REPLICA: &str = "replica";
    }

    /// `catalog_db_read_fallbacks_total{reason}`: why a read a replica
    /// could have served went to the primary.
    pub mod read_fallback {
        /// Every replica was unhealthy.
        pub const UNHEALTHY: &str = "unhealthy";
        /// The replica had not applied the read's position in time.
        pub const CAUSAL_TIMEOUT: &str = "causal_timeout";
        /// The replica failed the read.
        pub const REPLICA_FAILED: &str = "replica_failed";
        /// The replica had no connection (or, for a read with a token,
        /// no room to wait) free in time.
        pub const REPLICA_BUSY: &str = "replica_busy";
        /// The read's consistency token came from another cluster.
        pub const FOREIGN_POSITION: &str = "foreign_position";
        pub const ALL: [&str; 5] = [
            UNHEALTHY,
            CAUSAL_TIMEOUT,
            REPLICA_FAILED,
            REPLICA_BUSY,
            FOREIGN_POSITION,
        ];
    }

    /// `catalog_db_causal_waits_total{outcome}`.
    pub mod causal_wait {
        pub const APPLIED: &str = "applied";
        pub const TIMED_OUT: &str = "timed_out";
        pub const ALL: [&str; 2] = [APPLIED, TIMED_OUT];
    }

    /// `catalog_db_replicas{state}`.
    pub mod replica_state {
        pub const HEALTHY: &str = "healthy";
        pub const UNHEALTHY: &str = "unhealthy";
    }

    /// `catalog_db_pool_connections{state}` and
    /// `catalog_db_replica_pool_connections{replica,state}`.
    pub mod pool_state {
        pub const IDLE: &str = "idle";
        pub const IN_USE: &str = "in_use";
    }

    /// `catalog_connections_refused_total{reason}`.
    pub mod refused {
        pub const CLIENT_LIMIT: &str = "client_limit";
    }

    /// `catalog_connections_timed_out_total{timeout}`.
    pub mod timed_out {
        /// A head (or, from the accept, the first byte) came too slowly.
        pub const HEADER: &str = "header";
        /// Idle between requests too long.
        pub const KEEP_ALIVE: &str = "keep_alive";
        pub const ALL: [&str; 2] = [HEADER, KEEP_ALIVE];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_distinct_prometheus_names_with_the_service_prefix() {
        let pattern = regex::Regex::new("^catalog_[a-z_]+[a-z]$").unwrap();
        for (i, name) in ALL.iter().enumerate() {
            assert!(pattern.is_match(name), "{name}");
            assert!(!ALL[..i].contains(name), "{name} twice");
        }
    }
}
