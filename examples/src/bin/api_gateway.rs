//! `examples/api_gateway.edge`, compiled by `build.rs`.

include!(concat!(env!("OUT_DIR"), "/api_gateway.rs"));
