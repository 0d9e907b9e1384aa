//! A queue that several tasks take from a batch at a time, so that one
//! gathers the next batch while the others send theirs to the database
//! (the usage log's writers, the rate limiter's takers).

use std::sync::Arc;

use tokio::sync::{Mutex, mpsc};

pub(super) struct SharedQueue<T>(Arc<Mutex<mpsc::Receiver<T>>>);

impl<T> Clone for SharedQueue<T> {
    fn clone(&self) -> Self {
        SharedQueue(self.0.clone())
    }
}

impl<T> SharedQueue<T> {
    pub(super) fn new(queue: mpsc::Receiver<T>) -> Self {
        SharedQueue(Arc::new(Mutex::new(queue)))
    }

    /// Waits for an item, then takes it with those waiting behind it, at
    /// most `max` in all, into `batch`; false once every sender is gone.
    pub(super) async fn next_batch(&self, batch: &mut Vec<T>, max: usize) -> bool {
        let mut queue = self.0.lock().await;
        let Some(first) = queue.recv().await else { return false };
        batch.push(first);
        while batch.len() < max
            && let Ok(item) = queue.try_recv()
        {
            batch.push(item);
        }
        true
    }
}
