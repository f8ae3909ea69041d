//! The WebDAV `207 Multi-Status` answer to `PROPFIND` (RFC 4918 §13, §14.16), parsed without I/O so it
//! can be tested by feeding bytes.
//!
//! Elements are matched by namespace (`DAV:`), never by prefix: servers write `D:`, `d:`, `lp1:` or a
//! default namespace. Properties count only from a `propstat` whose status is 2xx (servers answer a
//! requested but unknown property with a `404` propstat). Entity and character references are resolved
//! (`&amp;` in an href is common). Hrefs are returned as the server wrote them (still percent-encoded):
//! splitting into segments must happen before decoding, or a `%2F` in a name would split it.

use crate::http::parse_http_date;
use chrono::{DateTime, Utc};
use ferry_core::{Error, ErrorKind, Result};
use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;

const DAV: &[u8] = b"DAV:";

/// One `<response>` of a multistatus.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DavResponse {
    /// The href as sent (percent-encoded, XML references resolved, surrounding whitespace trimmed).
    pub href: String,
    /// `resourcetype` contains `collection`.
    pub collection: bool,
    pub size: Option<u64>,
    pub mtime: Option<DateTime<Utc>>,
    pub etag: Option<String>,
    /// `creationdate` (RFC 4918 §15.1: an RFC 3339 date-time), when the server reports it.
    pub created: Option<DateTime<Utc>>,
}

