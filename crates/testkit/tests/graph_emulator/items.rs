//! Items by path and id, children pages, folders, fileSystemInfo.

use crate::common::*;

#[test]
fn items_resolve_by_path_and_by_id_with_the_documented_properties() -> R {
    let mut t = setup(GraphOptions::default())?;
    let mtime = chrono::DateTime::parse_from_rfc3339("2020-02-03T04:05:06Z")
        .map_err(io::Error::other)?
        .with_timezone(&chrono::Utc);
    let id =
        t.g.seed_file(&t.drive, "My Docs/a b#%.txt", b"hello world", Some(mtime))?;
    let d = t.d();
    let r = t.get(&format!("{d}/root:/My%20Docs/a%20b%23%25.txt:"))?;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = body(&r);
    assert_eq!(v["id"], json!(id));
    assert_eq!(v["name"], "a b#%.txt");
    assert_eq!(v["size"], 11);
    assert_eq!(
        v["file"]["hashes"]["quickXorHash"],
        "aCgDG9jwBhDc4Q1yawMZAAAAAAA="
    );
    assert_eq!(
        v["fileSystemInfo"]["lastModifiedDateTime"],
        "2020-02-03T04:05:06Z"
    );
    assert_eq!(
        v["parentReference"]["path"],
        json!(format!("/drives/{}/root:/My%20Docs", t.drive))
    );
    assert!(v["eTag"].is_string() && v["cTag"].is_string());
    assert_eq!(
        v["webUrl"],
        "https://contoso-my.sharepoint.com/personal/alice_contoso_com/Documents/My%20Docs/a%20b%23%25.txt"
    );
    assert!(v["@microsoft.graph.downloadUrl"].is_string());
    let by_id = body(&t.get(&format!("{d}/items/{id}"))?);
    assert_eq!(by_id["name"], v["name"]);
    let folder = body(&t.get(&format!("{d}/root:/my%20docs"))?);
    assert_eq!(
        folder["folder"]["childCount"], 1,
        "paths are case-insensitive"
    );
    let fid = folder["id"].as_str().unwrap_or("").to_owned();
    assert_eq!(
        body(&t.get(&format!("{d}/items/{fid}:/A%20B%23%25.TXT:"))?)["id"],
        json!(id)
    );
    let root = body(&t.get(&format!("{d}/root"))?);
    assert!(root["root"].is_object());
    let r = t.get(&format!("{d}/root:/missing.txt:"))?;
    assert_eq!((r.status, code(&r)), (404, "itemNotFound".into()));
    Ok(())
}

#[test]
fn children_come_in_pages_of_top_chained_by_next_link() -> R {
    let mut t = setup(GraphOptions::default())?;
    for i in 0..7 {
        t.g.seed_file(&t.drive, &format!("dir/f{i}.txt"), b"x", None)?;
    }
    let d = t.d();
    let mut names = Vec::new();
    let mut pages = 0;
    let mut next = Some(format!("{d}/root:/dir:/children?$top=3"));
    while let Some(url) = next.take() {
        let v = body(&t.get(&url)?);
        pages += 1;
        for it in v["value"].as_array().into_iter().flatten() {
            names.push(it["name"].as_str().unwrap_or("").to_owned());
        }
        next = v["@odata.nextLink"].as_str().map(str::to_owned);
    }
    assert_eq!(pages, 3);
    assert_eq!(
        names,
        (0..7).map(|i| format!("f{i}.txt")).collect::<Vec<_>>()
    );
    let v = body(&t.get(&format!("{d}/root:/dir:/children"))?);
    assert_eq!(v["value"].as_array().map(Vec::len), Some(7));
    assert!(v.get("@odata.nextLink").is_none());
    Ok(())
}

