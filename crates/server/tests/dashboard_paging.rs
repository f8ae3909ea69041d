//! The event pages of a big event (issue 13): the event's page, its live view and its report list a page of
//! its mappings with the whole event's counts, and agree with the API's report, which still lists every
//! mapping. On SQLite and PostgreSQL.

#![allow(clippy::unwrap_used)] // tests: a panic is a failure with a message

mod common;

use common::web::WebSession;
use common::{OPERATOR_TOKEN, On, TestServer, monday};
use serde_json::json;

/// Mappings in the project, and in its event.
const PROJECT: usize = 230;
const EVENT: usize = 210;

/// The `<tr>` rows of the table with `id` in `html`.
fn rows<'a>(html: &'a str, id: &str) -> Vec<&'a str> {
    let start = html.find(&format!("id=\"{id}\"")).unwrap();
    let table = &html[start..];
    let table = &table[..table.find("</table>").unwrap()];
    table.split("<tr").skip(2).collect()
}

/// The labels listed in `<ul id="in-event">`.
fn listed(html: &str) -> Vec<&str> {
    let start = html.find("<ul id=\"in-event\">").unwrap();
    let list = &html[start..];
    let list = &list[..list.find("</ul>").unwrap()];
    list.split("<li>")
        .skip(1)
        .map(|l| l.split("</li>").next().unwrap())
        .collect()
}

on_both_stores!(a_big_events_pages_list_a_page_of_its_mappings_with_the_whole_events_counts);
async fn a_big_events_pages_list_a_page_of_its_mappings_with_the_whole_events_counts(on: On) {
    let Some(s) = TestServer::start_on_store(on, Default::default()).await else {
        return;
    };
    let tenant = s.tenant("Contoso", 800).await;
    let api = s.project(&tenant, "Mail", "mail").await;
    let import: String = (0..PROJECT)
        .map(|i| format!("user{i:04}@contoso.com,user{i:04},pw-{i}\n"))
        .collect();
    let all = s.import_mail(OPERATOR_TOKEN, &api, &import).await;
    let ids: Vec<&str> = all.iter().map(|m| m["id"].as_str().unwrap()).collect();
    s.confirm_gates(&api).await;
    // Chosen out of import order; listed in it.
    let mut chosen: Vec<&str> = ids[..EVENT].to_vec();
    chosen.reverse();
    let start = (monday() + chrono::TimeDelta::days(7)).to_rfc3339();
    let ev = s
        .post(
            OPERATOR_TOKEN,
            &format!("{api}/events"),
            json!({ "name": "Wave 1", "kind": "synchronization", "start": start, "mappings": chosen }),
        )
        .await
        .ok();
    let event = ev["result"]["id"].as_str().unwrap().to_owned();

    // The API's report still lists every mapping, in import order.
    let report = s
        .get(OPERATOR_TOKEN, &format!("{api}/events/{event}/report"))
        .await
        .ok();
    let lines = report["mappings"].as_array().unwrap();
    assert_eq!(lines.len(), EVENT);
    let labels: Vec<&str> = lines.iter().map(|m| m["label"].as_str().unwrap()).collect();
    let want: Vec<&str> = all[..EVENT]
        .iter()
        .map(|m| m["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, want);
    assert_eq!(lines[7]["mapping"], json!(ids[7]));
    assert_eq!(lines[7]["source"], all[7]["source"]);
    assert_eq!(lines[7]["passes"], json!(0));
    assert!(lines[7]["last_pass"].is_null());
    assert_eq!(lines[7]["next"], lines[200]["next"], "{}", lines[7]);
    assert_eq!(report["event"]["mappings"], json!(EVENT));
    assert_eq!(report["totals"]["discovered"], json!(0));

    let web = WebSession::sign_in(&s, OPERATOR_TOKEN).await;
    let page = |rest: &str| format!("{}/events/{event}{rest}", api.trim_start_matches("/api/v1"));

    // The event's page: 100 of its mappings, then the rest; a page past the last shows the last.
    let p1 = web.get(&s, &page("")).await;
    assert!(p1.body.contains("Mappings 1–100 of 210"), "{}", p1.body);
    assert_eq!(listed(&p1.body), want[..100].to_vec());
    assert!(p1.body.contains("id=\"next\""));
    assert_eq!(p1.body.matches("name=\"remove\"").count(), 100);
    // The project's 20 others fit on one page of the add boxes.
    assert_eq!(p1.body.matches("name=\"add\"").count(), PROJECT - EVENT);
    assert!(!p1.body.contains("id=\"others-page\""));
    for n in ["3", "9"] {
        let p3 = web.get(&s, &page(&format!("?page={n}"))).await;
        assert!(p3.body.contains("Mappings 201–210 of 210"), "{}", p3.body);
        assert_eq!(listed(&p3.body), want[200..].to_vec());
        assert!(p3.body.contains("?page=2\" id=\"prev\""), "{}", p3.body);
        assert!(!p3.body.contains("id=\"next\""));
    }

    // The live view: the whole event's counts, a page of rows, the stream of the same page.
    let live = web.get(&s, &page("/live")).await;
    assert!(live.body.contains("id=\"queued\">210<"), "{}", live.body);
    assert_eq!(rows(&live.body, "live-mappings").len(), 100);
    assert!(live.body.contains("Mappings 1–100 of 210"));
    let live3 = web.get(&s, &page("/live?page=3")).await;
    assert!(live3.body.contains("id=\"queued\">210<"));
    let r3 = rows(&live3.body, "live-mappings");
    assert_eq!(r3.len(), 10);
    assert!(r3[0].contains(want[200]), "{}", r3[0]);
    assert!(
        live3
            .body
            .contains(&format!("sse-connect=\"{}?page=3\"", page("/live/stream")))
    );

    // The report page: the totals and grades of all 210, the lines of its page.
    let rp = web.get(&s, &page("/report?page=3")).await;
    assert!(rp.body.contains("Mappings 201–210 of 210"), "{}", rp.body);
    let r = rows(&rp.body, "report-mappings");
    assert_eq!(r.len(), 10);
    assert!(r[9].contains(want[209]));
    assert!(
        rp.body
            .contains("<td>Not graded yet</td><td class=\"num\">210</td>"),
        "{}",
        rp.body
    );

    // The project report: the event's line.
    let pr = web
        .get(&s, &format!("{}/report", api.trim_start_matches("/api/v1")))
        .await;
    assert!(
        pr.body.contains("<td class=\"num\">210</td>"),
        "{}",
        pr.body
    );
}

/// What a page shows between `id="{id}">` and the next `<`.
fn figure<'a>(html: &'a str, id: &str) -> &'a str {
    let at = html.find(&format!("id=\"{id}\">")).unwrap() + id.len() + 6;
    html[at..].split('<').next().unwrap()
}

