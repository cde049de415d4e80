//! The inbound SMTP/LMTP relay (`hallpass serve`): tokio listeners, commands parsed by
//! smtp-proto, the scan run on the blocking pool, and the durability promise — a 250 only
//! after every accepted recipient's copy was taken by the next hop or stored in the
//! quarantine; anything else is a 4xx so the upstream MTA keeps the message.
//!
//! STARTTLS (rustls) is offered when `[relay] tls_cert`/`tls_key` are set.
//! Only `allowed_clients` may connect (others get 554); `trusted_clients` (the school's MTA)
//! have slots of their own and everyone else shares the rest, capped per address; message
//! size, recipients, line length, command, data and session time are bounded. DATA is read
//! by `data` (only `<CRLF>.<CRLF>` ends it; a bare CR, bare LF or NUL refuses the message and
//! closes the connection) so a message can never be split on the next hop (SMTP smuggling).

pub mod config;
pub mod data;
mod session;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::deliver::Deliverer;
use crate::dispatch::{Dispatcher, InForce, Settings};
use crate::quarantine::QuarantineStore;
use config::Relay;

/// Everything a session needs, shared by all connections.
pub struct Server {
    pub relay: Relay,
    /// Scan, decision, delivery plan, holds and notices: shared with the milter.
    pub dispatch: Arc<Dispatcher>,
    /// STARTTLS, when `[relay] tls_cert`/`tls_key` are set (the certificate is renewed in
    /// place by certbot or the school's CA, then `systemctl reload`).
    tls: std::sync::RwLock<Option<Arc<rustls::ServerConfig>>>,
    /// Slots for clients that are not trusted, and per such address how many it holds.
    connections: Arc<Semaphore>,
    per_client: Mutex<HashMap<IpAddr, usize>>,
    /// Slots for `trusted_clients` (the school's MTA) alone.
    trusted_connections: Arc<Semaphore>,
}

impl Relay {
    /// What the dispatcher takes from `[relay]`.
    pub fn dispatch_settings(&self) -> Settings {
        Settings {
            hostname: self.hostname.clone(),
            data_dir: self.data_dir.clone(),
            scan_timeout: self.scan_timeout,
            no_scan: self.no_scan,
        }
    }
}

impl Server {
    /// A server over the parts in force (`config::Config::in_force`) and a store that is
    /// already open (the review page shares it).
    pub fn new(
        relay: Relay,
        in_force: InForce,
        store: Arc<dyn QuarantineStore>,
    ) -> std::io::Result<Server> {
        std::fs::create_dir_all(&relay.data_dir)?;
        let deliverer = Deliverer::new(&relay.next_hop)?;
        let dispatch = Dispatcher::new(deliverer, relay.dispatch_settings(), in_force, store);
        Ok(Server::over(relay, Arc::new(dispatch)))
    }

    /// A server over a dispatcher the milter may share.
    pub fn over(relay: Relay, dispatch: Arc<Dispatcher>) -> Server {
        Server {
            connections: Arc::new(Semaphore::new(relay.max_connections)),
            trusted_connections: Arc::new(Semaphore::new(relay.max_connections)),
            per_client: Mutex::new(HashMap::new()),
            tls: std::sync::RwLock::new(relay.tls.clone()),
            relay,
            dispatch,
        }
    }

