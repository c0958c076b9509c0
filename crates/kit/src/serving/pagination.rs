//! List paging, with one set of limits for every list of the API.
//!
//! [`Keyset`] pages over ascending integer ids: a page is "the next `limit` rows after id
//! `after`", and the cursor is the last id of a page. Unlike offsets, pages stay stable
//! while rows are inserted, and reading page 1000 costs what reading page 1 does. Lists
//! sorted by something else (a name, a price) page by number instead ([`Numbered`]).

use crate::error::{ApiError, ApiResult};

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;
/// The deepest numbered page: past it, a client should narrow its search instead.
pub const MAX_PAGE: u32 = 100_000;

/// The page size a client asked for, or the default; anything outside 1 to [`MAX_LIMIT`]
/// is refused.
fn parse_limit(limit: Option<u32>) -> ApiResult<u32> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if (1..=MAX_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keyset {
    pub after: i64,
    pub limit: i64,
}

impl Keyset {
    /// Reads `limit` and `cursor` query parameters, refusing values this API never issues.
    pub fn parse(limit: Option<u32>, cursor: Option<&str>) -> ApiResult<Self> {
        let limit = parse_limit(limit)?;
        let after = match cursor {
            None => 0,
            // Exactly what the dictionary says a cursor is: 1 to 18 digits.
            Some(cursor) => Some(cursor)
                .filter(|cursor| {
                    (1..=18).contains(&cursor.len()) && cursor.bytes().all(|b| b.is_ascii_digit())
                })
                .and_then(|cursor| cursor.parse::<i64>().ok())
                .ok_or_else(|| ApiError::bad_request("cursor is not one this API issued"))?,
        };
        Ok(Self {
            after,
            limit: i64::from(limit),
        })
    }

    /// How many rows to fetch: one more than a page tells whether another page exists,
    /// without a COUNT query.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }

    /// Cuts the fetched rows to a page and gives the cursor of the next page, if any.
    pub fn page<T>(&self, mut rows: Vec<T>, id: impl Fn(&T) -> i64) -> (Vec<T>, Option<String>) {
        let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        if rows.len() > limit {
            rows.truncate(limit);
            let next = rows.last().map(|row| id(row).to_string());
            (rows, next)
        } else {
            (rows, None)
        }
    }
}

/// Page-number paging: page `page` (from 1) of `limit` rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Numbered {
    pub page: u32,
    pub limit: u32,
}

impl Numbered {
    /// Reads `page` and `limit` query parameters, with the limits every list shares.
    pub fn parse(page: Option<u32>, limit: Option<u32>) -> ApiResult<Self> {
        let limit = parse_limit(limit)?;
        let page = page.unwrap_or(1);
        if !(1..=MAX_PAGE).contains(&page) {
            return Err(ApiError::bad_request(format!(
                "page must be between 1 and {MAX_PAGE}"
            )));
        }
        Ok(Self { page, limit })
    }

    /// Rows to skip before this page.
    pub fn offset(&self) -> i64 {
        i64::from(self.page - 1) * i64::from(self.limit)
    }

    /// How many rows to fetch: one more than a page tells whether another page exists.
    pub fn fetch(&self) -> i64 {
        i64::from(self.limit) + 1
    }

    /// Cuts the fetched rows to a page and gives the number of the next page, if any.
    pub fn page<T>(&self, mut rows: Vec<T>) -> (Vec<T>, Option<u32>) {
        let limit = self.limit as usize;
        let more = rows.len() > limit;
        rows.truncate(limit);
        (rows, more.then_some(self.page + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_cursors_are_checked() {
        assert_eq!(
            Keyset::parse(None, None).ok(),
            Some(Keyset {
                after: 0,
                limit: 20
            })
        );
        assert_eq!(
            Keyset::parse(Some(5), Some("42")).ok(),
            Some(Keyset {
                after: 42,
                limit: 5
            })
        );
        assert!(Keyset::parse(Some(0), None).is_err());
        assert!(Keyset::parse(Some(101), None).is_err());
        assert!(Keyset::parse(None, Some("-1")).is_err());
        assert!(Keyset::parse(None, Some("abc")).is_err());
    }

    #[test]
    fn a_page_knows_whether_another_follows() {
        let keyset = Keyset { after: 0, limit: 2 };
        assert_eq!(
            keyset.page(vec![1, 2, 3], |id| *id),
            (vec![1, 2], Some("2".to_owned()))
        );
        assert_eq!(keyset.page(vec![1, 2], |id| *id), (vec![1, 2], None));
    }

    #[test]
    fn numbered_pages_share_the_limits() {
        assert_eq!(
            Numbered::parse(None, None).ok(),
            Some(Numbered { page: 1, limit: 20 })
        );
        assert!(Numbered::parse(Some(0), None).is_err());
        assert!(Numbered::parse(Some(MAX_PAGE + 1), None).is_err());
        assert!(Numbered::parse(None, Some(MAX_LIMIT + 1)).is_err());
        let third = Numbered { page: 3, limit: 2 };
        assert_eq!(third.offset(), 4);
        assert_eq!(third.page(vec![5, 6, 7]), (vec![5, 6], Some(4)));
        assert_eq!(third.page(vec![5]), (vec![5], None));
    }
}
