-- Revocable sessions and login throttling.

-- Each statement is skipped when its change is already there, so a run
-- cut off part-way is finished by the next (see README, Migrations).

-- Bumped by a password change or "log out everywhere": access tokens carry
-- the version they were issued under and stop working when it moves on.
SET @step = IF(
    (SELECT COUNT(*) FROM information_schema.COLUMNS
     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'users' AND COLUMN_NAME = 'token_version') = 0,
    'ALTER TABLE users ADD COLUMN token_version INT NOT NULL DEFAULT 0',
    'DO 0');
PREPARE step FROM @step;
EXECUTE step;
DEALLOCATE PREPARE step;

-- One row per issued refresh token, keyed by a SHA-256 of its `jti` (the
-- token itself is never stored). A family is one login's chain of
-- rotations: it shares `expires_at` (the absolute lifetime), while each
-- token also dies after `idle_expires_at`. Using a token stamps `used_at`;
-- presenting a used token again revokes its whole family.
CREATE TABLE IF NOT EXISTS refresh_tokens (
    id              BIGINT      NOT NULL AUTO_INCREMENT,
    token_hash      BINARY(32)  NOT NULL,
    family_id       BINARY(16)  NOT NULL,
    user_id         BIGINT      NOT NULL,
    issued_at       DATETIME(6) NOT NULL,
    expires_at      DATETIME(6) NOT NULL,
    idle_expires_at DATETIME(6) NOT NULL,
    used_at         DATETIME(6) NULL,
    revoked_at      DATETIME(6) NULL,
    PRIMARY KEY (id),
    UNIQUE KEY refresh_tokens_token_hash (token_hash),
    KEY refresh_tokens_family (family_id),
    KEY refresh_tokens_user (user_id),
    KEY refresh_tokens_expires (expires_at),
    CONSTRAINT refresh_tokens_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Failed logins per account (or per unknown name), in a fixed window that
-- starts at the first failure. Shared by every replica.
CREATE TABLE IF NOT EXISTS login_failures (
    throttle_key      VARCHAR(160) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    failures          INT          NOT NULL,
    window_started_at DATETIME(6)  NOT NULL,
    PRIMARY KEY (throttle_key),
    KEY login_failures_window (window_started_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
