-- PostgreSQL twin of ../sqlite/0002_session_end.sql.
-- A session ended because its cookie was presented by another client is kept, marked, until
-- it would have timed out: the browser it was stolen from is told why on its next request.
ALTER TABLE sessions ADD COLUMN ended_reason TEXT;
