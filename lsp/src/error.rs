//! Why the server stopped other than by the editor's `shutdown` and `exit`.

use lsp_server::ProtocolError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The editor broke the protocol's order: no `initialize` first, no `exit` after
    /// `shutdown`.
    #[error("the editor broke the protocol: {0}")]
    Protocol(#[from] ProtocolError),
    /// Standard input or output failed, or carried a message that is not JSON-RPC.
    #[error("the connection to the editor failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("the editor closed the connection without `shutdown` and `exit`")]
    Disconnected,
    /// The protocol's way of saying the server stops with a failure.
    #[error("the editor asked to exit without asking to shut down first")]
    ExitWithoutShutdown,
}
