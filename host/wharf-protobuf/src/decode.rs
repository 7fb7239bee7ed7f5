//! From body bytes to Kubernetes JSON: the envelope first, then the object's
//! message, field by field, as the schema describes it.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Number, Value};

use crate::error::{DecodeError, Result};
use crate::schema::{self, Card, FieldDef, FieldType, MessageDef, Special};
use crate::special::{self, TimeJson, TimePrecision};
use crate::wire::{WireError, WireReader, WireValue};

/// The four bytes before every Kubernetes protobuf object.
const MAGIC: &[u8] = b"k8s\0";

/// How deeply messages may nest, counting the object itself; deeper input is
/// rejected rather than followed (Kubernetes' own objects nest fewer than 20 deep).
const MAX_DEPTH: usize = 64;

/// Decodes an enveloped protobuf object into its Kubernetes JSON, with
/// `"apiVersion"` and `"kind"` set from the envelope.
pub fn decode(body: &[u8]) -> Result<Value> {
    decode_enveloped(body, 0).map(Value::Object)
}

/// The `runtime.Unknown` around an object.
struct Envelope<'a> {
    api_version: String,
    kind: String,
    raw: &'a [u8],
    content_encoding: String,
}

fn decode_enveloped(body: &[u8], depth: usize) -> Result<Map<String, Value>> {
    let bytes = body.strip_prefix(MAGIC).ok_or(DecodeError::NotEnveloped)?;
    let envelope = read_envelope(bytes)?;
    if !envelope.content_encoding.is_empty() {
        return Err(DecodeError::UnsupportedContentEncoding {
            encoding: envelope.content_encoding,
        });
    }
    let Some(message) = schema::message_for_kind(&envelope.api_version, &envelope.kind) else {
        return Err(DecodeError::UnknownKind {
            api_version: envelope.api_version,
            kind: envelope.kind,
        });
    };
    let root = Path::Root;
    let Some(Value::Object(fields)) = decode_message(message, envelope.raw, &root, depth + 1)?
    else {
        return Err(malformed(
            &root,
            format!("{} is not an object", message.name),
        ));
    };
    let mut object = Map::new();
    object.insert("apiVersion".into(), Value::String(envelope.api_version));
    object.insert("kind".into(), Value::String(envelope.kind));
    for (name, value) in fields {
        if name != "apiVersion" && name != "kind" {
            object.insert(name, value);
        }
    }
    Ok(object)
}

fn read_envelope(bytes: &[u8]) -> Result<Envelope<'_>> {
    let at = Path::Envelope;
    let unknown =
        schema::envelope().ok_or_else(|| malformed(&at, "the schema has no envelope".into()))?;
    let mut envelope = Envelope {
        api_version: String::new(),
        kind: String::new(),
        raw: &[],
        content_encoding: String::new(),
    };
    for (field, value) in read_fields(unknown, bytes, &at)? {
        match (field.json, field.ty) {
            ("type_meta", FieldType::Message(index)) => {
                let type_meta = schema::message(index)
                    .ok_or_else(|| malformed(&at, "the schema has no TypeMeta".into()))?;
                for (field, value) in read_fields(type_meta, expect_bytes(field, value, &at)?, &at)?
                {
                    match field.json {
                        "api_version" => envelope.api_version = string_of(field, value, &at)?,
                        "kind" => envelope.kind = string_of(field, value, &at)?,
                        _ => {}
                    }
                }
            }
            ("raw", _) => envelope.raw = expect_bytes(field, value, &at)?,
            ("content_encoding", _) => envelope.content_encoding = string_of(field, value, &at)?,
            _ => {}
        }
    }
    Ok(envelope)
}

