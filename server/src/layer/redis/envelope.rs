//! The binary envelope of everything published on Redis:
//! `origin_len:u8 origin target_len:u16 target kind:u8 body`, big-endian numbers. Binary so
//! the frame bytes are carried as they are, without a JSON-in-JSON re-encode; the origin lets
//! a process ignore its own publishes, the target addresses one channel (`send`).

use crate::layer::{CloseReason, Delivery, Frame};
use bytes::{Buf, BufMut, Bytes, BytesMut};

const KIND_MESSAGE: u8 = b'M';
const KIND_FRAME: u8 = b'F';
const KIND_CLOSE: u8 = b'C';
const KIND_RESYNC: u8 = b'R';
const KIND_GO_AWAY: u8 = b'G';
const KIND_SESSION_ENDED: u8 = b'S';
const KIND_HEARTBEAT: u8 = b'H';

/// A decoded message from Redis.
pub(super) struct Envelope {
    /// The process that published it (empty: addressed to every process, itself included).
    pub(super) origin: String,
    /// The channel it is for (`send`), or `None` for a group delivery.
    pub(super) target: Option<String>,
    /// What to deliver.
    pub(super) delivery: Delivery,
}

/// Encodes a delivery from `origin` (to the channel `target`, or to a group).
pub(super) fn encode(origin: &str, target: Option<&str>, delivery: &Delivery) -> Bytes {
    let target = target.unwrap_or("");
    let body_len = match delivery {
        Delivery::Message { frame, .. } => 16 + frame.len(),
        Delivery::Frame(frame) => frame.len(),
        Delivery::Close { frame, .. } => 1 + frame.len(),
        Delivery::SessionEnded { .. } => 8,
        Delivery::Resync | Delivery::GoAway | Delivery::Heartbeat => 0,
    };
    let mut out = BytesMut::with_capacity(4 + origin.len() + target.len() + body_len);
    out.put_u8(u8::try_from(origin.len()).unwrap_or(u8::MAX));
    out.put_slice(&origin.as_bytes()[..origin.len().min(usize::from(u8::MAX))]);
    out.put_u16(u16::try_from(target.len()).unwrap_or(u16::MAX));
    out.put_slice(&target.as_bytes()[..target.len().min(usize::from(u16::MAX))]);
    match delivery {
        Delivery::Message { id, seq, frame } => {
            out.put_u8(KIND_MESSAGE);
            out.put_i64(*id);
            out.put_i64(*seq);
            out.put_slice(frame.as_bytes());
        }
        Delivery::Frame(frame) => {
            out.put_u8(KIND_FRAME);
            out.put_slice(frame.as_bytes());
        }
        Delivery::Close { frame, reason } => {
            out.put_u8(KIND_CLOSE);
            out.put_u8(reason.to_byte());
            out.put_slice(frame.as_bytes());
        }
        Delivery::SessionEnded { session } => {
            out.put_u8(KIND_SESSION_ENDED);
            out.put_u64(*session);
        }
        Delivery::Resync => out.put_u8(KIND_RESYNC),
        Delivery::GoAway => out.put_u8(KIND_GO_AWAY),
        Delivery::Heartbeat => out.put_u8(KIND_HEARTBEAT),
    }
    out.freeze()
}

