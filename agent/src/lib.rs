//! Agents: the handler API (read, diff, apply, reload, facts), the IO every handler goes
//! through (local now; SSH implements the same trait), and the deploy engine that runs a
//! version's resources in dependency order.

pub mod engine;
pub mod handler;
pub mod io;

pub use engine::{deploy, DeployOptions, Outcome, Report};
pub use handler::{Fields, Handler, HandlerError, HandlerRegistry};
pub use io::{CommandOutput, FileKind, FileStat, Io, LocalIo};
