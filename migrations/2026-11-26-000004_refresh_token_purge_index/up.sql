-- When a refresh token stops mattering, kept by the database itself: a
-- revoked token at once, an unused one when it expires or idles out, a
-- used one when its family expires (until then a replay must still be
-- recognised). The purge reads a range of this index instead of scanning
-- the table for three conditions that no single index served.
ALTER TABLE refresh_tokens
    ADD COLUMN purge_after DATETIME(6) AS (
        CASE
            WHEN revoked_at IS NOT NULL THEN revoked_at
            WHEN used_at IS NULL THEN LEAST(expires_at, idle_expires_at)
            ELSE expires_at
        END
    ) STORED,
    ADD KEY refresh_tokens_purge_after (purge_after),
    DROP KEY refresh_tokens_expires;
