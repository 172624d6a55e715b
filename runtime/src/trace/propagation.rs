//! W3C trace-context propagation through carriers (Kafka headers, HTTP headers)
//! with OpenTelemetry's [`TraceContextPropagator`], so `traceparent` and
//! `tracestate` are read and written exactly as the specification says.

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry::Context;
use opentelemetry_sdk::propagation::TraceContextPropagator;

use crate::trace::context::TraceContext;

/// Reads the trace context a carrier holds; `None` if it holds none, an invalid
/// one, or one that is not sampled (an unsampled record is traced nowhere, so it
/// carries nothing).
pub fn extract(carrier: &dyn Extractor) -> Option<TraceContext> {
    let cx = TraceContextPropagator::new().extract(carrier);
    let span = cx.span();
    let sc = span.span_context();
    if !sc.is_sampled() {
        return None;
    }
    TraceContext::from_span_context(sc)
}

/// Writes `cx` into a carrier as a `traceparent` header.
pub fn inject(cx: TraceContext, carrier: &mut dyn Injector) {
    let otel = Context::new().with_remote_span_context(cx.span_context());
    TraceContextPropagator::new().inject_context(&otel, carrier);
}

/// An [`Extractor`] over a list of `(name, value)` headers whose names may repeat
/// (as Kafka headers do): the first header of a name wins.
pub struct HeaderList<'a>(pub &'a [(String, Vec<u8>)]);

impl Extractor for HeaderList<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        let (_, v) = self.0.iter().find(|(k, _)| k.eq_ignore_ascii_case(key))?;
        std::str::from_utf8(v).ok()
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_str()).collect()
    }
}

/// An [`Injector`] appending to a list of `(name, value)` headers.
pub struct HeaderListMut<'a>(pub &'a mut Vec<(String, Vec<u8>)>);

impl Injector for HeaderListMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.push((key.to_string(), value.into_bytes()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lists_carry_sampled_contexts_only() {
        let cx = TraceContext::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        let mut headers: Vec<(String, Vec<u8>)> = vec![("other".into(), b"x".to_vec())];
        inject(cx, &mut HeaderListMut(&mut headers));
        assert_eq!(extract(&HeaderList(&headers)), Some(cx));
        let unsampled =
            vec![("traceparent".to_string(), b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00".to_vec())];
        assert_eq!(extract(&HeaderList(&unsampled)), None);
        assert_eq!(extract(&HeaderList(&[])), None);
    }
}
