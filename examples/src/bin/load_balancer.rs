//! `examples/load_balancer.edge`, compiled by `build.rs`.

include!(concat!(env!("OUT_DIR"), "/load_balancer.rs"));
