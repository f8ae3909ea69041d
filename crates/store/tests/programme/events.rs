//! Events, approvals, passes, assessments and tickets.

use super::at;
use ferry_core::id::{EventId, MappingId, ProjectId, TenantId, TicketId, UserId};
use ferry_core::programme::PassKind;
use ferry_core::programme::event::{EventKind, EventState};
use ferry_core::programme::pass::PassOutcome;
use ferry_store::programme::*;

struct Setup {
    tenant: TenantId,
    project: ProjectId,
    a: MappingId,
    b: MappingId,
}

async fn setup(p: &dyn ProgrammeStore) -> Setup {
    let (tenant, project) = super::mail_project(p).await;
    let mut ids = Vec::new();
    for (i, label) in ["a@x", "b@x"].into_iter().enumerate() {
        let m = MappingRecord {
            id: MappingId::new(),
            line: i as i64 + 1,
            label: label.into(),
            source: label.into(),
            target: label.into(),
            doc: "{}".into(),
        };
        p.insert_mapping(project, &m, at(0)).await.unwrap();
        ids.push(m.id);
    }
    Setup {
        tenant,
        project,
        a: ids[0],
        b: ids[1],
    }
}

async fn event(p: &dyn ProgrammeStore, s: &Setup, start: i64) -> EventId {
    let id = EventId::new();
    p.insert_event(&NewEvent {
        id,
        project: s.project,
        name: "Wave 1".into(),
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

fn pass(event: EventId, mapping: MappingId, kind: PassKind, t: i64) -> NewPass {
    NewPass {
        id: uuid::Uuid::now_v7().to_string(),
        event,
        mapping,
        kind,
        attempt: 1,
        at: at(t),
    }
}

fn ended(outcome: &str, reason: Option<&str>) -> PassEnd {
    PassEnd {
        outcome: outcome.into(),
        reason: reason.map(str::to_string),
        counters: Some("{\"copied\":3,\"journal\":{\"items\":3,\"skipped\":1}}".into()),
        grade: Some("Perfect".into()),
        run_id: Some("run-1".into()),
    }
}

both!(an_event_keeps_its_mappings_and_moves_through_its_states);
async fn an_event_keeps_its_mappings_and_moves_through_its_states(p: Box<dyn ProgrammeStore>) {
    let s = setup(&*p).await;
    let id = event(&*p, &s, 3600).await;
    p.add_event_mapping(id, s.b, at(0)).await.unwrap();
    p.add_event_mapping(id, s.a, at(0)).await.unwrap();
    let e = p.load_event(s.project, id).await.unwrap().unwrap();
    assert_eq!(e.state, EventState::Scheduled);
    let mut want = vec![s.a, s.b];
    want.sort();
    assert_eq!(e.mappings, want);
    assert_eq!(p.load_event(ProjectId::new(), id).await.unwrap(), None);
    p.remove_event_mapping(id, s.b).await.unwrap();
    p.update_event(id, "Wave 2", at(7200), true, at(1))
        .await
        .unwrap();
    let e = p.load_event(s.project, id).await.unwrap().unwrap();
    assert_eq!(
        (e.name.as_str(), e.start, e.pilot, e.mappings.len()),
        ("Wave 2", at(7200), true, 1)
    );
    // A scheduled event in the future confirms the schedule; a past one does not.
    assert!(p.schedule_confirmed(s.project, at(10)).await.unwrap());
    assert!(!p.schedule_confirmed(s.project, at(9000)).await.unwrap());
    p.set_event_state(id, EventState::Running, None, at(7200))
        .await
        .unwrap();
    assert!(p.schedule_confirmed(s.project, at(9000)).await.unwrap());
    p.set_event_state(id, EventState::Completed, Some(at(8000)), at(8000))
        .await
        .unwrap();
    // A later state change keeps the completion time.
    p.set_event_state(id, EventState::Completed, None, at(9000))
        .await
        .unwrap();
    let e = p.load_event(s.project, id).await.unwrap().unwrap();
    assert_eq!(
        (e.state, e.completed_at),
        (EventState::Completed, Some(at(8000)))
    );
    assert_eq!(p.project_events(s.project).await.unwrap().len(), 1);
    assert_eq!(p.final_report(id).await.unwrap(), None);
    p.set_final_report(id, "{\"final\":true}").await.unwrap();
    assert_eq!(
        p.final_report(id).await.unwrap().as_deref(),
        Some("{\"final\":true}")
    );
    assert_eq!(
        p.latest_completed_event(s.a).await.unwrap().map(|r| r.0),
        Some(id.to_string())
    );
    assert_eq!(p.mapping_events(s.a).await.unwrap().len(), 1);
}

both!(a_pass_ends_once_and_a_succeeded_final_pass_seals_its_mapping);
async fn a_pass_ends_once_and_a_succeeded_final_pass_seals_its_mapping(p: Box<dyn ProgrammeStore>) {
    let s = setup(&*p).await;
    let e = event(&*p, &s, 0).await;
    p.add_event_mapping(e, s.a, at(0)).await.unwrap();
    assert!(p.mapping_in_project(s.project, s.a).await.unwrap());
    assert!(!p.mapping_in_project(ProjectId::new(), s.a).await.unwrap());
    let first = pass(e, s.a, PassKind::Initial, 1);
    p.insert_pass(&first).await.unwrap();
    assert_eq!(
        p.running_passes().await.unwrap(),
        vec![(first.id.clone(), e)]
    );
    assert_eq!(p.event_tenant(e).await.unwrap(), Some(s.tenant));
    assert!(
        p.finish_pass(&first.id, &ended("succeeded", None), at(2))
            .await
            .unwrap()
    );
    // Ended once: a second end (a zombie's) changes nothing.
    assert!(
        !p.finish_pass(&first.id, &ended("failed", Some("late")), at(3))
            .await
            .unwrap()
    );
    let got = p.mapping_passes(s.a).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].outcome, PassOutcome::Succeeded);
    assert_eq!(got[0].run_id.as_deref(), Some("run-1"));
    assert_eq!(got[0].graded_counts(), (3, 1, 0));
    assert!(!p.mapping_sealed(s.a).await.unwrap());
    assert_eq!(p.unsealed_mappings(s.project).await.unwrap(), 2);
    let fin = pass(e, s.a, PassKind::Final, 5);
    p.insert_pass(&fin).await.unwrap();
    p.finish_pass(&fin.id, &ended("succeeded", None), at(6))
        .await
        .unwrap();
    assert!(p.mapping_sealed(s.a).await.unwrap());
    assert_eq!(p.sealed_mappings(s.project).await.unwrap(), vec![s.a]);
    assert_eq!(p.unsealed_mappings(s.project).await.unwrap(), 1);
    assert_eq!(p.event_passes(e).await.unwrap().len(), 2);
    assert_eq!(p.event_mapping_passes(e).await.unwrap().len(), 2);
    assert!(p.running_passes().await.unwrap().is_empty());
}

both!(
    a_pass_is_held_by_one_worker_at_a_time_and_a_worker_whose_lease_was_taken_over_writes_nothing
);
async fn a_pass_is_held_by_one_worker_at_a_time_and_a_worker_whose_lease_was_taken_over_writes_nothing(
    p: Box<dyn ProgrammeStore>,
) {
    let s = setup(&*p).await;
    let e = event(&*p, &s, 0).await;
    let x = pass(e, s.a, PassKind::Initial, 1);
    p.insert_pass(&x).await.unwrap();
    let first = p.claim_pass(&x.id, "h:1:A", at(1), at(11)).await.unwrap();
    let first = first.expect("a fresh pass can be claimed");
    assert_eq!(first.attempt, 1);
    // Held: a second worker cannot take it while the lease runs.
    assert_eq!(
        p.claim_pass(&x.id, "h:2:B", at(5), at(15)).await.unwrap(),
        None
    );
    assert!(p.renew_lease(&first, at(20)).await.unwrap());
    assert_eq!(
        p.claim_pass(&x.id, "h:2:B", at(15), at(25)).await.unwrap(),
        None
    );
    let leases = p.pass_leases().await.unwrap();
    assert_eq!(leases.len(), 1);
    assert_eq!(leases[0].owner.as_deref(), Some("h:1:A"));
    assert!(leases[0].held_at(at(19)) && !leases[0].held_at(at(20)));
    // The lease expires (the worker froze): another worker takes the pass over.
    let second = p
        .claim_pass(&x.id, "h:2:B", at(21), at(31))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.attempt, 2);
    // The frozen worker wakes up: every write it tries is fenced.
    assert!(!p.renew_lease(&first, at(40)).await.unwrap());
    assert!(!p.release_pass(&first, None).await.unwrap());
    assert!(
        !p.finish_leased_pass(&first, &ended("succeeded", None), at(22))
            .await
            .unwrap()
    );
    assert_eq!(
        p.mapping_passes(s.a).await.unwrap()[0].outcome,
        PassOutcome::Running
    );
    // The holder's end lands, once.
    assert!(
        p.finish_leased_pass(&second, &ended("succeeded", None), at(23))
            .await
            .unwrap()
    );
    assert!(
        !p.finish_leased_pass(&second, &ended("failed", Some("late")), at(24))
            .await
            .unwrap()
    );
    assert_eq!(
        p.mapping_passes(s.a).await.unwrap()[0].outcome,
        PassOutcome::Succeeded
    );
    assert_eq!(
        p.claim_pass(&x.id, "h:3:C", at(50), at(60)).await.unwrap(),
        None
    );
    assert!(p.pass_leases().await.unwrap().is_empty());
}

