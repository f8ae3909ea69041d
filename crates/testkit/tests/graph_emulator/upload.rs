//! Upload sessions.

use crate::common::*;

#[test]
fn upload_session_takes_fragments_in_order_answers_202_then_201_with_the_item() -> R {
    let mut t = setup(GraphOptions::default())?;
    let bytes = data(2 * MULT + 1000);
    let total = bytes.len() as u64;
    let url = t.session(
        "big.bin",
        json!({"@microsoft.graph.conflictBehavior": "fail",
               "fileSystemInfo": {"lastModifiedDateTime": "2015-05-05T05:05:05Z", "createdDateTime": "2014-04-04T04:04:04Z"}}),
    )?;
    assert!(!url.contains("/v1.0/"), "the upload URL is another path");
    let r = t.fragment(&url, &bytes[..MULT], 0, total)?;
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(body(&r)["nextExpectedRanges"], json!([format!("{MULT}-")]));
    let r = t.fragment(&url, &bytes[MULT..2 * MULT], MULT as u64, total)?;
    assert_eq!(r.status, 202);
    let r = t.fragment(&url, &bytes[2 * MULT..], 2 * MULT as u64, total)?;
    assert_eq!(r.status, 201, "{}", r.text());
    let v = body(&r);
    assert_eq!(v["name"], "big.bin");
    assert_eq!(v["size"], json!(total));
    assert_eq!(
        v["file"]["hashes"]["quickXorHash"],
        json!(quick_xor_hash(&bytes))
    );
    assert_eq!(
        v["fileSystemInfo"]["lastModifiedDateTime"],
        "2015-05-05T05:05:05Z"
    );
    assert_eq!(
        v["fileSystemInfo"]["createdDateTime"],
        "2014-04-04T04:04:04Z"
    );
    assert_eq!(t.g.read_file(&t.drive, "big.bin"), Some(bytes));
    let s = &t.g.sessions()[0];
    assert_eq!(s.status, SessionStatus::Completed);
    assert_eq!(s.accepted.len(), 3);
    // A finished session is gone.
    let r = t.upload("GET", &url, &[], Body::None)?;
    assert_eq!((r.status, inner(&r)), (404, "uploadSessionNotFound".into()));
    Ok(())
}

#[test]
fn upload_url_rejects_an_authorization_header_with_401() -> R {
    let mut t = setup(GraphOptions::default())?;
    let url = t.session("a.bin", json!({}))?;
    let auth = t.auth.clone();
    let r = t.upload(
        "PUT",
        &url,
        &[
            ("Content-Range", "bytes 0-2/3"),
            ("Authorization", auth.as_str()),
        ],
        Body::Bytes(b"abc"),
    )?;
    assert_eq!(r.status, 401);
    assert_eq!(t.g.stats().upload_url_with_authorization, 1);
    assert_eq!(t.fragment(&url, b"abc", 0, 3)?.status, 201);
    Ok(())
}

#[test]
fn a_range_already_received_is_416_and_status_tells_where_to_resume() -> R {
    let mut t = setup(GraphOptions::default())?;
    let bytes = data(3 * MULT);
    let total = bytes.len() as u64;
    let url = t.session("r.bin", json!({}))?;
    assert_eq!(t.fragment(&url, &bytes[..MULT], 0, total)?.status, 202);
    let r = t.fragment(&url, &bytes[..MULT], 0, total)?;
    assert_eq!((r.status, inner(&r)), (416, "fragmentOverlap".into()));
    let r = t.fragment(&url, &bytes[2 * MULT..], 2 * MULT as u64, total)?;
    assert_eq!((r.status, inner(&r)), (416, "fragmentOutOfOrder".into()));
    let r = t.upload("GET", &url, &[], Body::None)?;
    assert_eq!(r.status, 200);
    assert_eq!(body(&r)["nextExpectedRanges"], json!([format!("{MULT}-")]));
    assert!(body(&r)["expirationDateTime"].is_string());
    let r = t.fragment(&url, &bytes[MULT..], MULT as u64, total + 1)?;
    assert_eq!(
        (r.status, inner(&r)),
        (400, "fragmentLengthMismatch".into())
    );
    assert_eq!(
        t.fragment(&url, &bytes[MULT..], MULT as u64, total)?.status,
        201
    );
    Ok(())
}