#[test]
fn children_by_item_id_and_delete_by_id_answer_as_documented() -> R {
    let mut t = setup(GraphOptions::default())?;
    let dir = t.g.seed_folder(&t.drive, "d")?;
    let f = t.g.seed_file(&t.drive, "d/x.txt", b"x", None)?;
    let d = t.d();
    let v = body(&t.get(&format!("{d}/items/{dir}/children"))?);
    assert_eq!(v["value"][0]["id"], json!(f));
    let r = t.req("DELETE", &format!("{d}/items/{f}"), Body::None)?;
    assert_eq!(r.status, 204);
    assert_eq!(t.get(&format!("{d}/items/{f}"))?.status, 404);
    assert_eq!(
        body(&t.get(&format!("{d}/items/{dir}"))?)["folder"]["childCount"],
        0
    );
    Ok(())
}

#[test]
fn create_folder_honours_conflict_behaviour_and_file_system_info() -> R {
    let mut t = setup(GraphOptions::default())?;
    let d = t.d();
    let mk = json!({"name": "Reports", "folder": {}, "@microsoft.graph.conflictBehavior": "fail",
                    "fileSystemInfo": {"createdDateTime": "2001-01-01T00:00:00Z", "lastModifiedDateTime": "2002-02-02T02:02:02.750Z"}});
    let r = t.json("POST", &format!("{d}/root/children"), &mk)?;
    assert_eq!(r.status, 201, "{}", r.text());
    let v = body(&r);
    assert_eq!(v["folder"]["childCount"], 0);
    assert_eq!(
        v["fileSystemInfo"]["createdDateTime"],
        "2001-01-01T00:00:00Z"
    );
    assert_eq!(
        v["fileSystemInfo"]["lastModifiedDateTime"],
        "2002-02-02T02:02:02Z"
    );
    let again =
        json!({"name": "reports", "folder": {}, "@microsoft.graph.conflictBehavior": "fail"});
    let r = t.json("POST", &format!("{d}/root/children"), &again)?;
    assert_eq!((r.status, code(&r)), (409, "nameAlreadyExists".into()));
    let absent = json!({"name": "REPORTS", "folder": {}});
    assert_eq!(
        t.json("POST", &format!("{d}/root/children"), &absent)?
            .status,
        409
    );
    let rename =
        json!({"name": "Reports", "folder": {}, "@microsoft.graph.conflictBehavior": "rename"});
    let r = t.json("POST", &format!("{d}/root/children"), &rename)?;
    assert_eq!(body(&r)["name"], "Reports 1");
    let r = t.json(
        "POST",
        &format!("{d}/root:/Reports:/children"),
        &json!({"name": "sub", "folder": {}}),
    )?;
    assert_eq!(r.status, 201);
    assert_eq!(
        body(&r)["parentReference"]["path"],
        json!(format!("/drives/{}/root:/Reports", t.drive))
    );
    Ok(())
}

#[test]
fn file_system_info_is_settable_by_patch_and_resets_on_a_content_update_without_it() -> R {
    let mut t = setup(GraphOptions::default())?;
    let d = t.d();
    let r = t.put(&format!("{d}/root:/f.txt:/content"), b"one")?;
    let id = body(&r)["id"].as_str().unwrap_or("").to_owned();
    let patch = json!({"fileSystemInfo": {"lastModifiedDateTime": "2010-10-10T10:10:10Z", "createdDateTime": "2009-09-09T09:09:09Z"}});
    let r = t.json("PATCH", &format!("{d}/items/{id}"), &patch)?;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        body(&r)["fileSystemInfo"]["lastModifiedDateTime"],
        "2010-10-10T10:10:10Z"
    );
    let r = t.put(&format!("{d}/items/{id}/content"), b"two")?;
    assert_eq!(r.status, 200);
    let v = body(&r);
    assert_eq!(
        v["fileSystemInfo"]["createdDateTime"],
        "2009-09-09T09:09:09Z"
    );
    assert_ne!(
        v["fileSystemInfo"]["lastModifiedDateTime"],
        "2010-10-10T10:10:10Z"
    );
    Ok(())
}
