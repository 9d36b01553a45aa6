-- Products. Prices are integer cents, so 19.99 is stored exactly.
-- Paging is keyset on `id` (newest first): the primary key serves the
-- public list and (owner_id, id) serves "my products", so a page costs
-- the same at row 20 as at row 20 million.
CREATE TABLE products (
    id          BIGINT        NOT NULL AUTO_INCREMENT,
    owner_id    BIGINT        NOT NULL,
    name        VARCHAR(512)  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    description TEXT          CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    price_cents BIGINT        NOT NULL,
    created_at  DATETIME(6)   NOT NULL,
    updated_at  DATETIME(6)   NOT NULL,
    PRIMARY KEY (id),
    KEY products_owner_id_id (owner_id, id),
    CONSTRAINT products_owner_fk FOREIGN KEY (owner_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT products_price_check CHECK (price_cents BETWEEN 0 AND 999999999999)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
