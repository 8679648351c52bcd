//! splunkd's paging and filtering of entity lists (`count`, `offset`, `search`), shared by
//! the driver's own collections and splunkd-dev's stores. Pure: no I/O.

use crate::error::ApiError;
use crate::render::{Entry, Feed};

/// Page size when the caller gives no `count`, as in splunkd.
pub const DEFAULT_COUNT: usize = 30;

/// The `count` and `offset` arguments of a list request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    /// Page size; 0 means everything (`count=0` or `count=-1`).
    pub count: usize,
    /// Index of the first entry.
    pub offset: usize,
}

impl Paging {
    /// Reads `count` (default 30; 0 or any negative value = all) and `offset` (default 0);
    /// anything else is a 400 naming the argument.
    pub fn parse(count: Option<&str>, offset: Option<&str>) -> Result<Paging, ApiError> {
        let count = match count.map(str::trim) {
            None | Some("") => DEFAULT_COUNT,
            Some(v) => match v.parse::<i64>() {
                Ok(n) if n <= 0 => 0,
                Ok(n) => usize::try_from(n).unwrap_or(usize::MAX),
                Err(_) => {
                    return Err(ApiError::bad_request(format!(
                        "Argument \"count\" must be an integer, got {v:?}."
                    )));
                }
            },
        };
        let offset = match offset.map(str::trim) {
            None | Some("") => 0,
            Some(v) => v.parse::<usize>().map_err(|_| {
                ApiError::bad_request(format!(
                    "Argument \"offset\" must be a non-negative integer, got {v:?}."
                ))
            })?,
        };
        Ok(Paging { count, offset })
    }

    /// The feed of one page of `entries` (all matching entries, in order).
    pub fn feed(&self, title: &str, origin: String, entries: Vec<Entry>) -> Feed {
        let total = entries.len();
        let page: Vec<Entry> = entries
            .into_iter()
            .skip(self.offset)
            .take(if self.count == 0 {
                usize::MAX
            } else {
                self.count
            })
            .collect();
        let mut feed = Feed::new(title, origin, page);
        feed.total = total;
        feed.offset = self.offset;
        feed.per_page = self.count;
        feed
    }
}

/// Whether an entry matches the `search` argument: case-insensitive, `*` matches any run of
/// characters, otherwise a substring of any of `fields`. No search matches everything.
pub fn search_matches<'a>(search: Option<&str>, fields: impl IntoIterator<Item = &'a str>) -> bool {
    let Some(needle) = search.map(str::trim).filter(|s| !s.is_empty()) else {
        return true;
    };
    let needle = needle.to_lowercase();
    let parts: Vec<&str> = needle.split('*').filter(|p| !p.is_empty()).collect();
    fields.into_iter().any(|field| {
        let field = field.to_lowercase();
        let mut rest = field.as_str();
        parts.iter().all(|p| match rest.find(p) {
            Some(i) => {
                rest = &rest[i + p.len()..];
                true
            }
            None => false,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(n: usize) -> Vec<Entry> {
        (0..n)
            .map(|i| Entry {
                name: format!("e{i}"),
                ..Default::default()
            })
            .collect()
    }

    #[test]
    fn paging_slices_and_reports_totals() {
        let p = Paging {
            count: 2,
            offset: 3,
        };
        let f = p.feed("t", "o".into(), entries(6));
        let names: Vec<_> = f.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["e3", "e4"]);
        assert_eq!((f.total, f.offset, f.per_page), (6, 3, 2));
        let all = Paging {
            count: 0,
            offset: 0,
        }
        .feed("t", "o".into(), entries(40));
        assert_eq!(all.entries.len(), 40);
        let past = Paging {
            count: 5,
            offset: 50,
        }
        .feed("t", "o".into(), entries(3));
        assert!(past.entries.is_empty());
        assert_eq!(past.total, 3);
    }

    #[test]
    fn search_is_case_insensitive_with_wildcards() {
        assert!(search_matches(None, ["x"]));
        assert!(search_matches(Some(""), ["x"]));
        assert!(search_matches(Some("DOCK"), ["my-docker"]));
        assert!(search_matches(Some("my*er"), ["my-docker"]));
        assert!(!search_matches(Some("er*my"), ["my-docker"]));
        assert!(search_matches(Some("zz"), ["a", "xzzx"]));
        assert!(!search_matches(Some("zz"), ["a", "b"]));
    }
}
