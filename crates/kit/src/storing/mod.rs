//! Each service's own database: SQLite or PostgreSQL behind one pool, migrated at start
//! ([`db`]), the connections its hot reads go through ([`readers`]), and its writes, one
//! writer at a time on SQLite ([`write`]).

pub mod db;
pub mod options;
pub mod readers;
pub mod write;
