-- Each statement is skipped when its change is already there, so a run
-- cut off part-way is finished by the next (see README, Migrations).
--
-- Search that reads in page order. FULLTEXT collects every match before
-- it returns a row, so no LIMIT and no time limit bounds a search for a
-- common word; it goes. In its place, one row per distinct search word
-- (as the service cuts and folds them) per product, written in the same
-- transaction as the product. Each row carries the product's sort keys
-- and filter columns, and each sort has an index (term, key, id, ...):
-- a one-word search is then a range read in page order that stops at the
-- page, with the price and owner filters checked inside the index.
CREATE TABLE IF NOT EXISTS product_terms (
    product_id  BIGINT       NOT NULL,
    term        VARCHAR(32)  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    owner_id    BIGINT       NOT NULL,
    price_cents BIGINT       NOT NULL,
    created_at  DATETIME(6)  NOT NULL,
    name        VARCHAR(512) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL,
    PRIMARY KEY (product_id, term),
    KEY product_terms_created (term, created_at, product_id, price_cents, owner_id),
    KEY product_terms_price (term, price_cents, product_id, owner_id),
    KEY product_terms_name (term, name, product_id, price_cents, owner_id),
    CONSTRAINT product_terms_product_fk FOREIGN KEY (product_id) REFERENCES products (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- How many products hold each word, kept with the rows above: a search
-- of several words reads the rarest and looks the others up.
CREATE TABLE IF NOT EXISTS search_terms (
    term     VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    products BIGINT      NOT NULL,
    PRIMARY KEY (term)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- `catalog reindex` fills the index for products that existed before it,
-- in id order from `next_product_id`; `finished_at` is set when it has
-- seen them all. A database without products needs nothing.
CREATE TABLE IF NOT EXISTS search_backfill (
    id              TINYINT     NOT NULL,
    next_product_id BIGINT      NOT NULL,
    finished_at     DATETIME(6) NULL,
    PRIMARY KEY (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
INSERT INTO search_backfill (id, next_product_id, finished_at)
    SELECT 1, 0, IF(EXISTS (SELECT 1 FROM products), NULL, UTC_TIMESTAMP(6))
    FROM DUAL WHERE NOT EXISTS (SELECT 1 FROM search_backfill);

-- The one-owner indexes carry the price too, so a price filter in another
-- order is checked inside the index, as it is for the whole catalog. One
-- statement, so the foreign key always has an index on owner_id.
SET @step = IF(
    (SELECT COUNT(*) FROM information_schema.STATISTICS
     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'products' AND INDEX_NAME = 'products_search') > 0,
    'ALTER TABLE products DROP KEY products_search, DROP KEY products_owner_created, ADD KEY products_owner_created (owner_id, created_at, id, price_cents), DROP KEY products_owner_name, ADD KEY products_owner_name (owner_id, name, id, price_cents)',
    'DO 0');
PREPARE step FROM @step;
EXECUTE step;
DEALLOCATE PREPARE step;