/// Decodes one message; `None` when it has no JSON form (a `RawExtension`
/// that is not JSON) and its field is left out.
fn decode_message(
    message: &MessageDef,
    bytes: &[u8],
    at: &Path<'_>,
    depth: usize,
) -> Result<Option<Value>> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::TooDeep {
            at: at.to_string(),
            limit: MAX_DEPTH,
        });
    }
    match message.special {
        Special::Object => {
            decode_object(message, bytes, at, depth).map(|object| Some(Value::Object(object)))
        }
        Special::Time => decode_time(message, bytes, at, TimePrecision::Seconds).map(Some),
        Special::MicroTime => decode_time(message, bytes, at, TimePrecision::Micros).map(Some),
        Special::Duration => {
            let nanos = last_int(message, bytes, at, "duration")?.unwrap_or(0);
            Ok(Some(Value::String(special::format_duration(nanos))))
        }
        Special::Quantity => {
            let text = last_value(message, bytes, at, "string", depth)?;
            Ok(Some(text.unwrap_or_else(|| Value::String("0".into()))))
        }
        Special::IntOrString => {
            let is_string = last_int(message, bytes, at, "type")? == Some(1);
            if is_string {
                let text = last_value(message, bytes, at, "str_val", depth)?;
                Ok(Some(text.unwrap_or_else(|| Value::String(String::new()))))
            } else {
                Ok(Some(Value::from(
                    last_int(message, bytes, at, "int_val")?.unwrap_or(0),
                )))
            }
        }
        Special::RawJson => decode_raw_json(message, bytes, at, depth),
        Special::SchemaOrArray => {
            let schemas = repeated_values(message, bytes, at, "j_son_schemas", depth)?;
            if schemas.is_empty() {
                last_value(message, bytes, at, "schema", depth)
            } else {
                Ok(Some(Value::Array(schemas)))
            }
        }
        Special::SchemaOrBool => match last_value(message, bytes, at, "schema", depth)? {
            Some(schema) => Ok(Some(schema)),
            None => Ok(Some(
                last_value(message, bytes, at, "allows", depth)?.unwrap_or(Value::Bool(false)),
            )),
        },
        Special::SchemaOrStringArray => {
            let strings = repeated_values(message, bytes, at, "property", depth)?;
            if strings.is_empty() {
                last_value(message, bytes, at, "schema", depth)
            } else {
                Ok(Some(Value::Array(strings)))
            }
        }
        Special::Items => {
            let mut object = decode_object(message, bytes, at, depth)?;
            let items = message
                .fields
                .first()
                .and_then(|field| object.remove(field.json));
            Ok(Some(items.unwrap_or_else(|| Value::Array(Vec::new()))))
        }
        Special::Envelope => Err(malformed(
            at,
            format!("{} cannot be part of an object", message.name),
        )),
    }
}

/// An ordinary message: a JSON object of its fields.
fn decode_object(
    message: &MessageDef,
    bytes: &[u8],
    at: &Path<'_>,
    depth: usize,
) -> Result<Map<String, Value>> {
    let mut object = Map::new();
    let mut reader = WireReader::new(bytes);
    while let Some(wire) = reader.next_field().map_err(|e| wire_error(at, e))? {
        let Some(field) = message.field(wire.number) else {
            continue;
        };
        let here = at.field(field.json);
        match field.card {
            Card::One | Card::OmitEmpty => match decode_value(field, wire.value, &here, depth)? {
                Some(value) if field.card == Card::OmitEmpty && is_zero(&value) => {
                    object.remove(field.json);
                }
                Some(value) => {
                    object.insert(field.json.into(), value);
                }
                None => {
                    object.remove(field.json);
                }
            },
            Card::Many => decode_repeated(field, wire.value, &here, depth, &mut object)?,
            Card::Inline => match decode_value(field, wire.value, at, depth)? {
                Some(Value::Object(inner)) => object.extend(inner),
                _ => return Err(malformed(&here, "an inline field must be an object".into())),
            },
        }
    }
    Ok(object)
}

/// `""`, `0` or `false`: what Go writes for an unset non-pointer field.
fn is_zero(value: &Value) -> bool {
    match value {
        Value::String(text) => text.is_empty(),
        Value::Number(number) => number.as_i64() == Some(0),
        Value::Bool(flag) => !flag,
        _ => false,
    }
}

