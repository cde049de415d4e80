//! The milter listener admits only `[relay] allowed_clients`: a client outside them is closed
//! before any protocol, one inside gets the milter's option negotiation answered.

mod common;

use std::sync::Arc;

use common::*;
use hallpass::milter::MilterConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// SMFIC_OPTNEG as Postfix sends it: protocol version 6, every action, every protocol option.
fn optneg() -> Vec<u8> {
    let mut body = vec![b'O'];
    body.extend_from_slice(&6u32.to_be_bytes());
    body.extend_from_slice(&0x1ffu32.to_be_bytes());
    body.extend_from_slice(&0x001f_ffffu32.to_be_bytes());
    let mut packet = (body.len() as u32).to_be_bytes().to_vec();
    packet.extend_from_slice(&body);
    packet
}

async fn milter(allowed: &str) -> (std::net::SocketAddr, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    let mut relay = config().relay.resolve(std::path::Path::new(".")).unwrap();
    relay.data_dir = tmp.join("var");
    relay.next_hop = hallpass::smtp::config::NextHop::Maildir(tmp.join("outbox"));
    relay.allowed = vec![allowed.parse().unwrap()];
    let server = Arc::new(common::server(relay));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::watch::channel(false);
    std::mem::forget(tx);
    let milter = Arc::new(hallpass::milter::Milter {
        dispatch: server.dispatch.clone(),
        allowed: server.relay.allowed.clone(),
        max_message_size: server.relay.max_message_size,
        max_connections: server.relay.max_connections,
        hold: MilterConfig::default().hold,
    });
    tokio::spawn(hallpass::milter::serve(milter, listener, rx));
    (addr, dir)
}

/// What the milter sends back to an option negotiation (empty when it closes instead).
async fn answer(addr: std::net::SocketAddr) -> Vec<u8> {
    let mut sock = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _ = sock.write_all(&optneg()).await;
    let mut got = vec![0u8; 4];
    // A hang guard only: either side answers or closes at once.
    match tokio::time::timeout(
        std::time::Duration::from_secs(60),
        sock.read_exact(&mut got),
    )
    .await
    {
        Ok(Ok(_)) => got,
        Ok(Err(_)) => Vec::new(),
        Err(_) => panic!("milter neither answered nor closed"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_allowed_clients_may_speak_to_the_milter() {
    let (open, _a) = milter("127.0.0.0/8").await;
    let len = answer(open).await;
    assert_eq!(len.len(), 4, "an allowed client gets the negotiation reply");
    assert!(u32::from_be_bytes(len.try_into().unwrap()) >= 13);

    let (closed, _b) = milter("10.0.0.0/8").await;
    assert!(
        answer(closed).await.is_empty(),
        "a client outside allowed_clients is closed"
    );
}
