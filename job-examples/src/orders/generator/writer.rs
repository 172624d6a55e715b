//! Writes generated order events as JSON bytes, fast, and the malformed variants that
//! exercise every decode failure.
//!
//! Valid events are written by hand into a reused buffer (itoa for numbers, a cached
//! date for timestamps) because `serde_json::to_vec` plus chrono formatting would cost
//! several times more than everything else the generator does. The bytes are exactly
//! what `serde_json::to_vec(&OrderEvent)` produces (a test checks it).

use tidemill_runtime::ReasonCode;

use tidemill_operators::decode::rfc3339::TimestampWriter;

/// The facts of one generated order; its JSON is derived from them.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) struct Order {
    /// Sequence number of the event that first carried this order (`o-<seq>`).
    pub seq: u64,
    /// User number (`u-<user>`).
    pub user: u32,
    /// Amount.
    pub amount: i64,
    /// Event time, milliseconds since the epoch.
    pub time_ms: i64,
    /// Generated late (far behind the other event times).
    pub late: bool,
}

/// How a malformed event changes one field of an otherwise valid object.
#[derive(Copy, Clone)]
enum Alter {
    Omit,
    Null,
    Raw(&'static [u8]),
}

/// Invalid UTF-8 sequences, none containing a newline: a lone 0xFF, a truncated
/// two-byte sequence, an encoded UTF-16 surrogate.
const NOT_UTF8: [&[u8]; 3] = [b"\xff", b"\xc3(", b"\xed\xa0\x80"];

const FIELDS: [&[u8]; 4] = [b"\"order_id\":", b"\"user_id\":", b"\"amount\":", b"\"event_time\":"];

/// How many variants the writer has for a malformed reason (`0` for reasons the
/// generator does not produce).
pub(super) fn variants(reason: ReasonCode) -> u32 {
    match reason {
        ReasonCode::NotUtf8 => NOT_UTF8.len() as u32,
        ReasonCode::NotJson => 5,
        ReasonCode::NotObject => 5,
        ReasonCode::MissingField | ReasonCode::NullField => FIELDS.len() as u32,
        ReasonCode::WrongType => 7,
        ReasonCode::BadTimestamp => 6,
        _ => 0,
    }
}

/// Writes events into caller-provided buffers.
#[derive(Default)]
pub(super) struct EventWriter {
    timestamps: TimestampWriter,
    itoa: itoa::Buffer,
}

impl std::fmt::Debug for EventWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventWriter").finish_non_exhaustive()
    }
}

impl EventWriter {
    /// Appends a valid order's JSON.
    pub fn valid(&mut self, buf: &mut Vec<u8>, o: &Order) {
        buf.push(b'{');
        for field in 0..FIELDS.len() {
            if field > 0 {
                buf.push(b',');
            }
            self.field(buf, field, o);
        }
        buf.push(b'}');
    }

    /// Appends one `"name":value` pair of a valid order.
    fn field(&mut self, buf: &mut Vec<u8>, field: usize, o: &Order) {
        buf.extend_from_slice(FIELDS[field]);
        match field {
            0 => self.id(buf, b"\"o-", o.seq),
            1 => self.id(buf, b"\"u-", u64::from(o.user)),
            2 => buf.extend_from_slice(self.itoa.format(o.amount).as_bytes()),
            _ => self.timestamp(buf, o.time_ms),
        }
    }

    fn id(&mut self, buf: &mut Vec<u8>, prefix: &[u8], n: u64) {
        buf.extend_from_slice(prefix);
        buf.extend_from_slice(self.itoa.format(n).as_bytes());
        buf.push(b'"');
    }

    fn timestamp(&mut self, buf: &mut Vec<u8>, millis: i64) {
        buf.push(b'"');
        self.timestamps.write(buf, millis);
        buf.push(b'"');
    }

    /// A valid object except that `field` is altered.
    fn altered(&mut self, buf: &mut Vec<u8>, o: &Order, altered: usize, how: Alter) {
        buf.push(b'{');
        let mut first = true;
        for (field, name) in FIELDS.iter().enumerate() {
            if field == altered && matches!(how, Alter::Omit) {
                continue;
            }
            if !first {
                buf.push(b',');
            }
            first = false;
            match (field == altered, how) {
                (true, Alter::Null) => {
                    buf.extend_from_slice(name);
                    buf.extend_from_slice(b"null");
                }
                (true, Alter::Raw(raw)) => {
                    buf.extend_from_slice(name);
                    buf.extend_from_slice(raw);
                }
                _ => self.field(buf, field, o),
            }
        }
        buf.push(b'}');
    }

