//! Target rules: names and sizes a file target refuses, and the one reversible rule that maps them (issue 3,
//! DESIGN §4 "Names the target forbids are mapped by a documented, reversible rule and reported").
//!
//! A profile ([`TargetRules`]) selects a [`RuleSet`] — plain data, one `const` per service — and
//! [`TargetRules::check`] decides for each file either [`Verdict::Ok`] (the path to write, with a [`Rename`]
//! for every segment that had to change) or [`Verdict::Skip`] (path or file too long for the service).
//! Nothing here does I/O; the engine and `ferry files assess` call it per path. User documentation with
//! every rule and an example: `docs/files-target-rules.md`.
//!
//! # The mapping: look-alike characters, quoted when they occur naturally
//!
//! Each character that makes a name invalid is replaced by **one** look-alike character — the one the
//! OneDrive sync client and rclone also use — so users see `Budget：Q1？.xlsx` rather than
//! `Budget%3AQ1%3F.xlsx`:
//!
//! | source | written | where |
//! | --- | --- | --- |
//! | `" * : < > ? / \ \|` | `＂ ＊ ： ＜ ＞ ？ ／ ＼ ｜` (full-width forms, U+FF02…) | anywhere |
//! | control character U+0000–U+001F (TAB, newline…) | `␀`…`␟` (Control Pictures, U+2400 + code) | anywhere |
//! | space | `␠` (U+2420) | first or last character |
//! | `.` | `．` (U+FF0E) | last character |
//! | reserved word (`CON`, `.lock`, `_vti_`, `~$`…) | a marker `‛` (U+201B) after its first character: `C‛ON.txt` | see [`RuleSet`] |
//!
//! To keep this reversible, a source name that *already* contains one of those look-alikes, or the marker
//! `‛` itself, gets `‛` in front of it (`a：b` → `a‛：b`, `‛` → `‛‛`). The result is a small grammar that
//! reads back in one left-to-right pass ([`RuleSet::reverse_segment`]):
//!
//! - `‛` followed by a look-alike or by `‛` is that character, literally (a *quote*);
//! - any other `‛` (followed by an ordinary character, or last) is a *marker* and reads as nothing;
//! - a look-alike on its own reads as the character it replaced;
//! - everything else reads as itself.
//!
//! Why it is unambiguous: a marker is only ever placed after the first character of a reserved word, so
//! the next written character is the word's second one — an ASCII letter or `$`, never a look-alike nor
//! `‛` (the `rule_sets_are_well_formed` test checks this for every profile). So "quote" and "marker" never
//! meet, every written character belongs to exactly one source character, and `reverse(map(x)) == x`
//! for every `x` (tested exhaustively on short names and on 200 000 random ones). It follows that two
//! different source names never map to the same target name. The reverse is strict: a name no source name
//! maps to (`a‛b`, `CON`, ` x`) reads back as `None` rather than as a guess. (A `：` someone typed in
//! OneDrive reads back as `:` — it is exactly what Ferry writes for `:`.)
//!
//! The mapping also keeps case apart: look-alikes and `‛` have no case, so two names that differ by more
//! than letter case still differ by more than letter case after mapping (OneDrive compares names
//! case-insensitively; names that differ *only* by case collide there whatever we do).
//!
//! Why not percent escapes (`:` → `%3A`)? They are just as provably reversible, but users read these names
//! in OneDrive every day, `%` is common in real names (`50% off.pdf`, `My%20File.pdf` from downloads) so
//! many more names would need escaping, and the result looks like a bug rather than like the original.
//! The price of look-alikes is that names which already contain one (full-width `：` or `？` typed in CJK
//! names) gain a visible `‛`; that change is reported like any other. rclone uses the same look-alikes
//! and quote mark, but leaves a lone `‛` unquoted, which made some names not round-trip (rclone issue
//! #6098); Ferry always quotes `‛`.
//!
//! ```
//! use ferry_core::rules::{TargetRoot, TargetRules, Verdict};
//! let rules: TargetRules = "onedrive".parse().unwrap();
//! match rules.check(&TargetRoot::default(), "Q1: plan/CON.txt", 10, false) {
//!     Verdict::Ok { target_path, renamed } => {
//!         assert_eq!(target_path, "Q1： plan/C‛ON.txt");
//!         assert_eq!(renamed.len(), 2);
//!     }
//!     Verdict::Skip { reason } => panic!("{reason}"),
//! }
//! assert_eq!(rules.reverse("C‛ON.txt", false).as_deref(), Some("CON.txt"));
//! ```

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

// ---------------------------------------------------------------------------------------------------------
// The data: every value a profile uses, in one place. A new profile is a new `const RuleSet`.
// ---------------------------------------------------------------------------------------------------------

/// Marker and quote character (U+201B SINGLE HIGH-REVERSED-9 QUOTATION MARK, as in rclone): after the first
/// character of a reserved word it breaks the word; before a look-alike or itself it means "literally".
pub const QUOTE: char = '\u{201B}';

/// Written for a leading or trailing space (U+2420 SYMBOL FOR SPACE).
pub const SPACE_LOOKALIKE: char = '\u{2420}';

/// Written for a trailing dot (U+FF0E FULLWIDTH FULL STOP).
pub const DOT_LOOKALIKE: char = '\u{FF0E}';

/// Control character `c` (U+0000–U+001F) is written as `CONTROL_PICTURES + c` (U+2400 SYMBOL FOR NULL…).
pub const CONTROL_PICTURES: u32 = 0x2400;

/// One GiB. Microsoft states its limits in "GB"; we read that as 2^30 bytes, the larger reading, so that no
/// file the service would accept is skipped (a file between the two readings fails visibly instead).
const GB: u64 = 1024 * 1024 * 1024;

