//! Assessments of file projects over HTTP, against real servers (rclone serve webdav, a per-test sshd) and
//! local paths: findings per path under the target rules, the readiness report, the transaction from
//! in_progress to completed, the project Draft → Assessing → Ready, and bad or missing credentials.

#![allow(clippy::unwrap_used)] // tests: a panic is a failure with a message

mod common;
mod files_support;

use common::{OPERATOR_TOKEN, TestServer};
use ferry_testkit::sftp::SftpServer;
use ferry_testkit::webdav::WebDavServer;
use files_support::*;
use serde_json::{Value, json};

/// A name segment of `n` characters.
fn seg(c: char, n: usize) -> String {
    std::iter::repeat_n(c, n).collect()
}

fn finding<'a>(report: &'a Value, path: &str) -> &'a Value {
    report["mappings"][0]["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["path"] == path)
        .unwrap_or_else(|| panic!("no finding for {path}: {report}"))
}

#[tokio::test]
async fn forbidden_names_and_a_too_long_path_are_findings_per_path_and_the_project_is_not_ready() {
    let dav = WebDavServer::with_auth("alice", "dav-secret-1").unwrap();
    let share = dav.dir().join("Shared");
    let long = format!("{}/{}/{}.txt", seg('a', 150), seg('b', 150), seg('c', 120));
    for (rel, body) in [
        ("ok.txt", "fine"),
        ("bad:name?.txt", "colon"),
        ("Reports/ trailing space.txt", "space"),
        ("CON", "reserved"),
        (long.as_str(), "deep"),
    ] {
        write(&share, rel, body.as_bytes(), old_mtime());
    }
    let target = tempfile::tempdir().unwrap();
    let s = TestServer::start().await;
    let t = s.tenant("Contoso", 800).await;
    let p = files_project(&s, &t, true).await;
    let url = format!("webdav://127.0.0.1:{}/", dav.port());
    endpoint(&s, &t, &p, "source", &url, Some("alice"), json!({})).await;
    credential(&s, &t, &p, "source", "dav-secret-1").await;
    let tgt = target.path().to_str().unwrap();
    endpoint(
        &s,
        &t,
        &p,
        "target",
        tgt,
        None,
        json!({ "target_rules": "onedrive" }),
    )
    .await;
    import(&s, &t, &p, &format!("{url},Shared,,{tgt},Documents,\n"))
        .await
        .ok();
    let before = fingerprint(dav.dir());

    let (started, latest) = assess(&s, &t, &p).await;
    assert_eq!(started["transaction"]["status"], "in_progress", "{started}");
    assert_eq!(started["result"]["project_state"], "assessing");
    let txn = started["transaction"]["id"].as_str().unwrap();
    let done = transaction(&s, &t, txn).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert!(
        done["detail"].as_str().unwrap().contains("not ready"),
        "{done}"
    );

    assert_eq!(latest["assessment"]["status"], "done", "{latest}");
    let report = &latest["report"];
    assert_eq!(report["ready"], false, "{report}");
    let m = &report["mappings"][0];
    assert_eq!(m["ready"], false);
    assert_eq!(m["target_rules"], "onedrive");
    assert_eq!(m["inventory"]["files"], 5, "{m}");
    assert_eq!(finding(report, "bad:name?.txt")["rule"], "name_mapped");
    assert_eq!(finding(report, "bad:name?.txt")["action"], "rename");
    assert_eq!(finding(report, "CON")["rule"], "name_mapped");
    assert_eq!(
        finding(report, "Reports/ trailing space.txt")["action"],
        "rename"
    );
    let too_long = finding(report, &long);
    assert_eq!(too_long["rule"], "path_too_long", "{too_long}");
    assert_eq!(too_long["action"], "skip");
    assert!(
        too_long["detail"].as_str().unwrap().contains("400"),
        "{too_long}"
    );
    assert!(
        report["mappings"][0]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["path"] != "ok.txt"),
        "a fine name is no finding"
    );
    assert_eq!(m["findings_total"], 4);
    assert_eq!(report["totals"]["mappings"], 1);
    assert_eq!(report["totals"]["ready_mappings"], 0);
    assert_eq!(report["totals"]["findings"], 4);
    assert_eq!(report["totals"]["inventory"]["files"], 5);
    assert_eq!(report["self_service"], false);
    // Not ready: the project waits in Assessing for the findings to be dealt with.
    assert_eq!(project_state(&s, &t, &p).await, "assessing");
    // The source was only read.
    assert_eq!(fingerprint(dav.dir()), before);
    assert!(
        std::fs::read_dir(target.path()).unwrap().next().is_none(),
        "an assessment writes nothing to the target"
    );
}

