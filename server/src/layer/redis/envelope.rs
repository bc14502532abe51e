//! The binary envelope of everything published on Redis:
//! `origin_len:u8 origin target_len:u16 target kind:u8 body`, big-endian numbers. Binary so
//! the frame bytes are carried as they are, without a JSON-in-JSON re-encode; the origin lets
//! a process ignore its own publishes, the target addresses one channel (`send`).
//!
//! A batch (`kind` `B`: `count:u16`, then `len:u32 kind body` per delivery) carries what one
//! commit stored for one room, so a busy room costs one PUBLISH per commit, not per message.

use crate::layer::{CloseReason, Delivery, Frame};
use bytes::{Buf, BufMut, Bytes, BytesMut};

const KIND_MESSAGE: u8 = b'M';
const KIND_FRAME: u8 = b'F';
const KIND_CLOSE: u8 = b'C';
const KIND_RESYNC: u8 = b'R';
const KIND_GO_AWAY: u8 = b'G';
const KIND_SESSION_ENDED: u8 = b'S';
const KIND_HEARTBEAT: u8 = b'H';
const KIND_BATCH: u8 = b'B';
/// Deliveries in one batch envelope at most (a commit batch is smaller).
pub(super) const MAX_BATCH: usize = u16::MAX as usize;

/// A decoded message from Redis.
pub(super) struct Envelope {
    /// The process that published it (empty: addressed to every process, itself included).
    pub(super) origin: String,
    /// The channel it is for (`send`), or `None` for a group delivery.
    pub(super) target: Option<String>,
    /// What to deliver, in order (one, or a commit's worth for a room).
    pub(super) deliveries: Vec<Delivery>,
}

/// Encodes a delivery from `origin` (to the channel `target`, or to a group).
pub(super) fn encode(origin: &str, target: Option<&str>, delivery: &Delivery) -> Bytes {
    let mut out = header(origin, target, body_len(delivery));
    put_body(&mut out, delivery);
    out.freeze()
}

/// Encodes several deliveries to a group as one envelope (at most [`MAX_BATCH`]; the rest
/// is the caller's next envelope).
pub(super) fn encode_batch(origin: &str, deliveries: &[Delivery]) -> Bytes {
    let deliveries = &deliveries[..deliveries.len().min(MAX_BATCH)];
    let bodies: usize = deliveries.iter().map(|d| 4 + body_len(d)).sum();
    let mut out = header(origin, None, 2 + bodies);
    out.put_u8(KIND_BATCH);
    out.put_u16(u16::try_from(deliveries.len()).unwrap_or(u16::MAX));
    for delivery in deliveries {
        out.put_u32(u32::try_from(body_len(delivery)).unwrap_or(u32::MAX));
        put_body(&mut out, delivery);
    }
    out.freeze()
}

/// The origin and target, with room for `body_len` more bytes.
fn header(origin: &str, target: Option<&str>, body_len: usize) -> BytesMut {
    let target = target.unwrap_or("");
    let mut out = BytesMut::with_capacity(4 + origin.len() + target.len() + body_len);
    out.put_u8(u8::try_from(origin.len()).unwrap_or(u8::MAX));
    out.put_slice(&origin.as_bytes()[..origin.len().min(usize::from(u8::MAX))]);
    out.put_u16(u16::try_from(target.len()).unwrap_or(u16::MAX));
    out.put_slice(&target.as_bytes()[..target.len().min(usize::from(u16::MAX))]);
    out
}

/// The length of a delivery's `kind body`.
fn body_len(delivery: &Delivery) -> usize {
    1 + match delivery {
        Delivery::Message { frame, .. } => 16 + frame.len(),
        Delivery::Frame(frame) => frame.len(),
        Delivery::Close { frame, .. } => 1 + frame.len(),
        Delivery::SessionEnded { .. } => 8,
        Delivery::Resync | Delivery::GoAway | Delivery::Heartbeat => 0,
    }
}

fn put_body(out: &mut BytesMut, delivery: &Delivery) {
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
    let deliveries = if buf.first() == Some(&KIND_BATCH) {
        buf.advance(1);
        decode_batch(buf)?
    } else {
        vec![decode_body(buf)?]
    };
    Some(Envelope {
        origin,
        target: (!target.is_empty()).then_some(target),
        deliveries,
    })
}

fn decode_batch(mut buf: &[u8]) -> Option<Vec<Delivery>> {
    if buf.remaining() < 2 {
        return None;
    }
    let count = usize::from(buf.get_u16());
    // Each item takes at least five bytes: a count larger than the envelope is garbage.
    let mut deliveries = Vec::with_capacity(count.min(buf.remaining() / 5));
    for _ in 0..count {
        if buf.remaining() < 4 {
            return None;
        }
        let len = usize::try_from(buf.get_u32()).ok()?;
        if buf.remaining() < len {
            return None;
        }
        deliveries.push(decode_body(&buf[..len])?);
        buf.advance(len);
    }
    buf.is_empty().then_some(deliveries)
}

/// Decodes one `kind body`.
fn decode_body(mut buf: &[u8]) -> Option<Delivery> {
    let kind = take_u8(&mut buf)?;
    let frame = |rest: &[u8]| Frame::try_from(Bytes::copy_from_slice(rest)).ok();
    Some(match kind {
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
            if buf.remaining() != 8 {
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
                assert_eq!(
                    format!("{:?}", envelope.deliveries),
                    format!("{:?}", [&delivery])
                );
            }
        }
        let batch = deliveries_for_batch();
        let envelope = decode(&encode_batch("abcdef", &batch)).expect("a batch decodes");
        assert_eq!(envelope.target, None);
        assert_eq!(format!("{:?}", envelope.deliveries), format!("{batch:?}"));
        let mut truncated = encode_batch("abcdef", &batch).to_vec();
        truncated.pop();
        assert!(decode(&truncated).is_none(), "a short batch is refused");
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
fn deliveries_for_batch() -> Vec<Delivery> {
    (1..=3)
        .map(|seq| Delivery::Message {
            id: 100 + seq,
            seq,
            frame: Frame::from(format!(r#"{{"type":"message","n":{seq}}}"#)),
        })
        .chain([Delivery::Heartbeat])
        .collect()
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
            match decoded.deliveries.as_slice() {
                [Delivery::Frame(frame)] => prop_assert_eq!(frame.as_str(), text.as_str()),
                other => prop_assert!(false, "{other:?}"),
            }
        }
    }
}
