//! Programme operations that several handlers and the scheduler share (issue 12 §1). Imports in the server
//! run one way: routes → handlers (`api`) and the scheduler → these operations → the programme store
//! ([`ferry_store::programme`]). Nothing here imports a handler.

pub mod credentials;
pub mod digest;
pub mod event_lines;
pub mod events;
pub mod grid;
pub mod lifecycle;
pub mod live;
pub mod mappings;
pub mod passes;
pub mod reports;

pub use credentials::{credential_meta, load_secret, replace_secret, seal_secret, store_secret};
pub use lifecycle::apply_actions;
pub use mappings::{MappingView, load_mappings};