#[tokio::test]
async fn a_clean_tree_over_sftp_makes_the_project_ready_and_a_guidance_only_tenant_gets_the_notice()
{
    let sftp = SftpServer::start().unwrap();
    write(&sftp.root().join("dept"), "a.txt", b"alpha", old_mtime());
    write(
        &sftp.root().join("dept"),
        "sub/b.txt",
        b"bravo!",
        old_mtime(),
    );
    let target = tempfile::tempdir().unwrap();
    let s = TestServer::start().await;
    let t = s.tenant("Fabrikam", 300).await;
    let p = files_project(&s, &t, false).await;
    let url = format!("sftp://127.0.0.1:{}/{}", sftp.port(), sftp.root().display());
    endpoint(
        &s,
        &t,
        &p,
        "source",
        &url,
        Some(sftp.user()),
        json!({ "known_hosts": sftp.known_hosts_path() }),
    )
    .await;
    let key = std::fs::read_to_string(sftp.client_key_path()).unwrap();
    credential(&s, &t, &p, "source", &key).await;
    let tgt = target.path().to_str().unwrap();
    endpoint(&s, &t, &p, "target", tgt, None, json!({})).await;
    import(&s, &t, &p, &format!("{url},dept,,{tgt},,\n"))
        .await
        .ok();
    assert_eq!(project_state(&s, &t, &p).await, "draft");

    let (started, latest) = assess(&s, &t, &p).await;
    let txn = started["transaction"]["id"].as_str().unwrap();
    assert_eq!(transaction(&s, &t, txn).await["status"], "completed");
    let report = &latest["report"];
    assert_eq!(latest["assessment"]["status"], "done", "{latest}");
    assert_eq!(report["ready"], true, "{report}");
    assert_eq!(report["mappings"][0]["inventory"]["files"], 2);
    assert_eq!(report["mappings"][0]["inventory"]["bytes"], 11);
    assert_eq!(report["mappings"][0]["findings"], json!([]));
    assert_eq!(report["self_service"], true);
    assert!(
        report["notice"]
            .as_str()
            .unwrap()
            .starts_with("Self-service"),
        "{report}"
    );
    assert_eq!(project_state(&s, &t, &p).await, "ready");
    // Assessed again from Ready: Assessing, then Ready again.
    let (again, latest) = assess(&s, &t, &p).await;
    assert_eq!(again["result"]["project_state"], "assessing");
    assert_eq!(latest["report"]["ready"], true);
    assert_ne!(latest["assessment"]["id"], report["assessment"]);
    assert_eq!(project_state(&s, &t, &p).await, "ready");
    let audit = s
        .get(OPERATOR_TOKEN, &format!("/api/v1/tenants/{t}/audit"))
        .await
        .ok();
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .or_else(|| audit["audit"].as_array())
        .unwrap_or_else(|| panic!("{audit}"))
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(actions.contains(&"assessment.run"), "{actions:?}");
    assert!(actions.contains(&"project.assessed"), "{actions:?}");
    // No temporary key file is left behind.
    let tmp = s.dir.path().join("tmp");
    assert!(
        !tmp.exists() || std::fs::read_dir(&tmp).unwrap().next().is_none(),
        "the SSH key was not deleted"
    );
}

