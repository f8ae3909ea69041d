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
