ALTER TABLE throttle_counters
    RENAME TO login_failures,
    RENAME COLUMN hits TO failures,
    RENAME INDEX throttle_counters_window TO login_failures_window;
