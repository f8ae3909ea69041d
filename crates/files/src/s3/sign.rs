//! AWS Signature Version 4 for S3, without I/O: a canonical request in, an `Authorization` header out.
//!
//! Follows the published algorithm (AWS docs, "Signature Version 4 signing process" and "Authenticating
//! Requests: Using the Authorization Header"): canonical request → string to sign → HMAC chain over date,
//! region and service → hex signature. S3 differs from other services in one way that matters here: the
//! path is URI-encoded exactly once (each segment; `/` kept), not twice. The tests check the published
//! S3 example requests, so a change here that breaks interoperability fails a unit test, not a live call.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::{Digest, Sha256};

/// What `x-amz-content-sha256` says for a streamed body whose hash we do not compute up front.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// The SHA-256 of the empty body, for requests without one.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Everything but the unreserved characters of RFC 3986 (`A-Z a-z 0-9 - . _ ~`) is encoded.
const URI_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// SigV4 `UriEncode` of one path segment or query component (`/` is encoded too).
pub fn uri_encode(s: &str) -> String {
    utf8_percent_encode(s, URI_ENCODE).to_string()
}

/// SigV4 `UriEncode` of a whole path: each segment encoded, the `/` between them kept.
pub fn uri_encode_path(path: &str) -> String {
    path.split('/')
        .map(uri_encode)
        .collect::<Vec<_>>()
        .join("/")
}

/// The key pair and where it is used.
pub struct Credentials<'a> {
    pub access_key: &'a str,
    pub secret_key: &'a str,
    pub region: &'a str,
}

/// One request to sign. `path` is already encoded with [`uri_encode_path`]; `query` holds raw (decoded)
/// name/value pairs; `headers` are the headers to sign besides `x-amz-date` (which the signer adds), with
/// `host` and `x-amz-content-sha256` among them.
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a [(&'a str, String)],
    pub headers: &'a [(&'a str, String)],
    pub payload_sha256: &'a str,
}

/// The result: headers to add to the HTTP request.
pub struct Signed {
    pub amz_date: String,
    pub authorization: String,
}

/// The canonical query string: pairs encoded, sorted by name then value, joined with `&`.
pub fn canonical_query(query: &[(&str, String)]) -> String {
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (uri_encode(k), uri_encode(v)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return Vec::new(),
    };
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lower-case hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// Sign `req` at time `now`.
pub fn sign(creds: &Credentials<'_>, req: &Request<'_>, now: DateTime<Utc>) -> Signed {
    let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
    let date = now.format("%Y%m%d").to_string();

    let mut headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.to_ascii_lowercase(),
                v.split_whitespace().collect::<Vec<_>>().join(" "),
            )
        })
        .collect();
    headers.push(("x-amz-date".to_owned(), amz_date.clone()));
    headers.sort();
    let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed_headers = headers
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");

    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method,
        req.path,
        canonical_query(req.query),
        canonical_headers,
        signed_headers,
        req.payload_sha256
    );
    let scope = format!("{date}/{}/s3/aws4_request", creds.region);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    );

    let k_date = hmac(format!("AWS4{}", creds.secret_key).as_bytes(), &date);
    let k_region = hmac(&k_date, creds.region);
    let k_service = hmac(&k_region, "s3");
    let k_signing = hmac(&k_service, "aws4_request");
    let signature = hex(&hmac(&k_signing, &string_to_sign));

    Signed {
        authorization: format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope},SignedHeaders={signed_headers},Signature={signature}",
            creds.access_key
        ),
        amz_date,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    // The example keys and requests from the AWS S3 API reference, "Signature Calculations for the
    // Authorization Header: Transferring Payload in a Single Chunk (AWS Signature Version 4)".
    const CREDS: Credentials<'static> = Credentials {
        access_key: "AKIAIOSFODNN7EXAMPLE",
        secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        region: "us-east-1",
    };

    fn example_time() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2013, 5, 24, 0, 0, 0)
            .single()
            .expect("valid date")
    }

    #[test]
    fn get_object_with_range_matches_the_published_signature() {
        let headers = [
            ("Host", "examplebucket.s3.amazonaws.com".to_owned()),
            ("Range", "bytes=0-9".to_owned()),
            ("x-amz-content-sha256", EMPTY_SHA256.to_owned()),
        ];
        let req = Request {
            method: "GET",
            path: "/test.txt",
            query: &[],
            headers: &headers,
            payload_sha256: EMPTY_SHA256,
        };
        let signed = sign(&CREDS, &req, example_time());
        assert_eq!(signed.amz_date, "20130524T000000Z");
        assert_eq!(
            signed.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,\
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn put_object_with_dollar_in_key_matches_the_published_signature() {
        let payload = sha256_hex(b"Welcome to Amazon S3.");
        assert_eq!(
            payload,
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
        );
        let headers = [
            ("Host", "examplebucket.s3.amazonaws.com".to_owned()),
            ("Date", "Fri, 24 May 2013 00:00:00 GMT".to_owned()),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY".to_owned()),
            ("x-amz-content-sha256", payload.clone()),
        ];
        let path = format!("/{}", uri_encode_path("test$file.text"));
        assert_eq!(path, "/test%24file.text");
        let req = Request {
            method: "PUT",
            path: &path,
            query: &[],
            headers: &headers,
            payload_sha256: &payload,
        };
        let signed = sign(&CREDS, &req, example_time());
        assert!(
            signed.authorization.ends_with(
                "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
            ),
            "{}",
            signed.authorization
        );
    }

    #[test]
    fn list_objects_with_query_matches_the_published_signature() {
        let headers = [
            ("Host", "examplebucket.s3.amazonaws.com".to_owned()),
            ("x-amz-content-sha256", EMPTY_SHA256.to_owned()),
        ];
        let query = [("prefix", "J".to_owned()), ("max-keys", "2".to_owned())];
        let req = Request {
            method: "GET",
            path: "/",
            query: &query,
            headers: &headers,
            payload_sha256: EMPTY_SHA256,
        };
        let signed = sign(&CREDS, &req, example_time());
        assert!(
            signed.authorization.ends_with(
                "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
            ),
            "{}",
            signed.authorization
        );
    }

    #[test]
    fn uri_encoding_keeps_only_unreserved_characters() {
        assert_eq!(
            uri_encode_path("a b/ü#%&/.x~_-"),
            "a%20b/%C3%BC%23%25%26/.x~_-"
        );
        assert_eq!(uri_encode("a/b+c=d"), "a%2Fb%2Bc%3Dd");
        assert_eq!(
            canonical_query(&[("b", "2".into()), ("a", "".into())]),
            "a=&b=2"
        );
    }
}