/// The characters OneDrive and SharePoint refuse anywhere in a name, each with the full-width look-alike
/// written instead ("Invalid characters": `" * : < > ? / \ |`).
const MS_FORBIDDEN_CHARS: &[(char, char)] = &[
    ('"', '\u{FF02}'),  // ＂ FULLWIDTH QUOTATION MARK
    ('*', '\u{FF0A}'),  // ＊ FULLWIDTH ASTERISK
    (':', '\u{FF1A}'),  // ： FULLWIDTH COLON
    ('<', '\u{FF1C}'),  // ＜ FULLWIDTH LESS-THAN SIGN
    ('>', '\u{FF1E}'),  // ＞ FULLWIDTH GREATER-THAN SIGN
    ('?', '\u{FF1F}'),  // ？ FULLWIDTH QUESTION MARK
    ('/', '\u{FF0F}'),  // ／ FULLWIDTH SOLIDUS
    ('\\', '\u{FF3C}'), // ＼ FULLWIDTH REVERSE SOLIDUS
    ('|', '\u{FF5C}'),  // ｜ FULLWIDTH VERTICAL LINE
];

/// Windows device names OneDrive and SharePoint refuse, with or without an extension (`CON`, `con.txt`).
const MS_RESERVED_STEMS: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "COM0", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7",
    "COM8", "COM9", "LPT0", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// Whole names OneDrive and SharePoint refuse.
const MS_RESERVED_NAMES: &[&str] = &[".lock", "desktop.ini"];

/// Text OneDrive and SharePoint refuse anywhere in a name (FrontPage Server Extensions' folders).
const MS_RESERVED_PARTS: &[&str] = &["_vti_"];

/// Prefixes OneDrive and SharePoint refuse (Office lock files `~$Report.docx`).
const MS_RESERVED_PREFIXES: &[&str] = &["~$"];

/// OneDrive (personal and for work or school): Microsoft's "Restrictions and limitations in OneDrive and
/// SharePoint".
pub const ONEDRIVE: RuleSet = RuleSet {
    name: "OneDrive",
    forbidden_chars: MS_FORBIDDEN_CHARS,
    control_chars: true,
    leading_space: true,
    trailing_space: true,
    trailing_dot: true,
    reserved_stems: MS_RESERVED_STEMS,
    reserved_names: MS_RESERVED_NAMES,
    reserved_parts: MS_RESERVED_PARTS,
    reserved_prefixes: MS_RESERVED_PREFIXES,
    reserved_at_library_root: &[],
    max_path_len: 400,
    max_file_size: 250 * GB,
    max_file_size_cloud_source: 15 * GB,
};

/// SharePoint in Microsoft 365: OneDrive's rules plus `forms` at the root of a document library (the
/// library's own `Forms` folder holds its views).
pub const SHAREPOINT: RuleSet = RuleSet {
    name: "SharePoint",
    reserved_at_library_root: &["forms"],
    ..ONEDRIVE
};

/// What one service refuses, as data. Every check and the mapping read only this.
///
/// Reserved words are compared ASCII-case-insensitively and must be at least two characters long, the
/// second an ordinary ASCII character (the marker goes after the first; see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleSet {
    /// The service's name, as used in skip reasons ("OneDrive").
    pub name: &'static str,
    /// Characters refused anywhere in a name, each with the look-alike written instead.
    pub forbidden_chars: &'static [(char, char)],
    /// Control characters U+0000–U+001F are refused (written as [`CONTROL_PICTURES`] + code).
    pub control_chars: bool,
    /// A name may not start with a space (its first character is written as [`SPACE_LOOKALIKE`]).
    pub leading_space: bool,
    /// A name may not end with a space (its last character is written as [`SPACE_LOOKALIKE`]).
    pub trailing_space: bool,
    /// A name may not end with a dot (its last character is written as [`DOT_LOOKALIKE`]).
    pub trailing_dot: bool,
    /// Names refused with or without extension: compared with the part before the first `.`, trailing
    /// spaces ignored (`CON`, `con.txt`, `CON .tar.gz`).
    pub reserved_stems: &'static [&'static str],
    /// Whole names refused (`desktop.ini`).
    pub reserved_names: &'static [&'static str],
    /// Text refused anywhere in a name (`_vti_`); every occurrence gets a marker.
    pub reserved_parts: &'static [&'static str],
    /// Prefixes refused (`~$`).
    pub reserved_prefixes: &'static [&'static str],
    /// Names refused as the first segment under a document library's root (`forms`).
    pub reserved_at_library_root: &'static [&'static str],
    /// The whole decoded path must be shorter than this, in UTF-16 code units (see [`TargetRules::check`]).
    pub max_path_len: usize,
    /// Largest file accepted, in bytes.
    pub max_file_size: u64,
    /// Largest file accepted when the source is a cloud service (Microsoft's migration tools' limit).
    pub max_file_size_cloud_source: u64,
}

// ---------------------------------------------------------------------------------------------------------
// Profiles, rules, verdicts.
// ---------------------------------------------------------------------------------------------------------

/// The `--target-rules` profile. `None` (the default) is plain storage: nothing is mapped or skipped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TargetRules {
    #[default]
    None,
    OneDrive,
    SharePoint,
}

