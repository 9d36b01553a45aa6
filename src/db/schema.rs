//! Diesel's view of the tables created by `migrations/`. Written by hand to
//! match the SQL; the integration tests run every query against the real
//! schema, so a mismatch fails them.

diesel::table! {
    users (id) {
        id -> BigInt,
        username -> Varchar,
        username_key -> Varchar,
        email -> Varchar,
        email_key -> Varchar,
        password_hash -> Varchar,
        role -> Varchar,
        created_at -> Datetime,
        updated_at -> Datetime,
        token_version -> Integer,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> BigInt,
        token_hash -> Binary,
        family_id -> Binary,
        user_id -> BigInt,
        issued_at -> Datetime,
        expires_at -> Datetime,
        idle_expires_at -> Datetime,
        used_at -> Nullable<Datetime>,
        revoked_at -> Nullable<Datetime>,
    }
}

diesel::table! {
    login_failures (throttle_key) {
        throttle_key -> Varchar,
        failures -> Integer,
        window_started_at -> Datetime,
    }
}

diesel::table! {
    products (id) {
        id -> BigInt,
        owner_id -> BigInt,
        name -> Varchar,
        description -> Nullable<Text>,
        price_cents -> BigInt,
        created_at -> Datetime,
        updated_at -> Datetime,
    }
}

diesel::joinable!(products -> users (owner_id));
diesel::joinable!(refresh_tokens -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(users, products, refresh_tokens);
