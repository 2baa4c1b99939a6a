//! `examples/reverse_proxy.edge`, compiled by `build.rs`.

include!(concat!(env!("OUT_DIR"), "/reverse_proxy.rs"));
