//! `examples/quickstart.edge`, compiled by `build.rs`.

include!(concat!(env!("OUT_DIR"), "/quickstart.rs"));
