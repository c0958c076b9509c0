//! Each service's own database: SQLite or PostgreSQL behind one pool, migrated at start
//! ([`db`]), and the connections its hot reads go through ([`readers`]).

pub mod db;
pub mod options;
pub mod readers;
