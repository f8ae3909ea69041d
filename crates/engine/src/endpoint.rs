//! How the engine opens a mailbox: an [`EndpointOpener`] per side of a mapping.

use async_trait::async_trait;
use ferry_core::Result;
use ferry_core::mail::{Access, MailConnector};
use ferry_mail::config::MailEndpoint;

/// Opens connector sessions for one mailbox on one side.
#[async_trait]
pub trait EndpointOpener: Send + Sync {
    /// A stable description without secrets; the mapping's identity in the store.
    fn describe(&self) -> String;
    /// What shares a connection cap (host:port of a server, or a path).
    fn connection_key(&self) -> String;
    /// Open a new session.
    async fn open(&self, access: Access) -> Result<Box<dyn MailConnector>>;
}

#[async_trait]
impl EndpointOpener for MailEndpoint {
    fn describe(&self) -> String {
        MailEndpoint::describe(self)
    }

    fn connection_key(&self) -> String {
        match self {
            MailEndpoint::Imap(c) => format!("{}:{}", c.host, c.port),
            MailEndpoint::Maildir { path } | MailEndpoint::Mbox { path } => {
                path.display().to_string()
            }
        }
    }

    async fn open(&self, access: Access) -> Result<Box<dyn MailConnector>> {
        ferry_mail::open_mail(self, access).await
    }
}
