//! The rule against a simulated group: processes of a known capacity sharing
//! an input whose rate the test sets, the backlog growing when they cannot keep up.

use std::time::{Duration, Instant};

use super::*;

/// A group of `members` processes of `capacity` records/s each on `partitions`
/// partitions; one of them computes the signal.
struct Simulation {
    signal: ScalingSignal,
    at: Instant,
    capacity: f64,
    members: u32,
    partitions: u32,
    log_end: f64,
    lag: f64,
    process: ProcessActivity,
    values: Vec<u32>,
}

impl Simulation {
    fn new(config: ScalingConfig, capacity: f64, members: u32, partitions: u32) -> Self {
        Simulation {
            signal: ScalingSignal::new(config),
            at: Instant::now(),
            capacity,
            members,
            partitions,
            log_end: 0.0,
            lag: 0.0,
            process: ProcessActivity::default(),
            values: Vec::new(),
        }
    }

    /// Runs `for_secs` seconds at `rate` records/s (in 5 s steps); returns the
    /// changes of the signal.
    fn run(&mut self, rate: impl Fn(u64) -> f64, for_secs: u64) -> Vec<ScalingChange> {
        let step = 5.0;
        let mut changes = Vec::new();
        for i in 0..for_secs / 5 {
            let produced = rate(i * 5) * step;
            let can = self.capacity * step * f64::from(self.members);
            let read = (self.lag + produced).min(can);
            self.log_end += produced;
            self.lag = self.lag + produced - read;
            let own = read / f64::from(self.members);
            self.process.records += own as u64;
            self.process.source_time += Duration::from_secs_f64(step);
            self.process.busy += Duration::from_secs_f64(step * own / (self.capacity * step));
            self.at += Duration::from_secs_f64(step);
            let group = GroupReading {
                partitions: self.partitions,
                members: self.members,
                log_end: self.log_end as u64,
                lag: self.lag as u64,
            };
            changes.extend(self.signal.observe(ScalingReading { at: self.at, group, process: self.process }));
            self.values.push(self.signal.status().unwrap().desired);
        }
        changes
    }

    fn desired(&self) -> u32 {
        self.signal.status().unwrap().desired
    }
}

/// A load that wobbles by ±`share` around `mean` (deterministic).
fn wobbling(mean: f64, share: f64) -> impl Fn(u64) -> f64 {
    move |t| mean * (1.0 + share * ((t as f64 / 7.0).sin() * 0.6 + (t as f64 / 23.0).cos() * 0.4))
}

#[test]
fn starts_at_the_member_count_and_holds_under_a_steady_load() {
    let mut sim = Simulation::new(ScalingConfig::default(), 10_000.0, 2, 12);
    // 11,000 records/s on two processes of 10,000: 55% busy each, inside the band.
    let changes = sim.run(wobbling(11_000.0, 0.15), 1_200);
    assert!(changes.is_empty(), "the signal flapped: {changes:?}");
    assert!(sim.values.iter().all(|v| *v == 2), "{:?}", sim.values);
}

#[test]
fn rises_after_raise_after_when_the_input_outgrows_the_group_and_never_past_the_partitions() {
    let config = ScalingConfig::default();
    let mut sim = Simulation::new(config.clone(), 10_000.0, 1, 12);
    assert!(sim.run(|_| 5_000.0, 120).is_empty());
    assert_eq!(sim.desired(), 1);
    // 25,000 records/s: 2.5 processes' worth, 4 at 70% utilisation.
    let changes = sim.run(|_| 25_000.0, 300);
    let first = changes.first().expect("the signal rose");
    assert_eq!(first.from, 1);
    // Nobody joins in the simulation: the backlog grows and adds to the demand.
    assert!(sim.desired() >= 4 && changes.iter().all(|c| c.to > c.from), "{changes:?}");
    let rose_after = sim.values.iter().skip(24).position(|v| *v > 1).unwrap() as u64 * 5 + 5;
    assert!(rose_after >= config.raise_after.as_secs(), "rose after {rose_after} s");
    assert!(rose_after <= config.raise_after.as_secs() + config.window.as_secs(), "rose only after {rose_after} s");
    // Far more than 12 processes could read: capped at the partition count.
    let mut flood = Simulation::new(config, 1_000.0, 1, 12);
    flood.run(|_| 1_000_000.0, 600);
    assert_eq!(flood.desired(), 12);
}

