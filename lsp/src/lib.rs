//! The language server of `.edge` files, run by `edgec lsp`: diagnostics as you type (the
//! compiler's own), go to definition and find references for the names of listeners, pools,
//! routes, policies and stores, hover over directives and names, and completion of directives
//! and names. It speaks the Language Server Protocol on standard input and output, one request
//! at a time (rust-analyzer's `lsp-server`, no async runtime).
//!
//! The compiler's command line depends on this crate, so this crate does not depend on the
//! compiler: `edgec` hands it the compiler's check as a [`Check`]. Everything else it reads
//! from `edge-dsl`: the syntax tree, and the directive tables of `edge_dsl::reference`.
//!
//! ```no_run
//! fn check(source: &edge_dsl::SourceFile, _: edge_lsp::Files) -> Vec<edge_dsl::Diagnostic> {
//!     edge_dsl::parse(source).err().unwrap_or_default()
//! }
//! edge_lsp::run_stdio(check).expect("the editor shut the server down");
//! ```

mod completion;
mod diagnostics;
mod documents;
mod error;
mod hover;
mod lines;
mod names;
mod server;
mod tree;

pub use error::Error;
pub use server::{serve, Check, Files};

/// Serves the editor on standard input and output until it sends `shutdown` and `exit`.
pub fn run_stdio(check: Check) -> Result<(), Error> {
    let (connection, io_threads) = lsp_server::Connection::stdio();
    let served = serve(&connection, check);
    drop(connection);
    match served {
        // The reader has stopped: its error, if any, says why.
        Ok(()) | Err(Error::Disconnected) => {
            io_threads.join()?;
            served
        }
        // The reader may still be waiting for input; the process ends without it.
        Err(error) => Err(error),
    }
}
