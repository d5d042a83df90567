//! Bounded paging of ELBv2 Describe calls (`Marker` / `NextMarker`).
//!
//! A server (or a proxy in front of it) that answers with markers A, B, A, … or an endless run of
//! fresh markers must not keep an apply walking pages forever: [`search_pages`] stops at the
//! operation's deadline, after [`MAX_PAGES`] pages, and at the first marker it has already
//! followed, each with an error that says which.

use std::collections::HashSet;
use std::future::Future;
use std::time::Instant;

/// At most this many pages per walk. A listener holds at most 100 rules under the default quota
/// ("Rules per Application Load Balancer"; the hard ceiling is in the low thousands), so even at
/// one rule per page a real listener ends well before this.
pub const MAX_PAGES: usize = 1000;

/// Why a walk over pages was stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PagingError {
    #[error(
        "{call} returned the page marker {marker:?} a second time (after {pages} pages); the answers would repeat \
         forever, so the listing was abandoned"
    )]
    RepeatedMarker { call: String, marker: String, pages: usize },
    #[error("{call} still had more pages after {pages}; the listing was abandoned (a listener holds far fewer rules)")]
    TooManyPages { call: String, pages: usize },
    #[error("{call} was still paging (page {pages}) when the operation's deadline passed")]
    Deadline { call: String, pages: usize },
}

/// The marker bookkeeping of one walk: counts pages, remembers every marker followed.
#[derive(Debug)]
pub struct Pager {
    call: String,
    deadline: Instant,
    max_pages: usize,
    pages: usize,
    seen: HashSet<String>,
}

impl Pager {
    pub fn new(call: impl Into<String>, deadline: Instant) -> Pager {
        Pager::with_limit(call, deadline, MAX_PAGES)
    }

    pub fn with_limit(call: impl Into<String>, deadline: Instant, max_pages: usize) -> Pager {
        Pager { call: call.into(), deadline, max_pages, pages: 0, seen: HashSet::new() }
    }

    /// Before asking for a page: refuses one past the page limit or the deadline.
    pub fn before_page(&mut self) -> Result<(), PagingError> {
        if self.pages >= self.max_pages {
            return Err(PagingError::TooManyPages { call: self.call.clone(), pages: self.pages });
        }
        // The first page is always asked for (a zero timeout still gets one answer).
        if self.pages > 0 && Instant::now() >= self.deadline {
            return Err(PagingError::Deadline { call: self.call.clone(), pages: self.pages });
        }
        self.pages += 1;
        Ok(())
    }

    /// After a page: the marker to ask for next, or None when the listing is complete (no marker,
    /// or an empty one). A marker already followed is refused.
    pub fn next(&mut self, next_marker: Option<&str>) -> Result<Option<String>, PagingError> {
        let Some(marker) = next_marker.filter(|m| !m.is_empty()) else { return Ok(None) };
        if !self.seen.insert(marker.to_string()) {
            return Err(PagingError::RepeatedMarker {
                call: self.call.clone(),
                marker: marker.chars().take(100).collect(),
                pages: self.pages,
            });
        }
        Ok(Some(marker.to_string()))
    }
}

