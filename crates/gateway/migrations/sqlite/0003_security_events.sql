-- The security audit trail: one row per security event (login failures, session replays,
-- API keys created and revoked, rate limits tripped, ...), for administrators to
-- query. The gateway keeps it bounded in age and in rows (see src/trail).
CREATE TABLE security_events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    kind    TEXT    NOT NULL,
    user_id INTEGER,
    address TEXT,
    detail  TEXT    NOT NULL
);
CREATE INDEX security_events_by_time ON security_events (at);
CREATE INDEX security_events_by_kind ON security_events (kind, id);
CREATE INDEX security_events_by_user ON security_events (user_id, id);
