//! Graph request paths → what they address. Paths use Graph's colon syntax (`/drives/{id}/root:/a/b.txt:`
//! plus `/content`, `/children`, `/createUploadSession`), which is parsed on the raw (percent-encoded) path
//! and decoded per part, so an escaped `%3A` inside a name stays part of the name.

use percent_encoding::percent_decode_str;

/// How a drive is named in the path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DriveRef {
    Id(String),
    /// `/users/{id or userPrincipalName}/drive`
    User(String),
    /// `/sites/{site-id}/drive` (the default library)
    SiteDefault(String),
}

/// The item the path starts from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Base {
    Root,
    Id(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Item,
    Children,
    Content,
    CreateUploadSession,
    Delta,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    Drive(DriveRef),
    Item {
        drive: DriveRef,
        base: Base,
        /// Decoded path below `base` (`root:/a/b:` → `a/b`).
        path: Option<String>,
        action: Action,
    },
    Site(String),
    SiteByPath {
        hostname: String,
        path: String,
    },
    SiteDrives(String),
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

fn first_segment(s: &str) -> (&str, &str) {
    match s.find('/') {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    }
}

/// Parse the part of the path after `/v1.0`.
pub fn parse(path: &str) -> Option<Route> {
    if let Some(r) = path.strip_prefix("/sites/") {
        let (site, tail) = first_segment(r);
        if let Some(host) = site.strip_suffix(':') {
            return Some(Route::SiteByPath {
                hostname: decode(host),
                path: decode(tail.trim_matches('/').trim_end_matches(':')),
            });
        }
        let site = decode(site);
        return match tail {
            "" | "/" => Some(Route::Site(site)),
            "/drives" => Some(Route::SiteDrives(site)),
            t => drive_tail(DriveRef::SiteDefault(site), t.strip_prefix("/drive")?),
        };
    }
    if let Some(r) = path.strip_prefix("/users/") {
        let (user, tail) = first_segment(r);
        return drive_tail(DriveRef::User(decode(user)), tail.strip_prefix("/drive")?);
    }
    if let Some(r) = path.strip_prefix("/drives/") {
        let (drive, tail) = first_segment(r);
        return drive_tail(DriveRef::Id(decode(drive)), tail);
    }
    None
}

fn drive_tail(drive: DriveRef, tail: &str) -> Option<Route> {
    if tail.is_empty() || tail == "/" {
        return Some(Route::Drive(drive));
    }
    let (base, after) = if let Some(t) = tail.strip_prefix("/root") {
        (Base::Root, t)
    } else if let Some(t) = tail.strip_prefix("/items/") {
        let end = t.find(['/', ':']).unwrap_or(t.len());
        (Base::Id(decode(&t[..end])), &t[end..])
    } else {
        return None;
    };
    let (path, after) = match after.strip_prefix(':') {
        Some(t) => match t.find(':') {
            Some(i) => (Some(decode(&t[..i])), &t[i + 1..]),
            None => (Some(decode(t)), ""),
        },
        None => (None, after),
    };
    let path = path.map(|p| p.trim_matches('/').to_owned());
    let action = match after {
        "" | "/" => Action::Item,
        "/children" => Action::Children,
        "/content" => Action::Content,
        "/createUploadSession" => Action::CreateUploadSession,
        "/delta" if base == Base::Root && path.is_none() => Action::Delta,
        _ => return None,
    };
    Some(Route::Item {
        drive,
        base,
        path,
        action,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colon_paths_are_split_before_decoding() {
        assert_eq!(
            parse("/drives/b!x/root:/a%20b/c%3Ad.txt:/content"),
            Some(Route::Item {
                drive: DriveRef::Id("b!x".into()),
                base: Base::Root,
                path: Some("a b/c:d.txt".into()),
                action: Action::Content,
            })
        );
        assert_eq!(
            parse("/users/alice%40contoso.com/drive/items/01AB:/n.bin:/createUploadSession"),
            Some(Route::Item {
                drive: DriveRef::User("alice@contoso.com".into()),
                base: Base::Id("01AB".into()),
                path: Some("n.bin".into()),
                action: Action::CreateUploadSession,
            })
        );
        assert_eq!(
            parse("/sites/contoso.sharepoint.com:/sites/Team"),
            Some(Route::SiteByPath {
                hostname: "contoso.sharepoint.com".into(),
                path: "sites/Team".into()
            })
        );
        assert_eq!(
            parse("/drives/b!x/root/delta"),
            Some(Route::Item {
                drive: DriveRef::Id("b!x".into()),
                base: Base::Root,
                path: None,
                action: Action::Delta,
            })
        );
        assert_eq!(
            parse("/sites/h,1,2/drive/root:/a:/content"),
            Some(Route::Item {
                drive: DriveRef::SiteDefault("h,1,2".into()),
                base: Base::Root,
                path: Some("a".into()),
                action: Action::Content,
            })
        );
        assert_eq!(parse("/drives/b!x/root/nonsense"), None);
    }
}
