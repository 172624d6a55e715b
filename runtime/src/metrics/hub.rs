//! [`MetricsHub`]: the metrics of several jobs of one process behind one endpoint.
//!
//! A process of a group-scaled job runs one job per partition it owns (a task);
//! each has its own meter provider, and they come and go with rebalances. The hub
//! serves them together: `/metrics` merges their families, every sample labelled
//! `tidemill_job` with its job's name (the tasks' series would otherwise collide),
//! and `/readyz` is ready when every current job is ready (a process that owns
//! no partition is a ready standby).

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde::Serialize;

use tokio::task::JoinHandle;

use super::prometheus::{self, Sample};
use super::scaling::{self, ScalingStatus, SourceActivity};
use super::status::{self, ApiDocument, Document};
use super::{http, JobMetrics, MetricsConfig, MetricsError, Readiness};

/// The label naming a sample's job in a hub's exposition.
pub const JOB_LABEL: &str = "tidemill_job";

/// Jobs whose metrics one endpoint serves; cheap to clone (shared).
#[derive(Clone, Debug, Default)]
pub struct MetricsHub {
    jobs: Arc<Mutex<BTreeMap<String, Arc<JobMetrics>>>>,
    /// Jobs added and removed, oldest first (the last [`ASSIGNMENTS_KEPT`]).
    assignments: Arc<Mutex<VecDeque<Assignment>>>,
    /// The scaling signal of each consumer group whose tasks run here.
    scaling: Arc<Mutex<BTreeMap<String, ScalingStatus>>>,
}

/// Assignment changes a hub remembers.
const ASSIGNMENTS_KEPT: usize = 200;

/// A job (a partition's task) started or stopped being served here: the
/// history of this process's assignments on the status page.
#[derive(Clone, Debug, Serialize)]
struct Assignment {
    at_ms: u64,
    job: String,
    /// `added` or `removed`.
    change: &'static str,
}

/// What an endpoint serves: one job, or a hub of several.
pub(crate) trait Exposition: Send + Sync + 'static {
    /// The Prometheus text of everything, collected now.
    fn prometheus_text(&self) -> Result<String, MetricsError>;
    /// What `/readyz` reports.
    fn readiness(&self) -> Readiness;
    /// An `/api/v1/...` document, as JSON.
    fn api(&self, document: ApiDocument) -> String;
}

impl Exposition for JobMetrics {
    fn prometheus_text(&self) -> Result<String, MetricsError> {
        JobMetrics::prometheus_text(self)
    }

    fn readiness(&self) -> Readiness {
        JobMetrics::readiness(self)
    }

    fn api(&self, document: ApiDocument) -> String {
        let whole = Document::<()> { jobs: vec![status::job_part(self, document)], assignments: None, scaling: None };
        serde_json::to_string(&whole).unwrap_or_default()
    }
}

impl MetricsHub {
    /// An empty hub.
    pub fn new() -> Self {
        MetricsHub::default()
    }

    /// Serves `metrics` from now on (replacing a job of the same name).
    pub fn add(&self, metrics: Arc<JobMetrics>) {
        self.note(metrics.job(), "added");
        self.lock().insert(metrics.job().to_string(), metrics);
    }

    /// Stops serving the job named `job`.
    pub fn remove(&self, job: &str) {
        if self.lock().remove(job).is_some() {
            self.note(job, "removed");
        }
    }

    fn note(&self, job: &str, change: &'static str) {
        let mut list = self.assignments.lock().unwrap_or_else(|p| p.into_inner());
        list.push_back(Assignment { at_ms: status::millis(SystemTime::now()), job: job.to_string(), change });
        while list.len() > ASSIGNMENTS_KEPT {
            list.pop_front();
        }
    }

    /// Serves `status` as the scaling signal of the consumer group `group`
    /// (`tidemill_desired_processes` and the status page).
    pub fn set_scaling(&self, group: &str, status: ScalingStatus) {
        self.scaling.lock().unwrap_or_else(|p| p.into_inner()).insert(group.to_string(), status);
    }