/// One occurrence of a repeated field or map, added to the array or object
/// the field has so far.
fn decode_repeated(
    field: &FieldDef,
    value: WireValue<'_>,
    at: &Path<'_>,
    depth: usize,
    object: &mut Map<String, Value>,
) -> Result<()> {
    match field.ty {
        FieldType::MapString | FieldType::MapBytes | FieldType::MapMessage(_) => {
            let (key, value) = decode_map_entry(field, expect_bytes(field, value, at)?, at, depth)?;
            let map = object
                .entry(field.json)
                .or_insert_with(|| Value::Object(Map::new()));
            if !map.is_object() {
                *map = Value::Object(Map::new());
            }
            if let (Value::Object(map), Some(value)) = (map, value) {
                map.insert(key, value);
            }
        }
        FieldType::Int32 | FieldType::Int64 | FieldType::Bool | FieldType::Double
            if matches!(value, WireValue::LengthDelimited(_)) =>
        {
            // Packed: the values one after another in one length-delimited field.
            let mut packed = WireReader::new(expect_bytes(field, value, at)?);
            while !packed.is_empty() {
                let element = if field.ty == FieldType::Double {
                    WireValue::Fixed64(packed.fixed64().map_err(|e| wire_error(at, e))?)
                } else {
                    WireValue::Varint(packed.varint().map_err(|e| wire_error(at, e))?)
                };
                push(object, field, element, at, depth)?;
            }
        }
        _ => push(object, field, value, at, depth)?,
    }
    Ok(())
}

/// Adds one element to a repeated field's array.
fn push(
    object: &mut Map<String, Value>,
    field: &FieldDef,
    value: WireValue<'_>,
    at: &Path<'_>,
    depth: usize,
) -> Result<()> {
    let index = array_at(object, field.json).map_or(0, |values| values.len());
    if let Some(element) = decode_value(field, value, &at.index(index), depth)?
        && let Some(values) = array_at(object, field.json)
    {
        values.push(element);
    }
    Ok(())
}

/// A map entry: key 1 (a string), value 2. A missing value is the value's
/// zero (`""`, or the empty message).
fn decode_map_entry(
    field: &FieldDef,
    bytes: &[u8],
    at: &Path<'_>,
    depth: usize,
) -> Result<(String, Option<Value>)> {
    let mut key = String::new();
    let mut value = None;
    let mut reader = WireReader::new(bytes);
    while let Some(wire) = reader.next_field().map_err(|e| wire_error(at, e))? {
        match wire.number {
            1 => key = string_of(field, wire.value, at)?,
            2 => value = Some(wire.value),
            _ => {}
        }
    }
    let here = at.key(&key);
    let value = match (field.ty, value) {
        (FieldType::MapString, value) => Some(Value::String(match value {
            Some(value) => string_of(field, value, &here)?,
            None => String::new(),
        })),
        (FieldType::MapBytes, value) => Some(Value::String(match value {
            Some(value) => BASE64.encode(expect_bytes(field, value, &here)?),
            None => String::new(),
        })),
        (FieldType::MapMessage(index), value) => {
            let bytes = match value {
                Some(value) => expect_bytes(field, value, &here)?,
                None => &[],
            };
            decode_message(message_at(index, &here)?, bytes, &here, depth + 1)?
        }
        _ => return Err(malformed(at, "not a map field".into())),
    };
    Ok((key, value))
}

/// One value of a field's type (one element, for a repeated field).
fn decode_value(
    field: &FieldDef,
    value: WireValue<'_>,
    at: &Path<'_>,
    depth: usize,
) -> Result<Option<Value>> {
    Ok(Some(match field.ty {
        FieldType::String => Value::String(string_of(field, value, at)?),
        FieldType::Bytes => Value::String(BASE64.encode(expect_bytes(field, value, at)?)),
        FieldType::Bool => Value::Bool(expect_varint(field, value, at)? != 0),
        // int32 is sign-extended to ten bytes on the wire; the low 32 bits are the value.
        FieldType::Int32 => Value::from(expect_varint(field, value, at)? as i32),
        FieldType::Int64 => Value::from(expect_varint(field, value, at)? as i64),
        FieldType::Double => {
            let WireValue::Fixed64(bits) = value else {
                return Err(wrong_wire_type(field, value, at));
            };
            let number = Number::from_f64(f64::from_bits(bits))
                .ok_or_else(|| malformed(at, "a NaN or infinite double has no JSON form".into()))?;
            Value::Number(number)
        }
        FieldType::Message(index) => {
            return decode_message(
                message_at(index, at)?,
                expect_bytes(field, value, at)?,
                at,
                depth + 1,
            );
        }
        FieldType::MapString | FieldType::MapBytes | FieldType::MapMessage(_) => {
            return Err(malformed(at, "a map field must be repeated".into()));
        }
    }))
}