both!(a_released_pass_waits_for_its_run_after_time_before_it_is_claimed_again);
async fn a_released_pass_waits_for_its_run_after_time_before_it_is_claimed_again(
    p: Box<dyn ProgrammeStore>,
) {
    let s = setup(&*p).await;
    let e = event(&*p, &s, 0).await;
    let x = pass(e, s.a, PassKind::Initial, 1);
    p.insert_pass(&x).await.unwrap();
    let l = p
        .claim_pass(&x.id, "h:1:A", at(1), at(11))
        .await
        .unwrap()
        .unwrap();
    // A server asked for 30 s of backoff: the pass goes back, still running, not before 31.
    assert!(p.release_pass(&l, Some(at(31))).await.unwrap());
    let leases = p.pass_leases().await.unwrap();
    assert_eq!(leases[0].owner, None);
    assert_eq!(leases[0].run_after, Some(at(31)));
    assert_eq!(
        p.claim_pass(&x.id, "h:1:A", at(30), at(40)).await.unwrap(),
        None
    );
    let again = p
        .claim_pass(&x.id, "h:2:B", at(31), at(41))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.attempt, 2);
    assert_eq!(p.pass_leases().await.unwrap()[0].run_after, None);
    // Released for a drain (no backoff): claimable at once.
    assert!(p.release_pass(&again, None).await.unwrap());
    assert!(
        p.claim_pass(&x.id, "h:3:C", at(32), at(42))
            .await
            .unwrap()
            .is_some()
    );
}

