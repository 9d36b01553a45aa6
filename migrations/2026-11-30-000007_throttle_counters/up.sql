-- The throttle counts more than failed logins now: failed password
-- checks per (account, client), per account, per client and per device
-- token, and signups per client. They are all fixed-window counters keyed
-- by a digest, so one table holds them, named for what it is. One
-- statement, so it applies whole or not at all.
ALTER TABLE login_failures
    RENAME TO throttle_counters,
    RENAME COLUMN failures TO hits,
    RENAME INDEX login_failures_window TO throttle_counters_window;