impl TargetRules {
    /// The flag value (`none`, `onedrive`, `sharepoint`).
    pub fn as_str(self) -> &'static str {
        match self {
            TargetRules::None => "none",
            TargetRules::OneDrive => "onedrive",
            TargetRules::SharePoint => "sharepoint",
        }
    }

    /// The profile's data, `None` for plain storage.
    pub fn rule_set(self) -> Option<&'static RuleSet> {
        match self {
            TargetRules::None => None,
            TargetRules::OneDrive => Some(&ONEDRIVE),
            TargetRules::SharePoint => Some(&SHAREPOINT),
        }
    }

    /// Decide what to do with one file about to be written.
    ///
    /// `path` is relative to `root`, `/`-separated (as in [`crate::file`]); `size` is in bytes;
    /// `cloud_source` is true when the file comes from a cloud service (the lower size limit applies).
    ///
    /// # Behavior
    /// - Under [`TargetRules::None`] the path is returned unchanged and nothing is skipped.
    /// - Every segment the profile refuses is mapped (see the module docs) and listed in `renamed`.
    /// - The length counted is the whole decoded path as the service counts it: `root.prefix`, a `/`, then
    ///   the mapped path, in UTF-16 code units (what SharePoint stores; equal to characters outside the
    ///   emoji planes). A path of [`RuleSet::max_path_len`] or more is Skipped.
    /// - A file over [`RuleSet::max_file_size`] (over [`RuleSet::max_file_size_cloud_source`] from a
    ///   cloud source) is Skipped. When several limits are broken the reason names each.
    /// - A path with an empty segment (`a//b`, `/a`, `""`) is Skipped: the service cannot hold it.
    pub fn check(self, root: &TargetRoot, path: &str, size: u64, cloud_source: bool) -> Verdict {
        let Some(rules) = self.rule_set() else {
            return Verdict::Ok {
                target_path: path.to_owned(),
                renamed: Vec::new(),
            };
        };
        if path.split('/').any(str::is_empty) {
            return Verdict::Skip {
                reason: format!(
                    "the path {path:?} has an empty name, which {} cannot hold",
                    rules.name
                ),
            };
        }
        let mut target_path = String::with_capacity(path.len() + 8);
        let mut renamed = Vec::new();
        for (i, segment) in path.split('/').enumerate() {
            let mapped = rules.map_segment(segment, root.is_library_root && i == 0);
            if i > 0 {
                target_path.push('/');
            }
            target_path.push_str(&mapped.name);
            if !mapped.rules.is_empty() {
                renamed.push(Rename {
                    segment: i,
                    before: segment.to_owned(),
                    after: mapped.name,
                    rules: mapped.rules,
                });
            }
        }

        let mut reasons = Vec::new();
        let (limit, what) = if cloud_source {
            (
                rules.max_file_size_cloud_source,
                "for files from a cloud source",
            )
        } else {
            (rules.max_file_size, "for a file")
        };
        if size > limit {
            reasons.push(format!(
                "the file is {} ({size} bytes), over {}'s limit of {} ({limit} bytes) {what}",
                gb(size),
                rules.name,
                gb(limit),
            ));
        }
        let prefix = root.prefix.trim_matches('/');
        let len = if prefix.is_empty() {
            utf16_len(&target_path)
        } else {
            utf16_len(prefix) + 1 + utf16_len(&target_path)
        };
        if len >= rules.max_path_len {
            reasons.push(format!(
                "the full path is {len} characters; {} needs fewer than {} (the whole decoded path, \
                 site and library included)",
                rules.name, rules.max_path_len,
            ));
        }
        if reasons.is_empty() {
            Verdict::Ok {
                target_path,
                renamed,
            }
        } else {
            Verdict::Skip {
                reason: reasons.join("; "),
            }
        }
    }

    /// The source name a mapped segment came from, or `None` when Ferry could not have written it.
    /// Under [`TargetRules::None`] every name is its own source.
    pub fn reverse(self, mapped_segment: &str, at_library_root: bool) -> Option<String> {
        match self.rule_set() {
            None => Some(mapped_segment.to_owned()),
            Some(rules) => rules.reverse_segment(mapped_segment, at_library_root),
        }
    }

    /// [`TargetRules::reverse`] for every segment of a mapped path relative to `root`.
    pub fn reverse_path(self, root: &TargetRoot, mapped_path: &str) -> Option<String> {
        let mut out = String::with_capacity(mapped_path.len());
        for (i, segment) in mapped_path.split('/').enumerate() {
            if i > 0 {
                out.push('/');
            }
            out.push_str(&self.reverse(segment, root.is_library_root && i == 0)?);
        }
        Some(out)
    }
}

impl fmt::Display for TargetRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TargetRules {
    type Err = Error;

    /// `onedrive`, `sharepoint` or `none`, in any case.
    fn from_str(s: &str) -> Result<Self> {
        [
            TargetRules::None,
            TargetRules::OneDrive,
            TargetRules::SharePoint,
        ]
        .into_iter()
        .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
        .ok_or_else(|| {
            Error::config(format!(
                "unknown target rules profile {s:?}: use onedrive, sharepoint or none"
            ))
        })
    }
}

/// Where the paths given to [`TargetRules::check`] start on the service.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetRoot {
    /// The decoded server-relative path of the target root, without the host, e.g.
    /// `sites/marketing/Shared Documents/Projects` or `personal/alice_contoso_com/Documents`. It counts
    /// towards the path limit; empty counts nothing (then the limit is checked on the relative path only).
    pub prefix: String,
    /// The root is a document library's root, so the first segment of a path is "at library root".
    pub is_library_root: bool,
}

/// What to do with one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Write it at `target_path` (relative to the same root); `renamed` lists each segment that changed.
    Ok {
        target_path: String,
        renamed: Vec<Rename>,
    },
    /// Do not write it; `reason` names the limit and the value, for the report.
    Skip { reason: String },
}

/// One path segment the profile changed, for the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rename {
    /// Index of the segment in the path (0 = the first under the root).
    pub segment: usize,
    /// The source name.
    pub before: String,
    /// The name written.
    pub after: String,
    /// Every rule that fired, in the order first met.
    pub rules: Vec<Rule>,
}

