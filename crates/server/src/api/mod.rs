//! Request handlers, one module per resource. Authorisation happened before any of them runs (see
//! [`crate::auth::authorize`]); each handler loads, calls the programme rule, and stores the result with an
//! audit entry and a transaction.

pub mod assessments;
pub mod endpoints;
pub mod events;
pub mod logs;
pub mod mapping_import;
pub mod mappings;
pub mod misc;
pub mod projects;
pub mod runs;
pub mod tenants;
pub mod tickets;

use crate::ApiError;
use std::str::FromStr;

/// Check a name people give (tenant, project, event, member, ticket title): 1 to `max` characters, and no
/// character that hides or rewrites what a reader sees — NUL and other control characters (CR/LF would
/// forge lines in logs, reports and CSV), bidi overrides and isolates (U+202A–U+202E, U+2066–U+2069: an
/// `invoice\u{202E}fdp.exe` reads as `invoiceexe.pdf`), and zero-width or invisible format characters.
pub fn check_name(what: &str, name: &str, max: usize) -> Result<(), ApiError> {
    if name.trim().is_empty() || name.chars().count() > max {
        return Err(ApiError::bad_request(format!(
            "{what} needs 1 to {max} characters"
        )));
    }
    if let Some(c) = name.chars().find(|c| forbidden_in_name(*c)) {
        return Err(ApiError::bad_request(format!(
            "{what} may not contain the character U+{:04X} (control, line break, bidi override or invisible characters are refused)",
            c as u32
        )));
    }
    Ok(())
}

fn forbidden_in_name(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}'..='\u{200F}' // zero-width space/joiners, LRM, RLM
            | '\u{2028}'..='\u{202E}' // line/paragraph separators, bidi embeddings and overrides
            | '\u{2060}'..='\u{2069}' // word joiner, invisible operators, bidi isolates
            | '\u{FEFF}' // zero-width no-break space
        )
}

/// Parse an id from the path, 404 when it is not one.
pub fn path_id<T: FromStr>(raw: &str, what: &str) -> Result<T, ApiError> {
    T::from_str(raw).map_err(|_| ApiError::not_found(format!("no {what} {raw:?}")))
}

/// The project `project` of tenant `tenant`, both from the path (404 for a project of another tenant).
pub async fn project_of(
    st: &crate::AppState,
    tenant: &str,
    project: &str,
) -> Result<crate::db::Project, ApiError> {
    let t: ferry_core::id::TenantId = path_id(tenant, "tenant")?;
    let p: ferry_core::id::ProjectId = path_id(project, "project")?;
    crate::db::load_project(&*st.programme, t, p).await
}

#[cfg(test)]
mod tests {
    use super::check_name;

    #[test]
    fn names_refuse_controls_bidi_overrides_and_invisible_characters() {
        for bad in [
            "a\0b",
            "a\r\nb",
            "a\u{202E}b",
            "a\u{2067}b",
            "a\u{200B}b",
            "a\tb",
            "",
            "  ",
        ] {
            assert!(check_name("a name", bad, 200).is_err(), "{bad:?}");
        }
        for good in [
            "Contoso",
            "Курьер — メール",
            "O'Brien & Sons (EU)",
            "ä".repeat(200).as_str(),
        ] {
            assert!(check_name("a name", good, 200).is_ok(), "{good:?}");
        }
        assert!(check_name("a name", &"a".repeat(201), 200).is_err());
    }
}
