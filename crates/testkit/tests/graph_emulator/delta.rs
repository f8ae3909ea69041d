//! The delta feed.

use crate::common::*;

#[test]
fn delta_enumerates_then_reports_changes_since_its_delta_link() -> R {
    let mut t = setup(GraphOptions::default())?;
    t.g.seed_file(&t.drive, "a/one.txt", b"1", None)?;
    t.g.seed_file(&t.drive, "a/two.txt", b"2", None)?;
    t.g.seed_file(&t.drive, "three.txt", b"3", None)?;
    let d = t.d();
    let mut seen = Vec::new();
    let mut url = format!("{d}/root/delta?$top=2");
    let delta_link = loop {
        let v = body(&t.get(&url)?);
        for it in v["value"].as_array().into_iter().flatten() {
            assert!(
                it["parentReference"].get("path").is_none(),
                "delta items carry no path"
            );
            seen.push(it["name"].as_str().unwrap_or("").to_owned());
        }
        if let Some(n) = v["@odata.nextLink"].as_str() {
            url = n.to_owned();
        } else {
            break v["@odata.deltaLink"].as_str().unwrap_or("").to_owned();
        }
    };
    assert_eq!(seen[0], "root");
    let pos = |n: &str| seen.iter().position(|s| s == n);
    assert!(
        pos("a") < pos("one.txt") && pos("a") < pos("two.txt"),
        "parents first: {seen:?}"
    );
    assert_eq!(seen.len(), 5);
    let v = body(&t.get(&delta_link)?);
    assert_eq!(v["value"], json!([]));
    t.g.seed_file(&t.drive, "a/four.txt", b"4", None)?;
    assert!(t.g.delete(&t.drive, "three.txt"));
    let v = body(&t.get(&delta_link)?);
    let changed: Vec<(String, bool)> = v["value"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            (
                i["name"].as_str().unwrap_or("").to_owned(),
                i.get("deleted").is_some(),
            )
        })
        .collect();
    assert!(changed.contains(&("four.txt".into(), false)), "{changed:?}");
    assert!(changed.contains(&("three.txt".into(), true)), "{changed:?}");
    assert!(!changed.iter().any(|(n, _)| n == "one.txt"));
    let v = body(&t.get(&format!("{d}/root/delta?token=latest"))?);
    assert_eq!(v["value"], json!([]));
    assert!(v["@odata.deltaLink"].is_string());
    let r = t.get(&format!("{d}/root/delta?token=bogus"))?;
    assert_eq!((r.status, code(&r)), (410, "resyncRequired".into()));
    let fresh = r.header("location").unwrap_or("").to_owned();
    assert!(fresh.ends_with("/root/delta"), "{fresh}");
    assert_eq!(t.get(&fresh)?.status, 200);
    Ok(())
}

/// Every item name of one enumeration that starts at `url`, and its final deltaLink.
fn enumerate(t: &mut T, url: &str) -> io::Result<(Vec<String>, String)> {
    let (mut names, mut url) = (Vec::new(), url.to_owned());
    loop {
        let v = body(&t.get(&url)?);
        for it in v["value"].as_array().into_iter().flatten() {
            names.push(it["name"].as_str().unwrap_or("").to_owned());
        }
        match (
            v["@odata.nextLink"].as_str(),
            v["@odata.deltaLink"].as_str(),
        ) {
            (Some(n), _) => url = n.to_owned(),
            (None, Some(d)) => return Ok((names, d.to_owned())),
            (None, None) => return Err(io::Error::other(format!("neither link: {v}"))),
        }
    }
}

#[test]
fn dropped_delta_tokens_answer_410_with_the_resync_code_and_a_location_that_enumerates_everything()
-> R {
    let mut t = setup(GraphOptions::default())?;
    t.g.seed_file(&t.drive, "a/one.txt", b"1", None)?;
    t.g.seed_file(&t.drive, "two.txt", b"2", None)?;
    let d = t.d();
    let latest = body(&t.get(&format!("{d}/root/delta?token=latest"))?)["@odata.deltaLink"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    // An enumeration in progress: its nextLink is dropped too.
    let first = body(&t.get(&format!("{d}/root/delta?$top=1"))?);
    let next = first["@odata.nextLink"].as_str().unwrap_or("").to_owned();
    assert!(!next.is_empty(), "{first}");
    t.g.expire_delta_tokens(&t.drive, DeltaResync::UploadDifferences);
    t.g.seed_file(&t.drive, "three.txt", b"3", None)?;
    for link in [&latest, &next] {
        let r = t.get(link)?;
        assert_eq!(
            (r.status, code(&r), inner(&r)),
            (
                410,
                "resyncRequired".into(),
                "resyncChangesUploadDifferences".into()
            ),
            "{link}"
        );
        // The Location starts a fresh enumeration of the whole drive.
        let fresh = r.header("location").unwrap_or("").to_owned();
        let (mut names, delta_link) = enumerate(&mut t, &fresh)?;
        names.sort();
        assert_eq!(names, ["a", "one.txt", "root", "three.txt", "two.txt"]);
        // Links handed out after the drop work again.
        assert_eq!(t.get(&delta_link)?.status, 200);
    }
    let r = t.get(&format!("{d}/root/delta?token=latest"))?;
    let now = body(&r)["@odata.deltaLink"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert_ne!(now, latest);
    assert_eq!(t.get(&now)?.status, 200);
    Ok(())
}

#[test]
fn a_delta_token_older_than_the_history_kept_answers_410_apply_differences() -> R {
    let mut t = setup(GraphOptions {
        delta_token_history: Some(4),
        ..GraphOptions::default()
    })?;
    let d = t.d();
    let link = |t: &mut T| -> io::Result<String> {
        let v = body(&t.get(&format!("{d}/root/delta?token=latest"))?);
        Ok(v["@odata.deltaLink"].as_str().unwrap_or("").to_owned())
    };
    let old = link(&mut t)?;
    t.g.seed_file(&t.drive, "one.txt", b"1", None)?;
    t.g.seed_file(&t.drive, "two.txt", b"2", None)?;
    // Four changes behind (each new file also changes its folder): still kept, and it names them.
    let (names, _) = enumerate(&mut t, &old)?;
    assert!(
        names.contains(&"one.txt".into()) && names.contains(&"two.txt".into()),
        "{names:?}"
    );
    t.g.seed_file(&t.drive, "three.txt", b"3", None)?;
    let r = t.get(&old)?;
    assert_eq!(
        (r.status, code(&r), inner(&r)),
        (
            410,
            "resyncRequired".into(),
            "resyncChangesApplyDifferences".into()
        )
    );
    assert!(
        r.header("location")
            .is_some_and(|l| l.ends_with("/root/delta"))
    );
    let fresh = link(&mut t)?;
    assert_eq!(t.get(&fresh)?.status, 200);
    Ok(())
}
