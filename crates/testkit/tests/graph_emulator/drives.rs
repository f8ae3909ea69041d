//! Drives, quota and sites.

use crate::common::*;

#[test]
fn a_users_drive_resolves_by_upn_and_an_unprovisioned_one_is_404_for_app_tokens() -> R {
    let mut t = setup(GraphOptions::default())?;
    let r = t.get("/users/Alice@Contoso.com/drive")?;
    assert_eq!(r.status, 200);
    let v = body(&r);
    assert_eq!(v["id"], json!(t.drive));
    assert_eq!(v["driveType"], "business");
    assert_eq!(v["quota"]["total"], json!(1u64 << 40));
    assert_eq!(v["quota"]["state"], "normal");
    assert_eq!(
        v["webUrl"],
        "https://contoso-my.sharepoint.com/personal/alice_contoso_com/Documents"
    );
    t.g.add_unprovisioned_user("bob@contoso.com");
    let r = t.get("/users/bob@contoso.com/drive")?;
    assert_eq!(r.status, 404);
    assert_eq!(code(&r), "itemNotFound");
    assert_eq!(t.get("/users/nobody@contoso.com/drive")?.status, 404);
    // With delegated authentication a licensed user's drive is provisioned on first access.
    t.auth = format!("Bearer {}", t.g.token_for(600, true));
    assert_eq!(t.get("/users/bob@contoso.com/drive")?.status, 200);
    assert!(t.g.drive_of_user("bob@contoso.com").is_some());
    Ok(())
}

#[test]
fn quota_reports_used_remaining_and_state() -> R {
    let mut t = setup(GraphOptions::default())?;
    t.g.set_quota(&t.drive, 1000);
    t.g.seed_file(&t.drive, "a.bin", &data(950), None)?;
    let d = t.d();
    let v = body(&t.get(&d)?);
    assert_eq!(v["quota"]["used"], 950);
    assert_eq!(v["quota"]["remaining"], 50);
    assert_eq!(v["quota"]["fileCount"], 1);
    assert_eq!(v["quota"]["state"], "nearing");
    let r = t.put(&format!("{d}/root:/b.bin:/content"), &data(100))?;
    assert_eq!(r.status, 507);
    assert_eq!(code(&r), "quotaLimitReached");
    // Usage follows replaces and deletes.
    assert_eq!(
        t.put(&format!("{d}/root:/a.bin:/content"), &data(10))?
            .status,
        200
    );
    assert_eq!(body(&t.get(&d)?)["quota"]["used"], 10);
    assert!(t.g.delete(&t.drive, "a.bin"));
    let v = body(&t.get(&d)?);
    assert_eq!(
        (v["quota"]["used"].clone(), v["quota"]["fileCount"].clone()),
        (json!(0), json!(0))
    );
    Ok(())
}

#[test]
fn a_token_for_another_tenant_is_refused() -> R {
    let mut t = setup(GraphOptions::default())?;
    let other = ferry_testkit::graph::auth::mint(
        &t.g.jwt_key(),
        "00000000-0000-0000-0000-000000000bad",
        "https://graph.microsoft.com",
        600,
        false,
    );
    t.auth = format!("Bearer {other}");
    let d = t.d();
    let r = t.get(&d)?;
    assert_eq!((r.status, code(&r)), (401, "unauthenticated".into()));
    Ok(())
}

#[test]
fn quota_state_turns_critical_under_one_percent_and_exceeded_over_the_total() -> R {
    let mut t = setup(GraphOptions::default())?;
    t.g.set_quota(&t.drive, 1000);
    t.g.seed_file(&t.drive, "a.bin", &data(995), None)?;
    let d = t.d();
    assert_eq!(body(&t.get(&d)?)["quota"]["state"], "critical");
    t.g.set_quota(&t.drive, 900);
    let v = body(&t.get(&d)?);
    assert_eq!(
        (v["quota"]["state"].clone(), v["quota"]["remaining"].clone()),
        (json!("exceeded"), json!(0))
    );
    Ok(())
}

#[test]
fn sites_resolve_by_path_and_list_their_document_libraries() -> R {
    let mut t = setup(GraphOptions::default())?;
    let (site, docs) = t.g.add_site("contoso.sharepoint.com", "Team");
    let lib = t.g.add_library(&site, "Projects")?;
    let r = t.get("/sites/contoso.sharepoint.com:/sites/Team")?;
    assert_eq!(r.status, 200);
    assert_eq!(body(&r)["id"], json!(site));
    assert_eq!(
        t.get("/sites/contoso.sharepoint.com:/sites/Other")?.status,
        404
    );
    let v = body(&t.get(&format!("/sites/{site}/drives"))?);
    let names: Vec<_> = v["value"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| d["name"].clone())
        .collect();
    assert_eq!(names, [json!("Documents"), json!("Projects")]);
    assert_eq!(v["value"][1]["id"], json!(lib));
    assert_eq!(v["value"][1]["driveType"], "documentLibrary");
    let v = body(&t.get(&format!("/sites/{site}/drive"))?);
    assert_eq!(v["id"], json!(docs));
    // The default library is named "Documents"; its URL says "Shared Documents".
    assert_eq!(v["name"], "Documents");
    assert_eq!(
        v["webUrl"],
        "https://contoso.sharepoint.com/sites/Team/Shared%20Documents"
    );
    let v = body(&t.get(&format!("/sites/{site}"))?);
    assert_eq!(
        (v["id"].clone(), v["name"].clone()),
        (json!(site), json!("Team"))
    );
    assert_eq!(t.get("/sites/nope,1,2")?.status, 404);
    Ok(())
}