    /// The STARTTLS configuration in force now (`None`: STARTTLS is not offered).
    pub fn tls(&self) -> Option<Arc<rustls::ServerConfig>> {
        self.tls.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Swaps in what a reload loaded from `config_path` (the rosters, staff files,
    /// patterns, notice templates, policy — all in `in_force`) and the STARTTLS certificate
    /// and key read again from their files. Listeners, limits, the next hop and whether
    /// STARTTLS is offered at all stay as they are (a restart changes those: with
    /// `require_tls` from the start and STARTTLS gone, every sender would get a permanent
    /// 530). On error the old state stays.
    pub fn reload(
        &self,
        config_path: &std::path::Path,
        in_force: InForce,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Result<(), String> {
        if tls.is_some() != self.tls().is_some() {
            return Err(format!(
                "{}: [relay] tls_cert/tls_key were {}: restart Hallpass to turn STARTTLS {}",
                config_path.display(),
                if tls.is_some() { "added" } else { "removed" },
                if tls.is_some() { "on" } else { "off" },
            ));
        }
        self.dispatch.reload(in_force);
        *self.tls.write().unwrap_or_else(|p| p.into_inner()) = tls;
        Ok(())
    }

    /// Whether `ip` is in `[relay] allowed_clients` (IPv4-mapped IPv6 counts as IPv4).
    pub fn allowed(&self, ip: IpAddr) -> bool {
        crate::settings::in_networks(&self.relay.allowed, ip)
    }

    /// Binds every listener (so errors surface before anything runs).
    pub async fn bind(&self) -> std::io::Result<Vec<(TcpListener, bool)>> {
        let mut out = Vec::new();
        for l in &self.relay.listen {
            let listener = TcpListener::bind(l.addr).await.map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot listen on {}: {e}", l.addr))
            })?;
            out.push((listener, l.lmtp));
        }
        Ok(out)
    }

    /// Serves until `shutdown` turns true; then stops accepting and lets sessions in a
    /// transaction finish (each is bounded by its timeouts).
    pub async fn serve(
        self: Arc<Self>,
        listeners: Vec<(TcpListener, bool)>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut tasks = tokio::task::JoinSet::new();
        for (listener, lmtp) in listeners {
            let server = self.clone();
            let mut stop = shutdown.clone();
            tasks.spawn(async move {
                let mut sessions = tokio::task::JoinSet::new();
                loop {
                    tokio::select! {
                        _ = stop.changed() => break,
                        // Reap finished sessions: a JoinSet keeps every ended task until it is
                        // joined (14 KB a connection, without end, before this).
                        Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
                        accepted = listener.accept() => {
                            let Ok((sock, peer)) = accepted else { continue };
                            // Replies are small writes answered at once: no Nagle delay.
                            let _ = sock.set_nodelay(true);
                            let server = server.clone();
                            let stop = stop.clone();
                            sessions.spawn(async move { server.connection(sock, peer, lmtp, stop).await });
                        }
                    }
                }
                while sessions.join_next().await.is_some() {}
            });
        }
        let _ = shutdown.changed().await;
        while tasks.join_next().await.is_some() {}
    }

    async fn connection(
        self: Arc<Self>,
        mut sock: tokio::net::TcpStream,
        peer: std::net::SocketAddr,
        lmtp: bool,
        stop: watch::Receiver<bool>,
    ) {
        use tokio::io::AsyncWriteExt;
        let ip = peer.ip();
        if !self.allowed(ip) {
            let _ = sock
                .write_all(b"554 5.7.1 Hallpass: this client may not relay\r\n")
                .await;
            return;
        }
        // The school's MTA has slots of its own; everyone else shares the rest, at most
        // `max_connections_per_client` each, so no client can take every slot.
        let trusted = crate::settings::in_networks(&self.relay.trusted, ip);
        let pool = if trusted {
            &self.trusted_connections
        } else {
            &self.connections
        };
        let Ok(_permit) = pool.clone().try_acquire_owned() else {
            crate::metrics::get().connections_refused.inc();
            let _ = sock
                .write_all(b"421 4.7.0 Hallpass: too many connections, try again later\r\n")
                .await;
            return;
        };
        let _client = if trusted {
            None
        } else {
            match ClientSlot::take(self.clone(), ip) {
                Some(slot) => Some(slot),
                None => {
                    crate::metrics::get().connections_refused.inc();
                    tracing::info!(client = %ip, limit = self.relay.max_connections_per_client, "too many connections from one client: refused");
                    let _ = sock
                        .write_all(b"421 4.7.0 Hallpass: too many connections from your address, try again later\r\n")
                        .await;
                    return;
                }
            }
        };
        let metrics = crate::metrics::get();
        metrics.connections.inc();
        metrics.connections_open.inc();
        let mut session = session::Session::new(self.clone(), peer, lmtp, stop);
        if let Ok(session::Ended::StartTls) = session.run(&mut sock).await
            && let Some(tls) = self.tls()
        {
            let acceptor = tokio_rustls::TlsAcceptor::from(tls);
            match tokio::time::timeout(self.relay.command_timeout, acceptor.accept(sock)).await {
                Ok(Ok(mut stream)) => {
                    metrics.tls_sessions.inc();
                    let _ = session.run_tls(&mut stream).await;
                    let _ = stream.shutdown().await;
                }
                Ok(Err(e)) => tracing::info!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::info!(%peer, "TLS handshake timed out"),
            }
        }
        metrics.connections_open.dec();
    }
}

/// One connection counted against its address's `max_connections_per_client`; given back
/// when dropped (however the session ended).
struct ClientSlot {
    server: Arc<Server>,
    ip: IpAddr,
}

impl ClientSlot {
    fn take(server: Arc<Server>, ip: IpAddr) -> Option<ClientSlot> {
        {
            let mut m = server.per_client.lock().unwrap_or_else(|p| p.into_inner());
            let n = m.entry(ip).or_insert(0);
            if *n >= server.relay.max_connections_per_client {
                return None;
            }
            *n += 1;
        }
        Some(ClientSlot { server, ip })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut m = self
            .server
            .per_client
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}
