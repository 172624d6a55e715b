//! What the Kafka sink puts into a checkpoint at a barrier: every record of the
//! epoch, encoded, in a compact binary document (the checkpoint manifest is the
//! write-ahead log of the sink; see `docs/kafka-sink.md`).
//!
//! The records are encoded as they are written ([`StagedWriter`]), so an epoch is
//! held in memory once, as bytes; at the barrier a header is put in front. All
//! integers are little-endian; a string or byte string is a `u32` length and the
//! bytes.
//!
//! ```text
//! document := format:str("tidemill.kafka-staged.v1") epoch:u64 transactional_id:str
//!             topic:str records:u64 body_len:u64 body
//! record   := flags:u8 [partition:i32] [timestamp:i64] [key:bytes] [value:bytes]
//!             header_count:u32 { name:str has_value:u8 [value:bytes] }
//! flags    := 1 key | 2 value | 4 partition | 8 timestamp
//! ```
//!
//! Commits parse the document without copying: [`RecordRef`]s borrow from it.

use tidemill_runtime::{Epoch, StagedOutput};

use super::record::OutgoingRecord;

/// The format tag of staged Kafka output written by this version.
pub const KAFKA_STAGED_FORMAT: &str = "tidemill.kafka-staged.v1";

const HAS_KEY: u8 = 1;
const HAS_VALUE: u8 = 2;
const HAS_PARTITION: u8 = 4;
const HAS_TIMESTAMP: u8 = 8;
const KNOWN_FLAGS: u8 = HAS_KEY | HAS_VALUE | HAS_PARTITION | HAS_TIMESTAMP;

/// Staged output that cannot be written or read back.
#[derive(Debug, thiserror::Error)]
pub enum StagedError {
    /// A key, value, header or name longer than a `u32` length can say.
    #[error("staged Kafka output: a field of {0} bytes is too large")]
    FieldTooLarge(usize),
    /// The document does not start with a format name.
    #[error("staged Kafka output: not a Tidemill Kafka staging document")]
    NotAStagingDocument,
    /// A format this sink does not understand.
    #[error("staged Kafka output: format {found:?}, this sink understands {KAFKA_STAGED_FORMAT:?}")]
    UnknownFormat {
        /// The document's format.
        found: String,
    },
    /// A body length that does not fit in memory.
    #[error("staged Kafka output: body too large")]
    BodyTooLarge,
    /// Bytes after the body.
    #[error("staged Kafka output: {0} bytes after the body")]
    TrailingBytes(usize),
    /// The header's record count differs from the body's.
    #[error("staged Kafka output: the header says {header} records, the body holds {body}")]
    RecordCount {
        /// Records the header announces.
        header: u64,
        /// Records found in the body.
        body: u64,
    },
    /// The document ends inside a field.
    #[error("staged Kafka output: truncated: {wanted} bytes wanted, {left} left")]
    Truncated {
        /// Bytes the field needs.
        wanted: usize,
        /// Bytes left.
        left: usize,
    },
    /// A string field that is not UTF-8.
    #[error("staged Kafka output: a string is not UTF-8")]
    NotUtf8(#[source] std::str::Utf8Error),
    /// A record with flag bits this format does not define.
    #[error("staged Kafka output: unknown record flags {0:#04x}")]
    UnknownRecordFlags(u8),
    /// A header value flag other than absent or present.
    #[error("staged Kafka output: bad header value flag {0}")]
    BadHeaderValueFlag(u8),
}

/// Records of the current epoch, encoded as they arrive.
#[derive(Debug, Default)]
pub(crate) struct StagedWriter {
    body: Vec<u8>,
    records: u64,
}

impl StagedWriter {
    /// Appends one record.
    pub(crate) fn push(&mut self, r: &OutgoingRecord) -> Result<(), StagedError> {
        let flag = |present: bool, bit: u8| if present { bit } else { 0 };
        let flags = flag(r.key.is_some(), HAS_KEY)
            | flag(r.value.is_some(), HAS_VALUE)
            | flag(r.partition.is_some(), HAS_PARTITION)
            | flag(r.timestamp.is_some(), HAS_TIMESTAMP);
        let start = self.body.len();
        let result = self.encode(flags, r);
        if result.is_err() {
            // Leave the body as it was before this record.
            self.body.truncate(start);
        }
        result
    }

    fn encode(&mut self, flags: u8, r: &OutgoingRecord) -> Result<(), StagedError> {
        let b = &mut self.body;
        b.push(flags);
        if let Some(p) = r.partition {
            b.extend_from_slice(&p.to_le_bytes());
        }
        if let Some(t) = r.timestamp {
            b.extend_from_slice(&t.to_le_bytes());
        }
        if let Some(key) = &r.key {
            put_bytes(b, key)?;
        }
        if let Some(value) = &r.value {
            put_bytes(b, value)?;
        }
        put_len(b, r.headers.len())?;
        for (name, value) in &r.headers {
            put_bytes(b, name.as_bytes())?;
            b.push(u8::from(value.is_some()));
            if let Some(value) = value {
                put_bytes(b, value)?;
            }
        }
        self.records += 1;
        Ok(())
    }