both!(approvals_are_found_in_their_event_or_for_its_mappings_in_any_event);
async fn approvals_are_found_in_their_event_or_for_its_mappings_in_any_event(
    p: Box<dyn ProgrammeStore>,
) {
    let s = setup(&*p).await;
    let (e1, e2) = (event(&*p, &s, 0).await, event(&*p, &s, 0).await);
    p.add_event_mapping(e1, s.a, at(0)).await.unwrap();
    p.add_event_mapping(e2, s.a, at(0)).await.unwrap();
    let who = UserId::new();
    p.insert_approval(e1, s.a, who, at(4)).await.unwrap();
    assert_eq!(p.approvals(e2, false).await.unwrap(), vec![]);
    let any = p.approvals(e2, true).await.unwrap();
    assert_eq!(
        any,
        vec![ApprovalRow {
            mapping: s.a,
            by: who,
            at: at(4)
        }]
    );
    assert_eq!(p.user_is_operator(who).await.unwrap(), None);
}

both!(an_assessment_runs_then_finishes_and_the_newest_is_latest);
async fn an_assessment_runs_then_finishes_and_the_newest_is_latest(p: Box<dyn ProgrammeStore>) {
    let s = setup(&*p).await;
    p.insert_assessment("as-1", s.project, at(0)).await.unwrap();
    assert_eq!(
        p.running_assessments().await.unwrap(),
        vec!["as-1".to_string()]
    );
    p.fail_running_assessment("as-1", at(1)).await.unwrap();
    p.insert_assessment("as-2", s.project, at(2)).await.unwrap();
    assert_eq!(
        p.project_running_assessments(s.project)
            .await
            .unwrap()
            .len(),
        1
    );
    p.finish_assessment("as-2", "done", Some("{\"ready\":true}"), at(3))
        .await
        .unwrap();
    let latest = p.latest_assessment(s.project).await.unwrap().unwrap();
    assert_eq!(
        (
            latest.id.as_str(),
            latest.status.as_str(),
            latest.report.as_deref()
        ),
        ("as-2", "done", Some("{\"ready\":true}"))
    );
    // Offboarding forgets the cached report.
    p.destroy_assessment_caches(s.project).await.unwrap();
    assert_eq!(
        p.latest_assessment(s.project)
            .await
            .unwrap()
            .unwrap()
            .report,
        None
    );
}

