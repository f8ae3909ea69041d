//! The mappings grid: statuses kept stale by the store's triggers, decided by the caller, one page read.

use super::at;
use ferry_core::id::{EventId, MappingId, ProjectId, UserId};
use ferry_core::programme::PassKind;
use ferry_core::programme::event::EventKind;
use ferry_store::programme::*;

const RULES: &str = "r1";

/// A project with `labels` as mappings, returned in id order (import order).
async fn new_project(p: &dyn ProgrammeStore, labels: &[&str]) -> (ProjectId, Vec<MappingRecord>) {
    let (_, project) = super::mail_project(p).await;
    let mut ms: Vec<MappingRecord> = labels
        .iter()
        .enumerate()
        .map(|(i, label)| MappingRecord {
            id: MappingId::new(),
            line: i as i64 + 1,
            label: (*label).into(),
            source: format!("src-{label}"),
            target: format!("TGT-{label}"),
            doc: "{}".into(),
        })
        .collect();
    ms.sort_by_key(|m| m.id.to_string());
    p.insert_mappings(project, &ms, at(0)).await.unwrap();
    (project, ms)
}

async fn event(p: &dyn ProgrammeStore, project: ProjectId, name: &str, start: i64) -> EventId {
    let id = EventId::new();
    p.insert_event(&NewEvent {
        id,
        project,
        name: name.into(),
        kind: EventKind::Synchronization,
        pilot: false,
        start: at(start),
        created_by: UserId::new(),
        at: at(0),
    })
    .await
    .unwrap();
    id
}

/// The stale mappings, in id order.
async fn stale(p: &dyn ProgrammeStore, project: ProjectId, now: i64) -> Vec<MappingId> {
    p.stale_statuses(project, at(now), RULES)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.mapping)
        .collect()
}

/// Decide every stale status as `state` in `event`, with `last` as the latest pass.
async fn decide_all(
    p: &dyn ProgrammeStore,
    project: ProjectId,
    event: Option<EventId>,
    state: &str,
    last: Option<&str>,
) -> u64 {
    let writes: Vec<StatusWrite> = p
        .stale_statuses(project, at(0), RULES)
        .await
        .unwrap()
        .into_iter()
        .map(|s| StatusWrite {
            mapping: s.mapping,
            version: s.version,
            event,
            state: state.into(),
            decision: Some("{}".into()),
            until: None,
            last_pass: last.map(str::to_string),
            rules: RULES.into(),
        })
        .collect();
    p.put_statuses(&writes).await.unwrap()
}

async fn count(p: &dyn ProgrammeStore, project: ProjectId, f: GridFilter) -> u64 {
    p.mapping_grid(project, &f, 0, 100).await.unwrap().matching
}

fn labels(g: &GridPage) -> Vec<&str> {
    g.rows.iter().map(|r| r.label.as_str()).collect()
}

