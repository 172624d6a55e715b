//! Readiness conditions: a running job whose source reports one is not ready
//! (`/readyz` 503 with the node and reason, `tidemill_job_ready` 0,
//! `tidemill_node_not_ready` 1) while `/metrics` keeps answering; cleared, the
//! job is ready again; the condition of a finished pipeline is forgotten.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tidemill_runtime::metrics::{MetricsAddr, MetricsConfig, Readiness, ReadinessCondition};
use tidemill_runtime::testing::{CollectSink, Collected};
use tidemill_runtime::{Job, NodeContext, Source, SourceError, SourcePoll, StateSnapshot};
use tidemill_testkit::metrics::http_get_async;
use tokio::sync::watch;

/// What the test tells the source: the condition's reason (or none), and whether to end.
type Command = (Option<String>, bool);

/// Reads nothing; sets or clears its `upstream` condition as told.
struct Waiting {
    told: watch::Receiver<Command>,
    upstream: ReadinessCondition,
}

impl Source for Waiting {
    type Out = u32;

    async fn poll(&mut self, _max_records: usize) -> Result<SourcePoll<u32>, SourceError> {
        let (reason, end) = self.told.borrow().clone();
        match reason {
            Some(r) => self.upstream.set(r),
            None => self.upstream.clear(),
        }
        if end {
            return Ok(SourcePoll::End);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        Ok(SourcePoll::Idle)
    }

    fn snapshot(&self) -> Result<StateSnapshot, SourceError> {
        StateSnapshot::encode(&()).map_err(SourceError::state)
    }
}

/// GETs `path` until it answers `status`; the last body.
async fn await_status(addr: SocketAddr, path: &str, status: u16) -> String {
    let mut last = (0, String::new());
    for _ in 0..500 {
        last = http_get_async(addr, path).await.expect("GET");
        if last.0 == status {
            return last.1;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{path} never answered {status}; last {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_condition_set_by_a_source_makes_the_job_unready_until_cleared() {
    let metrics = MetricsConfig { addr: MetricsAddr(Some("127.0.0.1:0".parse().unwrap())), ..MetricsConfig::default() };
    let job = Job::builder("readiness").metrics(metrics);
    let (tell, told) = watch::channel::<Command>((None, false));
    let src = job.source("feed", 2, move |ctx: &NodeContext| {
        Ok(Waiting { told: told.clone(), upstream: ctx.metrics.readiness_condition("upstream") })
    });
    let out: Arc<Mutex<Collected<u32>>> = Arc::default();
    src.sink("out", move |_| Ok(CollectSink::new(out.clone())));
    let handle = job.build().unwrap().start().await.unwrap();
    let metrics = handle.metrics().clone();
    let addr = metrics.http_addr().expect("the endpoint listens");
    assert_eq!(await_status(addr, "/readyz", 200).await, "ready\n");

    tell.send_replace((Some("waiting for the upstream at 10.0.0.1:9".into()), false));
    // Both shards set the same reason: one line.
    let body = await_status(addr, "/readyz", 503).await;
    assert_eq!(body, "feed: waiting for the upstream at 10.0.0.1:9\n");
    assert_eq!(metrics.readiness(), Readiness::NotReady(vec!["feed: waiting for the upstream at 10.0.0.1:9".into()]));
    let (status, text) = http_get_async(addr, "/metrics").await.expect("GET");
    assert_eq!(status, 200, "/metrics answers while not ready");
    assert!(text.contains("tidemill_job_ready 0\n"), "{text}");
    assert!(
        text.contains("tidemill_node_not_ready{tidemill_condition=\"upstream\",tidemill_node=\"feed\"} 1\n"),
        "{text}"
    );

    tell.send_replace((None, false));
    assert_eq!(await_status(addr, "/readyz", 200).await, "ready\n");
    let (_, text) = http_get_async(addr, "/metrics").await.expect("GET");
    assert!(text.contains("tidemill_job_ready 1\n"), "{text}");
    assert!(
        text.contains("tidemill_node_not_ready{tidemill_condition=\"upstream\",tidemill_node=\"feed\"} 0\n"),
        "{text}"
    );

    // Set when the pipeline ends: forgotten with its sources.
    tell.send_replace((Some("still waiting".into()), true));
    handle.wait().await.unwrap();
    assert_eq!(metrics.readiness(), Readiness::NotReady(vec!["finished".into()]));
}
