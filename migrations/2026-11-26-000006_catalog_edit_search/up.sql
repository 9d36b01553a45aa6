-- Editing, searching and sorting the catalog, and safe retries of create.
--
-- `version` moves on with every edit; it is the product's ETag. Names and
-- descriptions compare under utf8mb4_unicode_ci (the stored text is not
-- changed), so the name sort and the FULLTEXT search ignore case and
-- accents alike on MySQL 8 and MariaDB.
--
-- Every sort pages by keyset on (sort key, id), and each has an index in
-- that order, for the whole catalog and for one owner's products. The
-- whole-catalog indexes also carry price_cents, so a price filter is
-- checked inside the index instead of row by row. They replace
-- (owner_id, id): the owner indexes serve the foreign key.
--
-- Each statement is skipped when its change is already there, so a run
-- cut off part-way is finished by the next (see README, Migrations).
SET @step = IF(
    (SELECT COUNT(*) FROM information_schema.COLUMNS
     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'products' AND COLUMN_NAME = 'version') = 0,
    'ALTER TABLE products ADD COLUMN version INT NOT NULL DEFAULT 1 AFTER price_cents, MODIFY name VARCHAR(512) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL, MODIFY description TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NULL, ADD KEY products_created (created_at, id, price_cents), ADD KEY products_price (price_cents, id), ADD KEY products_name (name, id, price_cents), ADD KEY products_owner_created (owner_id, created_at, id), ADD KEY products_owner_price (owner_id, price_cents, id), ADD KEY products_owner_name (owner_id, name, id)',
    'DO 0');
PREPARE step FROM @step;
EXECUTE step;
DEALLOCATE PREPARE step;

SET @step = IF(
    (SELECT COUNT(*) FROM information_schema.STATISTICS
     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'products' AND INDEX_NAME = 'products_owner_id_id') > 0,
    'ALTER TABLE products DROP KEY products_owner_id_id',
    'DO 0');
PREPARE step FROM @step;
EXECUTE step;
DEALLOCATE PREPARE step;

SET @step = IF(
    (SELECT COUNT(*) FROM information_schema.STATISTICS
     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'products' AND INDEX_NAME = 'products_search') = 0,
    'ALTER TABLE products ADD FULLTEXT KEY products_search (name, description)',
    'DO 0');
PREPARE step FROM @step;
EXECUTE step;
DEALLOCATE PREPARE step;

-- One row per Idempotency-Key a user sent with a create, for 24 hours:
-- a digest of the key, a digest of the request it came with, and the
-- product it created, as it was then. The primary key is what makes two
-- concurrent requests with one key create one product: the second waits
-- on the first's row and then finds it.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    user_id      BIGINT      NOT NULL,
    key_hash     BINARY(32)  NOT NULL,
    request_hash BINARY(32)  NOT NULL,
    created      MEDIUMTEXT  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    created_at   DATETIME(6) NOT NULL,
    expires_at   DATETIME(6) NOT NULL,
    PRIMARY KEY (user_id, key_hash),
    KEY idempotency_keys_expires (expires_at),
    CONSTRAINT idempotency_keys_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