both!(a_status_goes_stale_in_the_same_write_as_what_it_was_decided_from);
async fn a_status_goes_stale_in_the_same_write_as_what_it_was_decided_from(
    p: Box<dyn ProgrammeStore>,
) {
    let (project, ms) = new_project(&*p, &["a@x", "b@x", "c@x"]).await;
    let ms: Vec<MappingId> = ms.into_iter().map(|m| m.id).collect();
    // No status yet: every mapping is named, once.
    assert_eq!(stale(&*p, project, 0).await, ms);
    assert_eq!(stale(&*p, project, 0).await, ms);
    assert_eq!(
        decide_all(&*p, project, None, "not scheduled", None).await,
        3
    );
    assert!(stale(&*p, project, 0).await.is_empty());

    // Joining an event, a pass starting and ending: the mapping's status only.
    let e = event(&*p, project, "Wave 1", 100).await;
    p.add_event_mapping(e, ms[0], at(1)).await.unwrap();
    assert_eq!(stale(&*p, project, 0).await, [ms[0]]);
    let read = p.stale_statuses(project, at(0), RULES).await.unwrap();
    let pass = NewPass {
        id: uuid::Uuid::now_v7().to_string(),
        event: e,
        mapping: ms[0],
        kind: PassKind::Initial,
        attempt: 1,
        at: at(200),
    };
    let tx = p.begin().await.unwrap();
    tx.insert_pass(&pass).await.unwrap();
    tx.commit().await.unwrap();
    // A decision made from before the pass started is not stored: the status stays stale.
    let old = StatusWrite {
        mapping: ms[0],
        version: read[0].version,
        event: Some(e),
        state: "waiting".into(),
        decision: None,
        until: Some(at(100)),
        last_pass: None,
        rules: RULES.into(),
    };
    assert_eq!(p.put_statuses(&[old]).await.unwrap(), 0);
    assert_eq!(stale(&*p, project, 0).await, [ms[0]]);
    assert_eq!(
        decide_all(&*p, project, Some(e), "running", Some(&pass.id)).await,
        1
    );
    let end = PassEnd {
        outcome: "succeeded".into(),
        reason: None,
        counters: Some("{\"copied\":3}".into()),
        grade: Some("Perfect".into()),
        run_id: None,
    };
    // Claiming a lease changes nothing the rules read.
    assert!(
        p.claim_pass(&pass.id, "w1", at(201), at(300))
            .await
            .unwrap()
            .is_some()
    );
    assert!(stale(&*p, project, 201).await.is_empty());
    assert!(p.finish_pass(&pass.id, &end, at(250)).await.unwrap());
    assert_eq!(stale(&*p, project, 0).await, [ms[0]]);
    assert_eq!(
        decide_all(&*p, project, Some(e), "due", Some(&pass.id)).await,
        1
    );

    // An event moving: its mappings. A decision's time coming: that one. Other rules: all.
    p.update_event(e, "Wave 1", at(150), false, at(2))
        .await
        .unwrap();
    assert_eq!(stale(&*p, project, 0).await, [ms[0]]);
    let read = p.stale_statuses(project, at(0), RULES).await.unwrap();
    let waiting = StatusWrite {
        mapping: ms[0],
        version: read[0].version,
        event: Some(e),
        state: "waiting".into(),
        decision: None,
        until: Some(at(150)),
        last_pass: Some(pass.id.clone()),
        rules: RULES.into(),
    };
    assert_eq!(
        p.put_statuses(std::slice::from_ref(&waiting))
            .await
            .unwrap(),
        1
    );
    assert!(stale(&*p, project, 149).await.is_empty());
    let read = p.stale_statuses(project, at(150), RULES).await.unwrap();
    assert_eq!(read.len(), 1);
    let due = StatusWrite {
        version: read[0].version,
        state: "due".into(),
        until: None,
        ..waiting
    };
    assert_eq!(p.put_statuses(&[due]).await.unwrap(), 1);
    assert!(stale(&*p, project, 150).await.is_empty());
    assert_eq!(
        p.stale_statuses(project, at(0), "r2").await.unwrap().len(),
        3
    );

    // A mapping's own credential: that mapping. An endpoint's: the project.
    let cred = |owner: String| CredentialWrite {
        project,
        owner,
        nonce: vec![0; 12],
        ciphertext: vec![1; 16],
        supplied_by: UserId::new(),
        supplied_at: at(5),
        expires_at: at(86_400),
    };
    p.store_credential(&cred(format!("mapping:{}:source", ms[1])))
        .await
        .unwrap();
    assert_eq!(stale(&*p, project, 0).await, [ms[1]]);
    decide_all(&*p, project, None, "not scheduled", None).await;
    p.store_credential(&cred("endpoint:target".into()))
        .await
        .unwrap();
    assert_eq!(stale(&*p, project, 0).await, ms);
    decide_all(&*p, project, None, "not scheduled", None).await;

    // A deleted mapping has no status; another project's mappings are not named.
    assert!(p.delete_mapping(project, ms[2]).await.unwrap());
    assert!(stale(&*p, project, 0).await.is_empty());
    let (other, _) = new_project(&*p, &["z@x"]).await;
    assert!(stale(&*p, project, 0).await.is_empty());
    assert_eq!(stale(&*p, other, 0).await.len(), 1);
}

