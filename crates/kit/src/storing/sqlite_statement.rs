//! A [`Statement`] run on an SQLite connection of ours (rusqlite): bound by number, kept
//! prepared, its rows handed over one by one as [`Row`]s.

use rusqlite::Connection;
use rusqlite::types::{ToSqlOutput, Value, ValueRef};

use crate::storing::statement::{Argument, Columns, Row, Statement};

/// Runs `statement`, handing each row to `each` until it answers `false` or the rows end.
pub(crate) fn run(
    connection: &Connection,
    statement: &Statement,
    each: &mut dyn FnMut(&Row<'_>) -> Result<bool, sqlx::Error>,
) -> Result<(), sqlx::Error> {
    let mut prepared = connection
        .prepare_cached(statement.statement)
        .map_err(driver_error)?;
    for index in 1..=prepared.parameter_count() {
        // `$2` is the second argument wherever it appears; SQLite numbers parameters by
        // first appearance, which a statement may order differently.
        let position = prepared
            .parameter_name(index)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|number| number.parse::<usize>().ok())
            .unwrap_or(index);
        let argument = statement.arguments.get(position - 1).ok_or_else(|| {
            sqlx::Error::InvalidArgument(format!("no argument for parameter {position}"))
        })?;
        prepared
            .raw_bind_parameter(index, value_of(argument))
            .map_err(driver_error)?;
    }
    let mut rows = prepared.raw_query();
    while let Some(row) = rows.next().map_err(driver_error)? {
        if !each(&Row::new(&SqliteRow(row)))? {
            break;
        }
    }
    Ok(())
}

fn value_of(argument: &Argument) -> ToSqlOutput<'_> {
    match argument {
        Argument::Integer(Some(value)) => ToSqlOutput::Owned(Value::Integer(*value)),
        Argument::Text(Some(value)) => ToSqlOutput::Borrowed(ValueRef::Text(value.as_bytes())),
        Argument::Integer(None) | Argument::Text(None) => ToSqlOutput::Owned(Value::Null),
    }
}

pub(crate) fn driver_error(error: rusqlite::Error) -> sqlx::Error {
    sqlx::Error::AnyDriverError(Box::new(error))
}

struct SqliteRow<'a, 'statement>(&'a rusqlite::Row<'statement>);

impl SqliteRow<'_, '_> {
    fn get<T: rusqlite::types::FromSql>(&self, column: &str) -> Result<T, sqlx::Error> {
        self.0.get(column).map_err(|error| match error {
            rusqlite::Error::InvalidColumnName(name) => sqlx::Error::ColumnNotFound(name),
            error => sqlx::Error::ColumnDecode {
                index: column.to_owned(),
                source: Box::new(error),
            },
        })
    }
}

impl Columns for SqliteRow<'_, '_> {
    fn integer(&self, column: &str) -> Result<Option<i64>, sqlx::Error> {
        self.get(column)
    }

    fn text(&self, column: &str) -> Result<Option<String>, sqlx::Error> {
        self.get(column)
    }
}
