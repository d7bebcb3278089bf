//! One DNS question over UDP, for watching stsd's zone and the resolver directly.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use tokio::net::UdpSocket;

/// The answer to one question: the response code and the answer records' data, or `None`
/// when nothing answered within two seconds.
pub(crate) async fn ask(
    server: SocketAddr,
    name: &str,
    rtype: RecordType,
) -> Option<(ResponseCode, Vec<RData>)> {
    let mut msg = Message::query();
    let mut id = [0u8; 2];
    getrandom::fill(&mut id).unwrap();
    msg.metadata.id = u16::from_be_bytes(id);
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket
        .send_to(&msg.to_vec().unwrap(), server)
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let (n, _) = tokio::time::timeout(Duration::from_secs(2), socket.recv_from(&mut buf))
        .await
        .ok()?
        .ok()?;
    let m = Message::from_vec(&buf[..n]).ok()?;
    Some((
        m.metadata.response_code,
        m.answers.iter().map(|r| r.data.clone()).collect(),
    ))
}

/// The texts of the TXT records at `name` (empty when there are none), or `None` when
/// nothing answered.
pub(crate) async fn txt(server: SocketAddr, name: &str) -> Option<Vec<String>> {
    let (_, answers) = ask(server, name, RecordType::TXT).await?;
    let texts = answers
        .iter()
        .filter_map(|d| match d {
            RData::TXT(t) => Some(
                t.txt_data
                    .iter()
                    .map(|b| String::from_utf8_lossy(b))
                    .collect(),
            ),
            _ => None,
        })
        .collect();
    Some(texts)
}
