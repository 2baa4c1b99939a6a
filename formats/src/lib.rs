//! What the compiler and the proxy must read and decide alike. The files a config names for
//! its policies, read the same way by the compiler (which checks them at build time) and by the
//! proxy (which loads them at start-up and on SIGHUP): htpasswd files, API key files, JWK sets
//! and PEM public keys. Each reader turns bytes into a checked, typed value or a typed error
//! that says where in the file the problem is, so a file the compiler accepts is a file the
//! proxy loads. And the request decisions `edgec explain` and `test` blocks make at build time
//! as the proxy makes them: route conditions on headers, query and cookies ([`conditions`]),
//! networks holding a client ([`net`]).

pub mod api_keys;
pub mod conditions;
pub mod htpasswd;
pub mod jwks;
mod lines;
pub mod net;
pub mod pem;
pub mod public_key;
