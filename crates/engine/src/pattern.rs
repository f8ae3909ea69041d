//! Folder include/exclude patterns: shell-style globs over the folder path shown with `/` as the delimiter
//! (whatever the server uses). `*` matches any run of characters including `/`, `?` one character.
//! `INBOX` matches case-insensitively. Examples: `Archive` (only that folder), `Archive/*` (its subfolders),
//! `Archive*` (both), `*/Spam`.

use ferry_core::folder::FolderPath;

/// Include and exclude lists. A folder is selected when it matches an include pattern (or there are none)
/// and matches no exclude pattern.
#[derive(Clone, Debug, Default)]
pub struct FolderFilter {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

impl FolderFilter {
    pub fn selects(&self, folder: &FolderPath) -> bool {
        let name = folder.to_string();
        let inc = self.include.is_empty() || self.include.iter().any(|p| glob(p, &name));
        inc && !self.exclude.iter().any(|p| glob(p, &name))
    }
}

/// Glob match; `INBOX` at the start of both sides compares case-insensitively.
pub fn glob(pattern: &str, name: &str) -> bool {
    let norm = |s: &str| -> Vec<char> {
        if s.len() >= 5 && s.is_char_boundary(5) && s[..5].eq_ignore_ascii_case("inbox") {
            let mut v: Vec<char> = "INBOX".chars().collect();
            v.extend(s[5..].chars());
            v
        } else {
            s.chars().collect()
        }
    };
    let (p, n) = (norm(pattern), norm(name));
    // Iterative wildcard matching with backtracking on the last '*'.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_as_documented() {
        assert!(glob("Archive", "Archive"));
        assert!(!glob("Archive", "Archive/2023"));
        assert!(glob("Archive/*", "Archive/2023"));
        assert!(glob("Archive*", "Archive/2023"));
        assert!(glob("*/Spam", "INBOX/Spam"));
        assert!(glob("inbox", "INBOX"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "ac"));
    }

    #[test]
    fn filter_needs_an_include_match_and_no_exclude_match() {
        let f = FolderFilter {
            include: vec!["INBOX*".into()],
            exclude: vec!["*/Spam".into()],
        };
        assert!(f.selects(&FolderPath::parse("INBOX/Work", '/')));
        assert!(!f.selects(&FolderPath::parse("INBOX/Spam", '/')));
        assert!(!f.selects(&FolderPath::parse("Sent", '/')));
        assert!(FolderFilter::default().selects(&FolderPath::parse("Anything", '/')));
    }
}
