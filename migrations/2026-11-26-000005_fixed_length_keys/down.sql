-- Digests cannot be turned back into text, so the old keys are rebuilt
-- from what was typed: exact for usernames (ASCII); emails are lower-cased
-- by the database, which agrees with the service for all but a few
-- characters. Login counters are dropped.
ALTER TABLE users
    DROP KEY users_username_key,
    DROP KEY users_email_key,
    DROP COLUMN username_key,
    DROP COLUMN email_key,
    ADD COLUMN username_key VARCHAR(80) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL AFTER username,
    ADD COLUMN email_key VARCHAR(120) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL AFTER email;
UPDATE users SET username_key = LOWER(username), email_key = LOWER(email);
ALTER TABLE users
    MODIFY username_key VARCHAR(80) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    MODIFY email_key VARCHAR(120) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    ADD UNIQUE KEY users_username_key (username_key),
    ADD UNIQUE KEY users_email_key (email_key);

DELETE FROM login_failures;
ALTER TABLE login_failures
    MODIFY throttle_key VARCHAR(160) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;