#[test]
fn a_dropped_fragment_counts_for_nothing_and_the_resume_starts_at_the_first_missing_byte() -> R {
    let mut t = setup(GraphOptions::default())?;
    let bytes = data(3 * MULT);
    let total = bytes.len() as u64;
    let url = t.session("cut.bin", json!({}))?;
    assert_eq!(t.fragment(&url, &bytes[..MULT], 0, total)?.status, 202);
    t.g.drop_next_upload_after(1000);
    let cut = t.fragment(&url, &bytes[MULT..2 * MULT], MULT as u64, total);
    assert!(cut.is_err(), "the connection was dropped without an answer");
    let r = t.upload("GET", &url, &[], Body::None)?;
    assert_eq!(body(&r)["nextExpectedRanges"], json!([format!("{MULT}-")]));
    assert_eq!(
        t.fragment(&url, &bytes[MULT..], MULT as u64, total)?.status,
        201
    );
    let s = &t.g.sessions()[0];
    assert_eq!(
        s.accepted,
        vec![(0, MULT as u64 - 1), (MULT as u64, total - 1)]
    );
    assert!(s.bytes_received >= total + 1000 - 1);
    assert_eq!(s.bytes_accepted, total);
    assert_eq!(t.g.read_file(&t.drive, "cut.bin"), Some(bytes));
    Ok(())
}

