//! The events list's schedule form chooses mappings as the grid filters them or by a pasted list (issue 13:
//! thousands of mappings are not a checkbox each), over HTTP as a browser sends it, against a real
//! `ferry serve` (no mail server: no pass runs before the events' starts).

#![allow(clippy::unwrap_used)] // tests: a panic is a failure with a message

mod common;

use common::web::WebSession;
use common::{OPERATOR_TOKEN, TestServer};
use ferry_server::Clock;
use std::collections::BTreeSet;

struct Setup {
    s: TestServer,
    api: String,
    page: String,
    web: WebSession,
    viewer: String,
    /// Each mapping's id by its source (`alice`…).
    ids: std::collections::BTreeMap<String, String>,
}

async fn setup(users: &[&str]) -> Setup {
    let s = TestServer::start().await;
    let tenant = s.tenant("Contoso", 800).await;
    let customer = s.member(&tenant, "carol", "customer-admin").await;
    let viewer = s.member(&tenant, "vera", "viewer").await;
    let api = s.project(&tenant, "Mail", "mail").await;
    let rows: String = users
        .iter()
        .map(|u| format!("{u}@contoso.com,{u},pw\n"))
        .collect();
    let all = s.import_mail(OPERATOR_TOKEN, &api, &rows).await;
    s.confirm_gates(&api).await;
    let ids = all
        .iter()
        .map(|m| {
            (
                m["source"].as_str().unwrap().to_owned(),
                m["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let page = api.trim_start_matches("/api/v1").to_owned();
    let web = WebSession::sign_in(&s, &customer).await;
    Setup {
        s,
        api,
        page,
        web,
        viewer,
        ids,
    }
}

impl Setup {
    /// Schedule a pilot starting now with the choice `fields`; the answer.
    async fn schedule(&self, name: &str, fields: &[(&str, &str)]) -> common::web::Html {
        let start = self.s.clock.now().format("%Y-%m-%dT%H:%M").to_string();
        let mut f = vec![
            ("csrf", self.web.csrf.as_str()),
            ("name", name),
            ("kind", "synchronization"),
            ("pilot", "on"),
            ("start", start.as_str()),
        ];
        f.extend_from_slice(fields);
        self.web
            .post(&self.s, &format!("{}/events", self.page), &f)
            .await
    }

    /// The sources of the mappings of the event a 303 points at.
    async fn scheduled(&self, done: &common::web::Html) -> BTreeSet<String> {
        assert_eq!(done.status, 303, "{}", done.body);
        let event = done
            .location
            .as_deref()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap();
        let e = self
            .s
            .get(&self.viewer, &format!("{}/events/{event}", self.api))
            .await
            .ok();
        let by_id: std::collections::BTreeMap<&String, &String> =
            self.ids.iter().map(|(k, v)| (v, k)).collect();
        e["mappings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                let id = m
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| m["id"].as_str().unwrap().to_owned());
                by_id[&id].to_string()
            })
            .collect()
    }
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schedule_form_chooses_mappings_by_list_search_state_or_all_not_scheduled_never_a_checkbox_each()
 {
    let st = setup(&["alice", "bob", "carol", "dave", "erin"]).await;

    // The form counts the mappings and offers the ways to choose; no checkbox per mapping.
    let list = st.web.get(&st.s, &format!("{}/events", st.page)).await;
    assert_eq!(list.status, 200);
    assert!(list.body.contains("id=\"new-event\""), "{}", list.body);
    assert!(
        list.body
            .contains("<span id=\"not-scheduled-count\">5</span> of 5"),
        "{}",
        list.body
    );
    for way in ["not-scheduled", "state", "search", "list"] {
        assert!(
            list.body.contains(&format!("value=\"{way}\"")),
            "the choice {way}: {}",
            list.body
        );
    }
    assert!(
        !list.body.contains("name=\"mapping\""),
        "no checkbox per mapping"
    );
    assert!(
        list.body.contains("id=\"choose-not-scheduled\" checked"),
        "every mapping not in an event is the first choice"
    );

    // A pasted import file: its header is skipped, its first column read (any case, quotes or not).
    let pasted =
        "EmailAddress,UserName,Password\nALICE@contoso.com,alice,pw\n\"bob@contoso.com\",bob,pw\n";
    let done = st
        .schedule("By list", &[("choose", "list"), ("names", pasted)])
        .await;
    assert_eq!(st.scheduled(&done).await, set(&["alice", "bob"]));

    // A line naming no mapping: refused with its line number, what was pasted kept, nothing scheduled.
    let refused = st
        .schedule(
            "Bad list",
            &[
                ("choose", "list"),
                ("names", "carol@contoso.com\nzed@contoso.com"),
            ],
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("id=\"refusal\""), "{}", refused.body);
    assert!(
        refused.body.contains("line 2") && refused.body.contains("zed@contoso.com"),
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("id=\"choose-list\" checked"),
        "{}",
        refused.body
    );

    // A search, as the grid's.
    let done = st
        .schedule("By search", &[("choose", "search"), ("q", "CAROL")])
        .await;
    assert_eq!(st.scheduled(&done).await, set(&["carol"]));

    // The grid's state: alice, bob and carol are in events (their pilots are due now), dave and erin not.
    let list = st.web.get(&st.s, &format!("{}/events", st.page)).await;
    assert!(
        list.body
            .contains("<span id=\"not-scheduled-count\">2</span> of 5"),
        "{}",
        list.body
    );
    let done = st
        .schedule(
            "By state",
            &[("choose", "state"), ("state", "not scheduled")],
        )
        .await;
    assert_eq!(st.scheduled(&done).await, set(&["dave", "erin"]));

    // Nothing left outside an event: refused in words, not an empty event.
    let refused = st.schedule("Nothing", &[("choose", "not-scheduled")]).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused.body.contains("no mapping is outside every event"),
        "{}",
        refused.body
    );
    let refused = st
        .schedule("Odd state", &[("choose", "state"), ("state", "lost")])
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("no grid state"), "{}", refused.body);

    // Scripts posting ids still work (the API's create-event takes ids).
    let erin = st.ids["erin"].clone();
    let done = st.schedule("By id", &[("mapping", erin.as_str())]).await;
    assert_eq!(st.scheduled(&done).await, set(&["erin"]));
}