fn decode_time(
    message: &MessageDef,
    bytes: &[u8],
    at: &Path<'_>,
    precision: TimePrecision,
) -> Result<Value> {
    // Go writes the zero time as an empty message.
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    let seconds = last_int(message, bytes, at, "seconds")?.unwrap_or(0);
    let nanos = last_int(message, bytes, at, "nanos")?.unwrap_or(0);
    match special::format_time(seconds, nanos, precision) {
        Some(TimeJson::Null) => Ok(Value::Null),
        Some(TimeJson::Rfc3339(text)) => Ok(Value::String(text)),
        None => Err(malformed(
            at,
            format!("time {seconds}s {nanos}ns is outside the years 0000-9999"),
        )),
    }
}

/// `RawExtension`, `FieldsV1`, apiextensions `JSON`: the bytes are JSON, or
/// an enveloped protobuf object; anything else leaves the field out.
fn decode_raw_json(
    message: &MessageDef,
    bytes: &[u8],
    at: &Path<'_>,
    depth: usize,
) -> Result<Option<Value>> {
    let mut raw: &[u8] = &[];
    for (field, value) in read_fields(message, bytes, at)? {
        if field.json == "raw" {
            raw = expect_bytes(field, value, at)?;
        }
    }
    if raw.starts_with(MAGIC) {
        return Ok(decode_enveloped(raw, depth).ok().map(Value::Object));
    }
    Ok(serde_json::from_slice(raw).ok())
}

// ------------------------------------------------------------ field access

/// The known fields of a message, in wire order (for special messages).
fn read_fields<'b>(
    message: &MessageDef,
    bytes: &'b [u8],
    at: &Path<'_>,
) -> Result<Vec<(&'static FieldDef, WireValue<'b>)>> {
    let mut fields = Vec::new();
    let mut reader = WireReader::new(bytes);
    while let Some(wire) = reader.next_field().map_err(|e| wire_error(at, e))? {
        if let Some(field) = message.field(wire.number) {
            fields.push((field, wire.value));
        }
    }
    Ok(fields)
}

/// The last value of the named singular field, decoded.
fn last_value(
    message: &MessageDef,
    bytes: &[u8],
    at: &Path<'_>,
    name: &str,
    depth: usize,
) -> Result<Option<Value>> {
    let last = read_fields(message, bytes, at)?
        .into_iter()
        .rev()
        .find(|(field, _)| field.json == name);
    match last {
        Some((field, value)) => decode_value(field, value, &at.field(name), depth),
        None => Ok(None),
    }
}

/// Every value of the named repeated field, decoded.
fn repeated_values(
    message: &MessageDef,
    bytes: &[u8],
    at: &Path<'_>,
    name: &str,
    depth: usize,
) -> Result<Vec<Value>> {
    let mut object = Map::new();
    for (field, value) in read_fields(message, bytes, at)? {
        if field.json == name {
            decode_repeated(field, value, &at.field(name), depth, &mut object)?;
        }
    }
    Ok(match object.remove(name) {
        Some(Value::Array(values)) => values,
        _ => Vec::new(),
    })
}

/// The last value of the named integer field.
fn last_int(message: &MessageDef, bytes: &[u8], at: &Path<'_>, name: &str) -> Result<Option<i64>> {
    let last = read_fields(message, bytes, at)?
        .into_iter()
        .rev()
        .find(|(field, _)| field.json == name);
    let Some((field, value)) = last else {
        return Ok(None);
    };
    let raw = expect_varint(field, value, &at.field(name))?;
    Ok(Some(match field.ty {
        FieldType::Int32 => i64::from(raw as i32),
        _ => raw as i64,
    }))
}

fn message_at(index: u16, at: &Path<'_>) -> Result<&'static MessageDef> {
    schema::message(index)
        .ok_or_else(|| malformed(at, format!("the schema has no message {index}")))
}

/// The array a repeated field has so far (always `Some`).
fn array_at<'m>(object: &'m mut Map<String, Value>, name: &str) -> Option<&'m mut Vec<Value>> {
    let slot = object
        .entry(name)
        .or_insert_with(|| Value::Array(Vec::new()));
    if !slot.is_array() {
        *slot = Value::Array(Vec::new());
    }
    slot.as_array_mut()
}

fn string_of(field: &FieldDef, value: WireValue<'_>, at: &Path<'_>) -> Result<String> {
    // Go strings may hold any bytes; Go's JSON encoder writes invalid UTF-8 as U+FFFD.
    Ok(String::from_utf8_lossy(expect_bytes(field, value, at)?).into_owned())
}

