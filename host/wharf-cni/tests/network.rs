//! Real pod networks (needs root, `ip` and Debian's CNI plugins, which the
//! test command installs): two pods get their own namespaces and addresses,
//! both serve the same port, the node reaches each, and teardown leaves no
//! namespace behind.

use std::io::{Read, Write};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use wharf_cni::{CniConfig, setup, teardown};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ask(address: &str) -> Option<String> {
    let mut socket =
        std::net::TcpStream::connect_timeout(&address.parse().ok()?, Duration::from_secs(1))
            .ok()?;
    socket.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    socket.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
    let mut answer = String::new();
    socket.read_to_string(&mut answer).ok()?;
    Some(answer)
}

#[test]
fn two_pods_get_their_own_namespace_and_address_and_teardown_removes_them() {
    let dir = std::env::temp_dir().join(format!("wharf-cni-test-{}", std::process::id()));
    let mut config = CniConfig::new("10.250.7.0/24", &dir);
    config.bridge = format!("wt{}", std::process::id() % 100_000);
    let uids = [
        format!("aaaa{}-one", std::process::id()),
        format!("bbbb{}-two", std::process::id()),
    ];
    let networks: Vec<_> = uids
        .iter()
        .map(|uid| setup(&config, uid).expect("root with CNI plugins installed"))
        .collect();
    assert_ne!(networks[0].ip, networks[1].ip);
    assert!(
        networks.iter().all(|n| n.ip.starts_with("10.250.7.")),
        "{networks:?}"
    );

    // The same port in both pods, each answering with its own name.
    let mut servers = Vec::new();
    for (network, name) in networks.iter().zip(["one", "two"]) {
        let web = dir.join(name);
        std::fs::create_dir_all(&web).unwrap();
        std::fs::write(web.join("index.html"), name).unwrap();
        let mut command = Command::new(&network.exec_prefix()[0]);
        command
            .args(&network.exec_prefix()[1..])
            .args(["python3", "-m", "http.server", "8000", "--directory"])
            .arg(&web)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.join(format!("{name}.err"))).unwrap());
        servers.push(Server(command.spawn().unwrap()));
    }
    for (network, name) in networks.iter().zip(["one", "two"]) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if ask(&format!("{}:8000", network.ip)).is_some_and(|a| a.ends_with(name)) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} never answered; its server said: {}",
                network.ip,
                std::fs::read_to_string(dir.join(format!("{name}.err"))).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    drop(servers);
    for uid in &uids {
        teardown(&config, uid).unwrap();
    }
    let namespaces = String::from_utf8(
        Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    for network in &networks {
        assert!(
            !namespaces.contains(&network.netns),
            "{} left behind",
            network.netns
        );
    }
    let _ = Command::new("ip")
        .args(["link", "delete", &config.bridge])
        .status();
    let _ = std::fs::remove_dir_all(&dir);
}
