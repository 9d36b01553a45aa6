DROP TABLE idempotency_keys;
ALTER TABLE products DROP KEY products_search;
ALTER TABLE products ADD KEY products_owner_id_id (owner_id, id);
ALTER TABLE products
    DROP KEY products_created,
    DROP KEY products_price,
    DROP KEY products_name,
    DROP KEY products_owner_created,
    DROP KEY products_owner_price,
    DROP KEY products_owner_name,
    DROP COLUMN version,
    MODIFY name VARCHAR(512) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    MODIFY description TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL;
