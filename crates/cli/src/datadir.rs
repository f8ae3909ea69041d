//! Where the CLI keeps its store when `--data` is not given (issue 9, item 7).
//!
//! The journal is what makes a re-run copy only what is new; a default relative to the working directory
//! (`./ferry-data`, as it once was) loses it as soon as the next run starts elsewhere, and a store that does
//! not know the target is the first step to a duplicate. So the default is per user, the same from every
//! directory, following the XDG base-directory rule Linux desktop and server tools use:
//! `$FERRY_DATA`, else `$XDG_DATA_HOME/ferry`, else `$HOME/.local/share/ferry`. Written out here rather than
//! taken from a crate because the rule is three lines and `dirs`-like crates pick other places on other
//! systems (macOS `~/Library/…`), which the docs would then have to list.

use ferry_core::{Error, Result};
use std::ffi::OsString;
use std::path::PathBuf;

/// The data directory: `flag` (`--data` or `FERRY_DATA`, already merged by clap) when given and not empty,
/// else the per-user default from `xdg_data_home` and `home`.
pub fn resolve(
    flag: Option<PathBuf>,
    xdg_data_home: Option<OsString>,
    home: Option<OsString>,
) -> Result<PathBuf> {
    if let Some(p) = flag.filter(|p| !p.as_os_str().is_empty()) {
        return Ok(p);
    }
    // The XDG spec says a relative value is invalid and must be ignored.
    if let Some(x) = xdg_data_home.map(PathBuf::from).filter(|p| p.is_absolute()) {
        return Ok(x.join("ferry"));
    }
    if let Some(h) = home.map(PathBuf::from).filter(|p| p.is_absolute()) {
        return Ok(h.join(".local").join("share").join("ferry"));
    }
    Err(Error::config(
        "no place for Ferry's store: HOME is not set; give --data DIR (or set FERRY_DATA)",
    ))
}

/// [`resolve`] with this process's environment.
pub fn from_env(flag: Option<PathBuf>) -> Result<PathBuf> {
    resolve(
        flag,
        std::env::var_os("XDG_DATA_HOME"),
        std::env::var_os("HOME"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(s: &str) -> Option<OsString> {
        Some(OsString::from(s))
    }

    #[test]
    fn the_flag_wins_then_xdg_data_home_then_home() {
        let r = |f: Option<&str>, x, h| resolve(f.map(PathBuf::from), x, h).ok();
        assert_eq!(
            r(Some("here"), os("/x"), os("/h")),
            Some(PathBuf::from("here"))
        );
        assert_eq!(r(None, os("/x"), os("/h")), Some(PathBuf::from("/x/ferry")));
        assert_eq!(
            r(Some(""), None, os("/h")),
            Some(PathBuf::from("/h/.local/share/ferry"))
        );
        // A relative XDG_DATA_HOME is ignored, as the spec says.
        assert_eq!(
            r(None, os("rel"), os("/h")),
            Some(PathBuf::from("/h/.local/share/ferry"))
        );
        assert!(resolve(None, None, None).is_err());
    }
}