both!(a_grid_page_is_filtered_counted_and_ordered_in_the_store);
async fn a_grid_page_is_filtered_counted_and_ordered_in_the_store(p: Box<dyn ProgrammeStore>) {
    let names: Vec<String> = (0..25).map(|i| format!("user{i:02}@Example.org")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let (project, records) = new_project(&*p, &refs).await;
    let sorted: Vec<&str> = records.iter().map(|m| m.label.as_str()).collect();
    let ms: Vec<MappingId> = records.iter().map(|m| m.id).collect();
    let e = event(&*p, project, "Wave 1", 0).await;
    p.add_event_mappings(e, &ms[..10], at(1)).await.unwrap();
    let pass = NewPass {
        id: uuid::Uuid::now_v7().to_string(),
        event: e,
        mapping: ms[0],
        kind: PassKind::Initial,
        attempt: 1,
        at: at(10),
    };
    p.insert_pass(&pass).await.unwrap();
    p.finish_pass(
        &pass.id,
        &PassEnd {
            outcome: "succeeded".into(),
            reason: None,
            counters: Some("{\"copied\":7}".into()),
            grade: Some("Good".into()),
            run_id: None,
        },
        at(20),
    )
    .await
    .unwrap();
    let read = p.stale_statuses(project, at(30), RULES).await.unwrap();
    let writes: Vec<StatusWrite> = read
        .iter()
        .map(|s| {
            let i = ms.iter().position(|m| *m == s.mapping).unwrap();
            StatusWrite {
                mapping: s.mapping,
                version: s.version,
                event: (i < 10).then_some(e),
                state: if i == 0 {
                    "waiting"
                } else if i < 10 {
                    "due"
                } else {
                    "not scheduled"
                }
                .into(),
                decision: (i < 10).then(|| format!("{{\"i\":{i}}}")),
                until: None,
                last_pass: (i == 0).then(|| pass.id.clone()),
                rules: RULES.into(),
            }
        })
        .collect();
    assert_eq!(p.put_statuses(&writes).await.unwrap(), 25);

    let all = GridFilter::default();
    let first = p.mapping_grid(project, &all, 0, 10).await.unwrap();
    assert_eq!(
        (first.total, first.matching, first.rows.len()),
        (25, 25, 10)
    );
    assert_eq!(labels(&first), sorted[..10]);
    let last = p.mapping_grid(project, &all, 20, 10).await.unwrap();
    assert_eq!(labels(&last), sorted[20..]);
    assert!(
        p.mapping_grid(project, &all, 30, 10)
            .await
            .unwrap()
            .rows
            .is_empty()
    );

    let row = first.rows.iter().find(|r| r.mapping == ms[0]).unwrap();
    assert_eq!(row.event, Some((e, "Wave 1".to_string())));
    assert_eq!(row.state, "waiting");
    assert_eq!(row.decision.as_deref(), Some("{\"i\":0}"));
    let last_pass = row.last.as_ref().unwrap();
    assert_eq!(
        (last_pass.id.as_str(), last_pass.grade.as_deref()),
        (pass.id.as_str(), Some("Good"))
    );

    let state = |s: &str| GridFilter {
        state: Some(s.into()),
        ..Default::default()
    };
    assert_eq!(count(&*p, project, state("due")).await, 9);
    assert_eq!(count(&*p, project, state("not scheduled")).await, 15);
    assert_eq!(count(&*p, project, state("failed")).await, 0);
    let in_event = GridFilter {
        event: Some(e),
        ..Default::default()
    };
    assert_eq!(count(&*p, project, in_event).await, 10);
    let graded = GridFilter {
        grade: Some("Good".into()),
        ..Default::default()
    };
    assert_eq!(count(&*p, project, graded.clone()).await, 1);
    // The search is a substring of the label, the source or the target, in any case.
    let search = |s: &str| GridFilter {
        search: Some(s.into()),
        ..Default::default()
    };
    assert_eq!(count(&*p, project, search("user1")).await, 10);
    assert_eq!(count(&*p, project, search("example.org")).await, 25);
    assert_eq!(count(&*p, project, search("src-user02")).await, 1);
    assert_eq!(count(&*p, project, search("tgt-user0")).await, 10);
    assert_eq!(count(&*p, project, search("%")).await, 0);
    let both = GridFilter {
        search: Some("user0".into()),
        state: Some("due".into()),
        ..Default::default()
    };
    let got = p.mapping_grid(project, &both, 0, 100).await.unwrap();
    assert_eq!(got.matching, u64::try_from(got.rows.len()).unwrap());
    assert!(
        got.rows
            .iter()
            .all(|r| r.state == "due" && r.label.starts_with("user0"))
    );
    assert_eq!(
        p.event_names(project).await.unwrap(),
        [(e, "Wave 1".to_string())]
    );
    let elsewhere = p.mapping_grid(ProjectId::new(), &all, 0, 10).await.unwrap();
    assert_eq!((elsewhere.total, elsewhere.matching), (0, 0));
}

both!(an_events_mappings_and_the_projects_others_are_paged_and_counted_in_the_store);
async fn an_events_mappings_and_the_projects_others_are_paged_and_counted_in_the_store(
    p: Box<dyn ProgrammeStore>,
) {
    let names: Vec<String> = (0..25).map(|i| format!("u{i:02}@x")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let (project, ms) = new_project(&*p, &refs).await;
    // Another project's mappings in the same event table count for neither page.
    let (other, theirs) = new_project(&*p, &["z@x"]).await;
    let e = event(&*p, project, "Wave 1", 100).await;
    let f = event(&*p, other, "Theirs", 100).await;
    // Every third mapping is in the event; added out of order.
    let mut chosen: Vec<MappingId> = ms.iter().step_by(3).map(|m| m.id).collect();
    chosen.reverse();
    p.add_event_mappings(e, &chosen, at(1)).await.unwrap();
    p.add_event_mapping(f, theirs[0].id, at(1)).await.unwrap();
    let inside: Vec<&MappingRecord> = ms.iter().step_by(3).collect();
    let outside: Vec<&MappingRecord> = ms
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 3 != 0)
        .map(|(_, m)| m)
        .collect();

    let page = p
        .event_mapping_page(project, e, Membership::In, 0, 4)
        .await
        .unwrap();
    assert_eq!(page.total, 9);
    let want: Vec<MappingRecord> = inside[..4].iter().map(|m| (*m).clone()).collect();
    assert_eq!(
        page.rows, want,
        "the first page, in import order, whole records"
    );
    let last = p
        .event_mapping_page(project, e, Membership::In, 8, 4)
        .await
        .unwrap();
    assert_eq!(last.total, 9);
    assert_eq!(last.rows, vec![inside[8].clone()]);
    let past = p
        .event_mapping_page(project, e, Membership::In, 40, 4)
        .await
        .unwrap();
    assert_eq!((past.total, past.rows.len()), (9, 0));

    let others = p
        .event_mapping_page(project, e, Membership::NotIn, 10, 100)
        .await
        .unwrap();
    assert_eq!(others.total, 16);
    let want: Vec<MappingRecord> = outside[10..].iter().map(|m| (*m).clone()).collect();
    assert_eq!(others.rows, want);

    // Taken out of the event: on the other page at once.
    p.remove_event_mapping(e, inside[0].id).await.unwrap();
    let page = p
        .event_mapping_page(project, e, Membership::In, 0, 1)
        .await
        .unwrap();
    assert_eq!((page.total, page.rows[0].id), (8, inside[1].id));
    let others = p
        .event_mapping_page(project, e, Membership::NotIn, 0, 1)
        .await
        .unwrap();
    assert_eq!((others.total, others.rows[0].id), (17, inside[0].id));
}
