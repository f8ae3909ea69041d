//! Each event's lines: kept stale by the store's triggers, decided by the caller, counted, summed and read a
//! page at a time in the store; the event's pass ends grouped by minute; a few mappings' passes.

use super::at;
use ferry_core::id::{EventId, MappingId, ProjectId, UserId};
use ferry_core::programme::PassKind;
use ferry_core::programme::event::EventKind;
use ferry_store::programme::*;

const RULES: &str = "r1";

/// A project with `n` mappings, in id order (import order).
async fn new_project(p: &dyn ProgrammeStore, n: usize) -> (ProjectId, Vec<MappingId>) {
    let (_, project) = super::mail_project(p).await;
    let mut ms: Vec<MappingRecord> = (0..n)
        .map(|i| MappingRecord {
            id: MappingId::new(),
            line: i as i64 + 1,
            label: format!("u{i}@x"),
            source: format!("src-{i}"),
            target: format!("tgt-{i}"),
            doc: "{}".into(),
        })
        .collect();
    ms.sort_by_key(|m| m.id.to_string());
    p.insert_mappings(project, &ms, at(0)).await.unwrap();
    (project, ms.into_iter().map(|m| m.id).collect())
}

async fn event(p: &dyn ProgrammeStore, project: ProjectId, ms: &[MappingId]) -> EventId {
    let id = EventId::new();
    p.insert_event(&NewEvent {
        id,
        project,
        name: "Wave".into(),
        kind: EventKind::Synchronization,
        pilot: false,
        start: at(100),
        created_by: UserId::new(),
        at: at(0),
    })
    .await
    .unwrap();
    p.add_event_mappings(id, ms, at(1)).await.unwrap();
    id
}

/// The event's stale mappings, in id order.
async fn stale(p: &dyn ProgrammeStore, e: EventId, now: i64) -> Vec<MappingId> {
    p.stale_event_lines(e, at(now), RULES)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.mapping)
        .collect()
}

/// A line in `phase` with `grade` and `copied` items (`copied` × 10 bytes), holding until `until`.
fn line(s: &StaleStatus, phase: &str, grade: Option<&str>, copied: u64) -> EventLineWrite {
    EventLineWrite {
        mapping: s.mapping,
        version: s.version,
        until: None,
        rules: RULES.into(),
        phase: phase.into(),
        grade: grade.map(str::to_owned),
        counters: LineCounters {
            discovered: copied + 1,
            copied,
            skipped: 1,
            failed: 0,
            bytes: copied * 10,
        },
        line: format!("{{\"copied\":{copied}}}"),
        outcome: grade.map(|g| format!("{{\"grade\":\"{g}\"}}")),
    }
}

/// Decide every stale line of `e` as queued, not graded.
async fn decide_all(p: &dyn ProgrammeStore, e: EventId) -> u64 {
    let writes: Vec<EventLineWrite> = p
        .stale_event_lines(e, at(0), RULES)
        .await
        .unwrap()
        .iter()
        .map(|s| line(s, "queued", None, 0))
        .collect();
    p.put_event_lines(e, &writes).await.unwrap()
}

fn pass(e: EventId, m: MappingId, n: i64) -> NewPass {
    NewPass {
        id: format!("pass-{m}-{n}"),
        event: e,
        mapping: m,
        kind: PassKind::Initial,
        attempt: 1,
        at: at(200 + n),
    }
}

/// The lines `which` selects: (mapping, phase, line).
async fn lines(
    p: &dyn ProgrammeStore,
    e: EventId,
    which: LineSelect,
) -> Vec<(MappingId, String, String)> {
    p.event_lines(e, &which)
        .await
        .unwrap()
        .into_iter()
        .map(|l| (l.mapping, l.phase, l.line.unwrap()))
        .collect()
}

