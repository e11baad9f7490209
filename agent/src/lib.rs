//! Agents: the handler API (read, diff, apply, reload, facts), the IO every handler goes
//! through (local, and SSH with [`io::SshIo`]), the deploy engine that runs a
//! version's resources in dependency order, the port through which the engine talks to
//! the orchestrator, and the remote agent process ([`remote`]) that implements the port over
//! a session with the server. Depends on `wire` only: an agent has no store, only a port.

pub mod engine;
pub mod handler;
pub mod io;
pub mod port;
pub mod remote;

pub use engine::{deploy, deploy_with, DeployOptions, External, Report};
pub use handler::{Context, Fields, FileSource, Handler, HandlerError, HandlerRegistry, MemoryFiles, NoFiles};
pub use io::{CommandOutput, FileAttrs, FileKind, FileStat, Io, LocalIo, SshIo, SshOptions, SshTarget};
pub use port::{DeployPort, MemoryPort, PortError};
