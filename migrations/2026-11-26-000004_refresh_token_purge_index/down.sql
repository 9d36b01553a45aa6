ALTER TABLE refresh_tokens
    ADD KEY refresh_tokens_expires (expires_at),
    DROP KEY refresh_tokens_purge_after,
    DROP COLUMN purge_after;
