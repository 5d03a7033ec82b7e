//! Infrastructure: the plumbing every feature stands on.

pub mod events;
pub(crate) mod fs;
pub mod logging;
pub mod store;
pub mod thumbnail;
pub mod token;
pub mod vault;
