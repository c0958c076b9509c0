//! A statement as every way of running it takes it: the SQL with its arguments
//! ([`Statement`]), and the row type it gives ([`Record`]), decoded once, by column name,
//! from either a row of our SQLite connections or an sqlx row (PostgreSQL).

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Row as _, SqlSafeStr};

/// A statement with its arguments: `$1`, `$2`... as everywhere else.
pub struct Statement {
    pub(crate) statement: &'static str,
    pub(crate) arguments: Vec<Argument>,
}

/// An argument; a NULL keeps its type, which PostgreSQL needs to plan the statement.
#[derive(Debug)]
pub enum Argument {
    Integer(Option<i64>),
    Text(Option<String>),
}

impl Statement {
    /// `statement`, a compile-time string: arguments are bound, never spliced in.
    pub fn new(statement: &'static str) -> Self {
        Self {
            statement,
            arguments: Vec::new(),
        }
    }

    /// Binds the next argument (`$1` first).
    #[must_use]
    pub fn bind(mut self, argument: impl Into<Argument>) -> Self {
        self.arguments.push(argument.into());
        self
    }

    /// The statement as sqlx runs it (on PostgreSQL).
    pub(crate) fn into_query(self) -> Query<'static, Any, AnyArguments> {
        self.arguments.into_iter().fold(
            sqlx::query(self.statement.into_sql_str()),
            |query, argument| match argument {
                Argument::Integer(value) => query.bind(value),
                Argument::Text(value) => query.bind(value),
            },
        )
    }
}

impl From<i64> for Argument {
    fn from(value: i64) -> Self {
        Self::Integer(Some(value))
    }
}

impl From<Option<i64>> for Argument {
    fn from(value: Option<i64>) -> Self {
        Self::Integer(value)
    }
}

impl From<&str> for Argument {
    fn from(value: &str) -> Self {
        Self::Text(Some(value.to_owned()))
    }
}

impl From<Option<&str>> for Argument {
    fn from(value: Option<&str>) -> Self {
        Self::Text(value.map(str::to_owned))
    }
}

/// A row's values by column name, as a driver gives them.
pub trait Columns {
    fn integer(&self, column: &str) -> Result<Option<i64>, sqlx::Error>;
    fn text(&self, column: &str) -> Result<Option<String>, sqlx::Error>;
}

/// One row, for [`Record::from_row`].
pub struct Row<'a>(&'a dyn Columns);

impl<'a> Row<'a> {
    pub fn new(columns: &'a dyn Columns) -> Self {
        Self(columns)
    }

    pub fn integer(&self, column: &str) -> Result<i64, sqlx::Error> {
        self.0
            .integer(column)?
            .ok_or_else(|| unexpected_null(column))
    }

    pub fn optional_integer(&self, column: &str) -> Result<Option<i64>, sqlx::Error> {
        self.0.integer(column)
    }

    pub fn text(&self, column: &str) -> Result<String, sqlx::Error> {
        self.0.text(column)?.ok_or_else(|| unexpected_null(column))
    }

    pub fn optional_text(&self, column: &str) -> Result<Option<String>, sqlx::Error> {
        self.0.text(column)
    }
}

fn unexpected_null(column: &str) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: "unexpected NULL".into(),
    }
}

/// A row type, decoded from its columns by name. [`record_from_row!`] makes the same
/// decoding sqlx's `FromRow`, for queries that go through sqlx.
pub trait Record: Sized + Send + 'static {
    fn from_row(row: &Row<'_>) -> Result<Self, sqlx::Error>;
}

impl Columns for AnyRow {
    fn integer(&self, column: &str) -> Result<Option<i64>, sqlx::Error> {
        self.try_get(column)
    }

    fn text(&self, column: &str) -> Result<Option<String>, sqlx::Error> {
        self.try_get(column)
    }
}

/// `sqlx::FromRow` for a [`Record`] type, so that it is decoded one way only.
#[macro_export]
macro_rules! record_from_row {
    ($($record:ty),+ $(,)?) => {$(
        impl<'r> ::sqlx::FromRow<'r, ::sqlx::any::AnyRow> for $record {
            fn from_row(row: &'r ::sqlx::any::AnyRow) -> Result<Self, ::sqlx::Error> {
                <$record as $crate::storing::statement::Record>::from_row(
                    &$crate::storing::statement::Row::new(row),
                )
            }
        }
    )+};
}
