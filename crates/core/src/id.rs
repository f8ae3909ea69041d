//! Ids: UUIDv7 newtypes, so they sort by creation time and cannot be mixed up.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub uuid::Uuid);

        impl $name {
            /// A new, time-ordered id.
            pub fn new() -> Self {
                $name(uuid::Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = crate::Error;
            fn from_str(s: &str) -> crate::Result<Self> {
                uuid::Uuid::parse_str(s)
                    .map($name)
                    .map_err(|e| crate::Error::config(format!("not a valid {}: {s:?}: {e}", stringify!($name))))
            }
        }
    };
}

id_type!(
    /// One migration run started by a user (`ferry mail migrate`): a batch of mappings.
    RunId
);
id_type!(
    /// One object to move: a source mailbox to a target mailbox.
    MappingId
);
id_type!(
    /// One run of one mapping (Initial, Delta or Final).
    PassId
);
id_type!(
    /// A customer organisation in the migration programme (issue 4).
    TenantId
);
id_type!(
    /// One workload family (mail or files) of one tenant.
    ProjectId
);
id_type!(
    /// A customer-scheduled batch of mappings (Synchronization or Completion).
    EventId
);
id_type!(
    /// One prerequisite of a project's workload (core onboarding, identity synchronisation…).
    GateId
);
id_type!(
    /// A post-migration issue reported against a mapping.
    TicketId
);
id_type!(
    /// What every asynchronous write returns, queryable for its status.
    TransactionId
);
id_type!(
    /// A person (or API token holder) with a role on a tenant.
    UserId
);