on_both_stores!(a_pass_recorded_after_the_events_lines_were_stored_shows_on_its_pages);
async fn a_pass_recorded_after_the_events_lines_were_stored_shows_on_its_pages(on: On) {
    use ferry_core::id::{EventId, MappingId};
    use ferry_core::programme::PassKind;
    use ferry_store::programme::{NewPass, PassEnd};

    let Some(s) = TestServer::start_on_store(on, Default::default()).await else {
        return;
    };
    let tenant = s.tenant("Contoso", 800).await;
    let api = s.project(&tenant, "Mail", "mail").await;
    let import: String = (0..4)
        .map(|i| format!("user{i:04}@contoso.com,user{i:04},pw-{i}\n"))
        .collect();
    let all = s.import_mail(OPERATOR_TOKEN, &api, &import).await;
    let ids: Vec<&str> = all.iter().map(|m| m["id"].as_str().unwrap()).collect();
    s.confirm_gates(&api).await;
    let start = (monday() + chrono::TimeDelta::days(7)).to_rfc3339();
    let ev = s
        .post(
            OPERATOR_TOKEN,
            &format!("{api}/events"),
            json!({ "name": "Wave 1", "kind": "synchronization", "start": start, "mappings": &ids[..3] }),
        )
        .await
        .ok();
    let event = ev["result"]["id"].as_str().unwrap().to_owned();
    let web = WebSession::sign_in(&s, OPERATOR_TOKEN).await;
    let page = |rest: &str| format!("{}/events/{event}{rest}", api.trim_start_matches("/api/v1"));

    // Read once: the event's lines are decided and stored, nothing ran.
    let live = web.get(&s, &page("/live")).await;
    assert_eq!(figure(&live.body, "queued"), "3", "{}", live.body);
    let rp = web.get(&s, &page("/report")).await;
    assert_eq!(figure(&rp.body, "total-copied"), "0");

    // A pass of the first mapping recorded through the store behind the pages' back, as a worker does; then
    // a second one. Each time the pages show the new figures, as the API's whole report does.
    let (e, m): (EventId, MappingId) = (event.parse().unwrap(), ids[0].parse().unwrap());
    for (i, (kind, copied)) in [(PassKind::Initial, 40u64), (PassKind::Delta, 2)]
        .into_iter()
        .enumerate()
    {
        let id = format!("pass-{i}");
        let at = monday() + chrono::TimeDelta::minutes(i as i64);
        let counters = json!({ "discovered": copied, "copied": copied, "skipped": 0, "failed": 0, "bytes": copied * 100 });
        let tx = s.state.programme.begin().await.unwrap();
        tx.insert_pass(&NewPass {
            id: id.clone(),
            event: e,
            mapping: m,
            kind,
            attempt: 1,
            at,
        })
        .await
        .unwrap();
        let end = PassEnd {
            outcome: "succeeded".into(),
            reason: None,
            counters: Some(counters.to_string()),
            grade: Some("Perfect".into()),
            run_id: None,
        };
        assert!(tx.finish_pass(&id, &end, at).await.unwrap());
        tx.commit().await.unwrap();

        let want = if i == 0 { 40 } else { 42 };
        let report = s
            .get(OPERATOR_TOKEN, &format!("{api}/events/{event}/report"))
            .await
            .ok();
        assert_eq!(report["totals"]["copied"], json!(want), "{report}");
        let live = web.get(&s, &page("/live")).await;
        assert_eq!(figure(&live.body, "done"), "1", "{}", live.body);
        assert_eq!(figure(&live.body, "queued"), "2");
        assert!(
            live.body.contains(&format!("Items: {want} copied")),
            "{}",
            live.body
        );
        let rp = web.get(&s, &page("/report")).await;
        assert_eq!(
            figure(&rp.body, "total-copied"),
            want.to_string(),
            "{}",
            rp.body
        );
        let row = rows(&rp.body, "report-mappings")[0];
        assert!(
            row.contains(&format!("<td class=\"num\">{want}</td>")),
            "{row}"
        );
        assert!(
            rp.body.contains("<td>Perfect</td><td class=\"num\">1</td>"),
            "{}",
            rp.body
        );
        let pr = web
            .get(&s, &format!("{}/report", api.trim_start_matches("/api/v1")))
            .await;
        assert!(
            pr.body.contains(&format!("<td class=\"num\">{want}</td>")),
            "{}",
            pr.body
        );
    }
}
