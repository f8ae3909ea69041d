//! Maildir++ names: folder paths ↔ directory names, message file names ↔ flags.
//!
//! Pure functions without I/O, so every rule is unit-tested by feeding strings.
//!
//! - INBOX is the root; folder `A/B` is the directory `.A.B` (segments in modified UTF-7, `.` as the
//!   hierarchy delimiter, as Dovecot's `LAYOUT=maildir++` writes them).
//! - `.` and `/` cannot appear inside a segment on disk: they are written as `_` (lossy, logged). Reading
//!   never produces them, so a Maildir written by Ferry reads back with `_`.
//! - File names are `<unique>:2,<flags>`; flags are the letters `DFRST` for system flags and `a`–`z` for
//!   keywords whose names the folder's `dovecot-keywords` file gives.

use ferry_core::folder::FolderPath;
use ferry_core::{Error, ErrorKind, Result, utf7};
use std::collections::BTreeMap;

/// Name of the per-folder keyword table (Dovecot).
pub(crate) const KEYWORDS_FILE: &str = "dovecot-keywords";
/// Maildir allows 26 keyword letters per folder.
pub(crate) const MAX_KEYWORDS: usize = 26;

/// System flag ↔ Maildir info letter (the letters are in ASCII order, as the Maildir spec requires).
const SYSTEM_LETTERS: [(char, &str); 5] = [
    ('D', "\\Draft"),
    ('F', "\\Flagged"),
    ('R', "\\Answered"),
    ('S', "\\Seen"),
    ('T', "\\Deleted"),
];

/// The directory name (relative to the root) of a folder; `None` for INBOX (the root itself).
///
/// Fails with `Rejected` for an empty segment or an empty path: Maildir++ cannot represent them.
pub(crate) fn folder_dir_name(path: &FolderPath) -> Result<Option<String>> {
    if path.segments().is_empty() {
        return Err(Error::new(ErrorKind::Rejected, "empty folder name"));
    }
    if path.is_inbox() {
        return Ok(None);
    }
    let mut out = String::new();
    for seg in path.segments() {
        if seg.is_empty() {
            return Err(Error::new(
                ErrorKind::Rejected,
                format!("folder {path} has an empty name segment, which Maildir++ cannot store"),
            ));
        }
        let safe: String = seg
            .chars()
            .map(|c| if c == '.' || c == '/' { '_' } else { c })
            .collect();
        if &safe != seg {
            tracing::warn!(folder = %path, segment = %seg, written_as = %safe,
                "Maildir++ uses '.' as delimiter: '.' and '/' inside a folder name are written as '_'");
        }
        out.push('.');
        out.push_str(&utf7::encode(&safe));
    }
    Ok(Some(out))
}

/// The folder a directory name (`.A.B`) stands for; `None` when the name is not a Maildir++ folder
/// (`.`, `..`, no leading dot, empty segments, bad UTF-7, or `.INBOX` itself which would alias the root).
pub(crate) fn folder_from_dir_name(name: &str) -> Option<FolderPath> {
    let rest = name.strip_prefix('.')?;
    if rest.is_empty() || rest == "." {
        return None;
    }
    let mut segs = Vec::new();
    for raw in rest.split('.') {
        if raw.is_empty() {
            return None;
        }
        match utf7::decode(raw) {
            Ok(s) => segs.push(s),
            Err(e) => {
                tracing::warn!(dir = %name, error = %e, "skipping a Maildir++ folder with a malformed name");
                return None;
            }
        }
    }
    if segs[0].eq_ignore_ascii_case("INBOX") {
        segs[0] = "INBOX".to_owned();
        if segs.len() == 1 {
            return None;
        }
    }
    Some(FolderPath(segs))
}

/// A message file name split into its parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FileName<'a> {
    /// Everything before `:` (including Dovecot's `,S=…,W=…`): the key UIDs are derived from.
    pub unique: &'a str,
    /// The flag letters after `:2,` (empty when there are none).
    pub letters: &'a str,
    /// `S=`: the file size, when recorded.
    pub file_size: Option<u64>,
    /// `W=`: the CRLF ("virtual") size, when recorded.
    pub crlf_size: Option<u64>,
}

