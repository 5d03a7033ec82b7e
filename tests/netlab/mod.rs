//! The network lab: real `hearth run` processes in Linux network namespaces, with "homes"
//! behind NAT routers on a shared "internet" segment (ARCHITECTURE.md, "The network lab").
//!
//! Needs root (CI and `make test` run as root), `ip` (iproute2) and `iptables`. Only the
//! namespaces the lab creates carry traffic, and only documentation addresses are used:
//! 203.0.113.0/24 is the internet, 10.0.H.0/24 is home H's LAN. No namespace has a route
//! beyond those, so nothing can leave the lab. The host's own namespace is not part of it:
//! the tests reach each node's API (on 127.0.0.1 inside the node's namespace) through a
//! [`Forwarder`] whose listener lives on the host's loopback.
//!
//! Everything is named `hl<pid>x<n>-...`, so concurrent labs never collide, and is removed
//! when the [`Lab`] is dropped (also when a test panics). Namespaces of a lab whose process
//! is gone (a crashed run) are removed when the next lab starts.
#![allow(dead_code)]

use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::kit::{Launch, TestNode};

pub mod hostile;

/// Every lab namespace's name starts with this, then the pid of the process that made it.
pub const PREFIX: &str = "hl";
/// The internet's first three octets (203.0.113.0/24, TEST-NET-3).
const INTERNET: [u8; 3] = [203, 0, 113];
/// Port every lab node listens on (TCP and QUIC): each node has its namespace to itself.
pub const P2P_PORT: u16 = 4001;

static LABS: AtomicUsize = AtomicUsize::new(0);

/// How a home router translates addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nat {
    /// Port-preserving masquerade: one inside address and port keeps its outside port
    /// whatever the destination (endpoint-independent mapping); inbound only for
    /// established flows. Hole punching can work through it.
    EndpointIndependent,
    /// `--random-fully`: a new outside port for every flow (symmetric); punching fails.
    Symmetric,
}

/// A namespace a node can run in, with its address there.
#[derive(Debug, Clone)]
pub struct Host {
    pub ns: String,
    pub ip: Ipv4Addr,
}

impl Host {
    /// The TCP and QUIC listen addresses of a node in this host.
    pub fn listen(&self) -> Vec<String> {
        vec![
            format!("/ip4/{}/tcp/{P2P_PORT}", self.ip),
            format!("/ip4/{}/udp/{P2P_PORT}/quic-v1", self.ip),
        ]
    }
}

/// A home: a NAT router between the internet and a LAN bridge with its hosts.
#[derive(Debug, Clone)]
pub struct Home {
    /// The router's namespace (WAN interface `wan`, LAN bridge `lan`).
    pub router: String,
    /// The router's internet address: what the homes' nodes look like from outside.
    pub wan_ip: Ipv4Addr,
    pub nat: Nat,
    pub hosts: Vec<Host>,
}

/// One lab: namespaces, links and rules, all removed on drop.
pub struct Lab {
    /// Held while the lab exists: one lab at a time (see [`Turn`]).
    _turn: Turn,
    pub prefix: String,
    /// The namespace holding the internet bridge (`inet`).
    pub internet: String,
    namespaces: Vec<String>,
    homes: u8,
    publics: u8,
}

