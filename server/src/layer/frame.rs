//! The bytes the layer carries: one encoded JSON text frame, shared by every recipient.

use bytes::Bytes;

/// A ready-encoded JSON text frame. Cheap to clone (reference-counted bytes), so a group send
/// encodes once and every member gets the same allocation. Always valid UTF-8: it is built
/// from a `String` or from bytes that were checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frame(Bytes);

impl Frame {
    /// A frame of static text (tests, fixed frames).
    pub const fn from_static(text: &'static str) -> Self {
        Self(Bytes::from_static(text.as_bytes()))
    }

    /// The frame as text.
    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor takes a `str`/`String` or checks the bytes
        // (`TryFrom<Bytes>`), and the bytes are never mutated afterwards.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }

    /// The frame's bytes (for the Redis envelope).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The shared bytes, for a transport that writes them out.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the frame is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Frame {
    fn from(text: String) -> Self {
        Self(Bytes::from(text))
    }
}

impl TryFrom<Bytes> for Frame {
    type Error = std::str::Utf8Error;

    /// Checks that the bytes are UTF-8 (frames that crossed Redis).
    fn try_from(bytes: Bytes) -> Result<Self, Self::Error> {
        std::str::from_utf8(&bytes)?;
        Ok(Self(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_text_and_checked_when_they_come_as_bytes() {
        assert_eq!(Frame::from("héllo".to_owned()).as_str(), "héllo");
        assert!(Frame::try_from(Bytes::from_static(b"ok")).is_ok());
        assert!(Frame::try_from(Bytes::from_static(&[0xff, 0xfe])).is_err());
        assert_eq!(Frame::from_static("abc").len(), 3);
    }
}
