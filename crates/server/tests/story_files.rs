//! The files workload end to end (issue 4): a project over HTTP with a real SFTP source (a per-test sshd,
//! logging in with a private key stored as the endpoint's credential) and WebDAV or local targets, the
//! passes run through the file mover, and the source fingerprinted (bytes and mtimes) around every pass.

#![allow(clippy::unwrap_used)] // tests: a panic is a failure with a message

mod common;
mod files_support;

use chrono::TimeDelta;
use common::{OPERATOR_TOKEN, On, TestServer};
use ferry_core::programme::PassKind;
use ferry_server::Clock;
use ferry_server::workload::files::run_pass;
use ferry_store::RunStatus;
use ferry_testkit::s3::S3Server;
use ferry_testkit::sftp::SftpServer;
use ferry_testkit::webdav::WebDavServer;
use files_support::*;
use serde_json::{Value, json};
use std::path::Path;

/// A small department share: nested folders, an empty file, old mtimes.
fn seed_share(root: &Path) {
    for (rel, body) in [
        ("Finance/2024/q1.csv", "quarter,one\n1,2\n"),
        ("Finance/2024/q2.csv", "quarter,two\n3,4\n"),
        ("Finance/readme.txt", "Finance share"),
        ("HR/policies/leave.txt", "25 days"),
        ("HR/empty.txt", ""),
    ] {
        write(root, rel, body.as_bytes(), old_mtime());
    }
}

/// `sftp://127.0.0.1:PORT//abs/path` for a directory on the test sshd.
fn sftp_url(sftp: &SftpServer, dir: &Path) -> String {
    format!("sftp://127.0.0.1:{}/{}", sftp.port(), dir.display())
}

/// A project whose source is `share` on the SFTP server (key login) and whose target is `target_url`.
async fn sftp_project(
    s: &TestServer,
    t: &str,
    sftp: &SftpServer,
    share: &Path,
    target_url: &str,
    target_user: Option<&str>,
) -> String {
    let p = files_project(s, t, true).await;
    endpoint(
        s,
        t,
        &p,
        "source",
        &sftp_url(sftp, share),
        Some(sftp.user()),
        json!({ "known_hosts": sftp.known_hosts_path() }),
    )
    .await;
    let key = std::fs::read_to_string(sftp.client_key_path()).unwrap();
    credential(s, t, &p, "source", &key).await;
    endpoint(s, t, &p, "target", target_url, target_user, json!({})).await;
    p
}

on_both_stores!(
    run_pass_copies_sftp_to_webdav_then_deltas_then_a_final_seals_and_an_expired_credential_fails
);
async fn run_pass_copies_sftp_to_webdav_then_deltas_then_a_final_seals_and_an_expired_credential_fails(
    on: On,
) {
    let sftp = SftpServer::start().unwrap();
    let share = sftp.root().join("share");
    seed_share(&share);
    let dav = WebDavServer::with_auth("bob", "dav-pass-77").unwrap();
    let dav_url = format!("webdav://127.0.0.1:{}/", dav.port());
    let Some(s) = TestServer::start_on_store(on, Default::default()).await else {
        return;
    };
    let t = s.tenant("Contoso", 800).await;
    let p = sftp_project(&s, &t, &sftp, &share, &dav_url, Some("bob")).await;
    credential(&s, &t, &p, "target", "dav-pass-77").await;
    let src = sftp_url(&sftp, &share);
    import(
        &s,
        &t,
        &p,
        &format!("{src},Finance,,{dav_url},Documents,Finance\n"),
    )
    .await
    .ok();
    let (project, mapping) = first_mapping(&s, &t, &p).await;
    let before = fingerprint(&share);
    let on_target = dav.dir().join("Documents/Finance");

    let r = run_pass(&s.state, &project, &mapping, PassKind::Initial)
        .await
        .unwrap();
    assert_eq!(r.status, RunStatus::Done, "{r:?}");
    assert_eq!((r.counters.discovered, r.counters.copied), (3, 3), "{r:?}");
    assert!(r.run_id.is_some());
    assert_eq!(contents(&on_target), contents(&share.join("Finance")));
    assert_eq!(fingerprint(&share), before, "the source changed");

    // A Delta copies only what is new.
    write(
        &share,
        "Finance/2024/q3.csv",
        b"quarter,three\n",
        old_mtime(),
    );
    let before = fingerprint(&share);
    let r = run_pass(&s.state, &project, &mapping, PassKind::Delta)
        .await
        .unwrap();
    assert_eq!((r.status, r.counters.copied), (RunStatus::Done, 1), "{r:?}");
    assert_eq!(contents(&on_target), contents(&share.join("Finance")));
    assert_eq!(fingerprint(&share), before, "the source changed");

    // The Final copies the last change and seals: later passes copy nothing more.
    write(&share, "Finance/late.txt", b"last minute", old_mtime());
    let r = run_pass(&s.state, &project, &mapping, PassKind::Final)
        .await
        .unwrap();
    assert_eq!((r.status, r.counters.copied), (RunStatus::Done, 1), "{r:?}");
    write(&share, "Finance/after-final.txt", b"too late", old_mtime());
    let r = run_pass(&s.state, &project, &mapping, PassKind::Delta)
        .await
        .unwrap();
    assert_eq!((r.status, r.counters.copied), (RunStatus::Done, 0), "{r:?}");
    assert!(!on_target.join("after-final.txt").exists());

    // 71 days later the credentials have expired: the pass fails and says what to do.
    s.advance(TimeDelta::days(71));
    let r = run_pass(&s.state, &project, &mapping, PassKind::Delta)
        .await
        .unwrap();
    assert_eq!(r.status, RunStatus::Failed);
    let why = r.error.unwrap();
    assert!(why.contains("the source endpoint needs"), "{why}");
    assert!(why.contains("expired on"), "{why}");
    assert!(
        why.contains("supply it again with PUT …/endpoints/source/credential"),
        "{why}"
    );
    assert!(!why.contains("BEGIN OPENSSH"), "{why}");
    let tmp = s.dir.path().join("tmp");
    assert!(
        !tmp.exists() || std::fs::read_dir(&tmp).unwrap().next().is_none(),
        "a temporary SSH key was left behind"
    );
}

