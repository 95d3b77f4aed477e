-- Failed password checks, so that every replica counts the same failures (the embedded store's
-- one process counts them in memory). Rows live for the limiter's window, then the sweeper drops
-- them.
CREATE TABLE login_failures (
    key text NOT NULL,
    at bigint NOT NULL
);
CREATE INDEX login_failures_key_at ON login_failures (key, at);
CREATE INDEX login_failures_at ON login_failures (at);