#[test]
fn while_a_fragment_is_still_arriving_its_range_is_missing_and_another_request_for_it_is_416() -> R
{
    let mut t = setup(GraphOptions::default())?;
    let bytes = data(3 * MULT);
    let total = bytes.len() as u64;
    let url = t.session("slow.bin", json!({}))?;
    assert_eq!(t.fragment(&url, &bytes[..MULT], 0, total)?.status, 202);
    // A client killed while sending its second fragment: half the body is in, the connection still open.
    let stalled = t.g.stall_fragment(
        &url,
        MULT as u64,
        MULT as u64,
        total,
        &bytes[MULT..MULT + 1000],
    )?;
    assert!(t.g.sessions()[0].receiving);
    let r = t.upload("GET", &url, &[], Body::None)?;
    assert_eq!(body(&r)["nextExpectedRanges"], json!([format!("{MULT}-")]));
    let r = t.fragment(&url, &bytes[MULT..2 * MULT], MULT as u64, total)?;
    assert_eq!((r.status, inner(&r)), (416, "fragmentOverlap".into()));
    // Once its connection closes, the cut request counts for nothing and the range is taken again.
    let id = stalled.session().to_owned();
    stalled.close();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while t.g.receiving(&id) {
        assert!(std::time::Instant::now() < deadline, "still receiving");
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(
        t.fragment(&url, &bytes[MULT..], MULT as u64, total)?.status,
        201
    );
    let s = &t.g.sessions()[0];
    assert_eq!(
        s.accepted,
        vec![(0, MULT as u64 - 1), (MULT as u64, total - 1)]
    );
    assert_eq!(s.refused, vec![(MULT as u64, 2 * MULT as u64 - 1, 416)]);
    assert_eq!(t.g.read_file(&t.drive, "slow.bin"), Some(bytes));
    Ok(())
}

#[test]
fn fragments_must_be_under_60_mib_and_multiples_of_320_kib_or_the_commit_fails() -> R {
    let opts = GraphOptions {
        max_fragment: 2 * MULT as u64,
        ..GraphOptions::default()
    };
    let mut t = setup(opts)?;
    let bytes = data(MULT + 2000);
    let total = bytes.len() as u64;
    let url = t.session("m.bin", json!({}))?;
    let big = data(2 * MULT);
    let r = t.fragment(&url, &big, 0, total + MULT as u64)?;
    assert_eq!(
        (r.status, inner(&r)),
        (413, "maxFragmentLengthExceeded".into())
    );
    assert_eq!(t.fragment(&url, &bytes[..1000], 0, total)?.status, 202);
    let r = t.fragment(&url, &bytes[1000..], 1000, total)?;
    assert_eq!((r.status, inner(&r)), (400, "uploadSessionFailed".into()));
    assert_eq!(t.g.stats().misaligned_fragments, 1);
    assert!(t.g.read_file(&t.drive, "m.bin").is_none());
    Ok(())
}

#[test]
fn commit_under_fail_is_409_when_the_name_appeared_meanwhile_and_rename_or_replace_resolve_it() -> R
{
    let mut t = setup(GraphOptions::default())?;
    let url = t.session(
        "c.txt",
        json!({"@microsoft.graph.conflictBehavior": "fail"}),
    )?;
    t.g.seed_file(&t.drive, "C.TXT", b"someone else's", None)?;
    let r = t.fragment(&url, b"mine", 0, 4)?;
    assert_eq!((r.status, code(&r)), (409, "nameAlreadyExists".into()));
    assert_eq!(
        t.g.read_file(&t.drive, "c.txt"),
        Some(b"someone else's".to_vec())
    );
    let url = t.session(
        "c.txt",
        json!({"@microsoft.graph.conflictBehavior": "rename"}),
    )?;
    let r = t.fragment(&url, b"mine", 0, 4)?;
    assert_eq!(
        (r.status, body(&r)["name"].clone()),
        (201, json!("c 1.txt"))
    );
    let url = t.session(
        "c.txt",
        json!({"@microsoft.graph.conflictBehavior": "replace"}),
    )?;
    let r = t.fragment(&url, b"mine", 0, 4)?;
    assert_eq!(r.status, 200);
    assert_eq!(t.g.read_file(&t.drive, "c.txt"), Some(b"mine".to_vec()));
    Ok(())
}

#[test]
fn cancel_with_delete_and_expiry_end_a_session_with_404() -> R {
    let mut t = setup(GraphOptions::default())?;
    let url = t.session("x.bin", json!({}))?;
    assert_eq!(t.upload("DELETE", &url, &[], Body::None)?.status, 204);
    assert_eq!(t.fragment(&url, b"abc", 0, 3)?.status, 404);
    // Sessions created from now on live 300 ms.
    t.g.configure(|o| o.session_lifetime = Duration::from_millis(300));
    let url = t.session("y.bin", json!({}))?;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = t.upload("GET", &url, &[], Body::None)?;
        if r.status == 404 {
            assert_eq!(inner(&r), "uploadSessionNotFound");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the session never expired"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut states: Vec<_> = t.g.sessions().into_iter().map(|s| s.status).collect();
    states.sort_by_key(|s| format!("{s:?}"));
    assert_eq!(states, [SessionStatus::Cancelled, SessionStatus::Expired]);
    Ok(())
}

#[test]
fn a_file_size_over_the_remaining_quota_refuses_the_session_with_507() -> R {
    let mut t = setup(GraphOptions::default())?;
    t.g.set_quota(&t.drive, 10_000);
    let d = t.d();
    let r = t.json(
        "POST",
        &format!("{d}/root:/huge.bin:/createUploadSession"),
        &json!({"item": {"fileSize": 20_000}}),
    )?;
    assert_eq!((r.status, code(&r)), (507, "quotaLimitReached".into()));
    Ok(())
}

#[test]
fn files_over_the_maximum_size_are_refused_at_session_creation_or_first_fragment() -> R {
    let opts = GraphOptions {
        max_file_size: 1000,
        ..GraphOptions::default()
    };
    let mut t = setup(opts)?;
    let d = t.d();
    let r = t.json(
        "POST",
        &format!("{d}/root:/huge.bin:/createUploadSession"),
        &json!({"item": {"fileSize": 1001}}),
    )?;
    assert_eq!((r.status, inner(&r)), (400, "maxFileSizeExceeded".into()));
    let url = t.session("huge.bin", json!({}))?;
    let r = t.fragment(&url, b"abc", 0, 1001)?;
    assert_eq!((r.status, inner(&r)), (400, "maxFileSizeExceeded".into()));
    Ok(())
}

#[test]
fn defer_commit_waits_for_an_empty_post_to_the_upload_url() -> R {
    let mut t = setup(GraphOptions::default())?;
    let d = t.d();
    let r = t.json(
        "POST",
        &format!("{d}/root:/late.txt:/createUploadSession"),
        &json!({"item": {}, "deferCommit": true}),
    )?;
    let url = body(&r)["uploadUrl"].as_str().unwrap_or("").to_owned();
    assert_eq!(t.fragment(&url, b"abc", 0, 3)?.status, 202);
    assert!(t.g.read_file(&t.drive, "late.txt").is_none());
    let r = t.upload("POST", &url, &[], Body::Bytes(b""))?;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(t.g.read_file(&t.drive, "late.txt"), Some(b"abc".to_vec()));
    Ok(())
}