#[tokio::test]
async fn a_wrong_password_fails_the_assessment_with_the_reason_and_without_the_secret() {
    let dav = WebDavServer::with_auth("alice", "the-right-one").unwrap();
    write(dav.dir(), "x.txt", b"x", old_mtime());
    let s = TestServer::start().await;
    let t = s.tenant("Contoso", 800).await;
    let p = files_project(&s, &t, true).await;
    let url = format!("webdav://127.0.0.1:{}/", dav.port());
    endpoint(&s, &t, &p, "source", &url, Some("alice"), json!({})).await;
    credential(&s, &t, &p, "source", "wr0ng-pa55word").await;
    endpoint(&s, &t, &p, "target", "/tmp/unused", None, json!({})).await;
    import(&s, &t, &p, &format!("{url},,,/tmp/unused,,\n"))
        .await
        .ok();

    let (started, latest) = assess(&s, &t, &p).await;
    assert_eq!(started["transaction"]["status"], "in_progress");
    assert_eq!(latest["assessment"]["status"], "failed", "{latest}");
    let reason = latest["assessment"]["reason"].as_str().unwrap();
    assert!(reason.contains("1 of 1 mappings"), "{reason}");
    assert!(reason.contains("cannot read the source"), "{reason}");
    assert_eq!(latest["report"]["mappings"][0]["ready"], false);
    let txn = transaction(&s, &t, started["transaction"]["id"].as_str().unwrap()).await;
    assert_eq!(txn["status"], "failed", "{txn}");
    assert!(txn["detail"].as_str().unwrap().contains("failed"), "{txn}");
    assert!(!latest.to_string().contains("wr0ng-pa55word"));
    assert!(!txn.to_string().contains("wr0ng-pa55word"));
    assert_eq!(project_state(&s, &t, &p).await, "assessing");
}

#[tokio::test]
async fn a_missing_credential_fails_the_assessment_saying_to_supply_it_again() {
    let dav = WebDavServer::with_auth("alice", "pw").unwrap();
    let s = TestServer::start().await;
    let t = s.tenant("Contoso", 800).await;
    let p = files_project(&s, &t, true).await;
    let url = format!("webdav://127.0.0.1:{}/", dav.port());
    endpoint(&s, &t, &p, "source", &url, Some("alice"), json!({})).await;
    endpoint(&s, &t, &p, "target", "/tmp/unused", None, json!({})).await;
    import(&s, &t, &p, &format!("{url},,,/tmp/unused,,\n"))
        .await
        .ok();
    let (_, latest) = assess(&s, &t, &p).await;
    assert_eq!(latest["assessment"]["status"], "failed", "{latest}");
    let reason = latest["assessment"]["reason"].as_str().unwrap();
    assert!(reason.contains("needs a WebDAV password"), "{reason}");
    assert!(
        reason.contains("supply it again with PUT …/endpoints/source/credential"),
        "{reason}"
    );
    // Supplied, the next assessment passes and the project becomes Ready.
    credential(&s, &t, &p, "source", "pw").await;
    let (_, latest) = assess(&s, &t, &p).await;
    assert_eq!(latest["assessment"]["status"], "done", "{latest}");
    assert_eq!(project_state(&s, &t, &p).await, "ready");
}

#[tokio::test]
async fn assessments_are_refused_without_mappings_and_for_closed_or_paused_projects_and_latest_is_404_before_any()
 {
    let s = TestServer::start().await;
    let t = s.tenant("Contoso", 800).await;
    let p = files_project(&s, &t, false).await;
    let none = s
        .get(OPERATOR_TOKEN, &at(&t, &p, "/assessments/latest"))
        .await
        .err(404);
    assert!(
        none["message"]
            .as_str()
            .unwrap()
            .contains("no assessment yet"),
        "{none}"
    );
    let e = s
        .post(OPERATOR_TOKEN, &at(&t, &p, "/assessments"), json!({}))
        .await
        .err(409);
    assert!(
        e["message"].as_str().unwrap().contains("import them first"),
        "{e}"
    );
    let src = tempfile::tempdir().unwrap();
    let src = src.path().to_str().unwrap();
    endpoint(&s, &t, &p, "source", src, None, json!({})).await;
    endpoint(&s, &t, &p, "target", "/tmp/unused", None, json!({})).await;
    import(&s, &t, &p, &format!("{src},,,/tmp/unused,,\n"))
        .await
        .ok();
    s.post(OPERATOR_TOKEN, &at(&t, &p, "/close"), json!({}))
        .await
        .ok();
    let e = s
        .post(OPERATOR_TOKEN, &at(&t, &p, "/assessments"), json!({}))
        .await
        .err(409);
    assert!(e["message"].as_str().unwrap().contains("closed"), "{e}");
    // A viewer may read but not run one.
    let viewer = s.member(&t, "vera", "viewer").await;
    s.post(&viewer, &at(&t, &p, "/assessments"), json!({}))
        .await
        .err(403);
    // A project paused for lack of progress is resumed before it is assessed.
    let p2 = files_project(&s, &t, false).await;
    endpoint(&s, &t, &p2, "source", src, None, json!({})).await;
    endpoint(&s, &t, &p2, "target", "/tmp/unused", None, json!({})).await;
    import(&s, &t, &p2, &format!("{src},,,/tmp/unused,,\n"))
        .await
        .ok();
    s.advance(chrono::TimeDelta::days(31));
    ferry_server::scheduler::settle(&s.state).await.unwrap();
    assert_eq!(project_state(&s, &t, &p2).await, "paused");
    let e = s
        .post(OPERATOR_TOKEN, &at(&t, &p2, "/assessments"), json!({}))
        .await
        .err(409);
    assert!(e["message"].as_str().unwrap().contains("resume it"), "{e}");
}

