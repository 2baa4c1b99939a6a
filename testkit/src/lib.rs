//! What the runtime's integration tests, the end-to-end tests and the benches share: a gateway
//! shaped like generated code and pool specs leaked as generated code has them, backends,
//! clients and test certificates.
//!
//! Everything binds 127.0.0.1 (port 0 unless asked otherwise), and every network wait is
//! bounded.

use std::time::Duration;

mod backend;
mod blocking;
mod client;
mod echo;
mod gateway;
pub mod pki;
mod redis;

pub use backend::{closed_port, one_shot_backend, pattern, pattern_sum, Backend, Seen};
pub use blocking::{Answer, HttpClient};
pub use client::{get, get_h2, h2_send, raw, raw_slowly, raw_status, Client, Got};
pub use echo::EchoBackends;
pub use gateway::{leak, pool, server, spec, Edge, Listener, Proxy, LISTENERS, TEST_BUILD};
pub use redis::{free_port, RedisCluster, RedisSentinel, RedisServer};

/// Every network wait in the tests ends within this.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Bytes in the large upload and download tests.
pub const FIVE_MB: usize = 5 * 1024 * 1024;
