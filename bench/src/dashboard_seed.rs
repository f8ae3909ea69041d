//! `ferry-bench dashboard`'s pass history (issue 13): the event's mappings as if the event had run for three
//! days, so the grid, the mapping detail, the event's pages and the reports read real passes. Running
//! 10,000 mail passes needs mail servers, so the passes are recorded through the store's own operations
//! (`ferry_store::programme`, no SQL here) while `ferry serve` is stopped, and the server is started again
//! on the same data directory.
//!
//! The event (a synchronization event) is moved to have started three days ago and to be `running` (its
//! project `migrating`); then each mapping of the event, by its position `i` in the event (`i % 50`):
//! - 43 of 50 **Perfect**: an Initial pass three days ago and two Deltas (26 h and 2 h ago), all succeeded
//!   with nothing skipped or failed; the next Delta is due at the 24 h cadence, so nothing runs now;
//! - 1 **Good** (0.05 % of its items skipped), 1 **Investigate** (3 % skipped), 1 with one failed item
//!   (Good or Investigate by its size): Initial and two Deltas succeeded;
//! - 1 **failed** at its Initial (two failed attempts: the attempt limit) and 1 failed at its second Delta
//!   (Initial and a Delta succeeded, then two failed attempts): the rules decide `failed`;
//! - 1 **running**: Initial and a Delta succeeded, a Delta running for 10 minutes under a lease a worker of
//!   another host holds for a day (the server's scheduler leaves it alone);
//! - 1 **queued**: the same, but the Delta's lease given back until tomorrow, as when a server asks to wait.
//!
//! The failed attempts are recorded just after the import (the mappings' passwords were supplied then: an
//! attempt before a login change would not count). No audit entries or transactions are written for the
//! passes, so the audit log and transactions pages are as without them.

use chrono::{DateTime, TimeDelta, Utc};
use ferry_core::grade::GradePolicy;
use ferry_core::id::{EventId, MappingId, ProjectId};
use ferry_core::programme::{EventState, PassKind, ProjectState};
use ferry_store::StoreLocation;
use ferry_store::programme::{NewPass, PassEnd, ProgrammeTx};
use serde_json::json;
use std::io;
use std::path::Path;

/// What was recorded.
#[derive(Debug, Default)]
pub struct Seeded {
    pub mappings: usize,
    pub passes: usize,
    pub perfect: usize,
    pub imperfect: usize,
    pub failed: usize,
    pub running: usize,
    pub queued: usize,
}

fn err(msg: impl std::fmt::Display) -> io::Error {
    io::Error::other(msg.to_string())
}

/// One mapping's figures: its size, in items, and what a pass left skipped and failed.
struct Size {
    items: u64,
    skipped: u64,
    failed: u64,
}

/// A pass's counters as the server stores them: the engine's, plus the mapping's journal after it.
fn counters(copied: u64, skipped: u64, failed: u64, total: &Size) -> String {
    json!({
        "discovered": copied + skipped + failed,
        "copied": copied,
        "skipped": skipped,
        "failed": failed,
        "bytes": copied * 48_000,
        "journal": {
            "items": total.items,
            "copied": total.items - total.skipped - total.failed,
            "skipped": total.skipped,
            "failed": total.failed,
            "pending": 0,
            "folder_errors": 0,
        },
    })
    .to_string()
}

struct Writer<'a> {
    tx: &'a dyn ProgrammeTx,
    event: EventId,
    policy: GradePolicy,
    passes: usize,
}

impl Writer<'_> {
    async fn begin(
        &mut self,
        mapping: MappingId,
        kind: PassKind,
        attempt: u32,
        at: DateTime<Utc>,
    ) -> io::Result<String> {
        let id = uuid::Uuid::now_v7().to_string();
        self.tx
            .insert_pass(&NewPass {
                id: id.clone(),
                event: self.event,
                mapping,
                kind,
                attempt,
                at,
            })
            .await
            .map_err(err)?;
        self.passes += 1;
        Ok(id)
    }

    /// A pass that succeeded, copying `copied` items, leaving the mapping at `total`.
    #[allow(clippy::too_many_arguments)]
    async fn ok(
        &mut self,
        mapping: MappingId,
        kind: PassKind,
        at: DateTime<Utc>,
        took: TimeDelta,
        copied: u64,
        total: &Size,
    ) -> io::Result<()> {
        let id = self.begin(mapping, kind, 1, at).await?;
        let grade = self.policy.grade(total.items, total.skipped, total.failed);
        let end = PassEnd {
            outcome: "succeeded".into(),
            reason: None,
            counters: Some(counters(copied, total.skipped, total.failed, total)),
            grade: Some(grade.to_string()),
            run_id: None,
        };
        self.tx
            .finish_pass(&id, &end, at + took)
            .await
            .map_err(err)?;
        Ok(())
    }

    /// A pass that failed as a whole.
    async fn failed(
        &mut self,
        mapping: MappingId,
        kind: PassKind,
        attempt: u32,
        at: DateTime<Utc>,
    ) -> io::Result<()> {
        let id = self.begin(mapping, kind, attempt, at).await?;
        let end = PassEnd {
            outcome: "failed".into(),
            reason: Some(
                "source: IMAP LOGIN refused: AUTHENTICATIONFAILED (seeded by ferry-bench)".into(),
            ),
            counters: None,
            grade: None,
            run_id: None,
        };
        self.tx
            .finish_pass(&id, &end, at + TimeDelta::seconds(4))
            .await
            .map_err(err)?;
        Ok(())
    }
}