both!(a_ticket_is_listed_found_in_its_project_and_updated);
async fn a_ticket_is_listed_found_in_its_project_and_updated(p: Box<dyn ProgrammeStore>) {
    let s = setup(&*p).await;
    let e = event(&*p, &s, 0).await;
    let id = TicketId::new();
    let row = TicketRow {
        id: id.to_string(),
        mapping: s.a.to_string(),
        event: e.to_string(),
        title: "missing mail".into(),
        body: "since Monday".into(),
        status: "open".into(),
        created_by: "u".into(),
        created_at: "2026-01-01T00:00:00.000Z".into(),
        updated_at: "2026-01-01T00:00:00.000Z".into(),
    };
    p.insert_ticket(s.project, &row).await.unwrap();
    assert_eq!(p.tickets(s.project).await.unwrap(), vec![row.clone()]);
    assert_eq!(p.mapping_tickets(s.a).await.unwrap(), 1);
    assert_eq!(p.ticket(ProjectId::new(), id).await.unwrap(), None);
    p.update_ticket(id, "resolved", "fixed", at(60))
        .await
        .unwrap();
    let got = p.ticket(s.project, id).await.unwrap().unwrap();
    assert_eq!(
        (
            got.status.as_str(),
            got.body.as_str(),
            got.updated_at.as_str()
        ),
        ("resolved", "fixed", "2026-01-01T00:01:00.000Z")
    );
}

both!(an_event_takes_and_gives_back_thousands_of_mappings_in_batches_all_or_none);
async fn an_event_takes_and_gives_back_thousands_of_mappings_in_batches_all_or_none(
    p: Box<dyn ProgrammeStore>,
) {
    let s = setup(&*p).await;
    // More rows than one SQLite statement carries (500 per INSERT).
    let many: Vec<MappingRecord> = (0..1_203)
        .map(|i| MappingRecord {
            id: MappingId::new(),
            line: i + 3,
            label: format!("u{i}@x"),
            source: format!("u{i}@x"),
            target: format!("u{i}@y"),
            doc: "{}".into(),
        })
        .collect();
    p.insert_mappings(s.project, &many, at(0)).await.unwrap();
    let ids: Vec<MappingId> = many.iter().map(|m| m.id).collect();
    let e = event(&*p, &s, 0).await;
    let tx = p.begin().await.unwrap();
    tx.add_event_mappings(e, &ids, at(1)).await.unwrap();
    tx.add_event_mapping(e, s.a, at(1)).await.unwrap();
    tx.commit().await.unwrap();
    let got = p.load_event(s.project, e).await.unwrap().unwrap();
    assert_eq!(got.mappings.len(), 1_204);
    assert!(got.mappings.contains(&ids[1_202]) && got.mappings.contains(&s.a));
    p.remove_event_mappings(e, &ids[..700]).await.unwrap();
    let got = p.load_event(s.project, e).await.unwrap().unwrap();
    assert_eq!(got.mappings.len(), 504);
    assert!(!got.mappings.contains(&ids[0]) && got.mappings.contains(&ids[700]));
    assert_eq!(p.mapping_events(ids[0]).await.unwrap().len(), 0);
    assert_eq!(p.mapping_events(ids[700]).await.unwrap().len(), 1);
    // A batch that fails in its last rows (a mapping already in the event) leaves nothing behind in its
    // transaction's writes before it: the caller's transaction rolls back whole.
    let tx = p.begin().await.unwrap();
    let e2 = EventId::new();
    tx.insert_event(&NewEvent {
        id: e2,
        project: s.project,
        name: "Wave 2".into(),
        kind: EventKind::Synchronization,
        pilot: false,
        start: at(0),
        created_by: UserId::new(),
        at: at(0),
    })
    .await
    .unwrap();
    let mut twice = ids[..600].to_vec();
    twice.push(ids[0]);
    assert!(tx.add_event_mappings(e2, &twice, at(2)).await.is_err());
    drop(tx);
    assert!(p.load_event(s.project, e2).await.unwrap().is_none());
    assert_eq!(p.mapping_events(ids[0]).await.unwrap().len(), 0);
    // Nothing to add or remove is no statement at all.
    p.add_event_mappings(e, &[], at(3)).await.unwrap();
    p.remove_event_mappings(e, &[]).await.unwrap();
}

