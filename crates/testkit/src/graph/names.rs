//! The names and paths OneDrive and SharePoint refuse, from "Restrictions and limitations in OneDrive and
//! SharePoint" (support.microsoft.com): invalid characters `" * : < > ? / \ |`, leading or trailing spaces,
//! the reserved names `.lock`, `CON`, `PRN`, `AUX`, `NUL`, `COM0`–`COM9`, `LPT0`–`LPT9`, `desktop.ini`,
//! `_vti_` anywhere in a name, names starting with `~$`, a folder named `forms` at the root of a document
//! library, and a decoded path (server-relative, so including the site and library part for SharePoint)
//! of more than 400 characters. Names are compared case-insensitively (`Report.docx` = `report.docx`).

/// Why a name is refused (goes into the `400` error message; the inner code is `invalidPath`).
pub fn check_name(name: &str, at_library_root: bool, is_folder: bool) -> Result<(), String> {
    if name.is_empty() || name == "." || name == ".." {
        return Err(format!("The name '{name}' is not a valid item name."));
    }
    if let Some(c) = name.chars().find(|c| "\"*:<>?/\\|".contains(*c)) {
        return Err(format!("The name contains the invalid character '{c}'."));
    }
    if name.starts_with(' ') || name.ends_with(' ') {
        return Err("Leading and trailing spaces are not allowed in names.".into());
    }
    let lower = name.to_lowercase();
    let reserved = matches!(
        lower.as_str(),
        ".lock" | "con" | "prn" | "aux" | "nul" | "desktop.ini"
    ) || ((lower.starts_with("com") || lower.starts_with("lpt"))
        && lower.len() == 4
        && lower.as_bytes()[3].is_ascii_digit());
    if reserved {
        return Err(format!("The name '{name}' is reserved."));
    }
    if lower.contains("_vti_") {
        return Err("Names may not contain '_vti_'.".into());
    }
    if name.starts_with("~$") {
        return Err("Names may not start with '~$'.".into());
    }
    if at_library_root && is_folder && lower == "forms" {
        return Err("A folder named 'forms' is not allowed at the root of a library.".into());
    }
    Ok(())
}

/// The case-insensitive key two names collide on.
pub fn fold(name: &str) -> String {
    name.to_lowercase()
}

/// The length that counts against the path limit: characters (not bytes, not percent-escapes) of the
/// server-relative decoded path `root/relative`.
pub fn path_length(server_relative_root: &str, relative: &str) -> usize {
    let root = server_relative_root.trim_end_matches('/');
    root.chars().count() + 1 + relative.trim_start_matches('/').chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_forbidden_names_are_refused_and_ordinary_ones_pass() {
        for bad in [
            "a:b",
            "a*b",
            "a\"b",
            "a<b",
            "a>b",
            "a?b",
            "a\\b",
            "a|b",
            " a",
            "a ",
            "CON",
            "con",
            "Lpt1",
            "COM0",
            ".lock",
            "desktop.ini",
            "x_vti_y",
            "~$doc.docx",
            "",
            "..",
        ] {
            assert!(check_name(bad, false, false).is_err(), "{bad:?} passed");
        }
        for good in [
            "a#b%c.txt",
            "CON.txt",
            "COM10",
            "forms",
            "report.docx",
            "~file",
            "日本語",
        ] {
            assert!(check_name(good, false, false).is_ok(), "{good:?} refused");
        }
        assert!(check_name("Forms", true, true).is_err());
        assert!(check_name("Forms", true, false).is_ok());
    }
}