/// Which rule changed a name.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// A character the service refuses (`" * : < > ? / \ |`) became its full-width look-alike.
    ForbiddenCharacter,
    /// A control character (TAB, newline…) became its Control Pictures symbol.
    ControlCharacter,
    /// A leading space became `␠`.
    LeadingSpace,
    /// A trailing space became `␠`.
    TrailingSpace,
    /// A trailing dot became `．`.
    TrailingDot,
    /// A reserved name (`CON`, `con.txt`, `.lock`, `desktop.ini`) got a marker.
    ReservedName,
    /// Reserved text inside the name (`_vti_`) got a marker.
    ReservedPart,
    /// A reserved prefix (`~$`) got a marker.
    ReservedPrefix,
    /// A name reserved at a library's root (`forms`) got a marker.
    ReservedAtLibraryRoot,
    /// The source name already contained a look-alike or `‛`; it was quoted so the mapping stays reversible.
    LookalikeQuoted,
}

impl Rule {
    /// A short, stable, snake_case name (used in reports and JSON).
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::ForbiddenCharacter => "forbidden_character",
            Rule::ControlCharacter => "control_character",
            Rule::LeadingSpace => "leading_space",
            Rule::TrailingSpace => "trailing_space",
            Rule::TrailingDot => "trailing_dot",
            Rule::ReservedName => "reserved_name",
            Rule::ReservedPart => "reserved_part",
            Rule::ReservedPrefix => "reserved_prefix",
            Rule::ReservedAtLibraryRoot => "reserved_at_library_root",
            Rule::LookalikeQuoted => "lookalike_quoted",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A segment after mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MappedName {
    /// The name to write (equal to the source name when `rules` is empty).
    pub name: String,
    /// Every rule that fired, in the order first met.
    pub rules: Vec<Rule>,
}

// ---------------------------------------------------------------------------------------------------------
// The mapping.
// ---------------------------------------------------------------------------------------------------------

impl RuleSet {
    /// Map one name (a path segment) so the service accepts it. `at_library_root`: the segment is the first
    /// under a document library's root.
    pub fn map_segment(&self, segment: &str, at_library_root: bool) -> MappedName {
        let chars: Vec<char> = segment.chars().collect();
        let n = chars.len();
        let mut rules = Vec::new();
        let mut add = |rule: Rule| {
            if !rules.contains(&rule) {
                rules.push(rule);
            }
        };

        // Reserved words: a marker after the first character of each occurrence.
        let mut marker_after = vec![false; n];
        if n > 0 {
            let stem = segment
                .split('.')
                .next()
                .unwrap_or(segment)
                .trim_end_matches(' ');
            if self
                .reserved_stems
                .iter()
                .any(|r| r.eq_ignore_ascii_case(stem))
            {
                marker_after[0] = true;
                add(Rule::ReservedName);
            }
            if self
                .reserved_names
                .iter()
                .any(|r| r.eq_ignore_ascii_case(segment))
            {
                marker_after[0] = true;
                add(Rule::ReservedName);
            }
            if self.reserved_prefixes.iter().any(|p| {
                segment
                    .get(..p.len())
                    .is_some_and(|h| h.eq_ignore_ascii_case(p))
            }) {
                marker_after[0] = true;
                add(Rule::ReservedPrefix);
            }
            if at_library_root
                && self
                    .reserved_at_library_root
                    .iter()
                    .any(|r| r.eq_ignore_ascii_case(segment))
            {
                marker_after[0] = true;
                add(Rule::ReservedAtLibraryRoot);
            }
            for part in self.reserved_parts {
                let part: Vec<char> = part.chars().collect();
                if part.is_empty() || part.len() > n {
                    continue;
                }
                for start in 0..=n - part.len() {
                    let window = &chars[start..start + part.len()];
                    if window
                        .iter()
                        .zip(&part)
                        .all(|(a, b)| a.eq_ignore_ascii_case(b))
                    {
                        marker_after[start] = true;
                        add(Rule::ReservedPart);
                    }
                }
            }
        }

        let mut name = String::with_capacity(segment.len() + 4);
        for (i, &c) in chars.iter().enumerate() {
            if let Some(&(_, twin)) = self.forbidden_chars.iter().find(|(f, _)| *f == c) {
                name.push(twin);
                add(Rule::ForbiddenCharacter);
            } else if let Some(picture) = self.control_picture(c) {
                name.push(picture);
                add(Rule::ControlCharacter);
            } else if c == ' ' && i == 0 && self.leading_space {
                name.push(SPACE_LOOKALIKE);
                add(Rule::LeadingSpace);
            } else if c == ' ' && i + 1 == n && self.trailing_space {
                name.push(SPACE_LOOKALIKE);
                add(Rule::TrailingSpace);
            } else if c == '.' && i + 1 == n && self.trailing_dot {
                name.push(DOT_LOOKALIKE);
                add(Rule::TrailingDot);
            } else if c == QUOTE || self.is_lookalike(c) {
                name.push(QUOTE);
                name.push(c);
                add(Rule::LookalikeQuoted);
            } else {
                name.push(c);
            }
            if marker_after[i] {
                name.push(QUOTE);
            }
        }
        MappedName { name, rules }
    }

    /// The source name `mapped` was made from by [`RuleSet::map_segment`] with the same `at_library_root`,
    /// or `None` when no source name maps to it (a name Ferry did not write).
    pub fn reverse_segment(&self, mapped: &str, at_library_root: bool) -> Option<String> {
        let mut out = String::with_capacity(mapped.len());
        let mut it = mapped.chars().peekable();
        while let Some(c) = it.next() {
            if c == QUOTE {
                match it.peek() {
                    Some(&next) if next == QUOTE || self.is_lookalike(next) => {
                        out.push(next);
                        it.next();
                    }
                    // A marker: reads as nothing.
                    _ => {}
                }
            } else {
                out.push(self.original_of(c).unwrap_or(c));
            }
        }
        (self.map_segment(&out, at_library_root).name == mapped).then_some(out)
    }