both!(a_tenant_at_its_cap_of_live_leases_gets_no_more_until_one_ends_or_expires);
async fn a_tenant_at_its_cap_of_live_leases_gets_no_more_until_one_ends_or_expires(
    p: Box<dyn ProgrammeStore>,
) {
    let s = setup(&*p).await;
    let e = event(&*p, &s, 0).await;
    let x = pass(e, s.a, PassKind::Initial, 1);
    let y = pass(e, s.b, PassKind::Initial, 2);
    p.insert_pass(&x).await.unwrap();
    p.insert_pass(&y).await.unwrap();
    let lx = p
        .claim_pass_capped(&x.id, "h:1:A", at(1), at(11), Some(1))
        .await
        .unwrap()
        .unwrap();
    // The tenant holds 1 live lease: a cap of 1 refuses the second pass, a cap of 2 would not.
    assert_eq!(
        p.claim_pass_capped(&y.id, "h:2:B", at(2), at(12), Some(1))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        p.pass_leases().await.unwrap().len(),
        2,
        "both still running"
    );
    // Once x's lease expired (its worker died), it no longer counts.
    let ly = p
        .claim_pass_capped(&y.id, "h:2:B", at(11), at(21), Some(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ly.attempt, 1);
    // A pass given back (drain) no longer counts either; no cap: no limit.
    assert!(p.release_pass(&ly, None).await.unwrap());
    assert!(
        p.claim_pass_capped(&x.id, "h:3:C", at(12), at(22), Some(1))
            .await
            .unwrap()
            .is_some()
    );
    let _ = lx;
    assert!(
        p.claim_pass_capped(&y.id, "h:3:C", at(13), at(23), None)
            .await
            .unwrap()
            .is_some()
    );
}

both!(tickets_page_newest_first_filtered_by_state_and_mapping);
async fn tickets_page_newest_first_filtered_by_state_and_mapping(p: Box<dyn ProgrammeStore>) {
    let s = setup(&*p).await;
    let e = event(&*p, &s, 0).await;
    let mut ids = Vec::new();
    for (i, (mapping, status)) in [
        (s.a, "open"),
        (s.b, "open"),
        (s.a, "resolved"),
        (s.a, "open"),
    ]
    .into_iter()
    .enumerate()
    {
        let id = TicketId::new();
        p.insert_ticket(
            s.project,
            &TicketRow {
                id: id.to_string(),
                mapping: mapping.to_string(),
                event: e.to_string(),
                title: format!("ticket {i}"),
                body: String::new(),
                status: status.into(),
                created_by: "u".into(),
                created_at: "2026-01-01T00:00:00.000Z".into(),
                updated_at: "2026-01-01T00:00:00.000Z".into(),
            },
        )
        .await
        .unwrap();
        ids.push(id);
    }
    let titles = |rows: Vec<TicketRow>| rows.into_iter().map(|t| t.title).collect::<Vec<_>>();
    let all = TicketFilter::default();
    let first = p.tickets_page(s.project, &all, None, 2).await.unwrap();
    assert_eq!(titles(first), ["ticket 3", "ticket 2"]);
    let older = p
        .tickets_page(s.project, &all, Some(ids[2]), 10)
        .await
        .unwrap();
    assert_eq!(titles(older), ["ticket 1", "ticket 0"]);
    let open_on_a = TicketFilter {
        status: Some("open".into()),
        mapping: Some(s.a),
    };
    let got = p
        .tickets_page(s.project, &open_on_a, None, 10)
        .await
        .unwrap();
    assert_eq!(titles(got), ["ticket 3", "ticket 0"]);
    assert!(
        p.tickets_page(ProjectId::new(), &all, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}