#[tokio::test]
async fn run_pass_applies_the_onedrive_rules_of_the_target_endpoint() {
    let src = tempfile::tempdir().unwrap();
    write(src.path(), "ok.txt", b"ok", old_mtime());
    write(src.path(), "what?.txt", b"q", old_mtime());
    let dst = tempfile::tempdir().unwrap();
    let s = TestServer::start().await;
    let t = s.tenant("Contoso", 800).await;
    let p = files_project(&s, &t, true).await;
    let (su, tu) = (src.path().to_str().unwrap(), dst.path().to_str().unwrap());
    endpoint(&s, &t, &p, "source", su, None, json!({})).await;
    endpoint(
        &s,
        &t,
        &p,
        "target",
        tu,
        None,
        json!({ "target_rules": "onedrive" }),
    )
    .await;
    import(&s, &t, &p, &format!("{su},,,{tu},,\n")).await.ok();
    let (project, mapping) = first_mapping(&s, &t, &p).await;
    let r = run_pass(&s.state, &project, &mapping, PassKind::Initial)
        .await
        .unwrap();
    assert_eq!((r.status, r.counters.copied), (RunStatus::Done, 2), "{r:?}");
    let names: Vec<String> = contents(dst.path()).into_keys().collect();
    assert!(names.contains(&"ok.txt".to_string()), "{names:?}");
    assert!(
        !names.contains(&"what?.txt".to_string()),
        "a name OneDrive forbids was written as is: {names:?}"
    );
}

#[tokio::test]
async fn run_pass_copies_local_to_s3_with_the_key_id_as_username_and_the_secret_key_as_credential()
{
    let s3 = S3Server::start().unwrap();
    s3.create_bucket("ferry-programme").unwrap();
    let src = tempfile::tempdir().unwrap();
    seed_share(src.path());
    let s = TestServer::start().await;
    let t = s.tenant("Contoso", 800).await;
    let p = files_project(&s, &t, true).await;
    let su = src.path().to_str().unwrap();
    endpoint(&s, &t, &p, "source", su, None, json!({})).await;
    endpoint(
        &s,
        &t,
        &p,
        "target",
        "s3://ferry-programme/migrated",
        Some(s3.access_key()),
        json!({ "s3_endpoint": s3.endpoint(), "region": s3.region() }),
    )
    .await;
    import(
        &s,
        &t,
        &p,
        &format!("{su},HR,,s3://ferry-programme/migrated,,\n"),
    )
    .await
    .ok();
    let (project, mapping) = first_mapping(&s, &t, &p).await;
    // The key id alone is not enough: the pass says which credential to supply.
    let r = run_pass(&s.state, &project, &mapping, PassKind::Initial)
        .await
        .unwrap();
    assert_eq!(r.status, RunStatus::Failed);
    let why = r.error.unwrap();
    assert!(
        why.contains("the target endpoint needs an S3 secret key")
            && why.contains("is not stored")
            && why.contains("PUT …/endpoints/target/credential"),
        "{why}"
    );
    credential(&s, &t, &p, "target", s3.secret_key()).await;
    let r = run_pass(&s.state, &project, &mapping, PassKind::Initial)
        .await
        .unwrap();
    assert_eq!((r.status, r.counters.copied), (RunStatus::Done, 2), "{r:?}");
    let mut keys: Vec<String> = s3
        .objects("ferry-programme")
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    keys.sort();
    assert_eq!(keys, ["migrated/empty.txt", "migrated/policies/leave.txt"]);
    assert_eq!(
        s3.get_object("ferry-programme", "migrated/policies/leave.txt")
            .unwrap()
            .unwrap(),
        b"25 days"
    );
}