#[tokio::test]
async fn a_huge_number_of_findings_is_capped_in_the_report_and_counted_in_full() {
    let src = tempfile::tempdir().unwrap();
    let dir = src.path().join("many");
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..1050 {
        std::fs::write(dir.join(format!("f{i}?.txt")), b"x").unwrap();
    }
    let s = TestServer::start().await;
    let t = s.tenant("Contoso", 800).await;
    let p = files_project(&s, &t, true).await;
    let su = src.path().to_str().unwrap();
    endpoint(
        &s,
        &t,
        &p,
        "source",
        su,
        None,
        json!({ "target_rules": "sharepoint" }),
    )
    .await;
    endpoint(&s, &t, &p, "target", "/tmp/unused", None, json!({})).await;
    import(&s, &t, &p, &format!("{su},many,,/tmp/unused,,\n"))
        .await
        .ok();
    let (_, latest) = assess(&s, &t, &p).await;
    let m = &latest["report"]["mappings"][0];
    assert_eq!(m["target_rules"], "sharepoint", "from the source endpoint");
    assert_eq!(m["findings"].as_array().unwrap().len(), 1000);
    assert_eq!(m["findings_total"], 1050);
    assert_eq!(m["findings_truncated"], true);
    assert_eq!(latest["report"]["totals"]["findings"], 1050);
    // Renames alone do not block: the project is Ready.
    assert_eq!(m["ready"], true);
    assert_eq!(project_state(&s, &t, &p).await, "ready");
}

#[tokio::test]
async fn an_assessment_left_running_by_a_stopped_server_is_failed_when_the_next_one_starts() {
    let src = tempfile::tempdir().unwrap();
    write(src.path(), "a.txt", b"a", old_mtime());
    let s = TestServer::start().await;
    let t = s.tenant("Contoso", 800).await;
    let p = files_project(&s, &t, true).await;
    let su = src.path().to_str().unwrap();
    endpoint(&s, &t, &p, "source", su, None, json!({})).await;
    endpoint(&s, &t, &p, "target", "/tmp/unused", None, json!({})).await;
    import(&s, &t, &p, &format!("{su},,,/tmp/unused,,\n"))
        .await
        .ok();
    sqlx::query("INSERT INTO prog_assessment (id, project_id, status, started_at) VALUES ('stale-1', ?, 'running', '2025-03-01T00:00:00.000Z')")
        .bind(&p)
        .execute(s.sqlite_pool())
        .await
        .unwrap();
    let (_, latest) = assess(&s, &t, &p).await;
    assert_eq!(latest["assessment"]["status"], "done", "{latest}");
    let (status, report): (String, String) =
        sqlx::query_as("SELECT status, report FROM prog_assessment WHERE id = 'stale-1'")
            .fetch_one(s.sqlite_pool())
            .await
            .unwrap();
    assert_eq!(status, "failed");
    assert!(report.contains("interrupted"), "{report}");
}