    /// The Control Pictures symbol written for control character `c`, when this profile maps them.
    fn control_picture(&self, c: char) -> Option<char> {
        if self.control_chars && (c as u32) < 0x20 {
            char::from_u32(CONTROL_PICTURES + c as u32)
        } else {
            None
        }
    }

    /// Whether this profile ever writes `c` in place of another character.
    fn is_lookalike(&self, c: char) -> bool {
        self.original_of(c).is_some()
    }

    /// The character look-alike `c` stands for.
    fn original_of(&self, c: char) -> Option<char> {
        if let Some(&(orig, _)) = self.forbidden_chars.iter().find(|(_, t)| *t == c) {
            return Some(orig);
        }
        let code = c as u32;
        if self.control_chars && (CONTROL_PICTURES..CONTROL_PICTURES + 0x20).contains(&code) {
            return char::from_u32(code - CONTROL_PICTURES);
        }
        if c == SPACE_LOOKALIKE && (self.leading_space || self.trailing_space) {
            return Some(' ');
        }
        if c == DOT_LOOKALIKE && self.trailing_dot {
            return Some('.');
        }
        None
    }
}

fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// Bytes as GB (2^30) with one decimal, for skip reasons.
fn gb(bytes: u64) -> String {
    let tenths = (u128::from(bytes) * 10 + u128::from(GB) / 2) / u128::from(GB);
    format!("{}.{} GB", tenths / 10, tenths % 10)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn od(segment: &str) -> MappedName {
        ONEDRIVE.map_segment(segment, false)
    }

    fn mapped(segment: &str) -> String {
        od(segment).name
    }

    fn ok(v: Verdict) -> (String, Vec<Rename>) {
        match v {
            Verdict::Ok {
                target_path,
                renamed,
            } => (target_path, renamed),
            Verdict::Skip { reason } => panic!("unexpected skip: {reason}"),
        }
    }

    fn skip_reason(v: Verdict) -> String {
        match v {
            Verdict::Skip { reason } => reason,
            Verdict::Ok { target_path, .. } => panic!("unexpected ok: {target_path}"),
        }
    }

    /// An independent reading of the service's rules (not the mapping's code): what is wrong with `name`.
    fn violations(rules: &RuleSet, name: &str, at_root: bool) -> Vec<String> {
        let mut v = Vec::new();
        let lower = name.to_ascii_lowercase();
        if name
            .chars()
            .any(|c| rules.forbidden_chars.iter().any(|(f, _)| *f == c))
        {
            v.push("forbidden character".to_owned());
        }
        if name.chars().any(|c| (c as u32) < 0x20) {
            v.push("control character".to_owned());
        }
        if name.starts_with(' ') || name.ends_with(' ') || name.ends_with('.') {
            v.push("leading/trailing space or trailing dot".to_owned());
        }
        let stem = lower.split('.').next().unwrap_or("").trim_end_matches(' ');
        if rules
            .reserved_stems
            .iter()
            .any(|r| r.to_ascii_lowercase() == stem)
            || rules
                .reserved_names
                .iter()
                .any(|r| r.to_ascii_lowercase() == lower)
            || rules
                .reserved_parts
                .iter()
                .any(|r| lower.contains(&r.to_ascii_lowercase()))
            || rules
                .reserved_prefixes
                .iter()
                .any(|r| lower.starts_with(&r.to_ascii_lowercase()))
            || (at_root && rules.reserved_at_library_root.iter().any(|r| *r == lower))
        {
            v.push("reserved".to_owned());
        }
        v
    }

    /// A small fixed-seed PRNG (SplitMix64): reproducible random names without a dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Characters that exercise every rule: forbidden ones, their look-alikes, the quote, spaces, dots,
    /// controls (and DEL and ␡, which are not mapped), reserved-word letters, ordinary and non-BMP ones.
    const ALPHABET: &str =
        "\"*:<>?/\\|＂＊：＜＞？／＼｜‛␠．␀␉␟␡ .\t\n\0\u{1F}\u{7F}CoN_vTi~$%#lkdfms1é😀\u{3000}";
    /// Whole reserved words, inserted now and then so they appear far more often than by chance.
    const WORDS: &str =
        "CON con Lpt9 com0 PRN aux nul .lock .LOCK desktop.ini _vti_ _VTI_ ~$ forms Forms .txt";

    fn random_name(rng: &mut Rng) -> String {
        let alphabet: Vec<char> = ALPHABET.chars().collect();
        let words: Vec<&str> = WORDS.split(' ').collect();
        let len = rng.below(12);
        let mut s = String::new();
        for _ in 0..len {
            if rng.below(6) == 0 {
                s.push_str(words[rng.below(words.len())]);
            } else {
                s.push(alphabet[rng.below(alphabet.len())]);
            }
        }
        s
    }

    fn assert_round_trip(rules: &RuleSet, name: &str, at_root: bool) -> String {
        let m = rules.map_segment(name, at_root);
        assert_eq!(
            rules.reverse_segment(&m.name, at_root).as_deref(),
            Some(name),
            "{name:?} -> {:?}",
            m.name
        );
        assert!(
            violations(rules, &m.name, at_root).is_empty(),
            "{name:?} -> {:?} still breaks {:?}",
            m.name,
            violations(rules, &m.name, at_root)
        );
        assert_eq!(m.rules.is_empty(), m.name == name, "{name:?}");
        m.name
    }

    // --- profiles ---------------------------------------------------------------------------------------

    #[test]
    fn profile_parses_in_any_case_and_names_the_choices_when_unknown() {
        assert_eq!(
            "OneDrive".parse::<TargetRules>().unwrap(),
            TargetRules::OneDrive
        );
        assert_eq!(
            "SHAREPOINT".parse::<TargetRules>().unwrap(),
            TargetRules::SharePoint
        );
        assert_eq!("none".parse::<TargetRules>().unwrap(), TargetRules::None);
        assert_eq!(TargetRules::default(), TargetRules::None);
        let e = "dropbox".parse::<TargetRules>().unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Config);
        assert!(e.message().contains("\"dropbox\""), "{e}");
        assert!(e.message().contains("onedrive, sharepoint or none"), "{e}");
    }