    /// Appends a malformed event that the decoder must reject with `reason`;
    /// `variant < variants(reason)` picks one of several ways to be wrong.
    pub fn malformed(&mut self, buf: &mut Vec<u8>, reason: ReasonCode, variant: u32, o: &Order) {
        let v = variant as usize;
        match reason {
            ReasonCode::NotUtf8 => {
                // Valid JSON but for one bad sequence inside the order id.
                let start = buf.len();
                self.valid(buf, o);
                let at = start + FIELDS[0].len() + 3; // after `{"order_id":"o`
                buf.splice(at..at, NOT_UTF8[v % NOT_UTF8.len()].iter().copied());
            }
            ReasonCode::NotJson => match v {
                0 => {
                    // Truncated: a proper prefix of an object is never valid JSON.
                    let start = buf.len();
                    self.valid(buf, o);
                    buf.truncate(start + (buf.len() - start) / 2);
                }
                1 => {
                    buf.extend_from_slice(b"order o-");
                    buf.extend_from_slice(self.itoa.format(o.seq).as_bytes());
                    buf.extend_from_slice(b" by u-");
                    buf.extend_from_slice(self.itoa.format(o.user).as_bytes());
                }
                2 => {
                    buf.extend_from_slice(b"{'order_id':'o-");
                    buf.extend_from_slice(self.itoa.format(o.seq).as_bytes());
                    buf.extend_from_slice(b"'}");
                }
                3 => {} // an empty record (an empty line in a file)
                _ => {
                    self.valid(buf, o);
                    buf.pop();
                    buf.extend_from_slice(b",}"); // trailing comma
                }
            },
            ReasonCode::NotObject => match v {
                0 => {
                    // serde would accept this array for a struct: the decoder must not.
                    buf.push(b'[');
                    for (field, name) in FIELDS.iter().enumerate() {
                        if field > 0 {
                            buf.push(b',');
                        }
                        let start = buf.len();
                        self.field(buf, field, o);
                        buf.drain(start..start + name.len());
                    }
                    buf.push(b']');
                }
                1 => self.id(buf, b"\"o-", o.seq),
                2 => buf.extend_from_slice(self.itoa.format(o.amount).as_bytes()),
                3 => buf.extend_from_slice(b"null"),
                _ => buf.extend_from_slice(b"true"),
            },
            ReasonCode::MissingField => self.altered(buf, o, v % FIELDS.len(), Alter::Omit),
            ReasonCode::NullField => self.altered(buf, o, v % FIELDS.len(), Alter::Null),
            ReasonCode::WrongType => {
                let (field, raw): (usize, &'static [u8]) = match v {
                    0 => (2, b"\"1250\""),
                    1 => (2, b"12.5"),
                    2 => (0, b"1250"),
                    3 => (1, b"{\"id\":\"u-1\"}"),
                    4 => (3, b"1767225600000"),
                    5 => (2, b"9223372036854775808"), // i64::MAX + 1
                    _ => (2, b"true"),
                };
                self.altered(buf, o, field, Alter::Raw(raw));
            }
            ReasonCode::BadTimestamp => {
                self.valid(buf, o);
                // Offset of the timestamp's first digit: `"event_time":"` ends 26
                // bytes before the closing `}` (24-byte timestamp, quote, brace).
                let ts = buf.len() - 26;
                match v {
                    0 => buf[ts + 5..ts + 7].copy_from_slice(b"13"),   // month 13
                    1 => buf[ts + 11..ts + 13].copy_from_slice(b"25"), // hour 25
                    2 => {
                        buf.truncate(ts);
                        buf.extend_from_slice(b"yesterday\"}");
                    }
                    3 => {
                        buf.drain(ts + 10..ts + 24); // date only
                    }
                    4 => {
                        buf.remove(ts + 23); // no `Z`, so no offset
                    }
                    _ => {
                        buf.truncate(ts);
                        buf.extend_from_slice(b"1767225600\"}"); // epoch seconds as a string
                    }
                }
            }
            _ => unreachable!("the generator makes no {reason} events"),
        }
    }
}
