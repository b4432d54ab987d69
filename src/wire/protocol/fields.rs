//! The fields of a line: numbers, ports, file specs, ranges, records.
//! Pure functions that turn the text after a keyword into values, each
//! error naming the field that breaks a rule.

use super::{
    bad, ChunkRange, DownloadRequest, FileRecord, FileSpec, Invalid, Location, Message, ParseError,
};
use crate::wire::date::Date;
use crate::wire::names::{check_file_type, check_name};
use crate::wire::sha256;
use crate::wire::text::quoted;

/// Splits `a, b, c` into trimmed fields.
pub(super) fn split_fields(text: &str) -> Vec<&str> {
    text.split(',').map(str::trim).collect()
}

/// A decimal number made of digits only (`u64::from_str` would also take
/// `+5`). `what` names the field in the error: a number too large to hold is
/// told apart from one that is not a number at all.
pub(super) fn parse_number(what: &str, text: &str) -> Result<u64, Invalid> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Invalid(format!(
            "{what} {} is not a number",
            quoted(text.as_bytes())
        )));
    }
    text.parse().map_err(|_| {
        Invalid(format!(
            "{what} {} is too large (at most {})",
            quoted(text.as_bytes()),
            u64::MAX
        ))
    })
}

pub(super) fn parse_port(text: &str) -> Result<u16, Invalid> {
    match parse_number("port", text).map(u16::try_from) {
        Ok(Ok(port)) if port >= 1 => Ok(port),
        _ => Err(Invalid(format!(
            "port {} is not a number from 1 to 65535",
            quoted(text.as_bytes())
        ))),
    }
}

pub(super) fn parse_spec(
    command: &'static str,
    name: &str,
    file_type: &str,
    size: &str,
) -> Result<FileSpec, ParseError> {
    check_name(name).map_err(|reason| bad(command, reason))?;
    check_file_type(file_type).map_err(|reason| bad(command, reason))?;
    let size = parse_number("size", size).map_err(|reason| bad(command, reason))?;
    Ok(FileSpec {
        name: name.to_string(),
        file_type: file_type.to_string(),
        size,
    })
}

/// The fields of a `DOWNLOAD` or a `HASH` request: a file, and maybe a
/// range of its chunks. `command` names the keyword in errors.
pub(super) fn parse_ranged(
    command: &'static str,
    rest: &str,
) -> Result<DownloadRequest, ParseError> {
    let fields = split_fields(rest);
    let (name, file_type, size, range) = match fields.as_slice() {
        [name, file_type, size] => (name, file_type, size, None),
        [name, file_type, size, first, count] => (name, file_type, size, Some((first, count))),
        _ => {
            return Err(bad(
                command,
                "expected `name, type, size` or `name, type, size, first, count`",
            ))
        }
    };
    let file = parse_spec(command, name, file_type, size)?;
    let range = match range {
        None => None,
        Some((first, count)) => {
            let first =
                parse_number("first chunk", first).map_err(|reason| bad(command, reason))?;
            let count =
                parse_number("chunk count", count).map_err(|reason| bad(command, reason))?;
            if count == 0 {
                return Err(bad(command, "chunk count is 0"));
            }
            Some(ChunkRange { first, count })
        }
    };
    Ok(DownloadRequest { file, range })
}

/// `DOWNLOAD: name, type, size [, first, count]`, or the same with `HASH`.
pub(super) fn format_ranged(keyword: &str, request: &DownloadRequest) -> String {
    let file = &request.file;
    let spec = format!(
        "{keyword}: {}, {}, {}",
        file.name, file.file_type, file.size
    );
    match request.range {
        None => spec,
        Some(range) => format!("{spec}, {}, {}", range.first, range.count),
    }
}

/// `HASH:` is a request when it names a file, and an answer when it holds
/// one field: 64 hex digits. No file field can be 64 hex digits alone,
/// because a request has 3 or 5 fields.
pub(super) fn parse_hash(rest: &str) -> Result<Message, ParseError> {
    if !rest.contains(',') {
        return match sha256::from_hex(rest) {
            Some(digest) => Ok(Message::Hashed(digest)),
            None => Err(bad(
                "HASH",
                "expected 64 hex digits, or `name, type, size [, first, count]`",
            )),
        };
    }
    Ok(Message::Hash(parse_ranged("HASH", rest)?))
}

/// `FIND: word ...`: one word at least, separated by white space.
pub(super) fn parse_find(rest: &str) -> Result<Message, ParseError> {
    let words: Vec<String> = rest.split_whitespace().map(str::to_string).collect();
    if words.is_empty() {
        return Err(bad("FIND", "no words: write `FIND: word ...`"));
    }
    Ok(Message::Find(words))
}

/// Parses a list of records, `<...> <...>`, each with `parse_one`. Any white
/// space (or none) may stand between records; nothing else may.
pub(super) fn parse_records<T>(
    text: &str,
    parse_one: fn(&[&str]) -> Result<T, Invalid>,
) -> Result<Vec<T>, ParseError> {
    let mut records = Vec::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        let Some(inside) = rest.strip_prefix('<') else {
            return Err(ParseError::BadRecord(
                "expected '<' to start a record".into(),
            ));
        };
        let Some((body, after)) = inside.split_once('>') else {
            return Err(ParseError::BadRecord("a record has no closing '>'".into()));
        };
        let fields = split_fields(body);
        records.push(parse_one(&fields).map_err(|Invalid(reason)| ParseError::BadRecord(reason))?);
        rest = after.trim_start();
    }
    Ok(records)
}

pub(super) fn parse_file_record(fields: &[&str]) -> Result<FileRecord, Invalid> {
    let [name, file_type, size, date, ip, port] = fields else {
        return Err(Invalid(format!(
            "expected 6 fields <name, type, size, DD/MM/YY, ip, port>, got {}",
            fields.len()
        )));
    };
    check_name(name)?;
    let location = parse_location(&[file_type, size, date, ip, port])?;
    Ok(FileRecord {
        name: name.to_string(),
        file_type: location.file_type,
        size: location.size,
        modified: location.modified,
        ip: location.ip,
        port: location.port,
    })
}

pub(super) fn parse_location(fields: &[&str]) -> Result<Location, Invalid> {
    let [file_type, size, date, ip, port] = fields else {
        return Err(Invalid(format!(
            "expected 5 fields <type, size, DD/MM/YY, ip, port>, got {}",
            fields.len()
        )));
    };
    check_file_type(file_type)?;
    Ok(Location {
        file_type: file_type.to_string(),
        size: parse_number("size", size)?,
        modified: Date::parse(date).ok_or_else(|| {
            Invalid(format!(
                "date {} is not a real DD/MM/YY day",
                quoted(date.as_bytes())
            ))
        })?,
        ip: ip.parse().map_err(|_| {
            Invalid(format!(
                "address {} is not an IP address",
                quoted(ip.as_bytes())
            ))
        })?,
        port: parse_port(port)?,
    })
}
