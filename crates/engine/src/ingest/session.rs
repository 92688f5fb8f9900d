//! When the session recommender retrains, and on which thread: a small window inline on the
//! writer (milliseconds, so a small store's next decision already uses its views), a large
//! one on a background thread at most every [`session_model::RETRAIN_EVERY`] — or as soon as
//! no training is running once an erasure took views out (a training that ends trains again
//! if an erasure came while it ran), so an erased person's views leave the served model
//! within two trainings (the one running, one after it; about a second for a million
//! views) instead of costing the writer a training per erasure.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::learn::recs::Recs;
use crate::learn::session_model::{self, SessionClick, SessionModel};
use crate::live::Live;

/// Retrains the session model and swaps it into the live state.
pub(crate) struct SessionTrainer {
    live: Arc<Live>,
    /// Whether a background training is running.
    running: AtomicBool,
}

pub(crate) enum Retrain {
    Inline(Vec<SessionClick>),
    Background(Vec<SessionClick>),
}

impl SessionTrainer {
    pub fn new(live: Arc<Live>) -> Arc<Self> {
        Arc::new(SessionTrainer {
            live,
            running: AtomicBool::new(false),
        })
    }

    /// The views to retrain on, if that is due: whenever new views arrived and the queue is
    /// idle while the window is small; at most every [`session_model::RETRAIN_EVERY`], in
    /// the background, once it is larger.
    pub fn views_due(
        &self,
        last_retrain: &mut Instant,
        recs: &mut Recs,
        idle: bool,
    ) -> Option<Retrain> {
        let forgotten = recs.clicks.forgotten();
        if recs.clicks.untrained() == 0 && !forgotten {
            return None;
        }
        if recs.clicks.len() <= session_model::RETRAIN_INLINE_UP_TO {
            return (idle || forgotten).then(|| Retrain::Inline(recs.clicks.take_training_copy()));
        }
        // An erasure does not wait for the period: the model must forget them promptly.
        if self.running.load(Ordering::Acquire)
            || !forgotten && last_retrain.elapsed() < session_model::RETRAIN_EVERY
        {
            return None;
        }
        *last_retrain = Instant::now();
        Some(Retrain::Background(recs.clicks.take_training_copy()))
    }

    pub fn retrain(self: &Arc<Self>, due: Option<Retrain>) {
        match due {
            None => {}
            Some(Retrain::Inline(views)) => self.train_now(views),
            Some(Retrain::Background(views)) => self.train_in_background(views),
        }
    }

    /// Trains on `views` on this thread and swaps the model in.
    pub fn train_now(&self, views: Vec<SessionClick>) {
        self.live
            .set_session_model(SessionModel::train(views).map(Arc::new));
    }

    /// Trains on `views` on its own thread and swaps the model in, unless a training is
    /// already running (its result is at most [`session_model::RETRAIN_EVERY`] older).
    pub fn train_in_background(self: &Arc<Self>, views: Vec<SessionClick>) {
        if self.running.swap(true, Ordering::AcqRel) {
            return;
        }
        let worker = self.clone();
        let spawned = std::thread::Builder::new()
            .name("tailor-session-model".into())
            .spawn(move || {
                let mut views = views;
                loop {
                    let started = Instant::now();
                    let model = SessionModel::train(views).map(Arc::new);
                    if let Some(m) = &model {
                        tracing::debug!(
                            views = m.clicks,
                            sessions = m.sessions,
                            ms = started.elapsed().as_millis() as u64,
                            "session model trained"
                        );
                    }
                    worker.live.set_session_model(model);
                    // An erasure while this trained: its copy still held their views.
                    match worker.live.with_recs_mut(|recs| {
                        recs.clicks
                            .forgotten()
                            .then(|| recs.clicks.take_training_copy())
                    }) {
                        Some(again) => views = again,
                        None => break,
                    }
                }
                // Training's peak (its indexes over the whole window) is freed here and this
                // thread ends: hand it back rather than leave it to the allocator.
                tailor_core::heap::release();
                worker.running.store(false, Ordering::Release);
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the session model's training thread");
            self.running.store(false, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A window too large to train on the writer: new views wait for the period, an
    /// erasure that took views out does not.
    #[test]
    fn an_erasure_retrains_a_large_window_without_waiting_for_the_period() {
        let live = Arc::new(Live::new(
            Default::default(),
            Default::default(),
            Recs::default(),
        ));
        let trainer = SessionTrainer::new(live);
        let mut recs = Recs::default();
        let views = session_model::RETRAIN_INLINE_UP_TO as u64 + 100;
        for i in 0..views {
            recs.clicks
                .push(i % 500, &format!("p{}", i % 97), i as i64 * 1_000);
        }
        let _ = recs.clicks.take_training_copy();
        let mut last = Instant::now();
        recs.clicks.push(1, "p1", views as i64 * 1_000);
        assert!(
            trainer.views_due(&mut last, &mut recs, true).is_none(),
            "new views wait for the period"
        );
        assert!(
            !recs.clicks.forget(&[100_000]),
            "nobody's views: nothing to forget"
        );
        assert!(trainer.views_due(&mut last, &mut recs, true).is_none());
        assert!(recs.clicks.forget(&[7]));
        match trainer.views_due(&mut last, &mut recs, true) {
            Some(Retrain::Background(views)) => {
                assert!(views.iter().all(|c| c.person != 7), "trained without them")
            }
            _ => panic!("an erasure retrains in the background at once"),
        }
        assert!(!recs.clicks.forgotten(), "the copy taken is without them");
    }
}