    /// Bytes held for the epoch so far.
    pub(crate) fn bytes(&self) -> usize {
        self.body.len()
    }

    /// Records held for the epoch so far.
    pub(crate) fn records(&self) -> u64 {
        self.records
    }

    /// The staged document of `epoch`, emptying the writer for the next epoch; an
    /// empty [`StagedOutput`] when no record was written.
    pub(crate) fn finish(&mut self, epoch: Epoch, transactional_id: &str, topic: &str) -> StagedOutput {
        if self.records == 0 {
            return StagedOutput::default();
        }
        let body = std::mem::take(&mut self.body);
        let records = std::mem::take(&mut self.records);
        let mut doc = Vec::with_capacity(body.len() + 64 + transactional_id.len() + topic.len());
        // Lengths of these strings were checked by the config (< 4 GiB by far).
        let _ = put_bytes(&mut doc, KAFKA_STAGED_FORMAT.as_bytes());
        doc.extend_from_slice(&epoch.get().to_le_bytes());
        let _ = put_bytes(&mut doc, transactional_id.as_bytes());
        let _ = put_bytes(&mut doc, topic.as_bytes());
        doc.extend_from_slice(&records.to_le_bytes());
        doc.extend_from_slice(&(body.len() as u64).to_le_bytes());
        doc.extend_from_slice(&body);
        StagedOutput(doc)
    }
}

fn put_len(b: &mut Vec<u8>, len: usize) -> Result<(), StagedError> {
    let len = u32::try_from(len).map_err(|_| StagedError::FieldTooLarge(len))?;
    b.extend_from_slice(&len.to_le_bytes());
    Ok(())
}

fn put_bytes(b: &mut Vec<u8>, bytes: &[u8]) -> Result<(), StagedError> {
    put_len(b, bytes.len())?;
    b.extend_from_slice(bytes);
    Ok(())
}

/// A parsed staged document of one epoch.
#[derive(Debug)]
pub(crate) struct StagedEpoch<'a> {
    /// The epoch the records were written in.
    pub(crate) epoch: Epoch,
    /// The transactional id of the sink that staged them.
    pub(crate) transactional_id: &'a str,
    /// The topic they are for.
    pub(crate) topic: &'a str,
    /// How many records there are.
    pub(crate) records: u64,
    body: &'a [u8],
}

impl<'a> StagedEpoch<'a> {
    /// Parses and checks a whole document; `Ok(None)` for empty output (nothing
    /// staged in that epoch).
    pub(crate) fn parse(staged: &'a StagedOutput) -> Result<Option<Self>, StagedError> {
        if staged.0.is_empty() {
            return Ok(None);
        }
        let mut c = Cursor(&staged.0);
        let format = c.str().map_err(|_| StagedError::NotAStagingDocument)?;
        if format != KAFKA_STAGED_FORMAT {
            return Err(StagedError::UnknownFormat { found: format.to_string() });
        }
        let epoch = Epoch::new(c.u64()?);
        let transactional_id = c.str()?;
        let topic = c.str()?;
        let records = c.u64()?;
        let body_len = usize::try_from(c.u64()?).map_err(|_| StagedError::BodyTooLarge)?;
        let body = c.take(body_len)?;
        if !c.0.is_empty() {
            return Err(StagedError::TrailingBytes(c.0.len()));
        }
        let parsed = StagedEpoch { epoch, transactional_id, topic, records, body };
        // Check every record now, before a transaction is begun for them.
        let mut count = 0u64;
        for r in parsed.iter() {
            r?;
            count += 1;
        }
        if count != records {
            return Err(StagedError::RecordCount { header: records, body: count });
        }
        Ok(Some(parsed))
    }

    /// The records, in the order they were written.
    pub(crate) fn iter(&self) -> impl Iterator<Item = Result<RecordRef<'a>, StagedError>> + 'a {
        let mut c = Cursor(self.body);
        std::iter::from_fn(move || (!c.0.is_empty()).then(|| c.record()))
    }
}

