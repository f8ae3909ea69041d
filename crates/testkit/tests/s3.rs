//! The S3 harness against a real moto server.

use ferry_testkit::http::{Body, request};
use ferry_testkit::port;
use ferry_testkit::s3::S3Server;
use std::io;

type R = io::Result<()>;

#[test]
fn s3_server_creates_buckets_and_lists_awkward_keys_with_sizes() -> R {
    let server = S3Server::start()?;
    assert_eq!(
        server.endpoint(),
        format!("http://127.0.0.1:{}", server.port())
    );
    server.create_bucket("ferry-test")?;
    let keys = [
        "a b/c #%&.txt",
        "\u{65e5}\u{672c}/x",
        "tab\there",
        ".hidden",
        "zero",
    ];
    for (i, k) in keys.iter().enumerate() {
        let data = vec![b'x'; if *k == "zero" { 0 } else { i * 10 + 1 }];
        server.put_object("ferry-test", k, &data)?;
    }
    let mut listed = server.objects("ferry-test")?;
    listed.sort();
    let mut want: Vec<(String, u64)> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            (
                k.to_string(),
                if *k == "zero" { 0 } else { i as u64 * 10 + 1 },
            )
        })
        .collect();
    want.sort();
    assert_eq!(listed, want);
    assert_eq!(
        server.get_object("ferry-test", "tab\there")?,
        Some(vec![b'x'; 21])
    );
    assert_eq!(server.get_object("ferry-test", "missing")?, None);
    Ok(())
}

#[test]
fn s3_objects_follows_continuation_tokens_past_a_thousand_keys() -> R {
    let server = S3Server::start()?;
    server.create_bucket("many")?;
    for i in 0..1_005 {
        server.put_object("many", &format!("k/{i:05}"), b"1")?;
    }
    let listed = server.objects("many")?;
    assert_eq!(listed.len(), 1_005);
    assert_eq!(listed[1_004], ("k/01004".to_string(), 1));
    Ok(())
}

#[test]
fn s3_multipart_uploads_lists_an_unfinished_upload() -> R {
    let server = S3Server::start()?;
    server.create_bucket("mpu-bucket")?;
    let r = request(
        server.addr(),
        "POST",
        "/mpu-bucket/big%20file?uploads",
        &[("Content-Type", "application/octet-stream")],
        Body::None,
    )?;
    assert_eq!(r.status, 200, "{}", r.text());
    let uploads = server.multipart_uploads("mpu-bucket")?;
    assert_eq!(uploads.len(), 1, "{uploads:?}");
    assert_eq!(uploads[0].0, "big file");
    assert!(!uploads[0].1.is_empty());
    assert!(server.objects("mpu-bucket")?.is_empty());
    Ok(())
}

#[test]
fn s3_multipart_parts_are_listed_and_a_cut_put_leaves_no_object() -> R {
    let server = S3Server::start()?;
    server.create_bucket("parts-bucket")?;
    let r = server.request("POST", "/parts-bucket/big?uploads", Body::None)?;
    let xml = r.text();
    let id = xml
        .split("<UploadId>")
        .nth(1)
        .and_then(|s| s.split("</UploadId>").next())
        .expect("an UploadId")
        .to_string();
    let part = vec![b'p'; 5 << 20];
    let r = server.request(
        "PUT",
        &format!("/parts-bucket/big?partNumber=1&uploadId={id}"),
        Body::Bytes(&part),
    )?;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = server.request(
        "GET",
        &format!("/parts-bucket/big?uploadId={id}"),
        Body::None,
    )?;
    assert!(
        r.text().contains("<PartNumber>1</PartNumber>"),
        "{}",
        r.text()
    );
    // A PUT cut mid-body stores nothing: moto reads the whole body before it acts.
    let mut s = std::net::TcpStream::connect(server.addr())?;
    use std::io::Write;
    s.write_all(b"PUT /parts-bucket/cut HTTP/1.1\r\nHost: x\r\nAuthorization: AWS4-HMAC-SHA256 Credential=a/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n")?;
    s.write_all(&[1u8; 50_000])?;
    drop(s);
    assert_eq!(server.get_object("parts-bucket", "cut")?, None);
    Ok(())
}

#[test]
fn dropping_the_s3_server_stops_it_and_deletes_its_dir() -> R {
    let server = S3Server::start()?;
    let (addr, dir) = (server.addr(), server.temp_dir().to_path_buf());
    // Its own listening socket is closed; not "a fresh connect fails", which races with a test beside
    // this one binding the freed port (issue 9, item 20).
    let sockets = port::listening_sockets(addr.port()).unwrap_or_default();
    drop(server);
    if port::listening_sockets(addr.port()).is_some() {
        assert!(!sockets.is_empty(), "the server never listened on {addr}");
        assert!(
            !port::still_listening(addr.port(), &sockets),
            "still listening"
        );
    }
    assert!(!dir.exists(), "temp dir left behind");
    Ok(())
}

#[test]
fn moto_cannot_store_a_key_with_a_line_feed_as_the_readme_says() -> R {
    let server = S3Server::start()?;
    server.create_bucket("lf-bucket")?;
    let err = server
        .put_object("lf-bucket", "line\nfeed", b"x")
        .expect_err("moto stored a key with a line feed: update the README and the S3 conformance exclusions");
    assert!(err.to_string().contains("404"), "{err}");
    server.put_object("lf-bucket", "carriage\rreturn and trailing ", b"x")?;
    assert_eq!(server.objects("lf-bucket")?.len(), 1);
    Ok(())
}
