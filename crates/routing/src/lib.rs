//! Routing decisions as pure logic: turning a requested model name into a provider and upstream
//! model id (prefix, bare model id, combo), and ordering a provider's connections. No IO.

pub mod resolve;

pub use resolve::{ComboDef, Resolution, ResolveError, Resolver};
