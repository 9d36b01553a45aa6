-- Administration: disabled accounts, a version for the account's ETag,
-- each account's product count, case-insensitive prefix search of
-- usernames and emails, and the audit trail.
--
-- Each statement is skipped when its change is already there, or can run
-- again, so a run cut off part-way is finished by the next (see README,
-- Migrations).
--
-- One ALTER, so it applies whole or not at all:
-- - `disabled_at`: set while an admin has disabled the account;
-- - `version`: moves on whenever what an admin sees of the account
--   changes (role, disabled, product count); its ETag names it;
-- - `product_count`: kept in the transaction of each create and delete;
-- - `username_fold`, `email_fold`: the lower-cased forms, made by the
--   database, which folds the search prefix with the same LOWER(), so the
--   two cannot disagree; each has an index for prefix ranges in order;
-- - `users_active_admins`: the guard on the last active admin locks
--   exactly the admins' entries.
SET @step = IF(
    (SELECT COUNT(*) FROM information_schema.COLUMNS
     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'users' AND COLUMN_NAME = 'version') = 0,
    'ALTER TABLE users
        ADD COLUMN disabled_at DATETIME(6) NULL,
        ADD COLUMN version INT NOT NULL DEFAULT 1,
        ADD COLUMN product_count BIGINT NOT NULL DEFAULT 0,
        ADD COLUMN username_fold VARCHAR(80) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin AS (LOWER(username)) STORED,
        ADD COLUMN email_fold VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin AS (LOWER(email)) STORED,
        ADD KEY users_username_fold (username_fold, id),
        ADD KEY users_email_fold (email_fold, id),
        ADD KEY users_active_admins (role, disabled_at)',
    'DO 0');
PREPARE step FROM @step;
EXECUTE step;
DEALLOCATE PREPARE step;

-- Counts the products that existed before the column; running it again
-- gives the same counts.
UPDATE users SET product_count = (SELECT COUNT(*) FROM products WHERE products.owner_id = users.id);

-- One row per admin action, written in the transaction of the change.
-- `actor` is `user:<id>` or `cli:<operating-system user>`; `target` is
-- `user:<id>` or `product:<id>`; `changes` is JSON: the changed fields
-- before and after (never a password hash). Never updated or deleted by
-- the service. An index per filter (actor, target, both), each in id
-- order, so every page of the trail stops at the page.
CREATE TABLE IF NOT EXISTS audit_events (
    id          BIGINT      NOT NULL AUTO_INCREMENT,
    actor       VARCHAR(80) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    action      VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    target      VARCHAR(40) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    changes     MEDIUMTEXT  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    request_id  VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NULL,
    created_at  DATETIME(6) NOT NULL,
    PRIMARY KEY (id),
    KEY audit_events_actor (actor, id),
    KEY audit_events_target (target, id),
    KEY audit_events_actor_target (actor, target, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
