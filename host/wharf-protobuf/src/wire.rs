//! The protobuf wire format, read without a schema: a message is a sequence
//! of fields, each a key (field number and wire type, as a varint) and a
//! value of that wire type.
//!
//! Only the four wire types Kubernetes uses are accepted; groups (start and
//! end group, wire types 3 and 4) are an error, as is anything truncated.

/// A field's value as it is on the wire.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum WireValue<'a> {
    /// Wire type 0: int32, int64, bool (and enums, which Kubernetes does not use).
    Varint(u64),
    /// Wire type 1: double.
    Fixed64(u64),
    /// Wire type 2: string, bytes, messages, map entries and packed repeated scalars.
    LengthDelimited(&'a [u8]),
    /// Wire type 5: float.
    Fixed32(u32),
}

impl WireValue<'_> {
    /// The wire type's name, for error messages.
    pub(crate) fn wire_type_name(&self) -> &'static str {
        match self {
            WireValue::Varint(_) => "varint",
            WireValue::Fixed64(_) => "64-bit",
            WireValue::LengthDelimited(_) => "length-delimited",
            WireValue::Fixed32(_) => "32-bit",
        }
    }
}

/// One field of a message.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct WireField<'a> {
    pub(crate) number: u32,
    pub(crate) value: WireValue<'a>,
}

/// What is wrong with the bytes.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
pub(crate) enum WireError {
    #[error("truncated input")]
    Truncated,
    #[error("varint longer than ten bytes")]
    VarintTooLong,
    #[error("field number 0 is not allowed")]
    FieldNumberZero,
    #[error("field number {0} is out of range")]
    FieldNumberOutOfRange(u64),
    #[error("groups (wire type {0}) are not supported")]
    Group(u8),
    #[error("unknown wire type {0}")]
    UnknownWireType(u8),
    #[error("length {0} runs past the end of the message")]
    LengthPastEnd(u64),
}

/// Reads the fields of one message, in wire order.
pub(crate) struct WireReader<'a> {
    bytes: &'a [u8],
}

impl<'a> WireReader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    /// The next field, or `None` at the end of the message.
    pub(crate) fn next_field(&mut self) -> Result<Option<WireField<'a>>, WireError> {
        if self.bytes.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let number = key >> 3;
        if number == 0 {
            return Err(WireError::FieldNumberZero);
        }
        // Field numbers are 29 bits.
        let number = u32::try_from(number)
            .ok()
            .filter(|n| *n < 1 << 29)
            .ok_or(WireError::FieldNumberOutOfRange(number))?;
        let value = match (key & 7) as u8 {
            0 => WireValue::Varint(self.varint()?),
            1 => WireValue::Fixed64(u64::from_le_bytes(self.take_array()?)),
            2 => {
                let length = self.varint()?;
                let length_usize =
                    usize::try_from(length).map_err(|_| WireError::LengthPastEnd(length))?;
                WireValue::LengthDelimited(
                    self.take(length_usize)
                        .ok_or(WireError::LengthPastEnd(length))?,
                )
            }
            5 => WireValue::Fixed32(u32::from_le_bytes(self.take_array()?)),
            group @ (3 | 4) => return Err(WireError::Group(group)),
            other => return Err(WireError::UnknownWireType(other)),
        };
        Ok(Some(WireField { number, value }))
    }

    /// Reads one varint (also used for packed repeated scalars).
    pub(crate) fn varint(&mut self) -> Result<u64, WireError> {
        let mut value = 0u64;
        for (index, byte) in self.bytes.iter().enumerate().take(10) {
            // The tenth byte holds only the top bit of a u64; extra bits are
            // dropped, as Go's and prost's decoders drop them.
            value |= u64::from(byte & 0x7f) << (7 * index);
            if byte & 0x80 == 0 {
                self.bytes = &self.bytes[index + 1..];
                return Ok(value);
            }
        }
        Err(if self.bytes.len() >= 10 {
            WireError::VarintTooLong
        } else {
            WireError::Truncated
        })
    }

    /// Reads eight bytes of a packed `double` list.
    pub(crate) fn fixed64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_le_bytes(self.take_array()?))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn take(&mut self, length: usize) -> Option<&'a [u8]> {
        if length > self.bytes.len() {
            return None;
        }
        let (taken, rest) = self.bytes.split_at(length);
        self.bytes = rest;
        Some(taken)
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let taken = self.take(N).ok_or(WireError::Truncated)?;
        taken.try_into().map_err(|_| WireError::Truncated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(bytes: &[u8]) -> Result<Vec<WireField<'_>>, WireError> {
        let mut reader = WireReader::new(bytes);
        let mut fields = Vec::new();
        while let Some(field) = reader.next_field()? {
            fields.push(field);
        }
        Ok(fields)
    }

    #[test]
    fn reads_each_wire_type() {
        let bytes = [
            0x08, 0x96, 0x01, // 1: varint 150
            0x11, 1, 0, 0, 0, 0, 0, 0, 0, // 2: fixed64 1
            0x1a, 2, b'h', b'i', // 3: "hi"
            0x25, 2, 0, 0, 0, // 4: fixed32 2
        ];
        assert_eq!(
            fields(&bytes),
            Ok(vec![
                WireField {
                    number: 1,
                    value: WireValue::Varint(150)
                },
                WireField {
                    number: 2,
                    value: WireValue::Fixed64(1)
                },
                WireField {
                    number: 3,
                    value: WireValue::LengthDelimited(b"hi")
                },
                WireField {
                    number: 4,
                    value: WireValue::Fixed32(2)
                },
            ])
        );
    }

    #[test]
    fn reads_a_ten_byte_varint_for_a_negative_number() {
        let mut bytes = vec![0x08];
        bytes.extend([0xff; 9]);
        bytes.push(0x01);
        assert_eq!(
            fields(&bytes),
            Ok(vec![WireField {
                number: 1,
                value: WireValue::Varint(u64::MAX)
            }])
        );
    }

    #[test]
    fn rejects_broken_input() {
        let cases: [(&str, &[u8], WireError); 8] = [
            ("a truncated key", &[0x80], WireError::Truncated),
            (
                "a truncated varint value",
                &[0x08, 0x80, 0x80],
                WireError::Truncated,
            ),
            (
                "an eleven byte varint",
                &[
                    0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
                ],
                WireError::VarintTooLong,
            ),
            (
                "a length past the end",
                &[0x0a, 5, b'a'],
                WireError::LengthPastEnd(5),
            ),
            (
                "a truncated fixed64",
                &[0x09, 1, 2, 3],
                WireError::Truncated,
            ),
            ("a start group", &[0x0b], WireError::Group(3)),
            ("wire type 6", &[0x0e], WireError::UnknownWireType(6)),
            (
                "field number zero",
                &[0x00, 0x01],
                WireError::FieldNumberZero,
            ),
        ];
        for (name, bytes, expected) in cases {
            assert_eq!(fields(bytes), Err(expected), "{name}");
        }
    }
}