    fn scaling_statuses(&self) -> BTreeMap<String, ScalingStatus> {
        self.scaling.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// What every served job's sources did so far, by job.
    pub fn source_activity(&self) -> Vec<(String, SourceActivity)> {
        self.lock().iter().map(|(name, job)| (name.clone(), job.source_activity())).collect()
    }

    /// The names of the jobs served.
    pub fn jobs(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<JobMetrics>>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Serves `/metrics`, `/healthz` and `/readyz` where `config.addr` says (with the
    /// same fallback to a free port as a job's endpoint; `name` names it in logs)
    /// until the returned endpoint is dropped; `None` when the address is `off`.
    pub async fn serve(&self, config: &MetricsConfig, name: &str) -> Result<Option<HubEndpoint>, MetricsError> {
        let Some((listener, addr)) = http::bind_configured(config, name).await? else { return Ok(None) };
        let task = http::serve(listener, Arc::new(self.clone()));
        Ok(Some(HubEndpoint { addr, task }))
    }
}

impl Exposition for MetricsHub {
    fn prometheus_text(&self) -> Result<String, MetricsError> {
        let jobs: Vec<Arc<JobMetrics>> = self.lock().values().cloned().collect();
        let mut all = Vec::new();
        for job in jobs {
            for mut family in job.families()? {
                for sample in &mut family.samples {
                    label(sample, job.job());
                }
                all.push(family);
            }
        }
        all.extend(scaling::families(&self.scaling_statuses()));
        Ok(prometheus::encode(&prometheus::merge(all)))
    }

    /// Ready when every job is; else the reasons of those that are not, each
    /// line prefixed with the job's name.
    fn readiness(&self) -> Readiness {
        let jobs: Vec<Arc<JobMetrics>> = self.lock().values().cloned().collect();
        let mut reasons = Vec::new();
        for job in jobs {
            if let Readiness::NotReady(why) = job.readiness() {
                reasons.extend(why.into_iter().map(|w| format!("{}: {w}", job.job())));
            }
        }
        if reasons.is_empty() {
            Readiness::Ready
        } else {
            Readiness::NotReady(reasons)
        }
    }

    fn api(&self, document: ApiDocument) -> String {
        let jobs: Vec<Arc<JobMetrics>> = self.lock().values().cloned().collect();
        let assignments = (document == ApiDocument::Partitions)
            .then(|| self.assignments.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect::<Vec<_>>());
        let scaling = (document == ApiDocument::Job).then(|| self.scaling_statuses());
        let jobs = jobs.iter().map(|j| status::job_part(j, document)).collect();
        let whole = Document { jobs, assignments, scaling };
        serde_json::to_string(&whole).unwrap_or_default()
    }
}

fn label(sample: &mut Sample, job: &str) {
    let labels = match sample {
        Sample::Value { labels, .. } | Sample::Histogram { labels, .. } => labels,
    };
    labels.push((JOB_LABEL.to_string(), job.to_string()));
    labels.sort();
}

/// A hub's listening endpoint; stops serving when dropped.
#[derive(Debug)]
pub struct HubEndpoint {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl HubEndpoint {
    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for HubEndpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(name: &str) -> Arc<JobMetrics> {
        let config = MetricsConfig { otlp_from_env: false, ..MetricsConfig::default() };
        Arc::new(JobMetrics::new(name, None, &config).unwrap())
    }

    #[test]
    fn families_of_several_jobs_merge_with_a_job_label_each() {
        let hub = MetricsHub::new();
        assert_eq!(hub.readiness(), Readiness::Ready, "no job: a ready standby");
        let (a, b) = (job("orders.p0"), job("orders.p1"));
        hub.add(a.clone());
        hub.add(b.clone());
        let text = hub.prometheus_text().unwrap();
        let type_lines: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE ")).collect();
        let mut unique = type_lines.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(type_lines.len(), unique.len(), "each family once:\n{text}");
        assert!(text.contains("tidemill_job=\"orders.p0\"") && text.contains("tidemill_job=\"orders.p1\""), "{text}");
        let series: Vec<&str> =
            text.lines().filter(|l| !l.starts_with('#')).map(|l| l.rsplit_once(' ').unwrap().0).collect();
        let mut distinct = series.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(series.len(), distinct.len(), "no series twice:\n{text}");
        hub.remove("orders.p0");
        assert!(!hub.prometheus_text().unwrap().contains("orders.p0"));
        assert_eq!(hub.jobs(), vec!["orders.p1".to_string()]);
        assert_eq!(hub.readiness(), Readiness::NotReady(vec!["orders.p1: starting".into()]), "a job not yet running");
    }

    #[test]
    fn the_scaling_signal_is_served_by_consumer_group_in_metrics_and_the_job_document() {
        let hub = MetricsHub::new();
        hub.add(job("orders.p0"));
        assert!(!hub.prometheus_text().unwrap().contains("tidemill_desired_processes"), "no signal yet");
        let status = ScalingStatus { desired: 3, members: 1, partitions: 6, capacity: None, ..Default::default() };
        hub.set_scaling("orders", status);
        let text = hub.prometheus_text().unwrap();
        assert!(text.contains("tidemill_desired_processes{messaging_consumer_group_name=\"orders\"} 3"), "{text}");
        assert!(!text.contains("tidemill_process_capacity{"), "no estimate, no series:\n{text}");
        let job: serde_json::Value = serde_json::from_str(&hub.api(ApiDocument::Job)).unwrap();
        assert_eq!(job["scaling"]["orders"]["desired"], 3, "{job}");
        let parts: serde_json::Value = serde_json::from_str(&hub.api(ApiDocument::Partitions)).unwrap();
        assert!(parts.get("scaling").is_none(), "only in the job document");
    }
}
