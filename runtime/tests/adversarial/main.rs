//! The adversarial suite: every hole found in the front door, as the bytes an attacker sends,
//! each asserting what the client got and what reached the server. One module per theme.

mod answers;
mod body;
mod classics;
mod deadlines;
mod headers;
mod host;
mod http2;
mod paths;
mod policies;
mod upgrade;
