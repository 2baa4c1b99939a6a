//! `examples/l4_balancer.edge`, compiled by `build.rs`.

include!(concat!(env!("OUT_DIR"), "/l4_balancer.rs"));
