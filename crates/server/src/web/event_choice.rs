//! The schedule form's choice of mappings (issue 13): with thousands of mappings a checkbox each is no use,
//! so the form chooses them as the mappings grid filters them — every mapping not in an event yet, those in
//! one grid state, those a search finds — or by a pasted list of names (one a line, or a CSV's first
//! column, as Migration Manager and MigrationWiz take a CSV of users for a batch). The choice becomes the
//! mapping ids the API's create-event takes, so the API and its checks are unchanged.

use crate::ApiError;
use crate::AppState;
use crate::db::Project;
use crate::programme::grid::{NOT_SCHEDULED, STATES, grid_page};
use ferry_core::id::MappingId;
use ferry_store::programme::GridFilter;
use std::collections::{HashMap, HashSet};

/// The ways to choose, as the form's `choose` field names them.
pub const NOT_IN_EVENT: &str = "not-scheduled";
pub const BY_STATE: &str = "state";
pub const BY_SEARCH: &str = "search";
pub const BY_LIST: &str = "list";

/// A first line naming no mapping is skipped when its first field is one of the import CSVs' first
/// headers (mail: `EmailAddress`; files: `Source`), so the import file itself can be pasted.
const HEADERS: [&str; 2] = ["emailaddress", "source"];

/// Lines of a list the refusal names at most.
const NAMED: usize = 5;

/// What the form's choice fields held (shown again with a refusal).
#[derive(Clone, Debug, Default)]
pub struct ChoiceValues {
    /// `not-scheduled`, `state`, `search` or `list`; empty: the explicit `mapping` ids (the form before
    /// session 7, and scripts posting ids).
    pub choose: String,
    pub state: String,
    pub q: String,
    pub names: String,
    /// Explicit `mapping` ids.
    pub ids: Vec<String>,
}

impl ChoiceValues {
    /// The form's first showing: every mapping not in an event yet.
    pub fn fresh() -> ChoiceValues {
        ChoiceValues {
            choose: NOT_IN_EVENT.into(),
            state: NOT_SCHEDULED.into(),
            ..ChoiceValues::default()
        }
    }

    /// Whether `way` is the chosen one (the radio to check).
    pub fn is(&self, way: &str) -> bool {
        self.choose == way
    }
}

fn parse_ids(raw: &[String]) -> Result<Vec<MappingId>, ApiError> {
    raw.iter()
        .map(|m| {
            m.parse::<MappingId>()
                .map_err(|_| ApiError::bad_request(format!("{m:?} is not a mapping id")))
        })
        .collect()
}

/// The grid's mappings the filter keeps, all of them.
async fn filtered(
    st: &AppState,
    p: &Project,
    filter: &GridFilter,
    what: &str,
) -> Result<Vec<MappingId>, ApiError> {
    let page = grid_page(st, p, filter, 0, u64::MAX).await?;
    if page.rows.is_empty() {
        return Err(ApiError::bad_request(format!(
            "no mapping is {what}: nothing to schedule"
        )));
    }
    Ok(page.rows.into_iter().map(|r| r.mapping).collect())
}

/// The first field of a CSV line (quotes taken off), trimmed.
fn first_field(line: &str) -> &str {
    let f = line.split([',', ';', '\t']).next().unwrap_or("").trim();
    f.strip_prefix('"')
        .and_then(|f| f.strip_suffix('"'))
        .unwrap_or(f)
        .trim()
}

/// The mappings a pasted list names: each line's first field, matched (without regard to case) against a
/// mapping's name, source or target. Every line that names none is refused, by its number.
async fn listed(st: &AppState, p: &Project, names: &str) -> Result<Vec<MappingId>, ApiError> {
    let mappings = st.programme.mappings(p.id).await?;
    let mut by_name: HashMap<String, MappingId> = HashMap::new();
    for m in &mappings {
        for n in [&m.target, &m.source, &m.label] {
            by_name.insert(n.to_lowercase(), m.id);
        }
    }
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut unknown = Vec::new();
    for (i, line) in names.lines().enumerate() {
        let name = first_field(line);
        if name.is_empty() {
            continue;
        }
        match by_name.get(&name.to_lowercase()) {
            Some(id) => {
                if seen.insert(*id) {
                    out.push(*id);
                }
            }
            None if i == 0 && HEADERS.contains(&name.to_lowercase().as_str()) => {}
            None => unknown.push(format!("line {}: {name:?}", i + 1)),
        }
    }
    if !unknown.is_empty() {
        let more = unknown.len().saturating_sub(NAMED);
        let mut msg = format!(
            "{} line(s) of the list name no mapping of this project: {}",
            unknown.len(),
            unknown[..unknown.len().min(NAMED)].join(", ")
        );
        if more > 0 {
            msg.push_str(&format!(" and {more} more"));
        }
        return Err(ApiError::bad_request(msg));
    }
    if out.is_empty() {
        return Err(ApiError::bad_request(
            "the list names no mapping: paste one name a line (or a CSV; its first column is read)",
        ));
    }
    Ok(out)
}

/// The mapping ids the form's choice stands for.
pub async fn resolve(
    st: &AppState,
    p: &Project,
    c: &ChoiceValues,
) -> Result<Vec<MappingId>, ApiError> {
    match c.choose.as_str() {
        "" => parse_ids(&c.ids),
        NOT_IN_EVENT => {
            let f = GridFilter {
                state: Some(NOT_SCHEDULED.into()),
                ..GridFilter::default()
            };
            filtered(st, p, &f, "outside every event").await
        }
        BY_STATE => {
            let state = c.state.trim();
            if !STATES.contains(&state) {
                return Err(ApiError::bad_request(format!(
                    "no grid state {state:?}: choose one of {}",
                    STATES.join(", ")
                )));
            }
            let f = GridFilter {
                state: Some(state.to_owned()),
                ..GridFilter::default()
            };
            filtered(st, p, &f, &format!("in the state {state:?}")).await
        }
        BY_SEARCH => {
            let q = c.q.trim().to_lowercase();
            if q.is_empty() {
                return Err(ApiError::bad_request(
                    "type what the mappings' names, sources or targets contain",
                ));
            }
            let f = GridFilter {
                search: Some(q.clone()),
                ..GridFilter::default()
            };
            filtered(st, p, &f, &format!("matched by {q:?}")).await
        }
        BY_LIST => listed(st, p, &c.names).await,
        other => Err(ApiError::bad_request(format!(
            "no way to choose mappings called {other:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::first_field;

    #[test]
    fn a_list_line_is_read_by_its_first_field_without_quotes() {
        assert_eq!(first_field("alice@contoso.com"), "alice@contoso.com");
        assert_eq!(first_field(" bob@contoso.com ,bob,pw"), "bob@contoso.com");
        assert_eq!(first_field("\"carol@contoso.com\";x"), "carol@contoso.com");
        assert_eq!(first_field("dave@contoso.com\tDave"), "dave@contoso.com");
        assert_eq!(first_field("   "), "");
    }
}
