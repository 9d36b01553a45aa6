-- The lookup keys become SHA-256 digests of their text. Lower-casing can
-- lengthen a string (U+0130 becomes two characters), so a key stored as
-- text could outgrow its column on input within the documented limits; a
-- digest is 32 bytes whatever the text. SHA2() hashes the UTF-8 bytes,
-- exactly as the service does, so existing accounts keep their keys.
--
-- Each statement runs only in the state the one before it leaves (the
-- text key still there, the digest added or not), so a run cut off
-- part-way is finished by the next (see README, Migrations).
SET @step = IF(
    (SELECT COUNT(*) FROM information_schema.COLUMNS
     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'users' AND COLUMN_NAME = 'username_digest') = 0
    AND (SELECT COUNT(*) FROM information_schema.COLUMNS
     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'users' AND COLUMN_NAME = 'username_key' AND DATA_TYPE = 'varchar') = 1,
    'ALTER TABLE users ADD COLUMN username_digest BINARY(32) NULL, ADD COLUMN email_digest BINARY(32) NULL',
    'DO 0');
PREPARE step FROM @step;
EXECUTE step;
DEALLOCATE PREPARE step;

SET @step = IF(
    (SELECT COUNT(*) FROM information_schema.COLUMNS
     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'users' AND COLUMN_NAME = 'username_digest') = 1
    AND (SELECT COUNT(*) FROM information_schema.COLUMNS
     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'users' AND COLUMN_NAME = 'username_key' AND DATA_TYPE = 'varchar') = 1,
    'UPDATE users SET username_digest = UNHEX(SHA2(username_key, 256)), email_digest = UNHEX(SHA2(email_key, 256))',
    'DO 0');
PREPARE step FROM @step;
EXECUTE step;
DEALLOCATE PREPARE step;

SET @step = IF(
    (SELECT COUNT(*) FROM information_schema.COLUMNS
     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'users' AND COLUMN_NAME = 'username_digest') = 1
    AND (SELECT COUNT(*) FROM information_schema.COLUMNS
     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'users' AND COLUMN_NAME = 'username_key' AND DATA_TYPE = 'varchar') = 1,
    'ALTER TABLE users DROP KEY users_username_key, DROP KEY users_email_key, DROP COLUMN username_key, DROP COLUMN email_key',
    'DO 0');
PREPARE step FROM @step;
EXECUTE step;
DEALLOCATE PREPARE step;

SET @step = IF(
    (SELECT COUNT(*) FROM information_schema.COLUMNS
     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'users' AND COLUMN_NAME = 'username_digest') = 1
    AND (SELECT COUNT(*) FROM information_schema.COLUMNS
     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'users' AND COLUMN_NAME = 'username_key') = 0,
    'ALTER TABLE users CHANGE COLUMN username_digest username_key BINARY(32) NOT NULL AFTER username, CHANGE COLUMN email_digest email_key BINARY(32) NOT NULL AFTER email, ADD UNIQUE KEY users_username_key (username_key), ADD UNIQUE KEY users_email_key (email_key)',
    'DO 0');
PREPARE step FROM @step;
EXECUTE step;
DEALLOCATE PREPARE step;

-- The login counter's key the same way (`user:<id>` or `name:<folded
-- name>`, hashed). The column now counts password checks in the window:
-- a check is counted before it runs.
SET @step = IF(
    (SELECT COUNT(*) FROM information_schema.COLUMNS
     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'login_failures' AND COLUMN_NAME = 'key_digest') = 0
    AND (SELECT COUNT(*) FROM information_schema.COLUMNS
     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'login_failures' AND COLUMN_NAME = 'throttle_key' AND DATA_TYPE = 'varchar') = 1,
    'ALTER TABLE login_failures ADD COLUMN key_digest BINARY(32) NULL',
    'DO 0');
PREPARE step FROM @step;
EXECUTE step;
DEALLOCATE PREPARE step;

SET @step = IF(
    (SELECT COUNT(*) FROM information_schema.COLUMNS
     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'login_failures' AND COLUMN_NAME = 'key_digest') = 1
    AND (SELECT COUNT(*) FROM information_schema.COLUMNS
     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'login_failures' AND COLUMN_NAME = 'throttle_key' AND DATA_TYPE = 'varchar') = 1,
    'UPDATE login_failures SET key_digest = UNHEX(SHA2(throttle_key, 256))',
    'DO 0');
PREPARE step FROM @step;
EXECUTE step;
DEALLOCATE PREPARE step;

SET @step = IF(
    (SELECT COUNT(*) FROM information_schema.COLUMNS
     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'login_failures' AND COLUMN_NAME = 'key_digest') = 1
    AND (SELECT COUNT(*) FROM information_schema.COLUMNS
     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'login_failures' AND COLUMN_NAME = 'throttle_key' AND DATA_TYPE = 'varchar') = 1,
    'ALTER TABLE login_failures DROP PRIMARY KEY, DROP COLUMN throttle_key',
    'DO 0');
PREPARE step FROM @step;
EXECUTE step;
DEALLOCATE PREPARE step;

SET @step = IF(
    (SELECT COUNT(*) FROM information_schema.COLUMNS
     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'login_failures' AND COLUMN_NAME = 'key_digest') = 1
    AND (SELECT COUNT(*) FROM information_schema.COLUMNS
     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'login_failures' AND COLUMN_NAME = 'throttle_key') = 0,
    'ALTER TABLE login_failures CHANGE COLUMN key_digest throttle_key BINARY(32) NOT NULL FIRST, ADD PRIMARY KEY (throttle_key)',
    'DO 0');
PREPARE step FROM @step;
EXECUTE step;
DEALLOCATE PREPARE step;
