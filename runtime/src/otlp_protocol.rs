//! Which OTLP transport the standard `*_PROTOCOL` variables ask for, shared by
//! the span exporter and the metric exporter.
//!
//! `OTEL_EXPORTER_OTLP_{TRACES,METRICS}_PROTOCOL` wins over
//! `OTEL_EXPORTER_OTLP_PROTOCOL`: `grpc` exports over gRPC (tonic),
//! `http/protobuf` (the default) over HTTP; `http/json` and anything else are
//! logged and exported as HTTP/protobuf (the first variable that is set decides:
//! an unsupported signal value does not fall through to the generic one).
//!
//! The tonic channel spawns its connection tasks on a tokio runtime when it is
//! built, while the SDK's batch span processor and periodic metric reader export
//! from threads of their own. gRPC exporters are therefore built inside one
//! process-wide runtime ([`grpc_runtime`]): it outlives whatever runtime the
//! caller has (a final flush after `main`'s runtime has ended still goes out),
//! and a caller without any runtime can still ask for gRPC.

use std::sync::OnceLock;

/// The transport an OTLP exporter uses.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum OtlpProtocol {
    /// `http/protobuf`.
    HttpProtobuf,
    /// `grpc`.
    Grpc,
}

/// An environment variable that chose the protocol, and what it said.
type Source = Option<(&'static str, String)>;

/// The protocol `signal_var` (e.g. `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`) or else
/// `OTEL_EXPORTER_OTLP_PROTOCOL` asks for, given a way to read variables; with
/// the variable and its value when one was set but not understood as is.
fn choose(signal_var: &'static str, get: impl Fn(&str) -> Option<String>) -> (OtlpProtocol, Source) {
    let chosen = [signal_var, "OTEL_EXPORTER_OTLP_PROTOCOL"]
        .into_iter()
        .find_map(|var| get(var).map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).map(|v| (var, v)));
    // Case does not matter, as for opentelemetry-otlp's own reading.
    match chosen {
        None => (OtlpProtocol::HttpProtobuf, None),
        Some((_, v)) if v.eq_ignore_ascii_case("http/protobuf") => (OtlpProtocol::HttpProtobuf, None),
        Some((_, v)) if v.eq_ignore_ascii_case("grpc") => (OtlpProtocol::Grpc, None),
        Some(other) => (OtlpProtocol::HttpProtobuf, Some(other)),
    }
}

/// The protocol the environment asks for, for the signal whose own variable is
/// `signal_var`; an unsupported value (`http/json`, say) is logged and
/// HTTP/protobuf used.
pub(crate) fn from_env(signal_var: &'static str, what: &str) -> OtlpProtocol {
    let (protocol, unsupported) = choose(signal_var, |var| std::env::var(var).ok());
    if let Some((var, value)) = unsupported {
        tracing::warn!(variable = var, protocol = %value, "only grpc and http/protobuf are built in: exporting {what} over http/protobuf");
    }
    protocol
}

/// The runtime gRPC exporters are built in and whose threads carry their
/// connections; created on first use and kept for the life of the process.
pub(crate) fn grpc_runtime() -> std::io::Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("tidemill-otlp-grpc")
        .enable_all()
        .build()?;
    // Two racing first callers: the loser's runtime is dropped here, outside any
    // runtime context, which is fine.
    Ok(RUNTIME.get_or_init(|| rt))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    const TRACES: &str = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL";
    const GENERIC: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";

    #[test]
    fn http_protobuf_by_default() {
        assert_eq!(choose(TRACES, env(&[])), (OtlpProtocol::HttpProtobuf, None));
        assert_eq!(choose(TRACES, env(&[(GENERIC, "  ")])), (OtlpProtocol::HttpProtobuf, None));
    }

    #[test]
    fn the_generic_variable_applies_when_the_signal_one_is_unset() {
        assert_eq!(choose(TRACES, env(&[(GENERIC, "grpc")])), (OtlpProtocol::Grpc, None));
        assert_eq!(choose(TRACES, env(&[(GENERIC, " http/protobuf ")])), (OtlpProtocol::HttpProtobuf, None));
    }

    #[test]
    fn the_signal_variable_wins_over_the_generic_one() {
        assert_eq!(choose(TRACES, env(&[(TRACES, "grpc"), (GENERIC, "http/protobuf")])), (OtlpProtocol::Grpc, None));
        assert_eq!(
            choose(TRACES, env(&[(TRACES, "http/protobuf"), (GENERIC, "grpc")])),
            (OtlpProtocol::HttpProtobuf, None)
        );
        // Another signal's variable is not read.
        assert_eq!(
            choose("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", env(&[(TRACES, "grpc")])),
            (OtlpProtocol::HttpProtobuf, None)
        );
    }

    #[test]
    fn http_json_and_unknown_values_fall_back_to_http_protobuf_and_are_reported() {
        assert_eq!(
            choose(TRACES, env(&[(TRACES, "http/json"), (GENERIC, "grpc")])),
            (OtlpProtocol::HttpProtobuf, Some((TRACES, "http/json".to_string())))
        );
        assert_eq!(
            choose(TRACES, env(&[(TRACES, "bogus"), (GENERIC, "grpc")])),
            (OtlpProtocol::HttpProtobuf, Some((TRACES, "bogus".to_string())))
        );
    }

    #[test]
    fn case_does_not_matter() {
        assert_eq!(choose(TRACES, env(&[(GENERIC, "GRPC")])), (OtlpProtocol::Grpc, None));
        assert_eq!(choose(TRACES, env(&[(TRACES, "HTTP/Protobuf")])), (OtlpProtocol::HttpProtobuf, None));
    }
}
