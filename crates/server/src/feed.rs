//! The progress feed: what live views listen to. Workers publish a [`Notice`] when a pass starts and when
//! it ends; a live view (the dashboard's SSE stream, see [`crate::web::live`]) wakes on a notice for its
//! event and re-reads the event's state through the programme operations. A notice carries no figures, so
//! a lost or duplicated one costs a refresh, never a wrong number: the views also refresh on their own
//! while passes run.
//!
//! [`LocalFeed`] is the in-process implementation (one `tokio::sync::broadcast` channel), what a SQLite
//! store gets. On a PostgreSQL store every process uses [`pg::PgFeed`]: `publish` also sends a `NOTIFY`
//! with the notice as JSON, and a listener task forwards every other process's notice into the local
//! broadcast that `subscribe` hands out — so a live view on any API node hears passes run by any worker.
//!
//! Every pass start and end publishes (whichever path ran it: this process's pool or a queue worker, see
//! [`crate::scheduler`]), and so does every event state change, after it is committed.

pub mod pg;

use ferry_core::id::{EventId, MappingId};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// Notices a slow subscriber may fall behind by before it misses some (it then refreshes anyway).
pub const FEED_CAPACITY: usize = 1024;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    PassStarted,
    PassFinished,
    /// The event itself changed (created, changed, cancelled, started, completed).
    EventChanged,
}

/// One notice: something happened in `event` (to `mapping`, when it is about a pass).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub event: EventId,
    pub mapping: Option<MappingId>,
    pub kind: NoticeKind,
}

/// Where notices go and where live views hear them.
pub trait Feed: Send + Sync {
    /// Tell every subscriber (never blocks; nobody listening is fine).
    fn publish(&self, notice: Notice);
    /// Notices published from now on.
    fn subscribe(&self) -> broadcast::Receiver<Notice>;

    /// A pass of `event` on `mapping` started running (on this worker).
    fn pass_started(&self, event: EventId, mapping: MappingId) {
        self.publish(Notice {
            event,
            mapping: Some(mapping),
            kind: NoticeKind::PassStarted,
        });
    }

    /// A pass of `event` on `mapping` ended (its outcome is recorded, or it was given back or stopped).
    fn pass_finished(&self, event: EventId, mapping: MappingId) {
        self.publish(Notice {
            event,
            mapping: Some(mapping),
            kind: NoticeKind::PassFinished,
        });
    }

    /// `event` itself changed state (call after the change is committed).
    fn event_changed(&self, event: EventId) {
        self.publish(Notice {
            event,
            mapping: None,
            kind: NoticeKind::EventChanged,
        });
    }
}

/// The feed of one process.
pub struct LocalFeed {
    tx: broadcast::Sender<Notice>,
}

impl Default for LocalFeed {
    fn default() -> Self {
        LocalFeed {
            tx: broadcast::channel(FEED_CAPACITY).0,
        }
    }
}

impl Feed for LocalFeed {
    fn publish(&self, notice: Notice) {
        // An error only means that nobody listens.
        let _ = self.tx.send(notice);
    }

    fn subscribe(&self) -> broadcast::Receiver<Notice> {
        self.tx.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_hear_notices_published_after_they_subscribed() {
        let feed = LocalFeed::default();
        let e = EventId::new();
        feed.publish(Notice {
            event: e,
            mapping: None,
            kind: NoticeKind::EventChanged,
        });
        let mut rx = feed.subscribe();
        let n = Notice {
            event: e,
            mapping: Some(MappingId::new()),
            kind: NoticeKind::PassStarted,
        };
        feed.publish(n);
        assert_eq!(rx.recv().await.ok(), Some(n));
        assert!(rx.try_recv().is_err(), "the earlier notice is not replayed");
    }
}
