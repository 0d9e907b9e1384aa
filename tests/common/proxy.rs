//! A TCP proxy on loopback that can go silent: while frozen it relays
//! nothing and closes nothing, as a partition, a failover to another
//! address or a NAT that forgot the connection looks to both ends (the
//! kernel still takes what they send, so no error ever comes). It can
//! freeze every connection, or only those whose first bytes (PostgreSQL's
//! startup message, with its `application_name`) hold a marker.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Which connections are frozen now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum Frozen {
    #[default]
    None,
    All,
    /// Those whose first bytes hold this.
    Marked(Vec<u8>),
}

#[derive(Clone)]
pub struct Proxy {
    pub address: SocketAddr,
    frozen: Arc<watch::Sender<Frozen>>,
    /// Bumped to close every connection at once.
    resets: Arc<watch::Sender<u64>>,
    /// Connections accepted so far.
    opened: Arc<Mutex<usize>>,
}

impl Proxy {
    /// Relays connections to `upstream` from a new port on 127.0.0.1.
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let proxy = Proxy {
            address,
            frozen: Arc::new(watch::channel(Frozen::None).0),
            resets: Arc::new(watch::channel(0).0),
            opened: Arc::default(),
        };
        let (frozen, resets) = (proxy.frozen.clone(), proxy.resets.clone());
        let opened = proxy.opened.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                *opened.lock().unwrap() += 1;
                let mut reset = resets.subscribe();
                let relaying = relay(client, upstream, frozen.subscribe());
                tokio::spawn(async move {
                    tokio::select! {
                        () = relaying => {}
                        _ = reset.changed() => {}
                    }
                });
            }
        });
        proxy
    }

    /// Closes every connection relayed now, as a restart of the database
    /// does; new ones are relayed as before.
    pub fn reset(&self) {
        self.resets.send_modify(|n| *n += 1);
    }

    /// Every connection stops relaying, new ones included.
    pub fn freeze(&self) {
        self.frozen.send_replace(Frozen::All);
    }

    /// Only connections whose first bytes hold `marker` stop relaying.
    pub fn freeze_marked(&self, marker: &str) {
        self.frozen.send_replace(Frozen::Marked(marker.as_bytes().to_vec()));
    }

    /// Every connection relays again, with what was held back.
    pub fn thaw(&self) {
        self.frozen.send_replace(Frozen::None);
    }

    /// Connections accepted so far.
    pub fn opened(&self) -> usize {
        *self.opened.lock().unwrap()
    }
}

/// Relays one connection both ways; while frozen, reads nothing more.
async fn relay(mut client: TcpStream, upstream: SocketAddr, mut frozen: watch::Receiver<Frozen>) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let mut first = Vec::new();
    let applies = |frozen: &Frozen, first: &[u8]| match frozen {
        Frozen::None => false,
        Frozen::All => true,
        Frozen::Marked(marker) => first.windows(marker.len()).any(|w| w == marker.as_slice()),
    };
    let (mut from_client, mut to_client) = client.split();
    let (mut from_server, mut to_server) = server.split();
    let (mut up, mut down) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    loop {
        // Held while frozen: nothing read, nothing written, nothing closed.
        while applies(&frozen.borrow(), &first) {
            if frozen.changed().await.is_err() {
                return;
            }
        }
        tokio::select! {
            read = from_client.read(&mut up) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if first.len() < 1024 {
                        first.extend_from_slice(&up[..n.min(1024 - first.len())]);
                    }
                    if applies(&frozen.borrow(), &first) {
                        // Frozen by what it just said: held back until thawed.
                        while applies(&frozen.borrow(), &first) {
                            if frozen.changed().await.is_err() {
                                return;
                            }
                        }
                    }
                    if to_server.write_all(&up[..n]).await.is_err() {
                        return;
                    }
                }
            },
            read = from_server.read(&mut down) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if to_client.write_all(&down[..n]).await.is_err() {
                        return;
                    }
                }
            },
            changed = frozen.changed() => if changed.is_err() { return },
        }
    }
}
