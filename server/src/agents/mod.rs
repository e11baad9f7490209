//! Agents on the server (issue 14): the websocket sessions of agent processes
//! ([`session`]), what this server knows of the sessions it holds ([`hub`]), and the
//! coordinator that elects a primary per agent name through the store's leases and sends
//! each primary its work and the states of other agents' resources it waits for
//! ([`coordinator`]). Servers share nothing but the store: several may serve one
//! environment, each holding the sessions that connected to it. The server-side agents of the
//! environments' agent maps are started and supervised by [`autostart`].

pub mod autostart;
pub mod coordinator;
pub mod hub;
pub mod session;

pub use hub::Hub;

/// How long an agent process may stay silent before its session ends and its leases go to
/// standbys, by default.
pub const DEFAULT_AGENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
