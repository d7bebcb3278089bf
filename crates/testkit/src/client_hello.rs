//! Hand-made TLS ClientHello records, for what a rustls client never sends: an IP address or
//! a malformed name as SNI, two names at once.

/// A TLS 1.3 ClientHello in one plaintext handshake record whose `server_name` extension
/// lists `server_names` as `host_name` entries, byte for byte (none: no extension). Enough
/// for a server to parse the message; no handshake can complete with it.
pub fn client_hello(server_names: &[&[u8]]) -> Vec<u8> {
    let mut body = vec![3, 3];
    body.extend_from_slice(&[7; 32]); // random
    body.push(0); // empty legacy session id
    body.extend_from_slice(&[0, 2, 0x13, 0x01]); // TLS_AES_128_GCM_SHA256
    body.extend_from_slice(&[1, 0]); // null compression
    // supported_versions: TLS 1.3, before the server name so that parsers skip one.
    let mut extensions = vec![0, 0x2b, 0, 3, 2, 3, 4];
    if !server_names.is_empty() {
        let mut list = Vec::new();
        for name in server_names {
            list.push(0); // host_name
            push_u16_prefixed(&mut list, name);
        }
        let mut data = Vec::new();
        push_u16_prefixed(&mut data, &list);
        extensions.extend_from_slice(&[0, 0]); // server_name
        push_u16_prefixed(&mut extensions, &data);
    }
    push_u16_prefixed(&mut body, &extensions);
    let mut message = vec![1]; // client_hello
    let len = u32::try_from(body.len()).unwrap_or(u32::MAX).to_be_bytes();
    message.extend_from_slice(&len[1..]);
    message.extend_from_slice(&body);
    let mut record = vec![22, 3, 1]; // handshake, legacy record version TLS 1.0
    push_u16_prefixed(&mut record, &message);
    record
}

fn push_u16_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}
