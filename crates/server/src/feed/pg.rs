//! The feed of several processes on one PostgreSQL store: every notice is also sent as a `NOTIFY` on
//! [`CHANNEL`] (JSON, with the sending process's id), and a listener task forwards every other process's
//! notice into this process's broadcast. A process hears its own notices at once, without the round trip,
//! and only once.
//!
//! The listener reconnects by itself after the database dropped its connection (restart, terminated
//! backend); notices sent meanwhile are lost, which costs a live view one of its own refreshes, never a
//! wrong figure (see [`super`]).

use super::{FEED_CAPACITY, Feed, Notice};
use ferry_core::Result;
use ferry_store::{Heard, PgNotifier};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc, oneshot};

/// The `LISTEN/NOTIFY` channel of Ferry's feed.
pub const CHANNEL: &str = "ferry_feed";

/// One notice on the wire: who sent it, and the notice.
#[derive(Serialize, Deserialize)]
struct Envelope {
    from: String,
    notice: Notice,
}

/// The feed shared by every process on one PostgreSQL store.
pub struct PgFeed {
    node: String,
    local: broadcast::Sender<Notice>,
    out: mpsc::UnboundedSender<String>,
    /// Dropped with the feed: ends the listener task.
    _stop: oneshot::Sender<()>,
}

impl PgFeed {
    /// Listen on the store at `url` and start the sender and listener tasks (on the current runtime).
    /// Fails when the database cannot be listened to now; later losses are reconnected.
    pub async fn start(url: &str) -> Result<PgFeed> {
        let notifier = PgNotifier::connect(url)?;
        let mut sub = notifier.listen(CHANNEL).await?;
        let node = uuid::Uuid::now_v7().simple().to_string();
        let (local, _) = broadcast::channel(FEED_CAPACITY);
        let (out, mut queued) = mpsc::unbounded_channel::<String>();
        // One sender, in order: notices reach the other processes in the order they were published.
        tokio::spawn(async move {
            while let Some(payload) = queued.recv().await {
                if let Err(e) = notifier.notify(CHANNEL, &payload).await {
                    tracing::warn!(error = %e, "a live-progress notice did not reach the other Ferry processes; their views refresh on their own");
                }
            }
        });
        let (stop, mut stopped) = oneshot::channel::<()>();
        let tx = local.clone();
        let me = node.clone();
        tokio::spawn(async move {
            loop {
                let heard = tokio::select! {
                    h = sub.recv() => h,
                    _ = &mut stopped => return,
                };
                match heard {
                    Heard::Payload(p) => match serde_json::from_str::<Envelope>(&p) {
                        Ok(env) if env.from != me => {
                            // An error only means that nobody listens here.
                            let _ = tx.send(env.notice);
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "a notification on the feed's channel is not a Ferry notice; ignored")
                        }
                    },
                    Heard::Reconnected => {
                        tracing::info!(
                            "listening to the other Ferry processes' live progress again"
                        )
                    }
                }
            }
        });
        Ok(PgFeed {
            node,
            local,
            out,
            _stop: stop,
        })
    }
}

impl Feed for PgFeed {
    fn publish(&self, notice: Notice) {
        let _ = self.local.send(notice);
        let env = Envelope {
            from: self.node.clone(),
            notice,
        };
        match serde_json::to_string(&env) {
            // An error only means that the sender task has ended (the runtime is shutting down).
            Ok(p) => {
                let _ = self.out.send(p);
            }
            Err(e) => tracing::warn!(error = %e, "cannot encode a live-progress notice"),
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<Notice> {
        self.local.subscribe()
    }
}
