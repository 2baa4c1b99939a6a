//! The process around the two sides: `run` loads and binds, starts one worker per core
//! (`worker`), serves the admin listener and the metrics and logs (`observe`), reloads
//! certificates on SIGHUP (`reload`), drains on SIGTERM and hands its sockets to a successor
//! on an upgrade (`handoff`).

pub(crate) mod admin;
pub(crate) mod handoff;
pub(crate) mod reload;
pub(crate) mod run;
pub(crate) mod site;
