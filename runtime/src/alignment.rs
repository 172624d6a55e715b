//! Checkpoint barrier alignment across the inputs of one actor.
//!
//! When barrier N arrives on an input, that input is held back (its messages are
//! buffered, and their credits are not returned, so the upstream waits rather than
//! the buffer growing) until barrier N has arrived on every input that has not
//! ended. Then the actor snapshots and forwards the barrier, and the held messages
//! are handled in their original order. Operators never see any of this.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::edge::InputIndex;
use crate::message::Message;
use crate::time::Epoch;

pub(crate) struct BarrierAligner<T> {
    pending: Option<Epoch>,
    arrived: Vec<bool>,
    ended: Vec<bool>,
    held: Vec<VecDeque<Message<T>>>,
    /// When the pending barrier first arrived, for the alignment-time metric.
    started: Option<Instant>,
    /// How long the last completed alignment took.
    last: Duration,
}

impl<T> BarrierAligner<T> {
    pub(crate) fn new(inputs: usize) -> Self {
        BarrierAligner {
            pending: None,
            arrived: vec![false; inputs],
            ended: vec![false; inputs],
            held: (0..inputs).map(|_| VecDeque::new()).collect(),
            started: None,
            last: Duration::ZERO,
        }
    }

    /// Whether messages on `input` must wait for the pending barrier.
    pub(crate) fn is_held(&self, input: InputIndex) -> bool {
        self.pending.is_some() && self.arrived[input.0]
    }

    /// Keeps a message of a held input for later.
    pub(crate) fn hold(&mut self, input: InputIndex, message: Message<T>) {
        self.held[input.0].push_back(message);
    }

    /// Barrier `epoch` arrived on `input`; returns the epoch when it is aligned.
    pub(crate) fn on_barrier(&mut self, input: InputIndex, epoch: Epoch) -> Option<Epoch> {
        match self.pending {
            Some(p) if p != epoch => {
                tracing::warn!(pending = %p, got = %epoch, input = input.0, "barrier of another epoch while aligning");
            }
            _ => {}
        }
        if self.pending.is_none() {
            self.started = Some(Instant::now());
        }
        self.pending = Some(epoch);
        self.arrived[input.0] = true;
        self.try_complete()
    }

    /// `input` ended; an ended input counts as aligned for every later barrier.
    pub(crate) fn on_end(&mut self, input: InputIndex) -> Option<Epoch> {
        self.ended[input.0] = true;
        if self.pending.is_some() {
            self.try_complete()
        } else {
            None
        }
    }

    fn try_complete(&mut self) -> Option<Epoch> {
        let aligned = self.arrived.iter().zip(&self.ended).all(|(a, e)| *a || *e);
        if !aligned {
            return None;
        }
        self.arrived.iter_mut().for_each(|a| *a = false);
        self.last = self.started.take().map_or(Duration::ZERO, |s| s.elapsed());
        self.pending.take()
    }

    /// How long the last completed alignment waited, from the first input's
    /// barrier to the last one's (zero for a single input).
    pub(crate) fn last_alignment(&self) -> Duration {
        self.last
    }

    /// Takes the messages held during the last alignment, in per-input order.
    pub(crate) fn release(&mut self) -> VecDeque<(InputIndex, Message<T>)> {
        let mut out = VecDeque::new();
        for (i, q) in self.held.iter_mut().enumerate() {
            out.extend(q.drain(..).map(|m| (InputIndex(i), m)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_when_every_live_input_has_the_barrier() {
        let mut a: BarrierAligner<u8> = BarrierAligner::new(3);
        let e = Epoch::new(1);
        assert_eq!(a.on_barrier(InputIndex(0), e), None);
        assert!(a.is_held(InputIndex(0)));
        assert!(!a.is_held(InputIndex(1)));
        a.hold(InputIndex(0), Message::Data(Vec::new()));
        assert_eq!(a.on_end(InputIndex(2)), None);
        assert_eq!(a.on_barrier(InputIndex(1), e), Some(e));
        assert!(!a.is_held(InputIndex(0)));
        let released = a.release();
        assert_eq!(released.len(), 1);
        assert_eq!(released[0].0, InputIndex(0));
    }

    #[test]
    fn ending_the_last_missing_input_completes_alignment() {
        let mut a: BarrierAligner<u8> = BarrierAligner::new(2);
        assert_eq!(a.on_barrier(InputIndex(0), Epoch::new(4)), None);
        assert_eq!(a.on_end(InputIndex(1)), Some(Epoch::new(4)));
    }
}