impl<'a> FileName<'a> {
    /// Split a file name; `None` for names no Maildir writer produces (hidden files, empty names).
    pub(crate) fn parse(name: &'a str) -> Option<Self> {
        if name.is_empty() || name.starts_with('.') {
            return None;
        }
        let (unique, info) = match name.split_once(':') {
            Some((u, i)) => (u, i),
            None => (name, ""),
        };
        if unique.is_empty() {
            return None;
        }
        let letters = info.strip_prefix("2,").unwrap_or("");
        let mut file_size = None;
        let mut crlf_size = None;
        for part in unique.split(',').skip(1) {
            if let Some(v) = part.strip_prefix("S=") {
                file_size = v.parse().ok();
            } else if let Some(v) = part.strip_prefix("W=") {
                crlf_size = v.parse().ok();
            }
        }
        Some(FileName {
            unique,
            letters,
            file_size,
            crlf_size,
        })
    }
}

/// A folder's keyword table: letter index (0 = `a`) → name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Keywords(pub BTreeMap<usize, String>);

impl Keywords {
    /// Parse `dovecot-keywords` (`<index> <name>` per line); malformed lines are skipped.
    pub(crate) fn parse(text: &str) -> Self {
        let mut map = BTreeMap::new();
        for line in text.lines() {
            let Some((idx, name)) = line.trim_end().split_once(' ') else {
                continue;
            };
            let Ok(idx) = idx.parse::<usize>() else {
                continue;
            };
            if idx < MAX_KEYWORDS && !name.is_empty() {
                map.insert(idx, name.to_owned());
            }
        }
        Keywords(map)
    }

    /// The file's text.
    pub(crate) fn render(&self) -> String {
        self.0.iter().map(|(i, n)| format!("{i} {n}\n")).collect()
    }

    fn letter_of(&self, keyword: &str) -> Option<char> {
        self.0
            .iter()
            .find(|(_, n)| n.as_str() == keyword)
            .and_then(|(i, _)| char::from_u32('a' as u32 + *i as u32))
    }

    /// The letter of `keyword`, assigning the lowest free one if needed. `None` when all 26 are taken.
    /// The second value says whether the table changed (and must be written).
    pub(crate) fn letter_or_assign(&mut self, keyword: &str) -> (Option<char>, bool) {
        if let Some(c) = self.letter_of(keyword) {
            return (Some(c), false);
        }
        match (0..MAX_KEYWORDS).find(|i| !self.0.contains_key(i)) {
            Some(i) => {
                self.0.insert(i, keyword.to_owned());
                (char::from_u32('a' as u32 + i as u32), true)
            }
            None => (None, false),
        }
    }
}

/// IMAP flags of a file's info letters. Unknown letters (including keyword letters missing from the table)
/// are dropped: there is no name to give them.
pub(crate) fn flags_from_letters(letters: &str, keywords: &Keywords) -> Vec<String> {
    let mut flags = Vec::new();
    for c in letters.chars() {
        if let Some((_, f)) = SYSTEM_LETTERS.iter().find(|(l, _)| *l == c) {
            flags.push((*f).to_owned());
        } else if c.is_ascii_lowercase() {
            let idx = (c as usize) - ('a' as usize);
            if let Some(name) = keywords.0.get(&idx) {
                flags.push(name.clone());
            }
        }
    }
    flags
}