fn expect_bytes<'b>(field: &FieldDef, value: WireValue<'b>, at: &Path<'_>) -> Result<&'b [u8]> {
    match value {
        WireValue::LengthDelimited(bytes) => Ok(bytes),
        other => Err(wrong_wire_type(field, other, at)),
    }
}

fn expect_varint(field: &FieldDef, value: WireValue<'_>, at: &Path<'_>) -> Result<u64> {
    match value {
        WireValue::Varint(number) => Ok(number),
        other => Err(wrong_wire_type(field, other, at)),
    }
}

// ------------------------------------------------------------ errors

fn malformed(at: &Path<'_>, reason: String) -> DecodeError {
    DecodeError::Malformed {
        at: at.to_string(),
        reason,
    }
}

fn wire_error(at: &Path<'_>, error: WireError) -> DecodeError {
    malformed(at, error.to_string())
}

fn wrong_wire_type(field: &FieldDef, found: WireValue<'_>, at: &Path<'_>) -> DecodeError {
    malformed(
        at,
        format!(
            "a field of type {} cannot have wire type {}",
            field.ty.proto_name(),
            found.wire_type_name()
        ),
    )
}

/// Where in the object a value is, for error messages: `spec.ports[0].port`.
#[derive(Clone, Copy)]
enum Path<'a> {
    Envelope,
    Root,
    Field(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
    Key(&'a Path<'a>, &'a str),
}

impl<'a> Path<'a> {
    fn field(&'a self, name: &'a str) -> Path<'a> {
        Path::Field(self, name)
    }

    fn index(&'a self, index: usize) -> Path<'a> {
        Path::Index(self, index)
    }

    fn key(&'a self, key: &'a str) -> Path<'a> {
        Path::Key(self, key)
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Envelope => f.write_str("<envelope>"),
            Path::Root => f.write_str("<root>"),
            Path::Field(Path::Root, name) => f.write_str(name),
            Path::Field(parent, name) => write!(f, "{parent}.{name}"),
            Path::Index(parent, index) => write!(f, "{parent}[{index}]"),
            Path::Key(parent, key) => write!(f, "{parent}[{key:?}]"),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn message(name: &str) -> &'static MessageDef {
        schema::all_messages()
            .iter()
            .find(|m| m.name == name)
            .expect("in the schema")
    }

    /// One varint field, its number taken from the schema.
    fn varint_field(message: &MessageDef, name: &str, mut value: u64) -> Vec<u8> {
        let number = message.field_named(name).expect("in the schema").number;
        let mut bytes = vec![(number << 3) as u8];
        while value >= 0x80 {
            bytes.push((value as u8) | 0x80);
            value >>= 7;
        }
        bytes.push(value as u8);
        bytes
    }

    fn decoded(message: &MessageDef, bytes: &[u8]) -> Option<Value> {
        decode_message(message, bytes, &Path::Root, 1)
            .ok()
            .flatten()
    }

    #[test]
    fn a_duration_is_a_go_duration_string() {
        let duration = message("apimachinery.pkg.apis.meta.v1.Duration");
        let ninety_seconds = varint_field(duration, "duration", 90_000_000_000);
        assert_eq!(decoded(duration, &ninety_seconds), Some(json!("1m30s")));
        assert_eq!(decoded(duration, &[]), Some(json!("0s")));
    }

    #[test]
    fn an_int_or_string_without_its_value_is_zero_or_empty() {
        let int_or_string = message("apimachinery.pkg.util.intstr.IntOrString");
        assert_eq!(decoded(int_or_string, &[]), Some(json!(0)));
        let string_type = varint_field(int_or_string, "type", 1);
        assert_eq!(decoded(int_or_string, &string_type), Some(json!("")));
    }

    #[test]
    fn paths_name_fields_indices_and_keys() {
        let root = Path::Root;
        let spec = root.field("spec");
        let ports = spec.field("ports");
        let first = ports.index(0);
        let port = first.field("port");
        assert_eq!(port.to_string(), "spec.ports[0].port");
        let data = root.field("data");
        assert_eq!(data.key("a.b").to_string(), "data[\"a.b\"]");
        assert_eq!(root.to_string(), "<root>");
    }
}
