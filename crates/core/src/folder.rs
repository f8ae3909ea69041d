//! Folder names independent of any server's hierarchy delimiter, and special-use roles.
//!
//! A [`FolderPath`] is a list of decoded (UTF-8) segments. Connectors translate to and from their own
//! delimiter and encoding (modified UTF-7 for IMAP and Maildir++), so moving `A.B` from a server using `.` to
//! one using `/` yields `A/B` there (delimiter translation, issue 2).

use serde::{Deserialize, Serialize};
use std::fmt;

/// A folder as a list of segments; `INBOX` is always spelled `INBOX` (RFC 3501 §5.1: case-insensitive).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FolderPath(pub Vec<String>);

impl FolderPath {
    /// The INBOX.
    pub fn inbox() -> Self {
        FolderPath(vec!["INBOX".to_owned()])
    }

    /// Split a decoded name on the delimiter; the first segment `inbox` in any case becomes `INBOX`.
    pub fn parse(name: &str, delimiter: char) -> Self {
        let mut segs: Vec<String> = name.split(delimiter).map(str::to_owned).collect();
        if let Some(first) = segs.first_mut()
            && first.eq_ignore_ascii_case("INBOX")
        {
            *first = "INBOX".to_owned();
        }
        FolderPath(segs)
    }

    /// Join segments with the given delimiter (no encoding).
    pub fn join(&self, delimiter: char) -> String {
        let mut out = String::new();
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(delimiter);
            }
            out.push_str(s);
        }
        out
    }

    pub fn is_inbox(&self) -> bool {
        self.0.len() == 1 && self.0[0] == "INBOX"
    }

    pub fn segments(&self) -> &[String] {
        &self.0
    }

    /// The parent folder, if any.
    pub fn parent(&self) -> Option<FolderPath> {
        (self.0.len() > 1).then(|| FolderPath(self.0[..self.0.len() - 1].to_vec()))
    }

    /// Every ancestor from the top down, excluding self.
    pub fn ancestors(&self) -> Vec<FolderPath> {
        (1..self.0.len())
            .map(|n| FolderPath(self.0[..n].to_vec()))
            .collect()
    }

    /// Replace the first segment (used when a special-use folder is renamed to the target's name).
    pub fn with_first_replaced(&self, first: &[String]) -> FolderPath {
        let mut segs = first.to_vec();
        segs.extend_from_slice(&self.0[1..]);
        FolderPath(segs)
    }
}

impl fmt::Display for FolderPath {
    /// Shown with `/` as the delimiter, whatever the server uses.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.join('/'))
    }
}

/// The special-use roles Ferry maps between servers (RFC 6154).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SpecialUse {
    Sent,
    Drafts,
    Trash,
    Junk,
    Archive,
}

impl SpecialUse {
    pub const ALL: [SpecialUse; 5] = [
        SpecialUse::Sent,
        SpecialUse::Drafts,
        SpecialUse::Trash,
        SpecialUse::Junk,
        SpecialUse::Archive,
    ];

    /// The RFC 6154 attribute, e.g. `\Sent`.
    pub fn attribute(self) -> &'static str {
        match self {
            SpecialUse::Sent => "\\Sent",
            SpecialUse::Drafts => "\\Drafts",
            SpecialUse::Trash => "\\Trash",
            SpecialUse::Junk => "\\Junk",
            SpecialUse::Archive => "\\Archive",
        }
    }

    /// Parse an attribute such as `\Sent` (case-insensitive).
    pub fn from_attribute(attr: &str) -> Option<SpecialUse> {
        SpecialUse::ALL
            .into_iter()
            .find(|s| s.attribute().eq_ignore_ascii_case(attr))
    }

    /// The name Ferry gives a new folder of this role when the target has none.
    pub fn default_name(self) -> &'static str {
        match self {
            SpecialUse::Sent => "Sent",
            SpecialUse::Drafts => "Drafts",
            SpecialUse::Trash => "Trash",
            SpecialUse::Junk => "Junk",
            SpecialUse::Archive => "Archive",
        }
    }

    /// Guess the role of a top-level folder from well-known names, for servers without SPECIAL-USE.
    pub fn from_well_known_name(name: &str) -> Option<SpecialUse> {
        let n = name.to_lowercase();
        let role = match n.as_str() {
            "sent"
            | "sent items"
            | "sent messages"
            | "sent mail"
            | "gesendet"
            | "gesendete elemente"
            | "envoyés"
            | "éléments envoyés"
            | "enviados"
            | "inviata" => SpecialUse::Sent,
            "drafts" | "draft" | "entwürfe" | "brouillons" | "borradores" | "bozze" => {
                SpecialUse::Drafts
            }
            "trash"
            | "deleted items"
            | "deleted messages"
            | "bin"
            | "papierkorb"
            | "gelöschte elemente"
            | "corbeille"
            | "papelera"
            | "cestino" => SpecialUse::Trash,
            "junk"
            | "spam"
            | "junk e-mail"
            | "junk email"
            | "bulk mail"
            | "spamverdacht"
            | "courrier indésirable" => SpecialUse::Junk,
            "archive" | "archives" | "archiv" => SpecialUse::Archive,
            _ => return None,
        };
        Some(role)
    }
}

/// One folder as a connector lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderInfo {
    pub path: FolderPath,
    /// From SPECIAL-USE, or guessed from a well-known top-level name.
    pub special_use: Option<SpecialUse>,
    /// False for `\Noselect` parents: they hold no messages and stay parents on the target.
    pub selectable: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_normalises_inbox_and_joins_with_other_delimiter() {
        let p = FolderPath::parse("inbox.Work.2024", '.');
        assert_eq!(p.segments(), ["INBOX", "Work", "2024"]);
        assert_eq!(p.join('/'), "INBOX/Work/2024");
        assert_eq!(p.parent(), Some(FolderPath::parse("INBOX/Work", '/')));
        assert_eq!(p.ancestors().len(), 2);
    }

    #[test]
    fn well_known_names_map_to_roles() {
        assert_eq!(
            SpecialUse::from_well_known_name("Sent Items"),
            Some(SpecialUse::Sent)
        );
        assert_eq!(
            SpecialUse::from_well_known_name("Deleted Items"),
            Some(SpecialUse::Trash)
        );
        assert_eq!(SpecialUse::from_well_known_name("Projects"), None);
        assert_eq!(SpecialUse::from_attribute("\\junk"), Some(SpecialUse::Junk));
    }
}