/// Parse a multistatus body. Responses with a non-2xx response-level status are left out.
pub fn parse_multistatus(xml: &[u8]) -> Result<Vec<DavResponse>> {
    let mut reader = NsReader::from_reader(xml);
    let mut out = Vec::new();
    // Local names of the open DAV: elements (`None` for elements of other namespaces).
    let mut stack: Vec<Option<Vec<u8>>> = Vec::new();
    let mut text = String::new();
    let mut resp: Option<(DavResponse, bool)> = None;
    let mut propstat = DavResponse::default();
    let mut propstat_ok = true;
    loop {
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|e| bad_xml(&e.to_string()))?;
        let dav = matches!(ns, ResolveResult::Bound(n) if n.as_ref() == DAV);
        match event {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_vec();
                if dav {
                    open(&name, &stack, &mut resp, &mut propstat, &mut propstat_ok);
                }
                stack.push(dav.then_some(name));
                text.clear();
            }
            Event::Empty(e) => {
                let name = e.local_name().as_ref().to_vec();
                if dav {
                    open(&name, &stack, &mut resp, &mut propstat, &mut propstat_ok);
                    stack.push(Some(name.clone()));
                    text.clear();
                    close(
                        &name,
                        &stack,
                        "",
                        &mut resp,
                        &mut propstat,
                        &mut propstat_ok,
                        &mut out,
                    )?;
                    stack.pop();
                }
            }
            Event::End(_) => {
                if let Some(Some(name)) = stack.last().cloned() {
                    let t = std::mem::take(&mut text);
                    close(
                        &name,
                        &stack,
                        &t,
                        &mut resp,
                        &mut propstat,
                        &mut propstat_ok,
                        &mut out,
                    )?;
                }
                stack.pop();
                text.clear();
            }
            Event::Text(t) => text.push_str(&t.decode().map_err(|e| bad_xml(&e.to_string()))?),
            Event::CData(t) => text.push_str(&t.decode().map_err(|e| bad_xml(&e.to_string()))?),
            Event::GeneralRef(r) => {
                if r.is_char_ref() {
                    match r.resolve_char_ref().map_err(|e| bad_xml(&e.to_string()))? {
                        Some(c) => text.push(c),
                        None => {
                            return Err(bad_xml("a character reference that is not a character"));
                        }
                    }
                } else {
                    let name = r.decode().map_err(|e| bad_xml(&e.to_string()))?;
                    text.push(match name.as_ref() {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        other => return Err(bad_xml(&format!("unknown entity &{other};"))),
                    });
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(out)
}

/// The parent DAV: element's local name.
fn parent(stack: &[Option<Vec<u8>>]) -> Option<&[u8]> {
    stack.iter().rev().nth(1).and_then(|n| n.as_deref())
}

fn open(
    name: &[u8],
    stack: &[Option<Vec<u8>>],
    resp: &mut Option<(DavResponse, bool)>,
    propstat: &mut DavResponse,
    propstat_ok: &mut bool,
) {
    match name {
        b"response" => *resp = Some((DavResponse::default(), true)),
        b"propstat" => {
            *propstat = DavResponse::default();
            *propstat_ok = true;
        }
        b"collection" if stack.last().and_then(|n| n.as_deref()) == Some(b"resourcetype") => {
            propstat.collection = true;
        }
        _ => {}
    }
}

#[allow(clippy::too_many_arguments)]
fn close(
    name: &[u8],
    stack: &[Option<Vec<u8>>],
    text: &str,
    resp: &mut Option<(DavResponse, bool)>,
    propstat: &mut DavResponse,
    propstat_ok: &mut bool,
    out: &mut Vec<DavResponse>,
) -> Result<()> {
    let parent = parent(stack);
    let text = text.trim();
    match (name, parent) {
        (b"href", Some(b"response")) => {
            if let Some((r, _)) = resp.as_mut() {
                r.href = text.to_owned();
            }
        }
        (b"status", Some(b"response")) => {
            if let Some((_, ok)) = resp.as_mut() {
                *ok = status_ok(text);
            }
        }
        (b"status", Some(b"propstat")) => *propstat_ok = status_ok(text),
        (b"getcontentlength", _) if !text.is_empty() => {
            propstat.size = Some(
                text.parse()
                    .map_err(|_| bad_xml(&format!("getcontentlength `{text}`")))?,
            );
        }
        // An unparseable date is no date (some servers send odd formats); the entry still counts.
        (b"getlastmodified", _) => propstat.mtime = parse_http_date(text),
        (b"getetag", _) if !text.is_empty() => propstat.etag = Some(text.to_owned()),
        (b"creationdate", _) => {
            propstat.created = DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|d| d.with_timezone(&Utc));
        }
        (b"propstat", _) => {
            if let (Some((r, _)), true) = (resp.as_mut(), *propstat_ok) {
                let p = std::mem::take(propstat);
                r.collection |= p.collection;
                r.size = r.size.or(p.size);
                r.mtime = r.mtime.or(p.mtime);
                r.etag = r.etag.take().or(p.etag);
                r.created = r.created.or(p.created);
            }
        }
        (b"response", _) => {
            if let Some((r, true)) = resp.take()
                && !r.href.is_empty()
            {
                out.push(r);
            }
        }
        _ => {}
    }
    Ok(())
}

/// `HTTP/1.1 200 OK` → true for any 2xx.
fn status_ok(line: &str) -> bool {
    line.split_whitespace()
        .nth(1)
        .is_some_and(|code| code.starts_with('2'))
}

fn bad_xml(what: &str) -> Error {
    Error::new(
        ErrorKind::Protocol,
        format!("the server's PROPFIND answer is not valid multistatus XML: {what}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn rclone_style_uppercase_prefix_parses_files_and_collections() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?><D:multistatus xmlns:D="DAV:"><D:response><D:href>/</D:href><D:propstat><D:prop><D:getlastmodified>Wed, 25 Nov 2026 13:49:38 GMT</D:getlastmodified><D:resourcetype><D:collection xmlns:D="DAV:"/></D:resourcetype></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response><D:response><D:href>/%09tab%0Anl%20%23%25&amp;%5C%20%20</D:href><D:propstat><D:prop><D:getetag>"18eb"</D:getetag><D:resourcetype></D:resourcetype><D:getcontentlength>5</D:getcontentlength><D:getlastmodified>Wed, 25 Nov 2026 13:49:46 GMT</D:getlastmodified></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response></D:multistatus>"#;
        let r = parse_multistatus(xml).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[0].href.as_str(), r[0].collection, r[0].size),
            ("/", true, None)
        );
        assert_eq!(r[1].href, "/%09tab%0Anl%20%23%25&%5C%20%20");
        assert!(!r[1].collection);
        assert_eq!(r[1].size, Some(5));
        assert_eq!(r[1].etag.as_deref(), Some("\"18eb\""));
        assert_eq!(
            r[1].mtime,
            Some(Utc.with_ymd_and_hms(2026, 11, 25, 13, 49, 46).unwrap())
        );
    }

    #[test]
    fn lowercase_and_default_namespaces_parse_alike_and_failed_propstats_are_ignored() {
        let lower = br#"<?xml version="1.0"?>
<d:multistatus xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns">
  <d:response>
    <d:href>/remote.php/dav/files/alice/Docs/r%C3%A9sum%C3%A9%20%231.txt</d:href>
    <d:propstat>
      <d:prop><d:getcontentlength>42</d:getcontentlength><d:resourcetype/><oc:size>9</oc:size></d:prop>
      <d:status>HTTP/1.1 200 OK</d:status>
    </d:propstat>
    <d:propstat>
      <d:prop><d:getcontentlength>99</d:getcontentlength><d:getetag/></d:prop>
      <d:status>HTTP/1.1 404 Not Found</d:status>
    </d:propstat>
  </d:response>
</d:multistatus>"#;
        let default_ns = br#"<multistatus xmlns="DAV:"><response><href>http://h:8080/dav/sub/</href>
<propstat><prop><resourcetype><collection/></resourcetype><getlastmodified>Sun, 06 Nov 1994 08:49:37 GMT</getlastmodified></prop>
<status>HTTP/1.1 200 OK</status></propstat></response>
<response><href>/dav/gone.txt</href><status>HTTP/1.1 404 Not Found</status></response></multistatus>"#;
        let r = parse_multistatus(lower).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(
            r[0].href,
            "/remote.php/dav/files/alice/Docs/r%C3%A9sum%C3%A9%20%231.txt"
        );
        assert_eq!(
            (r[0].size, r[0].collection, r[0].etag.clone()),
            (Some(42), false, None)
        );
        let r = parse_multistatus(default_ns).unwrap();
        assert_eq!(r.len(), 1, "the 404 response is left out");
        assert_eq!(r[0].href, "http://h:8080/dav/sub/");
        assert!(r[0].collection);
        assert_eq!(
            r[0].mtime,
            Some(Utc.with_ymd_and_hms(1994, 11, 6, 8, 49, 37).unwrap())
        );
    }

    #[test]
    fn elements_of_other_namespaces_named_like_dav_ones_are_ignored() {
        let xml = br#"<D:multistatus xmlns:D="DAV:" xmlns:x="urn:x"><D:response><D:href>/a&#x20;b</D:href>
<D:propstat><D:prop><x:getcontentlength>7</x:getcontentlength><D:resourcetype><x:collection/></D:resourcetype></D:prop>
<D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response></D:multistatus>"#;
        let r = parse_multistatus(xml).unwrap();
        assert_eq!(r[0].href, "/a b");
        assert_eq!((r[0].size, r[0].collection), (None, false));
    }

    #[test]
    fn broken_xml_is_a_protocol_error() {
        let e =
            parse_multistatus(b"<D:multistatus xmlns:D=\"DAV:\"><D:response><D:href>x</D:nope>")
                .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Protocol);
        let e = parse_multistatus(b"<D:multistatus xmlns:D=\"DAV:\"><D:response><D:href>&bogus;</D:href></D:response></D:multistatus>")
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Protocol);
    }

    #[test]
    fn creationdate_is_read_as_an_rfc3339_time_and_an_odd_one_is_no_time() {
        let xml = br#"<?xml version="1.0"?><D:multistatus xmlns:D="DAV:"><D:response><D:href>/a.txt</D:href><D:propstat><D:prop><D:creationdate>2021-03-04T05:06:07Z</D:creationdate><D:getcontentlength>1</D:getcontentlength></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response><D:response><D:href>/b.txt</D:href><D:propstat><D:prop><D:creationdate>yesterday</D:creationdate></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response></D:multistatus>"#;
        let r = parse_multistatus(xml).unwrap();
        assert_eq!(
            r[0].created,
            Some(Utc.with_ymd_and_hms(2021, 3, 4, 5, 6, 7).unwrap())
        );
        assert_eq!(r[1].created, None);
    }
}