    #[test]
    fn plain_storage_changes_nothing_and_skips_nothing() {
        let path = "CON/a:b?/ trailing. /\t~$x/_vti_/forms/desktop.ini";
        let long = "x/".repeat(300) + "f";
        for p in [path, long.as_str(), "a//b"] {
            let (target, renamed) =
                ok(TargetRules::None.check(&TargetRoot::default(), p, u64::MAX, true));
            assert_eq!(target, p);
            assert!(renamed.is_empty());
        }
        assert_eq!(
            TargetRules::None.reverse("C‛ON", false).as_deref(),
            Some("C‛ON")
        );
    }

    #[test]
    fn rule_sets_are_well_formed() {
        for rules in [&ONEDRIVE, &SHAREPOINT] {
            let twins: Vec<char> = rules.forbidden_chars.iter().map(|(_, t)| *t).collect();
            for (i, &(orig, twin)) in rules.forbidden_chars.iter().enumerate() {
                assert!(orig.is_ascii() && orig != ' ' && orig != '.' && !orig.is_ascii_control());
                assert!(!twin.is_ascii() && twin != QUOTE, "{twin}");
                assert!(!twins[..i].contains(&twin), "{twin} used twice");
                assert!(!(0x2400..0x2420).contains(&(twin as u32)) && twin != SPACE_LOOKALIKE);
                assert!(twin != DOT_LOOKALIKE);
            }
            let words = rules
                .reserved_stems
                .iter()
                .chain(rules.reserved_names)
                .chain(rules.reserved_parts)
                .chain(rules.reserved_prefixes)
                .chain(rules.reserved_at_library_root);
            for w in words {
                // The marker goes after the first character; the second must be written as itself.
                let second = w.chars().nth(1).unwrap_or(' ');
                assert!(
                    second.is_ascii_graphic()
                        && second != '.'
                        && !rules.forbidden_chars.iter().any(|(f, _)| *f == second),
                    "reserved word {w:?} cannot carry a marker"
                );
            }
        }
    }

    // --- one test per rule ------------------------------------------------------------------------------

