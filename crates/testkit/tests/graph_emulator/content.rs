//! Simple upload, download, preconditions.

use crate::common::*;

#[test]
fn simple_upload_creates_replaces_by_default_and_has_a_size_limit() -> R {
    let opts = GraphOptions {
        simple_upload_limit: 1000,
        ..GraphOptions::default()
    };
    let mut t = setup(opts)?;
    t.g.seed_folder(&t.drive, "docs")?;
    let d = t.d();
    let r = t.put(&format!("{d}/root:/docs/a.bin:/content"), &data(1000))?;
    assert_eq!(r.status, 201, "{}", r.text());
    let v = body(&r);
    assert_eq!(v["size"], 1000);
    assert_eq!(
        v["file"]["hashes"]["quickXorHash"],
        json!(quick_xor_hash(&data(1000)))
    );
    let id = v["id"].clone();
    let r = t.put(&format!("{d}/root:/docs/a.bin:/content"), b"new")?;
    assert_eq!(r.status, 200);
    assert_eq!(body(&r)["id"], id, "replace keeps the item");
    assert_ne!(body(&r)["cTag"], v["cTag"]);
    let r = t.put(&format!("{d}/root:/docs/big.bin:/content"), &data(1001))?;
    assert_eq!(r.status, 413);
    let r = t.put(&format!("{d}/root:/nodir/a.bin:/content"), b"x")?;
    assert_eq!((r.status, code(&r)), (404, "itemNotFound".into()));
    assert_eq!(t.g.read_file(&t.drive, "docs/a.bin"), Some(b"new".to_vec()));
    Ok(())
}

#[test]
fn download_redirects_to_a_pre_authenticated_url_that_serves_bytes_and_ranges() -> R {
    let mut t = setup(GraphOptions::default())?;
    let bytes = data(100_000);
    t.g.seed_file(&t.drive, "x/big.bin", &bytes, None)?;
    let d = t.d();
    let r = t.get(&format!("{d}/root:/x/big.bin:/content"))?;
    assert_eq!(r.status, 302);
    let loc = r.header("location").unwrap_or("").to_owned();
    let got = t.upload("GET", &loc, &[], Body::None)?;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, bytes);
    let part = t.upload("GET", &loc, &[("Range", "bytes=10-19")], Body::None)?;
    assert_eq!(part.status, 206);
    assert_eq!(part.body, &bytes[10..20]);
    assert_eq!(part.header("content-range"), Some("bytes 10-19/100000"));
    let outside = t.upload("GET", &loc, &[("Range", "bytes=100000-100010")], Body::None)?;
    assert_eq!(outside.status, 416);
    Ok(())
}

#[test]
fn if_match_and_if_none_match_guard_writes_with_412() -> R {
    let mut t = setup(GraphOptions::default())?;
    let d = t.d();
    let v = body(&t.put(&format!("{d}/root:/g.txt:/content"), b"one")?);
    let etag = v["eTag"].as_str().unwrap_or("").to_owned();
    let path = format!("/v1.0{d}/root:/g.txt:/content");
    let auth = t.auth.clone();
    let stale = "\"{00000000-0000-0000-0000-000000000000},1\"";
    let r = t.c.request(
        "PUT",
        &path,
        &[("Authorization", auth.as_str()), ("If-Match", stale)],
        Body::Bytes(b"two"),
    )?;
    assert_eq!((r.status, code(&r)), (412, "resourceModified".into()));
    let r = t.c.request(
        "PUT",
        &path,
        &[
            ("Authorization", auth.as_str()),
            ("If-Match", etag.as_str()),
        ],
        Body::Bytes(b"two"),
    )?;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = t.c.request(
        "POST",
        &format!("/v1.0{d}/root:/g.txt:/createUploadSession"),
        &[("Authorization", auth.as_str()), ("If-None-Match", "*")],
        Body::Bytes(b"{}"),
    )?;
    assert_eq!(r.status, 412);
    assert_eq!(t.g.read_file(&t.drive, "g.txt"), Some(b"two".to_vec()));
    Ok(())
}
