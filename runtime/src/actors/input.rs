//! Delivery of in-band messages to an operator or sink shard, with barrier
//! alignment and credit return in one place.

use std::future::Future;

use ractor::ActorProcessingErr;

use crate::alignment::BarrierAligner;
use crate::edge::{InputCredits, InputIndex};
use crate::message::Message;

/// The inputs of one shard: their credits and the barrier aligner.
pub(crate) struct InputGate<T> {
    pub(crate) aligner: BarrierAligner<T>,
    pub(crate) credits: Vec<InputCredits>,
}

impl<T> InputGate<T> {
    pub(crate) fn new(credits: Vec<InputCredits>) -> Self {
        InputGate { aligner: BarrierAligner::new(credits.len()), credits }
    }
}

/// A shard that handles one message at a time; `dispatch` returns whether the
/// message was a barrier that completed alignment.
pub(crate) trait AlignedInput<T>: Send {
    fn gate(&mut self) -> &mut InputGate<T>;

    fn dispatch(
        &mut self,
        input: InputIndex,
        message: Message<T>,
    ) -> impl Future<Output = Result<bool, ActorProcessingErr>> + Send;
}

/// Handles `message` from `input`: holds it back if that input already delivered
/// the pending barrier, else dispatches it and returns its credit; after an
/// aligned barrier, handles the held messages in their order.
pub(crate) async fn deliver<T: Send, H: AlignedInput<T>>(
    shard: &mut H,
    input: InputIndex,
    message: Message<T>,
) -> Result<(), ActorProcessingErr> {
    if shard.gate().aligner.is_held(input) {
        shard.gate().aligner.hold(input, message);
        return Ok(());
    }
    let mut aligned = shard.dispatch(input, message).await?;
    shard.gate().credits[input.0].release();
    while aligned {
        aligned = false;
        let mut released = shard.gate().aligner.release();
        while let Some((i, m)) = released.pop_front() {
            // A barrier among the released messages may hold its input again.
            if shard.gate().aligner.is_held(i) {
                shard.gate().aligner.hold(i, m);
                continue;
            }
            aligned |= shard.dispatch(i, m).await?;
            shard.gate().credits[i.0].release();
        }
    }
    Ok(())
}