/// One staged record, borrowed from the document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RecordRef<'a> {
    pub(crate) key: Option<&'a [u8]>,
    pub(crate) value: Option<&'a [u8]>,
    pub(crate) headers: Vec<(&'a str, Option<&'a [u8]>)>,
    pub(crate) partition: Option<i32>,
    pub(crate) timestamp: Option<i64>,
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], StagedError> {
        if self.0.len() < n {
            return Err(StagedError::Truncated { wanted: n, left: self.0.len() });
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], StagedError> {
        let mut a = [0; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, StagedError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, StagedError> {
        self.array().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, StagedError> {
        self.array().map(u64::from_le_bytes)
    }

    fn bytes(&mut self) -> Result<&'a [u8], StagedError> {
        let len = self.u32()? as usize;
        self.take(len)
    }

    fn str(&mut self) -> Result<&'a str, StagedError> {
        std::str::from_utf8(self.bytes()?).map_err(StagedError::NotUtf8)
    }

    fn record(&mut self) -> Result<RecordRef<'a>, StagedError> {
        let flags = self.u8()?;
        if flags & !KNOWN_FLAGS != 0 {
            return Err(StagedError::UnknownRecordFlags(flags));
        }
        let partition = if flags & HAS_PARTITION != 0 { Some(i32::from_le_bytes(self.array()?)) } else { None };
        let timestamp = if flags & HAS_TIMESTAMP != 0 { Some(i64::from_le_bytes(self.array()?)) } else { None };
        let key = if flags & HAS_KEY != 0 { Some(self.bytes()?) } else { None };
        let value = if flags & HAS_VALUE != 0 { Some(self.bytes()?) } else { None };
        let count = self.u32()? as usize;
        // Each header takes at least 5 bytes: never trust a count to allocate.
        let mut headers = Vec::with_capacity(count.min(self.0.len() / 5));
        for _ in 0..count {
            let name = self.str()?;
            let value = match self.u8()? {
                0 => None,
                1 => Some(self.bytes()?),
                other => return Err(StagedError::BadHeaderValueFlag(other)),
            };
            headers.push((name, value));
        }
        Ok(RecordRef { key, value, headers, partition, timestamp })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<OutgoingRecord> {
        vec![
            OutgoingRecord::value("v1").with_key("k1").with_header("h", "x").with_header("h", "y"),
            OutgoingRecord::tombstone("k2")
                .with_partition(3)
                .with_timestamp(tidemill_runtime::EventTime::from_millis(-5)),
            OutgoingRecord { headers: vec![("null".into(), None)], ..OutgoingRecord::value(vec![0u8, 0xff, b'\n']) },
            OutgoingRecord::default(),
        ]
    }

    fn owned(r: RecordRef<'_>) -> OutgoingRecord {
        OutgoingRecord {
            key: r.key.map(<[u8]>::to_vec),
            value: r.value.map(<[u8]>::to_vec),
            headers: r.headers.into_iter().map(|(k, v)| (k.to_owned(), v.map(<[u8]>::to_vec))).collect(),
            partition: r.partition,
            timestamp: r.timestamp,
        }
    }

    #[test]
    fn records_round_trip_and_the_writer_starts_over() {
        let mut w = StagedWriter::default();
        for r in sample() {
            w.push(&r).unwrap();
        }
        assert_eq!(w.records(), 4);
        let out = w.finish(Epoch::new(7), "tidemill-j-s", "out");
        assert_eq!((w.records(), w.bytes()), (0, 0), "the next epoch starts empty");
        let parsed = StagedEpoch::parse(&out).unwrap().unwrap();
        assert_eq!(
            (parsed.epoch, parsed.transactional_id, parsed.topic, parsed.records),
            (Epoch::new(7), "tidemill-j-s", "out", 4)
        );
        let back: Vec<OutgoingRecord> = parsed.iter().map(|r| owned(r.unwrap())).collect();
        assert_eq!(back, sample());
        assert_eq!(w.finish(Epoch::new(8), "t", "out"), StagedOutput::default(), "nothing written, nothing staged");
        assert!(StagedEpoch::parse(&StagedOutput::default()).unwrap().is_none());
    }

    #[test]
    fn damaged_documents_are_refused() {
        let mut w = StagedWriter::default();
        for r in sample() {
            w.push(&r).unwrap();
        }
        let good = w.finish(Epoch::new(1), "t", "out").0;
        for cut in [1, 10, good.len() - 1] {
            let err = StagedEpoch::parse(&StagedOutput(good[..cut].to_vec())).unwrap_err();
            assert!(err.to_string().contains("staged Kafka output"), "{err}");
        }
        let mut longer = good.clone();
        longer.push(0);
        assert!(StagedEpoch::parse(&StagedOutput(longer)).unwrap_err().to_string().contains("after the body"));
        let mut other = good.clone();
        other[4 + "tidemill.kafka-staged.v".len()] = b'9';
        assert!(StagedEpoch::parse(&StagedOutput(other)).unwrap_err().to_string().contains("v9"));
        assert!(StagedEpoch::parse(&StagedOutput(br#"{"format":"json"}"#.to_vec())).is_err());
        // The last record has no headers: its header count (the last 4 bytes) lies.
        let mut count = good;
        let n = count.len();
        count[n - 4..].copy_from_slice(&1000u32.to_le_bytes());
        assert!(StagedEpoch::parse(&StagedOutput(count)).is_err());
    }
}