/// Record the history described in the module's docs for `event` of `project`, in the SQLite store of the
/// data directory `data` (no server running on it).
pub fn seed(data: &Path, project: &str, event: &str) -> io::Result<Seeded> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(seed_async(data, project, event))
}

async fn seed_async(data: &Path, project: &str, event: &str) -> io::Result<Seeded> {
    let project: ProjectId = project.parse().map_err(err)?;
    let event_id: EventId = event.parse().map_err(err)?;
    let (_journal, store) = StoreLocation::in_data_dir(data)
        .open(2)
        .await
        .map_err(err)?;
    let e = store
        .load_event(project, event_id)
        .await
        .map_err(err)?
        .ok_or_else(|| err(format!("no event {event} in project {project}")))?;
    // The logins were supplied at the import: a failed attempt counts only after it.
    let supplied = store
        .credentials_supplied(project)
        .await
        .map_err(err)?
        .into_iter()
        .filter_map(|(_, at)| at.parse::<DateTime<Utc>>().ok())
        .max();
    let now = Utc::now();
    let after_logins = supplied.unwrap_or(now) + TimeDelta::seconds(1);
    let start = now - TimeDelta::days(3);
    let tx = store.begin().await.map_err(err)?;
    tx.update_event(e.id, &e.name, start, e.pilot, now)
        .await
        .map_err(err)?;
    tx.set_event_state(e.id, EventState::Running, None, now)
        .await
        .map_err(err)?;
    tx.set_project_state(project, ProjectState::Migrating, None, None, now)
        .await
        .map_err(err)?;
    let mut w = Writer {
        tx: &*tx,
        event: e.id,
        policy: GradePolicy::default(),
        passes: 0,
    };
    let mut out = Seeded {
        mappings: e.mappings.len(),
        ..Seeded::default()
    };
    let mut leases = Vec::new();
    for (i, m) in e.mappings.iter().copied().enumerate() {
        let items = 200 + (i as u64 * 37) % 3_000;
        let spread = TimeDelta::seconds((i % 3_600) as i64);
        let initial_at = start + spread;
        let delta1_at = now - TimeDelta::hours(26) + spread;
        let delta2_at = now - TimeDelta::hours(2) + spread;
        let took = TimeDelta::seconds(30 + (items / 20) as i64);
        let clean = Size {
            items,
            skipped: 0,
            failed: 0,
        };
        let grown = |n: u64, skipped: u64, failed: u64| Size {
            items: items + n,
            skipped,
            failed,
        };
        match i % 50 {
            1 => {
                // Never got in: two failed Initial attempts (the limit).
                w.failed(m, PassKind::Initial, 1, after_logins).await?;
                w.failed(
                    m,
                    PassKind::Initial,
                    2,
                    after_logins + TimeDelta::seconds(5),
                )
                .await?;
                out.failed += 1;
            }
            26 => {
                // Copied, then lost its login: two failed Deltas.
                w.ok(m, PassKind::Initial, initial_at, took, items, &clean)
                    .await?;
                w.ok(m, PassKind::Delta, delta1_at, took / 10, 4, &grown(4, 0, 0))
                    .await?;
                w.failed(m, PassKind::Delta, 1, after_logins).await?;
                w.failed(m, PassKind::Delta, 2, after_logins + TimeDelta::seconds(5))
                    .await?;
                out.failed += 1;
            }
            2 | 27 | 3 => {
                let (skipped, failed) = match i % 50 {
                    2 => (items / 2_000, 0),
                    27 => (items * 3 / 100, 0),
                    _ => (0, 1),
                };
                let initial = grown(0, skipped, failed);
                w.ok(
                    m,
                    PassKind::Initial,
                    initial_at,
                    took,
                    items - skipped - failed,
                    &initial,
                )
                .await?;
                w.ok(
                    m,
                    PassKind::Delta,
                    delta1_at,
                    took / 10,
                    3,
                    &grown(3, skipped, failed),
                )
                .await?;
                w.ok(
                    m,
                    PassKind::Delta,
                    delta2_at,
                    took / 10,
                    2,
                    &grown(5, skipped, failed),
                )
                .await?;
                out.imperfect += 1;
            }
            4 | 5 => {
                w.ok(m, PassKind::Initial, initial_at, took, items, &clean)
                    .await?;
                w.ok(m, PassKind::Delta, delta1_at, took / 10, 4, &grown(4, 0, 0))
                    .await?;
                let id = w
                    .begin(m, PassKind::Delta, 1, now - TimeDelta::minutes(10))
                    .await?;
                leases.push((id, i % 50 == 5));
            }
            _ => {
                w.ok(m, PassKind::Initial, initial_at, took, items, &clean)
                    .await?;
                w.ok(m, PassKind::Delta, delta1_at, took / 10, 4, &grown(4, 0, 0))
                    .await?;
                w.ok(m, PassKind::Delta, delta2_at, took / 10, 2, &grown(6, 0, 0))
                    .await?;
                out.perfect += 1;
            }
        }
    }
    out.passes = w.passes;
    tx.commit().await.map_err(err)?;
    // The running Deltas: held by a worker of another host (the scheduler leaves them), or given back until
    // tomorrow (queued: the server asked to wait).
    let owner = format!("bench-seed-host:1:{}", uuid::Uuid::now_v7());
    let day = now + TimeDelta::days(1);
    for (id, queued) in leases {
        let lease = store
            .claim_pass(&id, &owner, now, day)
            .await
            .map_err(err)?
            .ok_or_else(|| err(format!("could not claim seeded pass {id}")))?;
        if queued {
            store.release_pass(&lease, Some(day)).await.map_err(err)?;
            out.queued += 1;
        } else {
            out.running += 1;
        }
    }
    Ok(out)
}
