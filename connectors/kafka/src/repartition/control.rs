//! The control records a repartition topic carries besides data: how event time
//! (watermarks, idleness, the end of a bounded input) crosses Kafka from the
//! tasks that write the topic to the tasks that read it.
//!
//! A control record has no key and an empty value; its headers say what it is:
//! `tidemill.control` (`watermark`, `idle` or `end`), `tidemill.upstream` (the
//! writing task, a decimal number) and, for a watermark, `tidemill.watermark`
//! (milliseconds since the Unix epoch, decimal). Data records carry no
//! `tidemill.control` header. Text rather than binary, so that `kafka-console-consumer
//! --property print.headers=true` shows what a repartition topic holds.

use std::fmt;

use serde::{Deserialize, Serialize};
use tidemill_runtime::EventTime;

use crate::{KafkaRecord, OutgoingRecord};

/// Header naming the kind of a control record.
pub const CONTROL_HEADER: &str = "tidemill.control";
/// Header naming the upstream task that wrote a control record.
pub const UPSTREAM_HEADER: &str = "tidemill.upstream";
/// Header holding a watermark's milliseconds.
pub const WATERMARK_HEADER: &str = "tidemill.watermark";

/// One task of the stage that writes a repartition topic: its index among the
/// writing tasks (for the order job, the input partition it reads).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct UpstreamTask(pub u32);

impl fmt::Display for UpstreamTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What a control record says about its upstream task's event time.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Control {
    /// No record of the upstream task older than this will be judged on time.
    Watermark(EventTime),
    /// The upstream task's input is idle: leave it out of the minimum until it
    /// sends a watermark again.
    Idle,
    /// The upstream task's (bounded) input has ended: it writes nothing more.
    End,
}

impl Control {
    /// The control record for `partition`, written by `upstream`.
    pub fn record(self, upstream: UpstreamTask, partition: i32) -> OutgoingRecord {
        let (kind, watermark) = match self {
            Control::Watermark(t) => ("watermark", Some(t.as_millis())),
            Control::Idle => ("idle", None),
            Control::End => ("end", None),
        };
        let mut record = OutgoingRecord { value: Some(Vec::new()), ..OutgoingRecord::default() }
            .with_partition(partition)
            .with_header(CONTROL_HEADER, kind)
            .with_header(UPSTREAM_HEADER, upstream.0.to_string());
        if let Some(ms) = watermark {
            record = record.with_header(WATERMARK_HEADER, ms.to_string());
        }
        record
    }

    /// Reads a record: `None` for a data record, `Some(Err)` for a control record
    /// that cannot be understood, else the upstream task and what it says.
    pub fn of(record: &KafkaRecord) -> Option<Result<(UpstreamTask, Control), BadControl>> {
        let kind = header(record, CONTROL_HEADER)?;
        Some(Self::parse(record, kind))
    }

    fn parse(record: &KafkaRecord, kind: &[u8]) -> Result<(UpstreamTask, Control), BadControl> {
        let upstream = number(header(record, UPSTREAM_HEADER)).ok_or(BadControl::Upstream)?;
        let upstream = UpstreamTask(u32::try_from(upstream).map_err(|_| BadControl::Upstream)?);
        let control = match kind {
            b"watermark" => {
                let ms = number(header(record, WATERMARK_HEADER)).ok_or(BadControl::Watermark)?;
                Control::Watermark(EventTime::from_millis(ms))
            }
            b"idle" => Control::Idle,
            b"end" => Control::End,
            other => return Err(BadControl::Kind(String::from_utf8_lossy(other).into_owned())),
        };
        Ok((upstream, control))
    }
}

/// A record with a `tidemill.control` header that is not a control record this
/// version understands (written by another version, or by hand).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BadControl {
    /// The kind is unknown.
    #[error("unknown control record kind {0:?}")]
    Kind(String),
    /// The upstream header is missing or not a number.
    #[error("control record without a valid {UPSTREAM_HEADER} header")]
    Upstream,
    /// The watermark header is missing or not a number.
    #[error("watermark control record without a valid {WATERMARK_HEADER} header")]
    Watermark,
}

fn header<'a>(record: &'a KafkaRecord, name: &str) -> Option<&'a [u8]> {
    record.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_slice())
}

fn number(bytes: Option<&[u8]>) -> Option<i64> {
    std::str::from_utf8(bytes?).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_back(record: OutgoingRecord) -> KafkaRecord {
        KafkaRecord {
            key: record.key,
            payload: record.value.unwrap_or_default(),
            headers: record.headers.into_iter().map(|(k, v)| (k, v.unwrap_or_default())).collect(),
            timestamp: None,
        }
    }

    #[test]
    fn control_records_read_back_as_written_and_data_is_not_control() {
        for control in [Control::Watermark(EventTime::from_millis(-5)), Control::Idle, Control::End] {
            let written = control.record(UpstreamTask(7), 3);
            assert_eq!(written.partition, Some(3));
            assert_eq!(Control::of(&read_back(written)), Some(Ok((UpstreamTask(7), control))));
        }
        assert_eq!(Control::of(&read_back(OutgoingRecord::value("x"))), None);
        let odd = OutgoingRecord::value("").with_header(CONTROL_HEADER, "pause").with_header(UPSTREAM_HEADER, "1");
        assert_eq!(Control::of(&read_back(odd)), Some(Err(BadControl::Kind("pause".into()))));
        let no_upstream = OutgoingRecord::value("").with_header(CONTROL_HEADER, "end");
        assert_eq!(Control::of(&read_back(no_upstream)), Some(Err(BadControl::Upstream)));
    }
}
