//! [`TraceContext`]: the W3C trace context one sampled record carries, and its
//! `traceparent` header form.

use std::fmt;

use opentelemetry::trace::{SpanContext, TraceFlags, TraceState};
use opentelemetry::{SpanId, TraceId};

/// The name of the W3C trace-context header (Kafka header, HTTP header).
pub const TRACEPARENT: &str = "traceparent";

/// The trace context of one sampled record: trace id, span id and trace flags
/// (25 bytes, `Copy`, no allocation), so it can ride in a record.
///
/// Records carry one only when they are sampled (see [`crate::Record::trace`]):
/// an unsampled record costs nothing but a null pointer. The trace state
/// (`tracestate` header) is not kept: vendors' state does not survive the batch
/// spans of the job anyway.
#[derive(Copy, Clone, PartialEq, Eq, Hash)]
pub struct TraceContext {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    flags: u8,
}

/// A `traceparent` value that is not a W3C trace context this job can use.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TraceparentError {
    /// Not `version-traceid-spanid-flags` with the right lengths and hex digits.
    #[error("traceparent is not `00-<32 hex>-<16 hex>-<2 hex>`: {0:?}")]
    Malformed(String),
    /// An all-zero trace or span id, which the specification forbids.
    #[error("traceparent has an all-zero trace id or span id")]
    ZeroId,
}

impl TraceContext {
    /// The sampled flag of the trace flags.
    const SAMPLED: u8 = 0x01;

    /// A context from its parts; `None` if either id is all zeros (invalid).
    pub fn new(trace_id: [u8; 16], span_id: [u8; 8], flags: u8) -> Option<Self> {
        (trace_id != [0; 16] && span_id != [0; 8]).then_some(TraceContext { trace_id, span_id, flags })
    }

    /// The trace id.
    pub fn trace_id(&self) -> TraceId {
        TraceId::from_bytes(self.trace_id)
    }

    /// The span id.
    pub fn span_id(&self) -> SpanId {
        SpanId::from_bytes(self.span_id)
    }

    /// Whether the upstream decided to sample this trace (flag `01`).
    pub fn is_sampled(&self) -> bool {
        self.flags & Self::SAMPLED != 0
    }

    /// Parses a `traceparent` header value (version `00`; later versions are read
    /// as `00`, as the specification asks, ignoring what follows the flags).
    pub fn from_traceparent(value: &str) -> Result<Self, TraceparentError> {
        let malformed = || TraceparentError::Malformed(value.chars().take(80).collect());
        let mut parts = value.trim().split('-');
        let (Some(version), Some(trace), Some(span), Some(flags)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed());
        };
        if version.len() != 2 || version == "ff" || (version == "00" && parts.next().is_some()) {
            return Err(malformed());
        }
        let mut trace_id = [0u8; 16];
        let mut span_id = [0u8; 8];
        let mut flag = [0u8; 1];
        if !hex_into(version, &mut [0u8; 1])
            || !hex_into(trace, &mut trace_id)
            || !hex_into(span, &mut span_id)
            || !hex_into(flags, &mut flag)
        {
            return Err(malformed());
        }
        TraceContext::new(trace_id, span_id, flag[0]).ok_or(TraceparentError::ZeroId)
    }

    /// The `traceparent` header value, version `00`.
    pub fn to_traceparent(&self) -> String {
        format!("00-{}-{}-{:02x}", self.trace_id(), self.span_id(), self.flags)
    }

    /// The OpenTelemetry span context (remote: it was made by another span).
    pub fn span_context(&self) -> SpanContext {
        SpanContext::new(self.trace_id(), self.span_id(), TraceFlags::new(self.flags), true, TraceState::NONE)
    }

    /// The context of an OpenTelemetry span; `None` if the span context is invalid.
    pub fn from_span_context(cx: &SpanContext) -> Option<Self> {
        if !cx.is_valid() {
            return None;
        }
        TraceContext::new(cx.trace_id().to_bytes(), cx.span_id().to_bytes(), cx.trace_flags().to_u8())
    }
}

/// Decodes lowercase or uppercase hex `s` into exactly `out.len()` bytes.
fn hex_into(s: &str, out: &mut [u8]) -> bool {
    let s = s.as_bytes();
    if s.len() != out.len() * 2 {
        return false;
    }
    for (byte, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        let (Some(hi), Some(lo)) = ((pair[0] as char).to_digit(16), (pair[1] as char).to_digit(16)) else {
            return false;
        };
        *byte = (hi * 16 + lo) as u8;
    }
    true
}

impl fmt::Debug for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceContext({})", self.to_traceparent())
    }
}

impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_traceparent())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn traceparent_round_trips() {
        let cx = TraceContext::from_traceparent(HEADER).unwrap();
        assert!(cx.is_sampled());
        assert_eq!(cx.to_traceparent(), HEADER);
        assert_eq!(TraceContext::from_span_context(&cx.span_context()), Some(cx));
    }

    #[test]
    fn bad_traceparents_are_rejected() {
        for bad in [
            "",
            "00-abc",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e47zz-00f067aa0ba902b7-01",
        ] {
            assert!(matches!(TraceContext::from_traceparent(bad), Err(TraceparentError::Malformed(_))), "{bad}");
        }
        let zero = "00-00000000000000000000000000000000-00f067aa0ba902b7-01";
        assert_eq!(TraceContext::from_traceparent(zero), Err(TraceparentError::ZeroId));
        let unsampled =
            TraceContext::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").unwrap();
        assert!(!unsampled.is_sampled());
    }
}
