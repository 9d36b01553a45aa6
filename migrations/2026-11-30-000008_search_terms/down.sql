ALTER TABLE products
    ADD FULLTEXT KEY products_search (name, description);
DROP TABLE search_backfill;
DROP TABLE search_terms;
DROP TABLE product_terms;
