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

/// A pass's counters with the mapping's journal after it: `items` in all, `skipped` and `failed` of them.
fn counters(items: u64, skipped: u64, failed: u64) -> String {
    json!({
        "discovered": items, "copied": items - skipped - failed, "skipped": skipped, "failed": failed,
        "bytes": items * 1000,
        "journal": { "items": items, "copied": items - skipped - failed, "skipped": skipped, "failed": failed,
                     "pending": 0, "folder_errors": 0 },
    })
    .to_string()
}

on_both_stores!(the_events_summary_in_the_store_says_what_the_whole_report_says);
async fn the_events_summary_in_the_store_says_what_the_whole_report_says(on: On) {
    use ferry_core::id::{EventId, MappingId};
    use ferry_core::programme::PassKind;
    use ferry_core::programme::event::EventState;
    use ferry_server::programme::digest::digest;
    use ferry_server::programme::event_lines::summary;
    use ferry_store::programme::{Membership, NewPass, PassEnd};

    let Some(s) = TestServer::start_on_store(on, Default::default()).await else {
        return;
    };
    let tenant = s.tenant("Contoso", 800).await;
    let api = s.project(&tenant, "Mail", "mail").await;
    let import: String = (0..9)
        .map(|i| format!("user{i:04}@contoso.com,user{i:04},pw-{i}\n"))
        .collect();
    let all = s.import_mail(OPERATOR_TOKEN, &api, &import).await;
    let ids: Vec<&str> = all.iter().map(|m| m["id"].as_str().unwrap()).collect();
    s.confirm_gates(&api).await;
    let mut made = Vec::new();
    for (name, chosen, days) in [("Earlier", &ids[7..8], 7), ("Wave 1", &ids[..8], 8)] {
        let start = (monday() + chrono::TimeDelta::days(days)).to_rfc3339();
        let ev = s
            .post(
                OPERATOR_TOKEN,
                &format!("{api}/events"),
                json!({ "name": name, "kind": "synchronization", "start": start, "mappings": chosen }),
            )
            .await
            .ok();
        made.push(
            ev["result"]["id"]
                .as_str()
                .unwrap()
                .parse::<EventId>()
                .unwrap(),
        );
    }
    let (earlier, e) = (made[0], made[1]);
    let m: Vec<MappingId> = ids.iter().map(|i| i.parse().unwrap()).collect();
    let store = &s.state.programme;
    let t = |mins: i64| monday() + chrono::TimeDelta::days(8) + chrono::TimeDelta::minutes(mins);
    let mut n = 0;
    let mut pass = |event: EventId, mapping: MappingId, kind: PassKind, attempt: u32| {
        n += 1;
        NewPass {
            id: format!("pass-{n}"),
            event,
            mapping,
            kind,
            attempt,
            at: t(n),
        }
    };
    let end = |outcome: &str, counters: Option<String>| PassEnd {
        outcome: outcome.into(),
        reason: (outcome == "failed").then(|| "the server refused the login".to_string()),
        counters,
        grade: None,
        run_id: None,
    };
    // m0 Perfect, m1 Investigate (1.5 % skipped), m2 Poor (a failed item), m3 failed twice (the limit),
    // m4 running under another host's lease, m5 given back until tomorrow, m6 never ran, m7 ran in the
    // earlier event only; m8 is in no event.
    let done = [
        (0, counters(1000, 0, 0)),
        (1, counters(1000, 15, 0)),
        (2, counters(1000, 0, 1)),
    ];
    for (i, c) in done {
        let p = pass(e, m[i], PassKind::Initial, 1);
        store.insert_pass(&p).await.unwrap();
        assert!(
            store
                .finish_pass(&p.id, &end("succeeded", Some(c)), t(30))
                .await
                .unwrap()
        );
    }
    for attempt in 1..=2 {
        let p = pass(e, m[3], PassKind::Initial, attempt);
        store.insert_pass(&p).await.unwrap();
        assert!(
            store
                .finish_pass(&p.id, &end("failed", None), t(31))
                .await
                .unwrap()
        );
    }
    let p = pass(e, m[4], PassKind::Initial, 1);
    store.insert_pass(&p).await.unwrap();
    let far = chrono::Utc::now() + chrono::TimeDelta::days(1);
    store
        .claim_pass(&p.id, "elsewhere:1:w", t(32), far)
        .await
        .unwrap()
        .unwrap();
    let p = pass(e, m[5], PassKind::Initial, 1);
    store.insert_pass(&p).await.unwrap();
    let lease = store
        .claim_pass(&p.id, "elsewhere:1:w", t(32), far)
        .await
        .unwrap()
        .unwrap();
    assert!(store.release_pass(&lease, Some(far)).await.unwrap());
    let p = pass(earlier, m[7], PassKind::Initial, 1);
    store.insert_pass(&p).await.unwrap();
    assert!(
        store
            .finish_pass(&p.id, &end("succeeded", Some(counters(50, 0, 0))), t(33))
            .await
            .unwrap()
    );

    let project = ferry_server::db::load_project(
        &**store,
        tenant.parse().unwrap(),
        api.rsplit('/').next().unwrap().parse().unwrap(),
    )
    .await
    .unwrap();
    let rows = store
        .event_mapping_page(project.id, e, Membership::In, 0, 100)
        .await
        .unwrap()
        .rows;
    assert_eq!(rows.len(), 8);
    let now = t(40);
    // Running; a finished round waiting for an approval; the approval given (the stored lines do not hold
    // it: it is read with the approvers' roles now).
    for (state, approve) in [
        (EventState::Running, false),
        (EventState::NeedsApproval, false),
        (EventState::NeedsApproval, true),
    ] {
        store.set_event_state(e, state, None, now).await.unwrap();
        if approve {
            s.advance(now - monday());
            s.post(
                OPERATOR_TOKEN,
                &format!("{api}/events/{e}/mappings/{}/approve", m[1]),
                json!({}),
            )
            .await
            .ok();
        }
        let ev = ferry_server::programme::events::load_event(&**store, project.id, e)
            .await
            .unwrap();
        let whole = digest(&s.state, &project, &ev, now).await.unwrap();
        let sum = summary(&s.state, &project, &ev, now).await.unwrap();
        assert_eq!(sum.head, whole.head, "{state:?}");
        let lines = sum.lines(&s.state, &ev, &rows).await.unwrap();
        for (row, line) in rows.iter().zip(&lines) {
            assert_eq!(*line, whole.line(row), "{state:?}");
        }
        let mut a: Vec<Option<&str>> = sum.grades().collect();
        let mut b: Vec<Option<&str>> = whole.grades().collect();
        a.sort();
        b.sort();
        assert_eq!(a, b);
    }
}