/// Runs `program args`, panicking with what it printed when it fails.
fn run(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("network lab: cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "network lab: `{program} {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// Runs `program args`, ignoring failures (teardown).
fn run_quiet(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The names `ip netns list` shows.
pub fn namespaces() -> Vec<String> {
    run_quiet("ip", &["netns", "list"])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// `/etc/netns/NAME`: files `ip netns exec` shows in place of `/etc`'s.
fn etc_dir(ns: &str) -> PathBuf {
    Path::new("/etc/netns").join(ns)
}

/// Kills what still runs in `ns`, deletes it and its `/etc/netns` folder.
fn remove_namespace(ns: &str) {
    if let Some(pids) = run_quiet("ip", &["netns", "pids", ns]) {
        for pid in pids.split_whitespace() {
            run_quiet("kill", &["-9", pid]);
        }
    }
    run_quiet("ip", &["netns", "del", ns]);
    let _ = std::fs::remove_dir_all(etc_dir(ns));
}

/// Removes the namespaces of labs whose process is gone.
fn remove_stale() {
    for ns in namespaces() {
        let Some(rest) = ns.strip_prefix(PREFIX) else {
            continue;
        };
        let pid: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            eprintln!("network lab: removing {ns}, left by an earlier run");
            remove_namespace(&ns);
        }
    }
}

/// One lab at a time in a process. The lab tests of one binary run on parallel threads;
/// eleven labs of three to five debug nodes each on two cores starve DCUtR's synchronised
/// hole punch, which then measures the machine rather than the NATs. Each lab waits its
/// turn (released when it is dropped, also after a failed test).
struct Turn;

static LAB_BUSY: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
static LAB_FREE: std::sync::Condvar = std::sync::Condvar::new();

impl Turn {
    fn take() -> Turn {
        let mut busy = LAB_BUSY.lock().unwrap_or_else(|e| e.into_inner());
        while *busy {
            busy = LAB_FREE.wait(busy).unwrap_or_else(|e| e.into_inner());
        }
        *busy = true;
        Turn
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        *LAB_BUSY.lock().unwrap_or_else(|e| e.into_inner()) = false;
        LAB_FREE.notify_one();
    }
}

impl Lab {
    /// Creates an empty lab (the internet segment alone). Panics, saying why, when this
    /// machine cannot make one: a lab test never passes without its lab.
    pub fn new() -> Lab {
        // SAFETY: geteuid has no preconditions.
        let euid = unsafe { libc::geteuid() };
        assert_eq!(
            euid, 0,
            "network lab: needs root to create network namespaces (run the lab tests as root)"
        );
        for tool in ["ip", "iptables"] {
            let found = Command::new(tool).arg("-V").output().is_ok();
            assert!(
                found,
                "network lab: `{tool}` is missing (scripts/setup.sh --test installs it)"
            );
        }
        let turn = Turn::take();
        remove_stale();
        let n = LABS.fetch_add(1, Ordering::Relaxed);
        let prefix = format!("{PREFIX}{}x{n}", std::process::id());
        let mut lab = Lab {
            _turn: turn,
            internet: format!("{prefix}-inet"),
            prefix,
            namespaces: Vec::new(),
            homes: 0,
            publics: 0,
        };
        let inet = lab.internet.clone();
        lab.add_namespace(&inet);
        lab.ip(&inet, &["link", "add", "inet", "type", "bridge"]);
        lab.ip(&inet, &["link", "set", "inet", "up"]);
        lab
    }

    /// Every namespace of this lab.
    pub fn namespaces(&self) -> &[String] {
        &self.namespaces
    }

    /// `ip -n NS args`.
    pub fn ip(&self, ns: &str, args: &[&str]) {
        let mut all = vec!["-n", ns];
        all.extend_from_slice(args);
        run("ip", &all);
    }

    /// `ip netns exec NS program args`.
    pub fn exec(&self, ns: &str, program: &str, args: &[&str]) {
        let mut all = vec!["netns", "exec", ns, program];
        all.extend_from_slice(args);
        run("ip", &all);
    }

    /// Like [`Lab::exec`], returning what it printed.
    pub fn output(&self, ns: &str, program: &str, args: &[&str]) -> String {
        let mut all = vec!["netns", "exec", ns, program];
        all.extend_from_slice(args);
        run_quiet("ip", &all).unwrap_or_default()
    }

    fn sysctl(&self, ns: &str, key: &str, value: &str) {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        self.exec(ns, "sh", &["-c", &format!("echo {value} > {path}")]);
    }

    fn add_namespace(&mut self, ns: &str) {
        let made = Command::new("ip").args(["netns", "add", ns]).output();
        match made {
            Ok(out) if out.status.success() => {}
            Ok(out) => panic!(
                "network lab: cannot create network namespace {ns}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(e) => panic!("network lab: cannot run `ip netns add`: {e}"),
        }
        self.namespaces.push(ns.to_owned());
        self.ip(ns, &["link", "set", "lo", "up"]);
        // IPv4 only: no IPv6 router solicitations or link-local noise.
        self.sysctl(ns, "net.ipv6.conf.all.disable_ipv6", "1");
        self.sysctl(ns, "net.ipv6.conf.default.disable_ipv6", "1");
        // Names resolve from the hosts file only (see `Lab::hosts`); any DNS query stays
        // inside the namespace.
        let etc = etc_dir(ns);
        std::fs::create_dir_all(&etc).expect("create /etc/netns/NAME");
        std::fs::write(etc.join("resolv.conf"), "nameserver 127.0.0.1\n").expect("resolv.conf");
        std::fs::write(etc.join("hosts"), "127.0.0.1 localhost\n").expect("hosts");
    }

    /// Plugs a new interface `name` of `ns` into the internet bridge, addressed `ip`/24.
    fn attach_to_internet(&mut self, ns: &str, name: &str, ip: Ipv4Addr, port: &str) {
        let inet = self.internet.clone();
        self.ip(
            &inet,
            &[
                "link", "add", port, "type", "veth", "peer", "name", name, "netns", ns,
            ],
        );
        self.ip(&inet, &["link", "set", port, "master", "inet", "up"]);
        self.ip(ns, &["addr", "add", &format!("{ip}/24"), "dev", name]);
        self.ip(ns, &["link", "set", name, "up"]);
    }

    /// A namespace directly on the internet (203.0.113.10, .11, ...): a public node.
    pub fn public(&mut self, name: &str) -> Host {
        let ip = Ipv4Addr::new(INTERNET[0], INTERNET[1], INTERNET[2], 10 + self.publics);
        let port = format!("p{}", self.publics);
        self.publics += 1;
        let ns = format!("{}-{name}", self.prefix);
        self.add_namespace(&ns);
        self.attach_to_internet(&ns, "eth0", ip, &port);
        Host { ns, ip }
    }

    /// A home with `hosts` hosts (10.0.H.10, .11, ...) on a LAN bridge behind a NAT router
    /// whose WAN address is 203.0.113.(100 + H).
    pub fn home(&mut self, name: &str, nat: Nat, hosts: usize) -> Home {
        self.homes += 1;
        let h = self.homes;
        let router = format!("{}-{name}", self.prefix);
        let wan_ip = Ipv4Addr::new(INTERNET[0], INTERNET[1], INTERNET[2], 100 + h);
        let lan_ip = Ipv4Addr::new(10, 0, h, 1);
        self.add_namespace(&router);
        self.attach_to_internet(&router, "wan", wan_ip, &format!("r{h}"));
        self.ip(&router, &["link", "add", "lan", "type", "bridge"]);
        self.ip(
            &router,
            &["addr", "add", &format!("{lan_ip}/24"), "dev", "lan"],
        );
        self.ip(&router, &["link", "set", "lan", "up"]);
        self.sysctl(&router, "net.ipv4.ip_forward", "1");

        let ipt = |lab: &Lab, args: &[&str]| lab.exec(&router, "iptables", args);
        let mut masquerade = vec![
            "-t",
            "nat",
            "-A",
            "POSTROUTING",
            "-o",
            "wan",
            "-j",
            "MASQUERADE",
        ];
        if nat == Nat::Symmetric {
            masquerade.push("--random-fully");
        }
        ipt(self, &masquerade);
        ipt(self, &["-P", "FORWARD", "DROP"]);
        ipt(
            self,
            &[
                "-A",
                "FORWARD",
                "-m",
                "conntrack",
                "--ctstate",
                "ESTABLISHED,RELATED",
                "-j",
                "ACCEPT",
            ],
        );
        ipt(
            self,
            &["-A", "FORWARD", "-i", "lan", "-o", "wan", "-j", "ACCEPT"],
        );
        // The router itself takes nothing unasked from the internet, as home routers do.
        // (Were it to answer an early hole-punching packet with a port-unreachable, the
        // conntrack entry that answer leaves would clash with the home's own packet to
        // that peer a moment later, and the router would give that one a new port.)
        ipt(
            self,
            &[
                "-A",
                "INPUT",
                "-i",
                "wan",
                "-m",
                "conntrack",
                "--ctstate",
                "ESTABLISHED,RELATED",
                "-j",
                "ACCEPT",
            ],
        );
        ipt(self, &["-A", "INPUT", "-i", "wan", "-j", "DROP"]);
        // Bridged LAN traffic, should the kernel pass it through iptables.
        ipt(
            self,
            &["-A", "FORWARD", "-i", "lan", "-o", "lan", "-j", "ACCEPT"],
        );

        let mut list = Vec::new();
        for i in 0..hosts {
            let ns = format!("{}-{name}{i}", self.prefix);
            let ip = Ipv4Addr::new(10, 0, h, 10 + i as u8);
            self.add_namespace(&ns);
            let port = format!("h{i}");
            self.ip(
                &router,
                &[
                    "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &ns,
                ],
            );
            self.ip(&router, &["link", "set", &port, "master", "lan", "up"]);
            self.ip(&ns, &["addr", "add", &format!("{ip}/24"), "dev", "eth0"]);
            self.ip(&ns, &["link", "set", "eth0", "up"]);
            self.ip(
                &ns,
                &["route", "add", "default", "via", &lan_ip.to_string()],
            );
            list.push(Host { ns, ip });
        }
        Home {
            router,
            wan_ip,
            nat,
            hosts: list,
        }
    }

    /// Limits what the home's router sends to the internet to `mbit` Mbit/s (`tc tbf`).
    pub fn limit_upload(&self, home: &Home, mbit: u32) {
        let rate = format!("{mbit}mbit");
        self.ip(&home.router, &["link", "set", "wan", "txqueuelen", "1000"]);
        run(
            "ip",
            &[
                "netns",
                "exec",
                &home.router,
                "tc",
                "qdisc",
                "add",
                "dev",
                "wan",
                "root",
                "tbf",
                "rate",
                &rate,
                "burst",
                "64kb",
                "latency",
                "50ms",
            ],
        );
    }

    /// Writes the hosts file `ns` sees (`/etc/netns/NS/hosts`), naming `names`.
    pub fn hosts(&self, ns: &str, names: &[(&str, Ipv4Addr)]) {
        let mut text = String::from("127.0.0.1 localhost\n");
        for (name, ip) in names {
            text.push_str(&format!("{ip} {name}\n"));
        }
        std::fs::write(etc_dir(ns).join("hosts"), text).expect("write the namespace's hosts");
    }

    /// Starts a node in `host`, listening on its address (TCP and QUIC), its API reached
    /// through a [`Forwarder`]. `launch` is given the lab's settings to add to. `LAB_LOG` in
    /// the environment, when set, is every lab node's `RUST_LOG` (e.g.
    /// `LAB_LOG=info,libp2p_dcutr=debug` to watch hole punching).
    pub async fn start<'a>(&self, host: &'a Host, mut launch: Launch<'a>) -> LabNode {
        static LAB_LOG: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
        if let Some(log) = LAB_LOG.get_or_init(|| std::env::var("LAB_LOG").ok()) {
            launch.log = log;
        }
        let forwarder = Forwarder::new(&host.ns).expect("API forwarder");
        let node = launch
            .netns(&host.ns)
            .listen(host.listen())
            .http(format!("127.0.0.1:{}", forwarder.port))
            .start()
            .await;
        LabNode {
            node,
            forwarder,
            host: host.clone(),
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in self.namespaces.iter().rev() {
            remove_namespace(ns);
        }
    }
}

/// A node in the lab: the kit's [`TestNode`] plus the forwarder its API is reached through.
pub struct LabNode {
    pub node: TestNode,
    pub forwarder: Forwarder,
    pub host: Host,
}

impl LabNode {
    /// The node's TCP address as others dial it (`/ip4/IP/tcp/PORT/p2p/ID`).
    pub fn tcp_addr(&self) -> String {
        format!(
            "/ip4/{}/tcp/{P2P_PORT}/p2p/{}",
            self.host.ip, self.node.peer_id
        )
    }
}

impl std::ops::Deref for LabNode {
    type Target = TestNode;
    fn deref(&self) -> &TestNode {
        &self.node
    }
}

impl std::ops::DerefMut for LabNode {
    fn deref_mut(&mut self) -> &mut TestNode {
        &mut self.node
    }
}

/// Makes a port on a namespace's loopback reachable from the host's: a listener on the
/// host's 127.0.0.1:P, accepted on a thread that has entered the namespace, connecting to
/// 127.0.0.1:P there and copying bytes both ways. The node serves its API on that same
/// port P, so the `Host` header its guard checks matches.
pub struct Forwarder {
    pub port: u16,
    stop: Arc<AtomicBool>,
}

/// Runs `f` on a new thread inside the network namespace `ns` (sockets it opens live
/// there), and returns its result.
pub fn in_namespace<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let ns = ns.to_owned();
    std::thread::spawn(move || {
        enter_namespace(&ns).unwrap_or_else(|e| panic!("network lab: cannot enter {ns}: {e}"));
        f()
    })
}

/// Enters the network namespace `ns` on this thread only.
fn enter_namespace(ns: &str) -> io::Result<()> {
    let file = File::open(Path::new("/run/netns").join(ns))?;
    // SAFETY: `file` is an open namespace file; setns changes only this thread's namespace.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Ports the forwarders take, below Linux's ephemeral range (32768 up): the node binds the
/// same port inside its namespace, where an ephemeral one (the BitTorrent engine's listener
/// on port 0, an outgoing connection) may already hold any port of that range.
const FORWARD_PORTS: std::ops::Range<u16> = 20_000..32_000;

impl Forwarder {
    pub fn new(ns: &str) -> io::Result<Forwarder> {
        let listener = bind_forward_port()?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let ns = ns.to_owned();
        let stopping = stop.clone();
        std::thread::spawn(move || {
            // The listener was bound in the host's namespace and stays there; sockets this
            // thread opens from now on live in the node's.
            if let Err(e) = enter_namespace(&ns) {
                let _ = ready_tx.send(Err(e));
                return;
            }
            let _ = ready_tx.send(Ok(()));
            for conn in listener.incoming() {
                if stopping.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(client) = conn else { continue };
                let Ok(upstream) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) else {
                    continue; // the client sees the connection close, as if refused
                };
                pipe(client, upstream);
            }
        });
        ready_rx
            .recv()
            .map_err(|_| io::Error::other("forwarder thread died"))??;
        Ok(Forwarder { port, stop })
    }
}

/// A listener on the host's loopback at a free port of [`FORWARD_PORTS`].
fn bind_forward_port() -> io::Result<TcpListener> {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    let mut last = io::Error::other("no port tried");
    for _ in 0..200 {
        match TcpListener::bind((Ipv4Addr::LOCALHOST, rng.gen_range(FORWARD_PORTS))) {
            Ok(l) => return Ok(l),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Copies bytes both ways between `a` and `b` until each side closes.
fn pipe(a: TcpStream, b: TcpStream) {
    let (Ok(a2), Ok(b2)) = (a.try_clone(), b.try_clone()) else {
        return;
    };
    let one_way = |mut from: TcpStream, mut to: TcpStream| {
        std::thread::spawn(move || {
            let _ = io::copy(&mut from, &mut to);
            let _ = to.shutdown(Shutdown::Write);
        });
    };
    one_way(a, b2);
    one_way(b, a2);
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accepting thread so it sees `stop`.
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
    }
}