/// End pass `id` succeeded at `at(secs)` with `counters`.
async fn finish(p: &dyn ProgrammeStore, id: String, counters: Option<&str>, secs: i64) {
    let end = PassEnd {
        outcome: "succeeded".into(),
        reason: None,
        counters: counters.map(str::to_owned),
        grade: None,
        run_id: None,
    };
    assert!(p.finish_pass(&id, &end, at(secs)).await.unwrap());
}

both!(an_events_line_goes_stale_in_the_same_write_as_what_it_was_decided_from);
async fn an_events_line_goes_stale_in_the_same_write_as_what_it_was_decided_from(
    p: Box<dyn ProgrammeStore>,
) {
    let (project, ms) = new_project(&*p, 4).await;
    let e = event(&*p, project, &ms[..3]).await;
    let other = event(&*p, project, &ms[..1]).await;
    // No line yet: each of the event's mappings is named (a stale line is made), until decided.
    assert_eq!(stale(&*p, e, 0).await, ms[..3]);
    assert_eq!(stale(&*p, e, 0).await, ms[..3]);
    assert_eq!(decide_all(&*p, e).await, 3);
    assert!(stale(&*p, e, 0).await.is_empty());
    assert_eq!(decide_all(&*p, other).await, 1);

    // A pass starting: the mapping's lines in every event; a line decided before it is not stored.
    let read = p.stale_event_lines(e, at(0), RULES).await.unwrap();
    assert!(read.is_empty());
    let before = StaleStatus {
        mapping: ms[0],
        version: 0,
    };
    let first = pass(e, ms[0], 0);
    p.insert_pass(&first).await.unwrap();
    assert_eq!(stale(&*p, e, 0).await, [ms[0]]);
    assert_eq!(stale(&*p, other, 0).await, [ms[0]]);
    assert_eq!(
        p.put_event_lines(e, &[line(&before, "done", None, 1)])
            .await
            .unwrap(),
        0
    );
    assert_eq!(stale(&*p, e, 0).await, [ms[0]]);
    decide_all(&*p, e).await;
    decide_all(&*p, other).await;

    // Claimed, renewed, given back to wait, ended: claiming and giving back change a line (a wait is
    // queued), renewing does not.
    let lease = p
        .claim_pass(&first.id, "w1", at(201), at(300))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stale(&*p, e, 0).await, [ms[0]]);
    decide_all(&*p, e).await;
    assert!(p.renew_lease(&lease, at(400)).await.unwrap());
    assert!(stale(&*p, e, 0).await.is_empty());
    assert!(p.release_pass(&lease, Some(at(500))).await.unwrap());
    assert_eq!(stale(&*p, e, 0).await, [ms[0]]);
    decide_all(&*p, e).await;
    let end = PassEnd {
        outcome: "succeeded".into(),
        reason: None,
        counters: Some("{\"copied\":3,\"skipped\":1,\"failed\":0,\"bytes\":30}".into()),
        grade: Some("Perfect".into()),
        run_id: None,
    };
    assert!(p.finish_pass(&first.id, &end, at(250)).await.unwrap());
    assert_eq!(stale(&*p, e, 0).await, [ms[0]]);
    assert_eq!(stale(&*p, other, 0).await, [ms[0]]);
    decide_all(&*p, e).await;
    decide_all(&*p, other).await;

    // The event's state does not change a line (the pages read it from the event).
    p.set_event_state(
        e,
        ferry_core::programme::event::EventState::Running,
        None,
        at(2),
    )
    .await
    .unwrap();
    assert!(stale(&*p, e, 0).await.is_empty());

    // The event moving: all its lines. A line's time coming: that one. Other rules: all.
    p.update_event(e, "Wave", at(150), false, at(2))
        .await
        .unwrap();
    assert_eq!(stale(&*p, e, 0).await, ms[..3]);
    assert!(stale(&*p, other, 0).await.is_empty());
    let read = p.stale_event_lines(e, at(0), RULES).await.unwrap();
    let mut waiting = line(&read[1], "queued", None, 0);
    waiting.until = Some(at(150));
    let mut writes = vec![waiting];
    writes.extend(
        read.iter()
            .filter(|s| s.mapping != ms[1])
            .map(|s| line(s, "queued", None, 0)),
    );
    assert_eq!(p.put_event_lines(e, &writes).await.unwrap(), 3);
    assert!(stale(&*p, e, 149).await.is_empty());
    assert_eq!(stale(&*p, e, 150).await, [ms[1]]);
    decide_all(&*p, e).await;
    assert_eq!(p.stale_event_lines(e, at(0), "r2").await.unwrap().len(), 3);

    // A mapping's own credential: that mapping. An endpoint's: the project's lines.
    let cred = |owner: String| CredentialWrite {
        project,
        owner,
        nonce: vec![0; 12],
        ciphertext: vec![1; 16],
        supplied_by: UserId::new(),
        supplied_at: at(5),
        expires_at: at(86_400),
    };
    p.store_credential(&cred(format!("mapping:{}:source", ms[2])))
        .await
        .unwrap();
    assert_eq!(stale(&*p, e, 0).await, [ms[2]]);
    decide_all(&*p, e).await;
    p.store_credential(&cred("endpoint:target".into()))
        .await
        .unwrap();
    assert_eq!(stale(&*p, e, 0).await, ms[..3]);
    assert_eq!(stale(&*p, other, 0).await, [ms[0]]);
    decide_all(&*p, e).await;

    // Leaving the event, a deleted mapping: no line; joining: a new stale one.
    p.remove_event_mapping(e, ms[1]).await.unwrap();
    assert!(p.delete_mapping(project, ms[2]).await.unwrap());
    assert!(stale(&*p, e, 0).await.is_empty());
    let counted: u64 = p
        .event_line_counts(e)
        .await
        .unwrap()
        .iter()
        .map(|c| c.mappings)
        .sum();
    assert_eq!(counted, 1);
    p.add_event_mapping(e, ms[3], at(3)).await.unwrap();
    assert_eq!(stale(&*p, e, 0).await, [ms[3]]);
}

