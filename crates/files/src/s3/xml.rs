//! Parsing of the S3 XML answers Ferry reads, without I/O: ListObjectsV2 (`ListBucketResult`), ListParts
//! (`ListPartsResult`), CreateMultipartUpload (`InitiateMultipartUploadResult`) and `Error`.
//!
//! One small walker turns a document into `(element path, text)` pairs, so each answer's parser is a
//! `match` on paths. Listings are requested with `encoding-type=url`: S3 then percent-encodes keys and
//! prefixes, which is the only way names with control characters (a TAB, a newline, a CR that an XML
//! parser would normalise) survive the XML round trip.

use chrono::{DateTime, Utc};
use ferry_core::{Error, ErrorKind, Result};
use percent_encoding::percent_decode_str;
use quick_xml::Reader;
use quick_xml::events::Event;

/// An object in a listing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListedObject {
    pub key: String,
    pub size: u64,
    pub last_modified: Option<DateTime<Utc>>,
    pub etag: String,
}

/// One page of ListObjectsV2.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListObjectsPage {
    pub objects: Vec<ListedObject>,
    pub common_prefixes: Vec<String>,
    pub next_continuation_token: Option<String>,
}

/// A stored part of a multipart upload.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Part {
    pub number: u32,
    pub etag: String,
    pub size: u64,
}

/// One page of ListParts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListPartsPage {
    pub parts: Vec<Part>,
    /// `NextPartNumberMarker` when the answer was truncated.
    pub next_marker: Option<u32>,
}

/// The `<Error>` body S3 sends with a failed request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct S3ErrorBody {
    pub code: String,
    pub message: String,
}

fn protocol(what: &str, detail: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Protocol,
        format!("S3 answered an unreadable {what}: {detail}"),
    )
}

/// Calls `f(path, text)` at the end of every element, where `path` is the element names from the root
/// joined with `/` (`ListBucketResult/Contents/Key`) and `text` is the element's unescaped text.
fn walk(xml: &str, what: &str, mut f: impl FnMut(&str, String)) -> Result<()> {
    let mut reader = Reader::from_str(xml);
    let mut path: Vec<String> = Vec::new();
    let mut text = String::new();
    loop {
        match reader.read_event().map_err(|e| protocol(what, e))? {
            Event::Start(e) => {
                path.push(String::from_utf8_lossy(e.local_name().as_ref()).into_owned());
                text.clear();
            }
            Event::Empty(e) => {
                path.push(String::from_utf8_lossy(e.local_name().as_ref()).into_owned());
                f(&path.join("/"), String::new());
                path.pop();
            }
            Event::Text(t) => text.push_str(&t.decode().map_err(|e| protocol(what, e))?),
            Event::CData(t) => text.push_str(&t.decode().map_err(|e| protocol(what, e))?),
            Event::GeneralRef(r) => {
                if let Some(c) = r.resolve_char_ref().map_err(|e| protocol(what, e))? {
                    text.push(c);
                } else {
                    let name = r.decode().map_err(|e| protocol(what, e))?;
                    match quick_xml::escape::resolve_predefined_entity(&name) {
                        Some(s) => text.push_str(s),
                        None => return Err(protocol(what, format!("unknown entity &{name};"))),
                    }
                }
            }
            Event::End(_) => {
                f(&path.join("/"), std::mem::take(&mut text));
                path.pop();
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
    }
}

fn url_decode(s: &str, what: &str) -> Result<String> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|e| protocol(what, format!("key is not UTF-8 ({e})")))
}

fn number<T: std::str::FromStr>(s: &str, what: &str) -> Result<T> {
    s.trim()
        .parse()
        .map_err(|_| protocol(what, format!("`{s}` is not a number")))
}

