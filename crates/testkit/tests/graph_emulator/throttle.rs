//! Throttling, fault hooks, concurrency, snapshots.

use crate::common::*;

#[test]
fn over_budget_requests_get_429_with_retry_after_and_rate_limit_headers_near_the_limit() -> R {
    let mut t = setup(GraphOptions::default())?;
    t.g.set_throttle(vec![ThrottleOptions::per_tenant(
        10,
        Duration::from_secs(60),
    )]);
    let d = t.d();
    for i in 1..=10 {
        let r = t.get(&d)?;
        assert_eq!(r.status, 200);
        let has = r.header("ratelimit-limit").is_some();
        assert_eq!(
            has,
            i >= 8,
            "RateLimit headers from 80 % of the budget (request {i})"
        );
        if has {
            assert_eq!(
                r.header("ratelimit-remaining"),
                Some((10 - i).to_string().as_str())
            );
        }
    }
    let r = t.get(&d)?;
    assert_eq!(r.status, 429);
    assert_eq!(
        (code(&r), inner(&r)),
        ("activityLimitReached".into(), "throttledRequest".into())
    );
    let secs: u64 = r
        .header("retry-after")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert!((1..=60).contains(&secs));
    assert_eq!(t.g.stats().requests_before_retry_after, 0);
    assert_eq!(t.get(&d)?.status, 429, "still before Retry-After");
    let s = t.g.stats();
    assert_eq!((s.throttled, s.requests_before_retry_after), (2, 1));
    Ok(())
}

#[test]
fn a_budget_served_as_503_and_waiting_out_retry_after_gets_through() -> R {
    let mut t = setup(GraphOptions::default())?;
    let mut th = ThrottleOptions::per_tenant(2, Duration::from_secs(1));
    th.status = 503;
    t.g.set_throttle(vec![th]);
    let d = t.d();
    // Two requests per second pass; keep asking until one is refused (a slow machine may see a window
    // roll over between two requests, never twenty times in a row).
    let mut refused = None;
    for _ in 0..20 {
        let r = t.get(&d)?;
        if r.status != 200 {
            refused = Some(r);
            break;
        }
    }
    let r = refused.ok_or_else(|| io::Error::other("never refused"))?;
    assert_eq!((r.status, code(&r)), (503, "serviceNotAvailable".into()));
    let secs: u64 = r
        .header("retry-after")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert_eq!(secs, 1);
    std::thread::sleep(Duration::from_secs(secs));
    assert_eq!(t.get(&d)?.status, 200);
    assert_eq!(t.g.stats().requests_before_retry_after, 0);
    Ok(())
}

#[test]
fn per_drive_budgets_are_separate_and_a_tenant_budget_applies_on_top() -> R {
    let mut t = setup(GraphOptions::default())?;
    let other = t.g.add_user("bob@contoso.com");
    t.g.set_throttle(vec![
        ThrottleOptions::per_drive(2, Duration::from_secs(60)),
        ThrottleOptions::per_tenant(5, Duration::from_secs(60)),
    ]);
    let (a, b) = (t.d(), format!("/drives/{other}"));
    assert_eq!(t.get(&a)?.status, 200);
    assert_eq!(t.get(&a)?.status, 200);
    assert_eq!(t.get(&a)?.status, 429, "drive a spent its budget");
    t.c = RawHttp::connect(t.g.addr())?;
    assert_eq!(t.get(&b)?.status, 200, "drive b has its own");
    assert_eq!(t.get(&b)?.status, 200);
    // The tenant has 5: four were counted (the refused one was not), so one more, then 429.
    assert_eq!(
        t.get("/sites/contoso.sharepoint.com:/sites/none")?.status,
        404
    );
    let r = t.get("/sites/contoso.sharepoint.com:/sites/none")?;
    assert_eq!(r.status, 429, "{}", r.text());
    Ok(())
}

#[test]
fn early_requests_count_on_the_throttled_connection_and_elsewhere_only_after_the_in_flight_grace()
-> R {
    // A grace longer than the test: requests on other connections are never counted.
    let opts = GraphOptions {
        in_flight_grace: Duration::from_secs(3600),
        ..GraphOptions::default()
    };
    let mut t = setup(opts)?;
    t.g.set_throttle(vec![ThrottleOptions::per_tenant(
        1,
        Duration::from_secs(60),
    )]);
    let d = t.d();
    assert_eq!(t.get(&d)?.status, 200);
    assert_eq!(t.get(&d)?.status, 429);
    let mut other = RawHttp::connect(t.g.addr())?;
    let auth = t.auth.clone();
    let r = other.request(
        "GET",
        &format!("/v1.0{d}"),
        &[("Authorization", auth.as_str())],
        Body::None,
    )?;
    assert_eq!(r.status, 429);
    assert_eq!(
        t.g.stats().requests_before_retry_after,
        0,
        "in flight elsewhere"
    );
    assert_eq!(t.get(&d)?.status, 429);
    assert_eq!(
        t.g.stats().requests_before_retry_after,
        1,
        "sent on the connection that had the answer"
    );
    // No grace: any request before Retry-After expires counts.
    t.g.configure(|o| o.in_flight_grace = Duration::ZERO);
    let r = other.request(
        "GET",
        &format!("/v1.0{d}"),
        &[("Authorization", auth.as_str())],
        Body::None,
    )?;
    assert_eq!(r.status, 429);
    assert_eq!(t.g.stats().requests_before_retry_after, 2);
    // Injected failures with Retry-After are watched the same way.
    t.g.set_throttle(Vec::new());
    t.g.fail_next(1, 503, Some(600));
    let mut fresh = RawHttp::connect(t.g.addr())?;
    let get = |c: &mut RawHttp| {
        c.request(
            "GET",
            &format!("/v1.0{d}"),
            &[("Authorization", auth.as_str())],
            Body::None,
        )
    };
    assert_eq!(get(&mut fresh)?.status, 503);
    assert_eq!(get(&mut fresh)?.status, 200);
    assert_eq!(t.g.stats().requests_before_retry_after, 3);
    Ok(())
}