both!(an_events_lines_are_counted_summed_and_read_in_the_store);
async fn an_events_lines_are_counted_summed_and_read_in_the_store(p: Box<dyn ProgrammeStore>) {
    let (project, ms) = new_project(&*p, 6).await;
    let e = event(&*p, project, &ms[..5]).await;
    let other = event(&*p, project, &ms[5..]).await;
    decide_all(&*p, other).await;
    let read = p.stale_event_lines(e, at(0), RULES).await.unwrap();
    let writes = vec![
        line(&read[0], "done", Some("Perfect"), 10),
        line(&read[1], "done", Some("Perfect"), 20),
        line(&read[2], "done", Some("Poor"), 5),
        line(&read[3], "running", None, 7),
        line(&read[4], "queued", None, 0),
    ];
    assert_eq!(p.put_event_lines(e, &writes).await.unwrap(), 5);

    let counts = p.event_line_counts(e).await.unwrap();
    type Count<'a> = (&'a str, Option<&'a str>, u64, u64, u64, u64);
    let got: Vec<Count<'_>> = counts
        .iter()
        .map(|c| {
            (
                c.phase.as_str(),
                c.grade.as_deref(),
                c.mappings,
                c.counters.copied,
                c.counters.skipped,
                c.counters.bytes,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("done", Some("Perfect"), 2, 30, 2, 300),
            ("done", Some("Poor"), 1, 5, 1, 50),
            ("queued", None, 1, 0, 1, 0),
            ("running", None, 1, 7, 1, 70),
        ]
    );
    assert_eq!(counts[0].counters.discovered, 32);

    // A page: its mappings only, in import order, whatever order asked; another event's are not read.
    assert_eq!(
        lines(&*p, e, LineSelect::Mappings(vec![ms[3], ms[1], ms[5]])).await,
        [
            (ms[1], "done".to_string(), "{\"copied\":20}".to_string()),
            (ms[3], "running".to_string(), "{\"copied\":7}".to_string()),
        ]
    );
    assert_eq!(
        lines(&*p, e, LineSelect::Phase("running".into())).await,
        [(ms[3], "running".to_string(), "{\"copied\":7}".to_string())]
    );
    let poor = p
        .event_lines(
            e,
            &LineSelect::Grades(vec!["Investigate".into(), "Poor".into()]),
        )
        .await
        .unwrap();
    assert_eq!(poor.len(), 1);
    assert_eq!(poor[0].mapping, ms[2]);
    assert_eq!(poor[0].outcome.as_deref(), Some("{\"grade\":\"Poor\"}"));
    assert!(
        p.event_lines(e, &LineSelect::Grades(Vec::new()))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        p.event_line_grades(e).await.unwrap(),
        [
            (ms[0], "Perfect".to_string()),
            (ms[1], "Perfect".to_string()),
            (ms[2], "Poor".to_string()),
        ]
    );
}

both!(an_events_pass_ends_are_grouped_by_minute_and_a_few_mappings_passes_read_in_the_store);
async fn an_events_pass_ends_are_grouped_by_minute_and_a_few_mappings_passes_read_in_the_store(
    p: Box<dyn ProgrammeStore>,
) {
    let (project, ms) = new_project(&*p, 3).await;
    let e = event(&*p, project, &ms).await;
    let other = event(&*p, project, &ms[..1]).await;
    assert!(p.event_pass_ends(e).await.unwrap().is_empty());
    // Ends at 10 s and 50 s of one minute, 130 s (the next but one), a pass still running, one without
    // counters, and another event's.
    for (i, m) in ms.iter().enumerate() {
        p.insert_pass(&pass(e, *m, i as i64)).await.unwrap();
    }
    p.insert_pass(&pass(e, ms[0], 10)).await.unwrap();
    p.insert_pass(&pass(e, ms[1], 11)).await.unwrap();
    p.insert_pass(&pass(other, ms[0], 12)).await.unwrap();
    let c = |copied: u64, skipped: u64, failed: u64, bytes: u64| {
        format!(
            "{{\"copied\":{copied},\"skipped\":{skipped},\"failed\":{failed},\"bytes\":{bytes},\"journal\":null}}"
        )
    };
    finish(&*p, pass(e, ms[0], 0).id, Some(&c(5, 1, 0, 500)), 10).await;
    finish(&*p, pass(e, ms[1], 1).id, Some(&c(7, 0, 2, 700)), 50).await;
    finish(&*p, pass(e, ms[2], 2).id, Some("{\"copied\":4}"), 130).await;
    finish(&*p, pass(e, ms[1], 11).id, None, 20).await;
    finish(&*p, pass(other, ms[0], 12).id, Some(&c(100, 0, 0, 1)), 30).await;
    let ends = p.event_pass_ends(e).await.unwrap();
    assert_eq!(
        ends,
        [
            PassEnds {
                first: at(10),
                last: at(50),
                passes: 2,
                items: 15,
                bytes: 1200,
            },
            PassEnds {
                first: at(130),
                last: at(130),
                passes: 1,
                items: 4,
                bytes: 0,
            },
        ]
    );

    // The passes of some mappings, in any event, each mapping's oldest first; no other mapping's.
    let of = |m: MappingId, got: &[StoredPass]| -> Vec<String> {
        got.iter()
            .filter(|p| p.mapping == m)
            .map(|p| p.id.clone())
            .collect()
    };
    let got = p.mappings_passes(&[ms[2], ms[0]]).await.unwrap();
    assert_eq!(got.len(), 4);
    assert_eq!(
        of(ms[0], &got),
        [
            pass(e, ms[0], 0).id,
            pass(e, ms[0], 10).id,
            pass(other, ms[0], 12).id
        ]
    );
    assert_eq!(of(ms[2], &got), [pass(e, ms[2], 2).id]);
    assert!(p.mappings_passes(&[]).await.unwrap().is_empty());
}
