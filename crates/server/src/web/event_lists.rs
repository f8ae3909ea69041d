//! The two lists of an event's page, a page at a time (issue 13): the event's mappings (with the Remove
//! boxes) and the project's others (the Add boxes), each read and counted in the store.

use crate::db::Project;
use crate::{ApiResult, AppState};
use ferry_core::id::EventId;
use ferry_store::programme::Membership;
use serde::Deserialize;

/// Mappings listed per page on an event's page (each of the two lists).
pub const MAPPINGS_PER_PAGE: u64 = 100;

/// `?page=N&add=M`: the page of the event's mappings (and of the remove boxes), and of the project's others
/// (the add boxes).
#[derive(Clone, Copy, Default, Deserialize)]
pub struct DetailQuery {
    pub page: Option<u64>,
    pub add: Option<u64>,
}

/// A paged list's position and links.
pub struct Pager {
    pub first: u64,
    pub last: u64,
    pub total: u64,
    pub prev: Option<String>,
    pub next: Option<String>,
}

impl Pager {
    pub fn paged(&self) -> bool {
        self.total > MAPPINGS_PER_PAGE
    }
}

/// The page (from 1) `asked` of `total` rows, brought within the pages there are.
fn page_in(asked: Option<u64>, total: u64) -> u64 {
    asked
        .unwrap_or(1)
        .clamp(1, total.div_ceil(MAPPINGS_PER_PAGE).max(1))
}

/// One page of the event's mappings or of the project's others, with its pager (`link`: the page's
/// address for another page number).
pub async fn mapping_list(
    st: &AppState,
    project: &Project,
    event: EventId,
    which: Membership,
    asked: Option<u64>,
    link: impl Fn(u64) -> String,
) -> ApiResult<(Vec<(String, String)>, Pager)> {
    let mut page = asked.unwrap_or(1).max(1);
    let read = |page: u64| {
        st.programme.event_mapping_page(
            project.id,
            event,
            which,
            (page - 1).saturating_mul(MAPPINGS_PER_PAGE),
            MAPPINGS_PER_PAGE,
        )
    };
    let mut got = read(page).await?;
    if page_in(Some(page), got.total) != page {
        page = page_in(Some(page), got.total);
        got = read(page).await?;
    }
    let before = (page - 1) * MAPPINGS_PER_PAGE;
    let pager = Pager {
        first: before + 1,
        last: before + got.rows.len() as u64,
        total: got.total,
        prev: (page > 1).then(|| link(page - 1)),
        next: (page * MAPPINGS_PER_PAGE < got.total).then(|| link(page + 1)),
    };
    let rows = got
        .rows
        .into_iter()
        .map(|m| (m.id.to_string(), m.label))
        .collect();
    Ok((rows, pager))
}