    #[test]
    fn forbidden_characters_become_full_width_look_alikes() {
        assert_eq!(
            mapped(r#"a"b*c:d<e>f?g/h\i|j"#),
            "a＂b＊c：d＜e＞f？g／h＼i｜j"
        );
        assert_eq!(od("Q1: plan?").rules, vec![Rule::ForbiddenCharacter]);
    }

    #[test]
    fn control_characters_become_control_pictures() {
        assert_eq!(mapped("a\tb\nc\0d\u{1F}"), "a␉b␊c␀d␟");
        assert_eq!(od("tab\there").rules, vec![Rule::ControlCharacter]);
        // DEL is allowed by the service and left alone.
        assert_eq!(mapped("a\u{7F}"), "a\u{7F}");
    }

    #[test]
    fn a_leading_space_becomes_a_space_symbol() {
        assert_eq!(mapped(" notes.txt"), "␠notes.txt");
        assert_eq!(mapped("  two"), "␠ two");
        assert_eq!(od(" x").rules, vec![Rule::LeadingSpace]);
    }

    #[test]
    fn a_trailing_space_becomes_a_space_symbol() {
        assert_eq!(mapped("notes "), "notes␠");
        assert_eq!(mapped(" "), "␠");
        assert_eq!(od("x ").rules, vec![Rule::TrailingSpace]);
        // Inner spaces are fine.
        assert!(od("a b c").rules.is_empty());
    }

    #[test]
    fn a_trailing_dot_becomes_a_full_width_dot() {
        assert_eq!(mapped("Notes..."), "Notes..．");
        assert_eq!(mapped("."), "．");
        assert_eq!(mapped(".."), ".．");
        assert_eq!(od("x.").rules, vec![Rule::TrailingDot]);
        // Leading and inner dots are fine.
        assert!(od(".gitignore").rules.is_empty());
    }

    #[test]
    fn device_names_get_a_marker_with_or_without_extension_in_any_case() {
        assert_eq!(mapped("CON"), "C‛ON");
        assert_eq!(mapped("con.txt"), "c‛on.txt");
        assert_eq!(mapped("Lpt9.tar.gz"), "L‛pt9.tar.gz");
        assert_eq!(mapped("COM0"), "C‛OM0");
        assert_eq!(mapped("NUL .txt"), "N‛UL .txt");
        assert_eq!(od("aux").rules, vec![Rule::ReservedName]);
        // Only the whole stem is reserved.
        for fine in ["CONTRACT.pdf", "icon.png", "COM10", "LPT", "PRN_2024"] {
            assert!(od(fine).rules.is_empty(), "{fine}");
        }
    }

    #[test]
    fn lock_and_desktop_ini_get_a_marker() {
        assert_eq!(mapped(".lock"), ".‛lock");
        assert_eq!(mapped(".LOCK"), ".‛LOCK");
        assert_eq!(mapped("desktop.ini"), "d‛esktop.ini");
        assert_eq!(od("Desktop.INI").rules, vec![Rule::ReservedName]);
        assert!(od("file.lock").rules.is_empty());
        assert!(od("desktop.ini.bak").rules.is_empty());
    }

    #[test]
    fn vti_anywhere_in_a_name_gets_a_marker_at_each_occurrence() {
        assert_eq!(mapped("_vti_cnf"), "_‛vti_cnf");
        assert_eq!(mapped("a_VTI_b_vti_vti_"), "a_‛VTI_b_‛vti_‛vti_");
        assert_eq!(od("x_vti_").rules, vec![Rule::ReservedPart]);
    }

    #[test]
    fn a_tilde_dollar_prefix_gets_a_marker() {
        assert_eq!(mapped("~$Report.docx"), "~‛$Report.docx");
        assert_eq!(od("~$x").rules, vec![Rule::ReservedPrefix]);
        assert!(od("~Report.docx").rules.is_empty());
        assert!(od("a~$b").rules.is_empty());
    }

    #[test]
    fn forms_at_a_sharepoint_library_root_gets_a_marker_and_nowhere_else() {
        let root = TargetRoot {
            prefix: "sites/marketing/Shared Documents".to_owned(),
            is_library_root: true,
        };
        let (p, renamed) = ok(TargetRules::SharePoint.check(&root, "Forms/forms/x.txt", 1, false));
        assert_eq!(p, "F‛orms/forms/x.txt");
        assert_eq!(renamed[0].rules, vec![Rule::ReservedAtLibraryRoot]);
        assert_eq!(renamed.len(), 1);
        // Not at the library root when the target is a subfolder, and never for OneDrive.
        let sub = TargetRoot {
            is_library_root: false,
            ..root.clone()
        };
        assert_eq!(
            ok(TargetRules::SharePoint.check(&sub, "forms/x", 1, false)).0,
            "forms/x"
        );
        assert_eq!(
            ok(TargetRules::OneDrive.check(&root, "forms/x", 1, false)).0,
            "forms/x"
        );
        assert_eq!(
            TargetRules::SharePoint
                .reverse_path(&root, "F‛orms/forms/x.txt")
                .as_deref(),
            Some("Forms/forms/x.txt")
        );
    }

    #[test]
    fn names_already_containing_a_look_alike_or_the_quote_are_quoted() {
        assert_eq!(mapped("議事録：2024"), "議事録‛：2024");
        assert_eq!(mapped("‛"), "‛‛");
        assert_eq!(mapped("a␠b．c␉"), "a‛␠b‛．c‛␉");
        assert_eq!(od("x？").rules, vec![Rule::LookalikeQuoted]);
        // Characters that are never written as look-alikes are left alone.
        assert!(od("全角　スペース ＃１").rules.is_empty());
    }

    #[test]
    fn several_rules_on_one_name_are_all_reported_in_order() {
        let m = od(" a:x.");
        assert_eq!(m.name, "␠a：x．");
        assert_eq!(
            m.rules,
            vec![
                Rule::LeadingSpace,
                Rule::ForbiddenCharacter,
                Rule::TrailingDot
            ]
        );
        let m = od("con.t:t");
        assert_eq!(m.name, "c‛on.t：t");
        assert_eq!(m.rules, vec![Rule::ReservedName, Rule::ForbiddenCharacter]);
    }

    // --- reversibility ----------------------------------------------------------------------------------

    #[test]
    fn reverse_undoes_every_rule() {
        for name in [
            r#"a"b*c:d<e>f?g\h|i"#,
            " lead",
            "trail ",
            "dot.",
            "CON",
            "con.txt",
            ".lock",
            "desktop.ini",
            "x_vti_y",
            "~$doc",
            "tab\tnew\nline",
            "議事録：2024",
            "‛",
            "‛‛x",
            "",
        ] {
            assert_round_trip(&ONEDRIVE, name, false);
            assert_round_trip(&SHAREPOINT, name, true);
        }
        assert_round_trip(&SHAREPOINT, "forms", true);
    }

    #[test]
    fn reverse_refuses_names_ferry_could_not_have_written() {
        for foreign in ["a‛b", "‛", "a:b", "CON", " x", "x.", "‛‛‛", "a‛"] {
            assert_eq!(
                ONEDRIVE.reverse_segment(foreign, false),
                None,
                "{foreign:?}"
            );
        }
        assert_eq!(SHAREPOINT.reverse_segment("forms", true), None);
        assert_eq!(
            SHAREPOINT.reverse_segment("forms", false).as_deref(),
            Some("forms")
        );
        assert_eq!(
            TargetRules::OneDrive
                .reverse_path(&TargetRoot::default(), "ok/C‛ON/a：b")
                .as_deref(),
            Some("ok/CON/a:b")
        );
        assert_eq!(
            TargetRules::OneDrive.reverse_path(&TargetRoot::default(), "ok/CON"),
            None
        );
    }

    #[test]
    fn every_short_name_round_trips_and_is_accepted() {
        // Exhaustive over all names of up to three characters from a rule-dense alphabet.
        let alphabet: Vec<char> = "\":? .\tC_~$‛：．␠␉a".chars().collect();
        let mut names = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..3 {
            let mut next = Vec::new();
            for prefix in &last {
                for &c in &alphabet {
                    let mut s = prefix.clone();
                    s.push(c);
                    next.push(s);
                }
            }
            names.extend(next.iter().cloned());
            last = next;
        }
        assert!(names.len() > 4000);
        let mut seen: HashMap<String, String> = HashMap::new();
        for name in &names {
            for at_root in [false, true] {
                let out = assert_round_trip(&SHAREPOINT, name, at_root);
                if !at_root && let Some(other) = seen.insert(out.clone(), name.clone()) {
                    panic!("{other:?} and {name:?} both map to {out:?}");
                }
            }
        }
    }

    #[test]
    fn random_names_round_trip_are_accepted_and_never_collide() {
        let mut rng = Rng(0x5EED_F3A7_2024_0003);
        for rules in [&ONEDRIVE, &SHAREPOINT] {
            let mut seen: HashMap<String, String> = HashMap::new();
            let mut seen_ci: HashMap<String, String> = HashMap::new();
            for _ in 0..100_000 {
                let name = random_name(&mut rng);
                let at_root = rng.below(2) == 0;
                let out = assert_round_trip(rules, &name, at_root);
                if at_root {
                    continue;
                }
                if let Some(other) = seen.insert(out.clone(), name.clone()) {
                    assert_eq!(other, name, "two names map to {out:?}");
                }
                // Mapping adds no case-insensitive collision the source names did not already have.
                if let Some(other) = seen_ci.insert(out.to_lowercase(), name.clone()) {
                    assert_eq!(
                        other.to_lowercase(),
                        name.to_lowercase(),
                        "{other:?} vs {name:?}"
                    );
                }
            }
        }
    }

    // --- path and size limits ---------------------------------------------------------------------------

    #[test]
    fn a_path_of_400_characters_is_skipped_and_399_is_not() {
        let root = TargetRoot::default();
        let p399 = format!("{}/{}", "a".repeat(200), "b".repeat(198));
        assert_eq!(p399.chars().count(), 399);
        ok(TargetRules::OneDrive.check(&root, &p399, 1, false));
        let p400 = format!("{p399}c");
        let reason = skip_reason(TargetRules::OneDrive.check(&root, &p400, 1, false));
        assert!(reason.contains("400 characters"), "{reason}");
        assert!(reason.contains("fewer than 400"), "{reason}");
    }

    #[test]
    fn the_path_length_counts_the_site_prefix_and_the_mapped_names() {
        let root = TargetRoot {
            prefix: "/sites/marketing/Shared Documents/".to_owned(), // 32 characters once trimmed
            is_library_root: true,
        };
        // 32 + 1 + 366 = 399: fits.
        let fits = "x".repeat(366);
        ok(TargetRules::SharePoint.check(&root, &fits, 1, false));
        let reason =
            skip_reason(TargetRules::SharePoint.check(&root, &format!("{fits}y"), 1, false));
        assert!(reason.contains("is 400 characters"), "{reason}");
        // Mapping lengthens names (`CON` → `C‛ON`): the written path is what counts.
        let con = format!("{}/CON", "x".repeat(362));
        let reason = skip_reason(TargetRules::SharePoint.check(&root, &con, 1, false));
        assert!(reason.contains("is 400 characters"), "{reason}");
        // Characters outside the BMP count twice, as in UTF-16.
        let emoji = format!("{}😀", "x".repeat(365));
        skip_reason(TargetRules::SharePoint.check(&root, &emoji, 1, false));
    }

    #[test]
    fn a_file_over_250_gb_is_skipped_with_the_limit_and_the_size() {
        let root = TargetRoot::default();
        ok(TargetRules::OneDrive.check(&root, "big.iso", 250 * GB, false));
        let reason = skip_reason(TargetRules::OneDrive.check(&root, "big.iso", 260 * GB, false));
        assert_eq!(
            reason,
            format!(
                "the file is 260.0 GB ({} bytes), over OneDrive's limit of 250.0 GB ({} bytes) for a file",
                260 * GB,
                250 * GB
            )
        );
    }

    #[test]
    fn a_file_over_15_gb_from_a_cloud_source_is_skipped() {
        let root = TargetRoot::default();
        ok(TargetRules::SharePoint.check(&root, "v.mp4", 15 * GB, true));
        ok(TargetRules::SharePoint.check(&root, "v.mp4", 15 * GB + 1, false));
        let reason = skip_reason(TargetRules::SharePoint.check(&root, "v.mp4", 15 * GB + 1, true));
        assert!(reason.contains("15.0 GB"), "{reason}");
        assert!(reason.contains("from a cloud source"), "{reason}");
        assert!(reason.contains("SharePoint"), "{reason}");
    }

    #[test]
    fn a_file_breaking_two_limits_names_both() {
        let long = "d/".repeat(200) + "f";
        let reason = skip_reason(TargetRules::OneDrive.check(
            &TargetRoot::default(),
            &long,
            300 * GB,
            false,
        ));
        assert!(
            reason.contains("300.0 GB") && reason.contains("401 characters"),
            "{reason}"
        );
    }

    #[test]
    fn a_path_with_an_empty_name_is_skipped() {
        for p in ["", "a//b", "/a", "a/"] {
            let reason =
                skip_reason(TargetRules::OneDrive.check(&TargetRoot::default(), p, 1, false));
            assert!(reason.contains("empty name"), "{reason}");
        }
    }

    #[test]
    fn renames_list_each_changed_segment_with_before_and_after() {
        let (p, renamed) = ok(TargetRules::OneDrive.check(
            &TargetRoot::default(),
            "ok/Q1: plan /ok too/~$x.docx",
            1,
            false,
        ));
        assert_eq!(p, "ok/Q1： plan␠/ok too/~‛$x.docx");
        assert_eq!(
            renamed,
            vec![
                Rename {
                    segment: 1,
                    before: "Q1: plan ".to_owned(),
                    after: "Q1： plan␠".to_owned(),
                    rules: vec![Rule::ForbiddenCharacter, Rule::TrailingSpace],
                },
                Rename {
                    segment: 3,
                    before: "~$x.docx".to_owned(),
                    after: "~‛$x.docx".to_owned(),
                    rules: vec![Rule::ReservedPrefix],
                },
            ]
        );
        assert_eq!(
            serde_json::to_string(&renamed[1].rules).unwrap(),
            "[\"reserved_prefix\"]"
        );
    }

    #[test]
    fn gb_rounds_to_one_decimal() {
        assert_eq!(gb(0), "0.0 GB");
        assert_eq!(gb(GB + GB / 2), "1.5 GB");
        assert_eq!(gb(u64::MAX), "17179869184.0 GB");
    }
}
