//! Keyset pages: items after a position, at most a limit of them.

/// A page request: the rows after `after` (a row id), at most `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub after: Option<i64>,
    pub limit: u32,
}

/// A page of items and, when there are more, the position to continue from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_after: Option<i64>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows read in order: the extra
    /// row only tells that there is more.
    pub fn from_rows(mut rows: Vec<T>, limit: u32, position: impl Fn(&T) -> i64) -> Self {
        let limit = limit as usize;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_after = if more { rows.last().map(&position) } else { None };
        Page {
            items: rows,
            next_after,
        }
    }
}