/// Parse an ISO 8601 / RFC 3339 timestamp (`2009-10-12T17:50:30.000Z`).
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Parse a ListObjectsV2 answer. `url_encoded` says whether the request asked for `encoding-type=url`.
pub fn parse_list_objects(xml: &str, url_encoded: bool) -> Result<ListObjectsPage> {
    const WHAT: &str = "object listing";
    let mut page = ListObjectsPage::default();
    let mut cur = ListedObject::default();
    let mut truncated = false;
    let mut err = None;
    let decode = |s: String| {
        if url_encoded {
            url_decode(&s, WHAT)
        } else {
            Ok(s)
        }
    };
    walk(xml, WHAT, |path, text| {
        let r: Result<()> = (|| {
            match path {
                "ListBucketResult/Contents/Key" => cur.key = decode(text)?,
                "ListBucketResult/Contents/Size" => cur.size = number(&text, WHAT)?,
                "ListBucketResult/Contents/LastModified" => cur.last_modified = parse_time(&text),
                "ListBucketResult/Contents/ETag" => cur.etag = text.trim_matches('"').to_owned(),
                "ListBucketResult/Contents" => page.objects.push(std::mem::take(&mut cur)),
                "ListBucketResult/CommonPrefixes/Prefix" => {
                    page.common_prefixes.push(decode(text)?)
                }
                "ListBucketResult/IsTruncated" => truncated = text.trim() == "true",
                "ListBucketResult/NextContinuationToken" => {
                    page.next_continuation_token = Some(text)
                }
                _ => {}
            }
            Ok(())
        })();
        if let Err(e) = r {
            err.get_or_insert(e);
        }
    })?;
    if let Some(e) = err {
        return Err(e);
    }
    if !truncated {
        page.next_continuation_token = None;
    } else if page.next_continuation_token.is_none() {
        return Err(protocol(
            WHAT,
            "truncated listing without NextContinuationToken",
        ));
    }
    Ok(page)
}

/// Parse a ListParts answer.
pub fn parse_list_parts(xml: &str) -> Result<ListPartsPage> {
    const WHAT: &str = "part listing";
    let mut page = ListPartsPage::default();
    let mut cur = Part::default();
    let mut truncated = false;
    let mut err = None;
    walk(xml, WHAT, |path, text| {
        // AWS names the root `ListPartsResult`; moto says `ListPartsResponse`. Match below the root.
        let path = path.split_once('/').map(|(_, rest)| rest).unwrap_or("");
        let r: Result<()> = (|| {
            match path {
                "Part/PartNumber" => cur.number = number(&text, WHAT)?,
                "Part/ETag" => cur.etag = text.trim().to_owned(),
                "Part/Size" => cur.size = number(&text, WHAT)?,
                "Part" => page.parts.push(std::mem::take(&mut cur)),
                "IsTruncated" => truncated = text.trim() == "true",
                "NextPartNumberMarker" if !text.trim().is_empty() => {
                    page.next_marker = Some(number(&text, WHAT)?)
                }
                _ => {}
            }
            Ok(())
        })();
        if let Err(e) = r {
            err.get_or_insert(e);
        }
    })?;
    if let Some(e) = err {
        return Err(e);
    }
    if !truncated {
        page.next_marker = None;
    }
    Ok(page)
}

/// The `UploadId` of a CreateMultipartUpload answer.
pub fn parse_upload_id(xml: &str) -> Result<String> {
    let mut id = None;
    walk(xml, "multipart upload", |path, text| {
        if path == "InitiateMultipartUploadResult/UploadId" {
            id = Some(text);
        }
    })?;
    id.filter(|s| !s.is_empty())
        .ok_or_else(|| protocol("multipart upload", "no UploadId"))
}

/// The `<Error>` body, if `xml` is one. CompleteMultipartUpload may also send it with status 200.
pub fn parse_error(xml: &str) -> Option<S3ErrorBody> {
    let mut body = S3ErrorBody::default();
    let mut is_error = false;
    walk(xml, "error", |path, text| match path {
        "Error/Code" => {
            is_error = true;
            body.code = text;
        }
        "Error/Message" => body.message = text,
        _ => {}
    })
    .ok()?;
    is_error.then_some(body)
}

