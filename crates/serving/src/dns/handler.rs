//! The hickory-server request handler: protocol checks, then [`ZoneConfig::answer`].

use std::iter;

use hickory_proto::op::{Edns, Header, HeaderCounts, MessageType, Metadata, OpCode, ResponseCode};
use hickory_server::net::runtime::Time;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;

use super::zone::ZoneConfig;
use crate::follower::SnapshotHandle;

pub(super) struct Handler {
    snapshots: SnapshotHandle,
    zone: ZoneConfig,
}

impl Handler {
    pub(super) fn new(snapshots: SnapshotHandle, zone: ZoneConfig) -> Handler {
        Handler { snapshots, zone }
    }
}

fn failed(request: &Request) -> ResponseInfo {
    let mut metadata = Metadata::response_from_request(&request.metadata);
    metadata.response_code = ResponseCode::ServFail;
    ResponseInfo::from(Header {
        metadata,
        counts: HeaderCounts::default(),
    })
}

async fn error<R: ResponseHandler>(
    request: &Request,
    edns: Option<&Edns>,
    mut handle: R,
    code: ResponseCode,
) -> ResponseInfo {
    let response =
        MessageResponseBuilder::new(&request.queries, edns).error_msg(&request.metadata, code);
    handle
        .send_response(response)
        .await
        .unwrap_or_else(|_| failed(request))
}

// hickory-server's trait is declared with async-trait, so implementations must be too.
#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let response_edns = request.edns.as_ref().map(|req| {
            let mut e = Edns::new();
            e.set_max_payload(req.max_payload().max(512));
            e.set_version(0);
            e
        });
        // Requests stsd does not answer, by the response code they get.
        let refusal = if request.edns.as_ref().is_some_and(|e| e.version() > 0) {
            Some(ResponseCode::BADVERS)
        } else if request.metadata.message_type != MessageType::Query {
            Some(ResponseCode::FormErr)
        } else if request.metadata.op_code != OpCode::Query {
            Some(ResponseCode::NotImp)
        } else {
            None
        };
        let info = match (refusal, request.request_info()) {
            (None, Ok(info)) => info,
            // A query without exactly one question is malformed.
            (code, _) => {
                let code = code.unwrap_or(ResponseCode::FormErr);
                return error(request, response_edns.as_ref(), response_handle, code).await;
            }
        };
        let qname = info.query.name().to_string().to_ascii_lowercase();
        let answer = self.zone.answer(
            &self.snapshots.guard(),
            self.snapshots.acknowledged(),
            &qname,
            info.query.query_type(),
        );
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.authoritative = answer.authoritative;
        metadata.recursion_available = false;
        metadata.response_code = answer.rcode;
        let response = MessageResponseBuilder::new(&request.queries, response_edns.as_ref()).build(
            metadata,
            answer.answers.iter(),
            answer.authority.iter(),
            iter::empty(),
            iter::empty(),
        );
        response_handle
            .send_response(response)
            .await
            .unwrap_or_else(|_| failed(request))
    }
}
