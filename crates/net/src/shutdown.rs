//! A stop signal shared by a listener's accept loop and its connections.

use tokio::sync::watch;

/// Tells listeners and connections to stop; dropping it does not stop them.
#[derive(Debug)]
pub struct ShutdownTrigger(watch::Sender<bool>);

/// Waits for a [`ShutdownTrigger`]; cloned into every task that must stop.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

/// A trigger and its first receiver.
pub fn shutdown() -> (ShutdownTrigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (ShutdownTrigger(tx), Shutdown(rx))
}

impl ShutdownTrigger {
    /// Signals every receiver, now and later.
    pub fn trigger(&self) {
        self.0.send_replace(true);
    }

    /// Another receiver.
    pub fn subscribe(&self) -> Shutdown {
        Shutdown(self.0.subscribe())
    }
}

impl Shutdown {
    /// A receiver that never fires, for callers that stop by aborting the task.
    pub fn never() -> Shutdown {
        let (tx, rx) = watch::channel(false);
        // Kept alive forever so `wait` pends instead of seeing a closed channel.
        std::mem::forget(tx);
        Shutdown(rx)
    }

    /// Resolves once triggered (at once if it already was).
    pub async fn wait(&mut self) {
        if self.0.wait_for(|stop| *stop).await.is_err() {
            // The trigger is gone without firing: nobody can stop us any more.
            std::future::pending::<()>().await;
        }
    }

    /// Whether it was triggered.
    pub fn is_triggered(&self) -> bool {
        *self.0.borrow()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn every_receiver_sees_the_trigger() {
        let (trigger, mut a) = shutdown();
        let mut b = trigger.subscribe();
        assert!(!a.is_triggered());
        trigger.trigger();
        a.wait().await;
        b.wait().await;
        let mut late = trigger.subscribe();
        late.wait().await;
        let mut never = Shutdown::never();
        assert!(
            tokio::time::timeout(Duration::from_millis(50), never.wait())
                .await
                .is_err()
        );
    }
}
