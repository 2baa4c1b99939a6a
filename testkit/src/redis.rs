//! A real `redis-server` (Debian's package, which `.ci/run` installs) on a loopback port, for
//! the tests of limits shared through a store: started with nothing saved to disk, stopped and
//! started again on the same port to play an outage; a Redis Cluster of three of them, made
//! with `redis-cli --cluster create`; and a primary with a replica watched by a Sentinel,
//! failed over on demand.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` child process; killed when dropped.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
    /// Arguments beyond those every server gets.
    extra: Vec<String>,
}

impl RedisServer {
    /// A server on a free loopback port, answering `PING` before this returns.
    pub fn start() -> RedisServer {
        RedisServer::start_on(free_port())
    }

    /// A server on `port` (from [`free_port`]), answering `PING` before this returns.
    pub fn start_on(port: u16) -> RedisServer {
        RedisServer::start_with(port, &[])
    }

    fn start_with(port: u16, extra: &[&str]) -> RedisServer {
        let mut server = RedisServer {
            child: None,
            port,
            dir: tempfile::tempdir().unwrap(),
            extra: extra.iter().map(|arg| (*arg).to_owned()).collect(),
        };
        server.restart();
        server
    }

    /// Starts the server again on its port (after [`RedisServer::stop`]), empty.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "the server runs already");
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|error| {
                panic!("cannot start redis-server ({error}): install Debian's redis-server package")
            });
        self.child = Some(child);
        wait_for_pong(self.addr(), Duration::from_secs(10));
    }

    /// Kills the server and waits for it to be gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A Redis Cluster of three primaries on loopback, every slot served before [`start`]
/// returns.
///
/// [`start`]: RedisCluster::start
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub fn start() -> RedisCluster {
        RedisCluster::start_on([free_port(), free_port(), free_port()])
    }

    /// A cluster on `ports` (from [`free_port`]).
    pub fn start_on(ports: [u16; 3]) -> RedisCluster {
        let cluster = ["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"];
        let nodes: Vec<RedisServer> = ports
            .into_iter()
            .map(|port| RedisServer::start_with(port, &cluster))
            .collect();
        let created = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(nodes.iter().map(|node| node.addr().to_string()))
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .unwrap_or_else(|error| {
                panic!("cannot run redis-cli ({error}): install Debian's redis-tools package")
            });
        assert!(
            created.status.success(),
            "redis-cli --cluster create: {}",
            String::from_utf8_lossy(&created.stdout)
        );
        for node in &nodes {
            wait_until("the cluster to come up", || cluster_ok(node.port));
        }
        RedisCluster { nodes }
    }

    /// The nodes' URLs.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// How many keys each node holds.
    pub fn keys_per_node(&self) -> Vec<u64> {
        self.nodes
            .iter()
            .map(|node| cli(node.port, &["dbsize"]).trim().parse().unwrap())
            .collect()
    }
}

/// A primary and its replica, watched by one Sentinel (quorum 1) under the name
/// [`RedisSentinel::MASTER`]; all three on loopback, the replica in sync and known to the
/// Sentinel before [`start`] returns.
///
/// [`start`]: RedisSentinel::start
pub struct RedisSentinel {
    /// The primary when started, then a replica after a [`RedisSentinel::failover`].
    pub first: RedisServer,
    /// The replica when started, then the primary after a failover.
    pub second: RedisServer,
    sentinel: Child,
    pub sentinel_port: u16,
    _dir: tempfile::TempDir,
}

impl RedisSentinel {
    /// The name the Sentinel monitors the primary by.
    pub const MASTER: &'static str = "edgetest";

    pub fn start() -> RedisSentinel {
        RedisSentinel::start_on(free_port())
    }