fn arr(v: &Value) -> &Vec<Value> {
    v.as_array().unwrap_or_else(|| panic!("not an array: {v}"))
}

on_both_stores!(the_files_workload_end_to_end_over_the_api);
async fn the_files_workload_end_to_end_over_the_api(on: On) {
    let sftp = SftpServer::start().unwrap();
    let share = sftp.root().join("share");
    seed_share(&share);
    let target = tempfile::tempdir().unwrap();
    let tgt = target.path().to_str().unwrap().to_owned();
    let Some(s) = TestServer::start_on_store(on, Default::default()).await else {
        return;
    };
    let t = s.tenant("Contoso", 800).await;
    // Endpoints and the key first; the gates stay open for now.
    let p = files_project(&s, &t, false).await;
    let src = sftp_url(&sftp, &share);
    endpoint(
        &s,
        &t,
        &p,
        "source",
        &src,
        Some(sftp.user()),
        json!({ "known_hosts": sftp.known_hosts_path() }),
    )
    .await;
    let key = std::fs::read_to_string(sftp.client_key_path()).unwrap();
    credential(&s, &t, &p, "source", &key).await;
    endpoint(&s, &t, &p, "target", &tgt, None, json!({})).await;
    let creds = s
        .get(OPERATOR_TOKEN, &at(&t, &p, "/credentials"))
        .await
        .ok();
    assert!(!creds.to_string().contains("OPENSSH"), "{creds}");

    // SPMT import: a bad row refuses the whole file, naming its line and field.
    let header = "Source,SourceDocLib,SourceSubFolder,TargetWeb,TargetDocLib,TargetSubFolder";
    let bad = import(
        &s,
        &t,
        &p,
        &format!("{header}\n{src},Finance,,{tgt},Documents,Finance\n{src},HR,,,Documents,HR\n"),
    )
    .await
    .err(400);
    let msg = bad["message"].as_str().unwrap();
    assert!(msg.contains("line 3") && msg.contains("TargetWeb"), "{bad}");
    assert!(mappings(&s, &t, &p).await.is_empty(), "half imported");
    import(
        &s,
        &t,
        &p,
        &format!(
            "{header}\n{src},Finance,,{tgt},Documents,Finance\n{src},HR,,{tgt},Documents,HR\n"
        ),
    )
    .await
    .ok();
    let ms = mappings(&s, &t, &p).await;
    let ids: Vec<&str> = ms.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 2);
    let fin = ids[0];

    // No event while a gate is open; the refusal names the open gates.
    let now = s.clock.now();
    let pilot = json!({ "name": "Pilot", "kind": "synchronization", "pilot": true, "start": now, "mappings": ids });
    let e = s
        .post(OPERATOR_TOKEN, &at(&t, &p, "/events"), pilot.clone())
        .await
        .err(409);
    assert!(e["message"].as_str().unwrap().contains("gate"), "{e}");
    confirm_gates(&s, &t, &p).await;

    // The assessment finds nothing to block: the project is Ready.
    let (_, latest) = assess(&s, &t, &p).await;
    assert_eq!(latest["report"]["ready"], true, "{latest}");
    assert_eq!(latest["report"]["totals"]["inventory"]["files"], 5);
    assert_eq!(project_state(&s, &t, &p).await, "ready");

    // The pilot (lead time 0) runs the Initial passes.
    let before = fingerprint(&share);
    let ev = s
        .post(OPERATOR_TOKEN, &at(&t, &p, "/events"), pilot)
        .await
        .ok();
    let pilot_id = ev["result"]["id"].as_str().unwrap().to_owned();
    ferry_server::scheduler::settle(&s.state).await.unwrap();
    let on_target = target.path().join("Documents");
    assert_eq!(contents(&on_target.join("Finance")).len(), 3);
    assert_eq!(contents(&on_target.join("HR")).len(), 2);
    assert_eq!(
        contents(&on_target.join("Finance")),
        contents(&share.join("Finance"))
    );
    assert_eq!(contents(&on_target.join("HR")), contents(&share.join("HR")));
    let mtime = |p: &Path| std::fs::metadata(p).unwrap().modified().unwrap();
    assert_eq!(
        mtime(&on_target.join("Finance/readme.txt")),
        mtime(&share.join("Finance/readme.txt")),
        "mtime lost"
    );
    assert_eq!(fingerprint(&share), before, "the source changed");
    assert_eq!(project_state(&s, &t, &p).await, "migrating");
    let report = s
        .get(
            OPERATOR_TOKEN,
            &at(&t, &p, &format!("/events/{pilot_id}/report")),
        )
        .await
        .ok();
    assert!(
        !report.to_string().contains("OPENSSH"),
        "a secret in the report"
    );
    assert_eq!(report["grade"], "Perfect", "{report}");
    assert_eq!(report["event"]["state"], "done", "{report}");
    // Every discovered file is accounted for, per item.
    let items = s
        .get(
            OPERATOR_TOKEN,
            &at(&t, &p, &format!("/events/{pilot_id}/items?format=json")),
        )
        .await
        .ok();
    assert_eq!(items["count"], 5, "{items}");
    let readme = arr(&items["items"])
        .iter()
        .find(|i| i["path"] == "readme.txt")
        .unwrap_or_else(|| panic!("{items}"));
    assert_eq!(readme["status"], "copied", "{readme}");
    assert_eq!(readme["pass_kind"], "initial", "{readme}");

    // A day later the Delta copies the new file only.
    write(
        &share,
        "Finance/2024/q3.csv",
        b"quarter,three\n",
        old_mtime(),
    );
    let before = fingerprint(&share);
    s.advance(TimeDelta::hours(24));
    ferry_server::scheduler::settle(&s.state).await.unwrap();
    assert_eq!(
        std::fs::read(on_target.join("Finance/2024/q3.csv")).unwrap(),
        b"quarter,three\n"
    );
    assert_eq!(fingerprint(&share), before, "the source changed");

    // The Completion event (3 days' lead time) runs the Final passes and completes the project.
    let too_soon = json!({ "name": "Cutover", "kind": "completion", "start": s.clock.now() + TimeDelta::hours(1), "mappings": ids });
    s.post(OPERATOR_TOKEN, &at(&t, &p, "/events"), too_soon)
        .await
        .err(409);
    let cutover = json!({ "name": "Cutover", "kind": "completion", "start": s.clock.now() + TimeDelta::hours(72), "mappings": ids });
    let ev = s
        .post(OPERATOR_TOKEN, &at(&t, &p, "/events"), cutover)
        .await
        .ok();
    let cutover_id = ev["result"]["id"].as_str().unwrap().to_owned();
    write(&share, "HR/new-starter.txt", b"welcome", old_mtime());
    let before = fingerprint(&share);
    s.advance(TimeDelta::hours(72));
    ferry_server::scheduler::settle(&s.state).await.unwrap();
    assert_eq!(
        std::fs::read(on_target.join("HR/new-starter.txt")).unwrap(),
        b"welcome"
    );
    assert_eq!(fingerprint(&share), before, "the source changed");
    let ev = s
        .get(
            OPERATOR_TOKEN,
            &at(&t, &p, &format!("/events/{cutover_id}")),
        )
        .await
        .ok();
    assert_eq!(ev["state"], "completed", "{ev}");
    assert_eq!(project_state(&s, &t, &p).await, "completed");
    let events = s.get(OPERATOR_TOKEN, &at(&t, &p, "/events")).await.ok();
    assert!(
        arr(&events["events"])
            .iter()
            .all(|e| e["state"] == "completed"),
        "{events}"
    );

    // Sealed: nothing more is copied.
    write(&share, "Finance/after.txt", b"too late", old_mtime());
    s.advance(TimeDelta::hours(24));
    ferry_server::scheduler::settle(&s.state).await.unwrap();
    assert!(!on_target.join("Finance/after.txt").exists());

    // Tickets within 5 days of the event's completion; refused after, with the reason.
    s.post(
        OPERATOR_TOKEN,
        &at(&t, &p, "/tickets"),
        json!({ "mapping": fin, "title": "a file is missing", "body": "q4?" }),
    )
    .await
    .ok();
    s.advance(TimeDelta::days(6));
    let late = s
        .post(
            OPERATOR_TOKEN,
            &at(&t, &p, "/tickets"),
            json!({ "mapping": fin, "title": "another", "body": "" }),
        )
        .await
        .err(409);
    assert!(late["message"].as_str().unwrap().contains('5'), "{late}");
}
