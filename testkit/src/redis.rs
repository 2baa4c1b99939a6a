//! A real `redis-server` (Debian's package, which `.ci/run` installs) on a loopback port, for
//! the tests of limits shared through a store: started with nothing saved to disk, stopped and
//! started again on the same port to play an outage; and a Redis Cluster of three of them,
//! made with `redis-cli --cluster create`.

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
        let deadline = Instant::now() + Duration::from_secs(20);
        for node in &nodes {
            while !cluster_ok(node.port) {
                assert!(Instant::now() < deadline, "the cluster did not come up");
                std::thread::sleep(Duration::from_millis(50));
            }
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
            .map(|node| {
                let output = Command::new("redis-cli")
                    .args(["-p", &node.port.to_string(), "dbsize"])
                    .output()
                    .unwrap();
                String::from_utf8_lossy(&output.stdout)
                    .trim()
                    .parse()
                    .unwrap()
            })
            .collect()
    }
}

fn cluster_ok(port: u16) -> bool {
    Command::new("redis-cli")
        .args(["-p", &port.to_string(), "cluster", "info"])
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).contains("cluster_state:ok"))
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
