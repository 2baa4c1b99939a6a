//! `examples/gateway.edge`, compiled by `build.rs`.

include!(concat!(env!("OUT_DIR"), "/gateway.rs"));