    /// The Sentinel on `sentinel_port` (from [`free_port`]), the servers on free ports.
    pub fn start_on(sentinel_port: u16) -> RedisSentinel {
        let first = RedisServer::start();
        let replica_of = [
            "--replicaof".to_owned(),
            format!("127.0.0.1 {}", first.port),
        ];
        let replica_of: Vec<&str> = replica_of.iter().map(String::as_str).collect();
        let second = RedisServer::start_with(free_port(), &replica_of);
        wait_until("the replica to sync", || {
            cli(second.port, &["info", "replication"]).contains("master_link_status:up")
        });
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("sentinel.conf");
        std::fs::write(
            &config,
            format!(
                "port {sentinel_port}\nbind 127.0.0.1\ndir {dir}\n\
                 sentinel monitor {master} 127.0.0.1 {primary} 1\n\
                 sentinel down-after-milliseconds {master} 1000\n\
                 sentinel failover-timeout {master} 4000\n",
                dir = dir.path().display(),
                master = Self::MASTER,
                primary = first.port,
            ),
        )
        .unwrap();
        let sentinel = Command::new("redis-server")
            .arg(&config)
            .arg("--sentinel")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|error| {
                panic!("cannot start redis-server --sentinel ({error}): install Debian's redis-server package")
            });
        let sentinels = RedisSentinel {
            first,
            second,
            sentinel,
            sentinel_port,
            _dir: dir,
        };
        wait_for_pong(
            SocketAddr::from(([127, 0, 0, 1], sentinel_port)),
            Duration::from_secs(10),
        );
        let replica = sentinels.second.port.to_string();
        wait_until("the Sentinel to know the replica", || {
            cli(sentinel_port, &["sentinel", "replicas", Self::MASTER]).contains(&replica)
        });
        sentinels
    }

    /// The Sentinel's URL, as a store's `sentinels` takes it.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.sentinel_port)
    }

    /// The port of the primary the Sentinel names now.
    pub fn primary_port(&self) -> u16 {
        let answer = cli(
            self.sentinel_port,
            &["sentinel", "get-master-addr-by-name", Self::MASTER],
        );
        answer
            .lines()
            .nth(1)
            .and_then(|port| port.trim().parse().ok())
            .unwrap_or_else(|| panic!("no primary named: {answer}"))
    }

    /// Has the Sentinel fail the primary over to the replica (`SENTINEL FAILOVER`), and waits
    /// until the replica serves as the primary and the old one as its replica.
    pub fn failover(&self) {
        let before = self.primary_port();
        // Refused (`NOGOODSLAVE`) until the Sentinel has heard from the replica itself.
        wait_until("the Sentinel to take the failover", || {
            let answer = cli(self.sentinel_port, &["sentinel", "failover", Self::MASTER]);
            assert!(
                answer.contains("OK") || answer.contains("NOGOODSLAVE"),
                "SENTINEL FAILOVER: {answer}"
            );
            answer.contains("OK")
        });
        wait_until("the failover", || {
            self.primary_port() != before
                && cli(self.primary_port(), &["role"]).starts_with("master")
                && cli(before, &["role"]).starts_with("slave")
        });
    }
}

impl Drop for RedisSentinel {
    fn drop(&mut self) {
        let _ = self.sentinel.kill();
        let _ = self.sentinel.wait();
    }
}

/// `redis-cli -p PORT ARGS...`'s output.
fn cli(port: u16, args: &[&str]) -> String {
    let output = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .unwrap_or_else(|error| {
            panic!("cannot run redis-cli ({error}): install Debian's redis-tools package")
        });
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Polls `done` every 50 ms for up to 20 s.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn cluster_ok(port: u16) -> bool {
    cli(port, &["cluster", "info"]).contains("cluster_state:ok")
}

/// A loopback port free now, for a server to be started on later (a config naming it is
/// built first).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// Waits (at most `limit`) until `addr` answers `PING` with `+PONG`.
fn wait_for_pong(addr: SocketAddr, limit: Duration) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if ping(addr) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("redis-server at {addr} did not answer PING within {limit:?}");
}

fn ping(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut answer = [0; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut answer).is_ok()
        && &answer == b"+PONG\r\n"
}
