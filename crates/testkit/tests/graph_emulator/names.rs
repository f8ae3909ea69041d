//! Names and paths OneDrive and SharePoint refuse; case-insensitive names.

use crate::common::*;

#[test]
fn forbidden_names_and_paths_over_400_characters_are_refused_with_400() -> R {
    let mut t = setup(GraphOptions::default())?;
    let d = t.d();
    for name in [
        "a%3Ab.txt",
        "CON",
        "x%7Cy",
        "desktop.ini",
        "~%24lock.docx",
        "a_vti_b",
        "trailing%20",
    ] {
        let r = t.put(&format!("{d}/root:/{name}:/content"), b"x")?;
        assert_eq!(r.status, 400, "{name}: {}", r.text());
        assert_eq!(
            (code(&r), inner(&r)),
            ("invalidRequest".into(), "invalidPath".into()),
            "{name}"
        );
    }
    let r = t.json(
        "POST",
        &format!("{d}/root/children"),
        &json!({"name": "a*b", "folder": {}}),
    )?;
    assert_eq!((r.status, inner(&r)), (400, "invalidPath".into()));
    // `/personal/alice_contoso_com/Documents/` is 38 characters of the 400.
    let ok = "n".repeat(400 - 38);
    assert_eq!(
        t.put(&format!("{d}/root:/{ok}:/content"), b"x")?.status,
        201
    );
    let long = "n".repeat(400 - 37);
    let r = t.put(&format!("{d}/root:/{long}:/content"), b"x")?;
    assert_eq!((r.status, inner(&r)), (400, "pathIsTooLong".into()));
    // A SharePoint library counts its site and library part: `/sites/Team/Shared Documents/` is 29.
    let (site, _) = t.g.add_site("contoso.sharepoint.com", "Team");
    let fits = "n".repeat(400 - 29);
    assert_eq!(
        t.put(&format!("/sites/{site}/drive/root:/{fits}:/content"), b"x")?
            .status,
        201
    );
    let r = t.put(&format!("/sites/{site}/drive/root:/{fits}n:/content"), b"x")?;
    assert_eq!((r.status, inner(&r)), (400, "pathIsTooLong".into()));
    let r = t.json(
        "POST",
        &format!("/sites/{site}/drive/root/children"),
        &json!({"name": "Forms", "folder": {}}),
    )?;
    assert_eq!(r.status, 400, "forms at a library root");
    Ok(())
}

#[test]
fn names_differing_only_in_case_collide() -> R {
    let mut t = setup(GraphOptions::default())?;
    let d = t.d();
    assert_eq!(
        t.put(&format!("{d}/root:/Report.docx:/content"), b"A")?
            .status,
        201
    );
    let r = t.put(
        &format!("{d}/root:/report.docx:/content?@microsoft.graph.conflictBehavior=fail"),
        b"B",
    )?;
    assert_eq!((r.status, code(&r)), (409, "nameAlreadyExists".into()));
    let r = t.put(
        &format!("{d}/root:/REPORT.docx:/content?@microsoft.graph.conflictBehavior=rename"),
        b"C",
    )?;
    assert_eq!(body(&r)["name"], "REPORT 1.docx");
    assert_eq!(t.g.read_file(&t.drive, "Report.docx"), Some(b"A".to_vec()));
    Ok(())
}