#[test]
fn fault_hooks_fail_or_drop_the_next_requests() -> R {
    let mut t = setup(GraphOptions::default())?;
    let d = t.d();
    t.g.fail_next(2, 503, Some(3));
    let r = t.get(&d)?;
    assert_eq!((r.status, r.header("retry-after")), (503, Some("3")));
    assert_eq!(t.get(&d)?.status, 503);
    assert_eq!(t.get(&d)?.status, 200);
    t.g.drop_next(1);
    assert!(t.get(&d).is_err());
    t.c = RawHttp::connect(t.g.addr())?;
    assert_eq!(t.get(&d)?.status, 200);
    let s = t.g.stats();
    assert_eq!((s.injected_failures, s.dropped), (2, 1));
    Ok(())
}

#[test]
fn snapshot_lists_every_item_with_bytes_times_and_hash() -> R {
    let t = setup(GraphOptions::default())?;
    t.g.seed_file(&t.drive, "a/b/c.txt", b"hello world", None)?;
    let snap = t.g.snapshot(&t.drive);
    assert_eq!(snap.keys().collect::<Vec<_>>(), ["a", "a/b", "a/b/c.txt"]);
    let f = &snap["a/b/c.txt"];
    assert_eq!(f.bytes, b"hello world");
    assert_eq!(
        f.quick_xor_hash.as_deref(),
        Some("aCgDG9jwBhDc4Q1yawMZAAAAAAA=")
    );
    assert!(snap["a"].is_folder);
    Ok(())
}

#[test]
fn concurrent_clients_upload_side_by_side_without_mixing_bytes() -> R {
    let t = setup(GraphOptions::default())?;
    let g = &t.g;
    let drive = t.drive.clone();
    let auth = t.auth.clone();
    std::thread::scope(|scope| -> R {
        let mut handles = Vec::new();
        for w in 0..8usize {
            let (drive, auth) = (drive.clone(), auth.clone());
            handles.push(scope.spawn(move || -> R {
                let mut c = RawHttp::connect(g.addr())?;
                let h = [("Authorization", auth.as_str())];
                let small = format!("/v1.0/drives/{drive}/root:/small-{w}.txt:/content");
                assert_eq!(
                    c.request("PUT", &small, &h, Body::Bytes(format!("w{w}").as_bytes()))?
                        .status,
                    201
                );
                let bytes: Vec<u8> = (0..2 * MULT + 7).map(|i| ((i + w) % 256) as u8).collect();
                let r = c.request(
                    "POST",
                    &format!("/v1.0/drives/{drive}/root:/big-{w}.bin:/createUploadSession"),
                    &h,
                    Body::Bytes(b"{}"),
                )?;
                let url = body(&r)["uploadUrl"].as_str().unwrap_or("").to_owned();
                let target = url
                    .split_once("//")
                    .and_then(|(_, r)| r.find('/').map(|i| r[i..].to_owned()))
                    .unwrap_or_default();
                let mut up = RawHttp::connect(g.addr())?;
                for (start, chunk) in [
                    (0, &bytes[..MULT]),
                    (MULT, &bytes[MULT..2 * MULT]),
                    (2 * MULT, &bytes[2 * MULT..]),
                ] {
                    let range =
                        format!("bytes {start}-{}/{}", start + chunk.len() - 1, bytes.len());
                    let r = up.request(
                        "PUT",
                        &target,
                        &[("Content-Range", range.as_str())],
                        Body::Bytes(chunk),
                    )?;
                    assert!(r.status == 202 || r.status == 201, "{}", r.text());
                }
                assert_eq!(g.read_file(&drive, &format!("big-{w}.bin")), Some(bytes));
                Ok(())
            }));
        }
        for h in handles {
            h.join()
                .map_err(|_| io::Error::other("a client thread panicked"))??;
        }
        Ok(())
    })?;
    let s = g.stats();
    assert_eq!(
        (s.sessions_created, s.fragments_accepted, s.simple_uploads),
        (8, 24, 8)
    );
    assert_eq!(g.items(&drive).len(), 16);
    Ok(())
}

#[test]
fn user_agents_are_recorded_and_requests_without_one_counted_as_undecorated() -> R {
    let mut t = setup(GraphOptions::default())?;
    let d = t.d();
    assert_eq!(t.get(&d)?.status, 200);
    let auth = t.auth.clone();
    let r = t.c.request(
        "GET",
        &format!("/v1.0{d}"),
        &[
            ("Authorization", auth.as_str()),
            ("User-Agent", "ISV|Contoso|Ferry/1.0"),
        ],
        Body::None,
    )?;
    assert_eq!(r.status, 200);
    assert_eq!(t.g.user_agents(), ["ISV|Contoso|Ferry/1.0"]);
    assert_eq!(t.g.stats().undecorated_requests, 1);
    Ok(())
}