/// Walks pages until `fetch` finds what it looks for, the pages end, or `pager` stops the walk.
/// `fetch(marker)` asks for one page and returns what it found on it (if anything) and the page's
/// next marker.
pub async fn search_pages<T, E, F, Fut>(mut pager: Pager, mut fetch: F) -> Result<Option<T>, E>
where
    E: From<PagingError>,
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<(Option<T>, Option<String>), E>>,
{
    let mut marker = None;
    loop {
        pager.before_page()?;
        let (found, next) = fetch(marker.take()).await?;
        if found.is_some() {
            return Ok(found);
        }
        match pager.next(next.as_deref())? {
            Some(m) => marker = Some(m),
            None => return Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Serves `pages` (items, next marker) by marker: `None` asks for the first.
    async fn walk(
        pages: &[(Option<&str>, &[u32], Option<&str>)],
        wanted: u32,
        pager: Pager,
    ) -> (Result<Option<u32>, PagingError>, Vec<Option<String>>) {
        let mut asked = Vec::new();
        let result = search_pages(pager, |marker: Option<String>| {
            asked.push(marker.clone());
            let page = pages.iter().find(|(m, _, _)| m.map(str::to_string) == marker).expect("a page for the marker");
            let found = page.1.iter().copied().find(|i| *i == wanted);
            let next = page.2.map(str::to_string);
            async move { Ok::<_, PagingError>((found, next)) }
        })
        .await;
        (result, asked)
    }

    fn later() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    #[tokio::test]
    async fn pages_are_followed_until_found_or_the_end() {
        let pages: &[(Option<&str>, &[u32], Option<&str>)] =
            &[(None, &[1, 2], Some("A")), (Some("A"), &[3], Some("B")), (Some("B"), &[4], None)];
        let (r, asked) = walk(pages, 3, Pager::new("DescribeRules", later())).await;
        assert_eq!(r, Ok(Some(3)));
        assert_eq!(asked, vec![None, Some("A".into())], "stops at the page that has it");
        let (r, asked) = walk(pages, 9, Pager::new("DescribeRules", later())).await;
        assert_eq!(r, Ok(None));
        assert_eq!(asked.len(), 3);
        // An empty marker ends the listing too.
        let pages: &[(Option<&str>, &[u32], Option<&str>)] = &[(None, &[1], Some(""))];
        assert_eq!(walk(pages, 9, Pager::new("DescribeRules", later())).await.0, Ok(None));
    }

    #[tokio::test]
    async fn markers_a_b_a_are_refused() {
        let pages: &[(Option<&str>, &[u32], Option<&str>)] =
            &[(None, &[1], Some("A")), (Some("A"), &[2], Some("B")), (Some("B"), &[3], Some("A"))];
        let (r, asked) = walk(pages, 9, Pager::new("DescribeRules", later())).await;
        let err = r.unwrap_err();
        assert_eq!(err, PagingError::RepeatedMarker { call: "DescribeRules".into(), marker: "A".into(), pages: 3 });
        assert!(err.to_string().contains("\"A\" a second time"), "{err}");
        assert_eq!(asked.len(), 3, "A is not asked for twice");
        // The same marker at once (A, A).
        let pages: &[(Option<&str>, &[u32], Option<&str>)] = &[(None, &[1], Some("A")), (Some("A"), &[2], Some("A"))];
        assert!(matches!(
            walk(pages, 9, Pager::new("DescribeRules", later())).await.0,
            Err(PagingError::RepeatedMarker { .. })
        ));
    }

    #[tokio::test]
    async fn endless_fresh_markers_stop_at_the_page_limit() {
        let mut asked = 0usize;
        let r = search_pages(Pager::with_limit("DescribeRules", later(), 50), |marker: Option<String>| {
            asked += 1;
            let next = format!("{}x", marker.unwrap_or_default());
            async move { Ok::<(Option<()>, _), PagingError>((None, Some(next))) }
        })
        .await;
        assert_eq!(r, Err(PagingError::TooManyPages { call: "DescribeRules".into(), pages: 50 }));
        assert_eq!(asked, 50);
        // The default limit is the one the lock uses.
        assert_eq!(Pager::new("x", later()).max_pages, MAX_PAGES);
    }

    #[tokio::test]
    async fn the_deadline_stops_a_walk_after_its_first_page() {
        let past = Instant::now();
        let mut asked = 0usize;
        let r = search_pages(Pager::new("DescribeRules", past), |_m: Option<String>| {
            asked += 1;
            async move { Ok::<(Option<()>, _), PagingError>((None, Some(format!("m{asked}")))) }
        })
        .await;
        assert_eq!(r, Err(PagingError::Deadline { call: "DescribeRules".into(), pages: 1 }));
        assert_eq!(asked, 1, "one page is always read, no more after the deadline");
    }

    #[tokio::test]
    async fn a_fetch_error_ends_the_walk() {
        let r: Result<Option<()>, PagingError> = search_pages(Pager::new("DescribeRules", later()), |_m| async {
            Err(PagingError::Deadline { call: "fetch".into(), pages: 0 })
        })
        .await;
        assert!(matches!(r, Err(PagingError::Deadline { .. })));
    }
}