/// Decodes an envelope; `None` for anything malformed (a foreign publisher on our prefix, a
/// newer Parlor's kind).
pub(super) fn decode(raw: &[u8]) -> Option<Envelope> {
    let mut buf = raw;
    let origin_len = usize::from(take_u8(&mut buf)?);
    let origin = take_str(&mut buf, origin_len)?;
    if buf.remaining() < 2 {
        return None;
    }
    let target_len = usize::from(buf.get_u16());
    let target = take_str(&mut buf, target_len)?;
    let kind = take_u8(&mut buf)?;
    let frame = |rest: &[u8]| Frame::try_from(Bytes::copy_from_slice(rest)).ok();
    let delivery = match kind {
        KIND_MESSAGE => {
            if buf.remaining() < 16 {
                return None;
            }
            let id = buf.get_i64();
            let seq = buf.get_i64();
            Delivery::Message {
                id,
                seq,
                frame: frame(buf)?,
            }
        }
        KIND_FRAME => Delivery::Frame(frame(buf)?),
        KIND_CLOSE => {
            let reason = CloseReason::from_byte(take_u8(&mut buf)?)?;
            Delivery::Close {
                reason,
                frame: frame(buf)?,
            }
        }
        KIND_SESSION_ENDED => {
            if buf.remaining() < 8 {
                return None;
            }
            Delivery::SessionEnded {
                session: buf.get_u64(),
            }
        }
        KIND_RESYNC => Delivery::Resync,
        KIND_GO_AWAY => Delivery::GoAway,
        KIND_HEARTBEAT => Delivery::Heartbeat,
        _ => return None,
    };
    Some(Envelope {
        origin,
        target: (!target.is_empty()).then_some(target),
        delivery,
    })
}

fn take_u8(buf: &mut &[u8]) -> Option<u8> {
    (buf.remaining() >= 1).then(|| buf.get_u8())
}

fn take_str(buf: &mut &[u8], len: usize) -> Option<String> {
    if buf.remaining() < len {
        return None;
    }
    let text = std::str::from_utf8(&buf[..len]).ok()?.to_owned();
    buf.advance(len);
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_round_trip() {
        let deliveries = [
            Delivery::Message {
                id: 42,
                seq: 7,
                frame: Frame::from_static(r#"{"type":"message","text":"héllo"}"#),
            },
            Delivery::Frame(Frame::from_static("{}")),
            Delivery::Close {
                frame: Frame::from_static(r#"{"type":"room_deleted"}"#),
                reason: CloseReason::RoomDeleted,
            },
            Delivery::SessionEnded { session: 7 },
            Delivery::Resync,
            Delivery::GoAway,
        ];
        for delivery in deliveries {
            for target in [None, Some("abc.7")] {
                let bytes = encode("abcdef", target, &delivery);
                let envelope = decode(&bytes).expect("decodes");
                assert_eq!(envelope.origin, "abcdef");
                assert_eq!(envelope.target.as_deref(), target);
                assert_eq!(format!("{:?}", envelope.delivery), format!("{delivery:?}"));
            }
        }
        assert!(decode(b"").is_none());
        assert!(decode(&[3, b'a']).is_none());
        let mut bad_utf8 = encode("p", None, &Delivery::Frame(Frame::from_static("ok"))).to_vec();
        let last = bad_utf8.len() - 1;
        bad_utf8[last] = 0xff;
        assert!(decode(&bad_utf8).is_none(), "frames must be UTF-8");
        let mut bad_reason = encode(
            "p",
            None,
            &Delivery::Close {
                frame: Frame::from_static("{}"),
                reason: CloseReason::RoomDeleted,
            },
        )
        .to_vec();
        bad_reason[5] = 0;
        assert!(
            decode(&bad_reason).is_none(),
            "unknown close reasons are refused"
        );
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever reaches our topics (a foreign publisher, a newer Parlor, garbage), the
        /// decoder answers without panicking.
        #[test]
        fn arbitrary_bytes_never_panic_the_decoder(raw in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode(&raw);
        }

        /// Every delivery survives the trip, whatever its text and target.
        #[test]
        fn frames_round_trip(text in any::<String>(), origin in "[a-f0-9]{0,12}", target in proptest::option::of("[a-f0-9]{1,12}\\.[0-9]{1,5}")) {
            let delivery = Delivery::Frame(Frame::from(text.clone()));
            let decoded = decode(&encode(&origin, target.as_deref(), &delivery)).expect("decodes");
            prop_assert_eq!(decoded.origin, origin);
            prop_assert_eq!(decoded.target, target);
            match decoded.delivery {
                Delivery::Frame(frame) => prop_assert_eq!(frame.as_str(), text.as_str()),
                other => prop_assert!(false, "{other:?}"),
            }
        }
    }
}
