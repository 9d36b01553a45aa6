-- The lookup keys become SHA-256 digests of their text. Lower-casing can
-- lengthen a string (U+0130 becomes two characters), so a key stored as
-- text could outgrow its column on input within the documented limits; a
-- digest is 32 bytes whatever the text. SHA2() hashes the UTF-8 bytes,
-- exactly as the service does, so existing accounts keep their keys.
ALTER TABLE users
    ADD COLUMN username_digest BINARY(32) NULL,
    ADD COLUMN email_digest BINARY(32) NULL;
UPDATE users
    SET username_digest = UNHEX(SHA2(username_key, 256)),
        email_digest = UNHEX(SHA2(email_key, 256));
ALTER TABLE users
    DROP KEY users_username_key,
    DROP KEY users_email_key,
    DROP COLUMN username_key,
    DROP COLUMN email_key;
ALTER TABLE users
    CHANGE COLUMN username_digest username_key BINARY(32) NOT NULL AFTER username,
    CHANGE COLUMN email_digest email_key BINARY(32) NOT NULL AFTER email,
    ADD UNIQUE KEY users_username_key (username_key),
    ADD UNIQUE KEY users_email_key (email_key);

-- The login counter's key the same way (`user:<id>` or `name:<folded
-- name>`, hashed). The column now counts password checks in the window:
-- a check is counted before it runs.
ALTER TABLE login_failures ADD COLUMN key_digest BINARY(32) NULL;
UPDATE login_failures SET key_digest = UNHEX(SHA2(throttle_key, 256));
ALTER TABLE login_failures DROP PRIMARY KEY, DROP COLUMN throttle_key;
ALTER TABLE login_failures
    CHANGE COLUMN key_digest throttle_key BINARY(32) NOT NULL FIRST,
    ADD PRIMARY KEY (throttle_key);