#[test]
fn falls_only_after_lower_after_and_to_the_scale_down_utilisation() {
    let config = ScalingConfig::default();
    let mut sim = Simulation::new(config.clone(), 10_000.0, 6, 12);
    let changes = sim.run(|_| 6_000.0, 900);
    let first = changes.first().expect("the signal fell");
    assert_eq!(first.from, 6);
    // 6,000/s at 50% of 10,000: 2 processes (not 1, which 70% would give).
    assert_eq!(first.to, 2, "{first:?}");
    let fell_after = sim.values.iter().position(|v| *v < 6).unwrap() as u64 * 5 + 5;
    assert!(fell_after >= config.lower_after.as_secs(), "fell after {fell_after} s");
}

#[test]
fn a_load_swinging_across_the_threshold_changes_the_signal_at_most_once_per_interval() {
    let mut sim = Simulation::new(ScalingConfig::default(), 10_000.0, 2, 12);
    // Every 40 s between 8,000 and 16,000 records/s: bursts a backlog absorbs.
    let changes = sim.run(|t| if (t / 20) % 2 == 0 { 8_000.0 } else { 16_000.0 }, 1_800);
    assert!(changes.len() <= 1, "flapped: {changes:?}");
    assert!(sim.values.windows(2).filter(|w| w[0] != w[1]).count() <= 1, "{:?}", sim.values);
}

#[test]
fn holds_at_the_member_count_without_a_capacity_estimate() {
    let mut signal = ScalingSignal::new(ScalingConfig::default());
    let at = Instant::now();
    let group = GroupReading { partitions: 6, members: 3, log_end: 0, lag: 50_000 };
    for i in 0..100u64 {
        let reading = ScalingReading {
            at: at + Duration::from_secs(5 * i),
            group: GroupReading { log_end: i * 100_000, ..group },
            process: ProcessActivity::default(),
        };
        assert_eq!(signal.observe(reading), None);
    }
    let status = signal.status().unwrap();
    assert_eq!((status.desired, status.capacity), (3, None));
    assert!((status.input_rate - 20_000.0).abs() < 1.0, "{status:?}");
}

#[test]
fn settings_that_cannot_work_are_refused_with_their_name() {
    let cases = [
        ScalingConfig { target_utilisation: 0.0, ..ScalingConfig::default() },
        ScalingConfig { scale_down_utilisation: f64::NAN, ..ScalingConfig::default() },
        ScalingConfig { target_utilisation: 1.5, ..ScalingConfig::default() },
        ScalingConfig { catch_up: Duration::ZERO, ..ScalingConfig::default() },
        ScalingConfig { sample_interval: Duration::ZERO, ..ScalingConfig::default() },
        ScalingConfig { sample_interval: Duration::from_secs(120), ..ScalingConfig::default() },
    ];
    for config in cases {
        let error = config.validate().expect_err("refused");
        assert!(error.setting().starts_with("metrics.scaling."), "{error}");
    }
}

#[test]
fn an_idle_group_with_nothing_behind_needs_one_process() {
    let config = ScalingConfig::default();
    let mut sim = Simulation::new(config.clone(), 10_000.0, 3, 12);
    sim.run(|_| 20_000.0, 60);
    let changes = sim.run(|_| 0.0, 900);
    assert_eq!(sim.desired(), 1, "{changes:?}");
    assert_eq!(sim.signal.status().unwrap().capacity, None, "an idle process has no estimate");
}

#[test]
fn a_cpu_bound_process_whose_sources_wait_is_judged_by_its_cpu_share() {
    let mut signal = ScalingSignal::new(ScalingConfig::default());
    let at = Instant::now();
    for i in 0..20u32 {
        let secs = u64::from(i) * 5;
        // 1,000 records/s read, sources waiting 90% of the time, but 1.8 of 2
        // cores busy: about 1,100 records/s is all this process can do.
        let process = ProcessActivity {
            records: secs * 1_000,
            busy: Duration::from_secs(secs) / 10,
            source_time: Duration::from_secs(secs),
            cpu: Some(Duration::from_secs_f64(secs as f64 * 1.8)),
            cores: 2,
        };
        let group = GroupReading { partitions: 12, members: 1, log_end: secs * 1_000, lag: 0 };
        signal.observe(ScalingReading { at: at + Duration::from_secs(secs), group, process });
    }
    let status = signal.status().unwrap();
    assert!((status.cpu.unwrap() - 0.9).abs() < 1e-9 && (status.busy.unwrap() - 0.9).abs() < 1e-9, "{status:?}");
    assert!((status.capacity.unwrap() - 1_111.1).abs() < 1.0, "{status:?}");
    assert_eq!(status.desired, 2, "1,000/s at 70% of 1,111/s needs two processes");
}