/// The body of CompleteMultipartUpload.
pub fn complete_body(parts: &[Part]) -> String {
    let mut s = String::from("<CompleteMultipartUpload>");
    for p in parts {
        s.push_str(&format!(
            "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>",
            p.number,
            quick_xml::escape::escape(&p.etag)
        ));
    }
    s.push_str("</CompleteMultipartUpload>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    // Shaped like the ListObjectsV2 example in the S3 API reference, with encoding-type=url.
    const LIST: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>bucket</Name>
  <Prefix>root%2F</Prefix>
  <KeyCount>3</KeyCount>
  <MaxKeys>2</MaxKeys>
  <Delimiter>%2F</Delimiter>
  <EncodingType>url</EncodingType>
  <IsTruncated>true</IsTruncated>
  <Contents>
    <Key>root/a%09tab%0Aline%20%23%25%26.txt</Key>
    <LastModified>2009-10-12T17:50:30.000Z</LastModified>
    <ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag>
    <Size>434234</Size>
    <StorageClass>STANDARD</StorageClass>
  </Contents>
  <Contents>
    <Key>root/%C3%BC</Key>
    <LastModified>2009-10-12T17:50:31Z</LastModified>
    <ETag>"abc-2"</ETag>
    <Size>0</Size>
  </Contents>
  <CommonPrefixes><Prefix>root/sub%20dir/</Prefix></CommonPrefixes>
  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
</ListBucketResult>"#;

    #[test]
    fn list_objects_page_decodes_keys_sizes_times_and_token() {
        let page = parse_list_objects(LIST, true).expect("parses");
        assert_eq!(page.objects.len(), 2);
        assert_eq!(page.objects[0].key, "root/a\ttab\nline #%&.txt");
        assert_eq!(page.objects[0].size, 434234);
        assert_eq!(page.objects[0].etag, "fba9dede5f27731c9771645a39863328");
        assert_eq!(
            page.objects[0].last_modified.map(|t| t.timestamp()),
            Some(1255369830)
        );
        assert_eq!(page.objects[1].key, "root/ü");
        assert_eq!(page.common_prefixes, vec!["root/sub dir/".to_owned()]);
        assert_eq!(
            page.next_continuation_token.as_deref(),
            Some("1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=")
        );
    }

    #[test]
    fn last_list_page_has_no_token_and_empty_listing_parses() {
        let xml = LIST.replace("<IsTruncated>true", "<IsTruncated>false");
        assert_eq!(
            parse_list_objects(&xml, true)
                .expect("parses")
                .next_continuation_token,
            None
        );
        let empty = r#"<ListBucketResult><Name>b</Name><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>"#;
        assert_eq!(
            parse_list_objects(empty, true).expect("parses"),
            ListObjectsPage::default()
        );
    }

    #[test]
    fn list_parts_page_reads_numbers_etags_and_marker() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListPartsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Bucket>example-bucket</Bucket><Key>example-object</Key>
  <UploadId>XXBsb2FkIElEIGZvciBlbHZpbmcncyVcdS1tb3ZpZS5tMnRzEEEwbG9hZA</UploadId>
  <PartNumberMarker>1</PartNumberMarker><NextPartNumberMarker>3</NextPartNumberMarker>
  <MaxPartsCount>2</MaxPartsCount><IsTruncated>true</IsTruncated>
  <Part><PartNumber>2</PartNumber><LastModified>2010-11-10T20:48:34.000Z</LastModified>
    <ETag>"7778aef83f66abc1fa1e8477f296d394"</ETag><Size>10485760</Size></Part>
  <Part><PartNumber>3</PartNumber><LastModified>2010-11-10T20:48:33.000Z</LastModified>
    <ETag>&quot;aaaa18db4cc2f85cedef654fccc4a4x8&quot;</ETag><Size>10485760</Size></Part>
</ListPartsResult>"#;
        let page = parse_list_parts(xml).expect("parses");
        assert_eq!(
            page.parts.iter().map(|p| p.number).collect::<Vec<_>>(),
            vec![2, 3]
        );
        assert_eq!(page.parts[0].etag, "\"7778aef83f66abc1fa1e8477f296d394\"");
        assert_eq!(page.parts[1].etag, "\"aaaa18db4cc2f85cedef654fccc4a4x8\"");
        assert_eq!(page.parts[1].size, 10485760);
        assert_eq!(page.next_marker, Some(3));
        let moto = xml.replace("ListPartsResult", "ListPartsResponse");
        assert_eq!(parse_list_parts(&moto).expect("parses").parts.len(), 2);
    }

    #[test]
    fn error_body_and_upload_id_parse() {
        let e = parse_error(
            "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>The resource you requested does not exist</Message><Resource>/b/k</Resource></Error>",
        )
        .expect("an error body");
        assert_eq!(e.code, "NoSuchKey");
        assert_eq!(e.message, "The resource you requested does not exist");
        assert_eq!(parse_error("<ListBucketResult/>"), None);
        assert_eq!(parse_error("not xml <"), None);
        let id = parse_upload_id(
            "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>VXBsb2Fk</UploadId></InitiateMultipartUploadResult>",
        )
        .expect("an id");
        assert_eq!(id, "VXBsb2Fk");
    }

    #[test]
    fn complete_body_escapes_etags() {
        let body = complete_body(&[Part {
            number: 1,
            etag: "\"a\"".into(),
            size: 5,
        }]);
        assert_eq!(
            body,
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&quot;a&quot;</ETag></Part></CompleteMultipartUpload>"
        );
    }
}
