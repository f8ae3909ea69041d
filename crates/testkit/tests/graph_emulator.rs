//! The Graph emulator itself: each documented behaviour listed in `ferry_testkit::graph`'s module doc,
//! as an HTTP request and the documented answer.

use ferry_testkit::graph::{
    GraphEmulator, GraphOptions, SessionStatus, ThrottleOptions, quick_xor_hash,
};
use ferry_testkit::http::{Body, HttpResponse, RawHttp};
use serde_json::{Value, json};
use std::io;
use std::time::Duration;

type R = io::Result<()>;

struct T {
    g: GraphEmulator,
    c: RawHttp,
    auth: String,
    drive: String,
}

fn setup(opts: GraphOptions) -> io::Result<T> {
    let g = GraphEmulator::start(opts)?;
    let drive = g.add_user("alice@contoso.com");
    let c = RawHttp::connect(g.addr())?;
    let auth = format!("Bearer {}", g.token());
    Ok(T { g, c, auth, drive })
}

fn body(r: &HttpResponse) -> Value {
    serde_json::from_slice(&r.body).unwrap_or(Value::Null)
}

fn code(r: &HttpResponse) -> String {
    body(r)["error"]["code"].as_str().unwrap_or("").to_owned()
}

fn inner(r: &HttpResponse) -> String {
    body(r)["error"]["innerError"]["code"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

impl T {
    fn req(&mut self, method: &str, path: &str, b: Body<'_>) -> io::Result<HttpResponse> {
        let target = if path.starts_with("http") {
            path.split_once("//")
                .and_then(|(_, r)| r.find('/').map(|i| r[i..].to_owned()))
                .unwrap_or_default()
        } else {
            format!("/v1.0{path}")
        };
        let auth = self.auth.clone();
        self.c.request(
            method,
            &target,
            &[
                ("Authorization", auth.as_str()),
                ("Content-Type", "application/json"),
            ],
            b,
        )
    }

    fn get(&mut self, path: &str) -> io::Result<HttpResponse> {
        self.req("GET", path, Body::None)
    }

    fn json(&mut self, method: &str, path: &str, v: &Value) -> io::Result<HttpResponse> {
        let s = v.to_string();
        self.req(method, path, Body::Bytes(s.as_bytes()))
    }

    fn put(&mut self, path: &str, bytes: &[u8]) -> io::Result<HttpResponse> {
        self.req("PUT", path, Body::Bytes(bytes))
    }

    fn d(&self) -> String {
        format!("/drives/{}", self.drive)
    }

    /// A request to an upload URL (absolute), without Authorization.
    fn upload(
        &mut self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        b: Body<'_>,
    ) -> io::Result<HttpResponse> {
        let target = url
            .split_once("//")
            .and_then(|(_, r)| r.find('/').map(|i| r[i..].to_owned()))
            .unwrap_or_default();
        RawHttp::connect(self.g.addr())?.request(method, &target, headers, b)
    }

    fn fragment(
        &mut self,
        url: &str,
        data: &[u8],
        start: u64,
        total: u64,
    ) -> io::Result<HttpResponse> {
        let range = format!("bytes {start}-{}/{total}", start + data.len() as u64 - 1);
        self.upload(
            "PUT",
            url,
            &[("Content-Range", range.as_str())],
            Body::Bytes(data),
        )
    }

    fn session(&mut self, path: &str, item: Value) -> io::Result<String> {
        let d = self.d();
        let r = self.json(
            "POST",
            &format!("{d}/root:/{path}:/createUploadSession"),
            &json!({ "item": item }),
        )?;
        assert_eq!(r.status, 200, "{}", r.text());
        Ok(body(&r)["uploadUrl"].as_str().unwrap_or("").to_owned())
    }
}

const MULT: usize = 327_680;

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

// ---- auth ----

#[test]
fn requests_without_a_valid_bearer_token_get_401_with_the_error_resource() -> R {
    let mut t = setup(GraphOptions::default())?;
    let d = t.d();
    for auth in [
        String::new(),
        "Bearer ".into(),
        "Bearer not.a.jwt".into(),
        format!("Bearer {}", t.g.token_for(-60, false)),
        format!(
            "Bearer {}",
            ferry_testkit::graph::auth::mint(
                b"another key",
                &t.g.tenant_id(),
                "https://graph.microsoft.com",
                600,
                false
            )
        ),
        format!(
            "Bearer {}",
            ferry_testkit::graph::auth::mint(
                &t.g.jwt_key(),
                &t.g.tenant_id(),
                "https://outlook.office365.com",
                600,
                false
            )
        ),
    ] {
        t.auth = auth;
        let r = t.get(&d)?;
        assert_eq!(r.status, 401, "{}", r.text());
        assert_eq!(code(&r), "unauthenticated");
        assert!(body(&r)["error"]["innerError"]["request-id"].is_string());
    }
    t.auth = format!("Bearer {}", t.g.token());
    assert_eq!(t.get(&d)?.status, 200);
    assert_eq!(t.g.stats().unauthorized, 6);
    Ok(())
}

#[test]
fn tokens_from_the_identity_emulator_are_accepted_when_the_graph_trusts_its_key() -> R {
    use ferry_testkit::identity::{App, Identity};
    let tenant = "11111111-2222-3333-4444-555555555555";
    let id = Identity::start()?;
    id.add_tenant(tenant, &["contoso.onmicrosoft.com"]);
    id.add_app(
        tenant,
        App::new("ferry")
            .with_secret("s3cret")
            .with_role("Sites.ReadWrite.All"),
    );
    let form = "grant_type=client_credentials&client_id=ferry&client_secret=s3cret\
                &scope=https%3A%2F%2Fgraph.microsoft.com%2F.default";
    let r = RawHttp::connect(id.addr())?.request(
        "POST",
        &format!("/{tenant}/oauth2/v2.0/token"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Body::Bytes(form.as_bytes()),
    )?;
    assert_eq!(r.status, 200, "{}", r.text());
    let token = body(&r)["access_token"].as_str().unwrap_or("").to_owned();
    let g = GraphEmulator::start(GraphOptions::trusting(id.jwt_key(), tenant))?;
    let drive = g.add_user("alice@contoso.com");
    let auth = format!("Bearer {token}");
    let mut c = RawHttp::connect(g.addr())?;
    let r = c.request(
        "GET",
        &format!("/v1.0/drives/{drive}"),
        &[("Authorization", auth.as_str())],
        Body::None,
    )?;
    assert_eq!(r.status, 200, "{}", r.text());
    // A Graph that trusts another key refuses it.
    let other = GraphEmulator::start(GraphOptions::default())?;
    let d2 = other.add_user("alice@contoso.com");
    let r = RawHttp::connect(other.addr())?.request(
        "GET",
        &format!("/v1.0/drives/{d2}"),
        &[("Authorization", auth.as_str())],
        Body::None,
    )?;
    assert_eq!(r.status, 401);
    Ok(())
}

#[test]
fn app_only_tokens_need_the_documented_application_permissions() -> R {
    let mut t = setup(GraphOptions::default())?;
    let d = t.d();
    let with_roles = |t: &T, roles: &[&str]| {
        let now = chrono::Utc::now().timestamp();
        let claims = json!({"aud": "https://graph.microsoft.com", "tid": t.g.tenant_id(), "roles": roles,
                            "nbf": now - 5, "exp": now + 600});
        format!(
            "Bearer {}",
            ferry_testkit::graph::auth::sign(&t.g.jwt_key(), &claims)
        )
    };
    t.auth = with_roles(&t, &[]);
    let r = t.get(&d)?;
    assert_eq!((r.status, code(&r)), (403, "accessDenied".into()));
    t.auth = with_roles(&t, &["Files.Read.All"]);
    assert_eq!(t.get(&d)?.status, 200);
    let r = t.put(&format!("{d}/root:/a.txt:/content"), b"x")?;
    assert_eq!(r.status, 403);
    t.auth = with_roles(&t, &["Files.ReadWrite.All"]);
    assert_eq!(
        t.put(&format!("{d}/root:/a.txt:/content"), b"x")?.status,
        201
    );
    let r = t.json(
        "POST",
        &format!("{d}/root:/b.bin:/createUploadSession"),
        &json!({}),
    )?;
    assert_eq!(
        r.status, 403,
        "createUploadSession lists only Sites.ReadWrite.All for applications"
    );
    t.auth = with_roles(&t, &["Sites.ReadWrite.All"]);
    assert_eq!(
        t.json(
            "POST",
            &format!("{d}/root:/b.bin:/createUploadSession"),
            &json!({})
        )?
        .status,
        200
    );
    // Delegated tokens carry scopes, not roles: not checked here.
    t.auth = format!("Bearer {}", t.g.token_for(600, true));
    assert_eq!(
        t.put(&format!("{d}/root:/c.txt:/content"), b"x")?.status,
        201
    );
    Ok(())
}

// ---- drives and sites ----

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
    let v = body(&t.get(&format!("/sites/{site}"))?);
    assert_eq!(
        (v["id"].clone(), v["name"].clone()),
        (json!(site), json!("Team"))
    );
    assert_eq!(t.get("/sites/nope,1,2")?.status, 404);
    Ok(())
}

// ---- items, children, folders ----

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

// ---- names ----

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

// ---- simple upload and download ----

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

// ---- upload sessions ----

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
    let opts = GraphOptions {
        session_lifetime: Duration::from_millis(300),
        ..GraphOptions::default()
    };
    let mut t = setup(opts)?;
    let url = t.session("x.bin", json!({}))?;
    assert_eq!(t.upload("DELETE", &url, &[], Body::None)?.status, 204);
    assert_eq!(t.fragment(&url, b"abc", 0, 3)?.status, 404);
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

// ---- delta ----

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

// ---- throttling and faults ----

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
    assert_eq!(t.get(&d)?.status, 200);
    assert_eq!(t.get(&d)?.status, 200);
    let r = t.get(&d)?;
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
