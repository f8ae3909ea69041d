//! Finding the drive an endpoint names (Graph docs: "Get drive", "Get a site resource by path",
//! "List drives").
//!
//! - A user's OneDrive: `GET /users/{upn}/drive`. A `404` means the OneDrive is not provisioned yet
//!   (it is created at the user's first sign-in, or ahead of a migration by an administrator).
//! - A SharePoint library: `GET /sites/{host}:/{sites|teams}/{site}` gives the site id, then
//!   `GET /sites/{id}/drives` lists its libraries; the one named as the endpoint says is taken (by its
//!   name, or by the last segment of its URL, in any case: `Documents` and `Shared Documents` both find
//!   the default library).

use super::client::{Graph, Req};
use super::config::DriveRef;
use super::{Drive, enc};
use ferry_core::{Error, ErrorKind, Result};
use percent_encoding::percent_decode_str;
use reqwest::{Method, StatusCode};
use serde::Deserialize;

/// A drive's storage, as Graph reports it (`quota` facet).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct Quota {
    #[serde(default)]
    pub total: Option<u64>,
    #[serde(default)]
    pub used: Option<u64>,
    #[serde(default)]
    pub remaining: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct DriveJson {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(rename = "webUrl", default)]
    web_url: Option<String>,
    #[serde(default)]
    quota: Option<Quota>,
}

#[derive(Debug, Deserialize)]
struct Drives {
    #[serde(default)]
    value: Vec<DriveJson>,
    #[serde(rename = "@odata.nextLink", default)]
    next_link: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Site {
    id: String,
}

/// Resolve `d` to a drive.
pub async fn drive(g: &Graph, d: &DriveRef) -> Result<Drive> {
    match d {
        DriveRef::OneDrive { user } => {
            let what = format!("find the OneDrive of {user}");
            let url = format!("{}/users/{}/drive", g.base, enc(user));
            let a = g.send(&Req::new(Method::GET, url), &what).await?;
            if a.status == StatusCode::NOT_FOUND {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "the OneDrive of {user} is not provisioned yet (Graph answered 404 to GET /users/{user}/drive): \
                         check the user principal name; a OneDrive is created when its user first signs in, or ahead \
                         of a migration by an administrator with the SharePoint Online PowerShell command \
                         `Request-SPOPersonalSite -UserEmails {user}` (allow up to a day); then run again"
                    ),
                )
                .permanent());
            }
            if !a.status.is_success() {
                return Err(a.error(&what));
            }
            let j: DriveJson = a.json(&what)?;
            Ok(Drive {
                id: j.id,
                quota: j.quota,
            })
        }
        DriveRef::SharePoint {
            host,
            site,
            library,
        } => {
            let what = format!("find the site {host}/{site}");
            let site_path: Vec<String> = site.split('/').map(enc).collect();
            let url = format!("{}/sites/{}:/{}", g.base, enc(host), site_path.join("/"));
            let a = g.send(&Req::new(Method::GET, url), &what).await?;
            if a.status == StatusCode::NOT_FOUND {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!("the site https://{host}/{site} does not exist (Graph answered 404): check the host and site name, or create the site first"),
                )
                .permanent());
            }
            if !a.status.is_success() {
                return Err(a.error(&what));
            }
            let s: Site = a.json(&what)?;
            let what = format!("list the libraries of {host}/{site}");
            let mut url = format!("{}/sites/{}/drives", g.base, enc(&s.id));
            let mut names = Vec::new();
            loop {
                let a = g.send(&Req::new(Method::GET, url), &what).await?;
                if !a.status.is_success() {
                    return Err(a.error(&what));
                }
                let page: Drives = a.json(&what)?;
                for d in page.value {
                    if library_matches(&d, library) {
                        return Ok(Drive {
                            id: d.id,
                            quota: d.quota,
                        });
                    }
                    names.push(d.name.unwrap_or(d.id));
                }
                match page.next_link {
                    Some(n) if g.same_origin(&n) => url = n,
                    _ => break,
                }
            }
            Err(Error::new(
                ErrorKind::NotFound,
                format!(
                    "the site https://{host}/{site} has no document library named `{library}`; its libraries are: {}",
                    if names.is_empty() { "(none)".to_owned() } else { names.join(", ") }
                ),
            )
            .permanent())
        }
    }
}

fn library_matches(d: &DriveJson, wanted: &str) -> bool {
    let norm = |s: &str| {
        let s = s.trim().to_lowercase();
        if s == "shared documents" {
            "documents".to_owned()
        } else {
            s
        }
    };
    let w = norm(wanted);
    let by_name = d.name.as_deref().is_some_and(|n| norm(n) == w);
    let by_url = d.web_url.as_deref().is_some_and(|u| {
        u.trim_end_matches('/')
            .rsplit('/')
            .next()
            .and_then(|seg| percent_decode_str(seg).decode_utf8().ok())
            .is_some_and(|seg| norm(&seg) == w)
    });
    by_name || by_url
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(name: &str, url: &str) -> DriveJson {
        DriveJson {
            id: "x".into(),
            name: Some(name.into()),
            web_url: Some(url.into()),
            quota: None,
        }
    }

    #[test]
    fn libraries_are_found_by_name_or_url_in_any_case() {
        let docs = d(
            "Documents",
            "https://c.sharepoint.com/sites/m/Shared%20Documents",
        );
        for w in [
            "Documents",
            "documents",
            "Shared Documents",
            "shared documents",
        ] {
            assert!(library_matches(&docs, w), "{w}");
        }
        assert!(!library_matches(&docs, "Archive"));
        let arch = d("Old Stuff", "https://c.sharepoint.com/sites/m/Archive");
        assert!(library_matches(&arch, "archive") && library_matches(&arch, "Old Stuff"));
    }
}