/// Info letters for IMAP flags, sorted (system letters before keyword letters, as the spec's ASCII order
/// gives). New keywords are added to `keywords`; returns the letters and whether the table changed.
/// `\Recent` and unknown system flags are dropped; keywords past the 26th are dropped with a warning.
pub(crate) fn letters_from_flags(flags: &[String], keywords: &mut Keywords) -> (String, bool) {
    let mut letters: Vec<char> = Vec::new();
    let mut changed = false;
    for flag in flags {
        if flag.starts_with('\\') {
            match SYSTEM_LETTERS
                .iter()
                .find(|(_, f)| f.eq_ignore_ascii_case(flag))
            {
                Some((l, _)) => letters.push(*l),
                None if flag.eq_ignore_ascii_case("\\Recent") => {}
                None => {
                    tracing::warn!(%flag, "Maildir has no letter for this system flag; dropped")
                }
            }
        } else if !flag.is_empty() {
            let (letter, added) = keywords.letter_or_assign(flag);
            changed |= added;
            match letter {
                Some(l) => letters.push(l),
                None => tracing::warn!(keyword = %flag,
                    "the folder already has 26 keywords, Maildir's limit; the message is kept without this keyword"),
            }
        }
    }
    letters.sort_unstable();
    letters.dedup();
    (letters.into_iter().collect(), changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(s: &str) -> FolderPath {
        FolderPath::parse(s, '/')
    }

    #[test]
    fn folder_names_round_trip_through_directory_names() -> Result<()> {
        assert_eq!(folder_dir_name(&FolderPath::inbox())?, None);
        for (path, dir) in [
            ("Sent", ".Sent"),
            ("Archive/2023", ".Archive.2023"),
            ("Données clients", ".Donn&AOk-es clients"),
            ("日本語", ".&ZeVnLIqe-"),
            ("INBOX/Sub", ".INBOX.Sub"),
            ("A&B", ".A&-B"),
        ] {
            assert_eq!(folder_dir_name(&fp(path))?.as_deref(), Some(dir));
            assert_eq!(folder_from_dir_name(dir), Some(fp(path)));
        }
        Ok(())
    }

    #[test]
    fn dots_and_slashes_inside_a_segment_become_underscores() -> Result<()> {
        let p = FolderPath(vec!["v1.2".into(), "a/b".into()]);
        assert_eq!(folder_dir_name(&p)?.as_deref(), Some(".v1_2.a_b"));
        assert!(folder_dir_name(&FolderPath(vec!["A".into(), String::new()])).is_err());
        Ok(())
    }

    #[test]
    fn non_folder_directory_names_are_skipped() {
        for name in ["cur", ".", "..", ".A..B", ".INBOX", ".&bad"] {
            assert_eq!(folder_from_dir_name(name), None, "{name}");
        }
    }

    #[test]
    fn file_names_with_and_without_dovecot_sizes_parse() {
        let f = FileName::parse("1700000000.M1P2.host,S=120,W=124:2,FSa");
        assert_eq!(
            f,
            Some(FileName {
                unique: "1700000000.M1P2.host,S=120,W=124",
                letters: "FSa",
                file_size: Some(120),
                crlf_size: Some(124),
            })
        );
        let plain = FileName::parse("1700000000.123.host");
        assert_eq!(
            plain.map(|f| (f.unique, f.letters)),
            Some(("1700000000.123.host", ""))
        );
        assert_eq!(FileName::parse(".hidden"), None);
        assert_eq!(FileName::parse(":2,S"), None);
    }

    #[test]
    fn flags_and_keywords_map_to_letters_and_back() {
        let mut kw = Keywords::parse("0 $Label1\nbad line\n3 Work\n99 Ignored\n");
        assert_eq!(kw.0.len(), 2);
        let flags: Vec<String> = ["\\Seen", "Work", "\\Answered", "New", "\\Recent", "\\Draft"]
            .map(String::from)
            .to_vec();
        let (letters, changed) = letters_from_flags(&flags, &mut kw);
        assert!(changed);
        assert_eq!(letters, "DRSbd"); // "New" gets the first free letter, b.
        let back = flags_from_letters(&letters, &kw);
        assert_eq!(back, ["\\Draft", "\\Answered", "\\Seen", "New", "Work"]);
        assert_eq!(Keywords::parse(&kw.render()), kw);
    }

    #[test]
    fn the_27th_keyword_is_dropped_not_the_message() {
        let mut kw = Keywords::default();
        let many: Vec<String> = (0..27).map(|i| format!("k{i}")).collect();
        let (letters, _) = letters_from_flags(&many, &mut kw);
        assert_eq!(letters.len(), 26);
        assert_eq!(kw.0.len(), 26);
    }
}
