//! Tailor's domain logic over a [`tailor_store::Store`]: events flow through `ingest/` into
//! the live state (`profile/`, `learn/`), `decide/` answers placements from it, `journeys/`
//! message people, `measure/` reports on decisions and experiments, and `govern/` holds the
//! rules on personal data. The engine knows nothing of HTTP.
//!
//! [`Engine`] is the facade: every method is one line handing off to the subsystem that owns
//! the work, so this file is the whole API and each feature lives in the module it names.
//! It is cheap to clone and shared by every handler.

mod boot;
mod catalog_admin;
pub mod decide;
pub mod error;
pub mod export;
pub mod govern;
mod ingest;
pub mod journeys;
pub mod learn;
mod live;
pub mod measure;
mod meta;
mod people;
pub mod population;
pub mod profile;
pub mod segments;
mod settings;

// The modules callers know by name, at their long-standing paths.
pub use govern::{consent, keys, privacy, retention, tokens};
pub use learn::{policies, predictions, recs, session_model};
pub use measure::experiments;
pub use profile::{catalog, registry};

use std::collections::BTreeMap;
use std::sync::Arc;

use tailor_core::preferences::{Preferences, Quiz};
use tailor_core::{Clock, ContentItem, Millis, Product, Purpose};
use tailor_store::{AuditEntry, DecisionRecord, Reward, Store, StoredEvent};

pub use boot::Options;
pub use catalog::{Catalog, CategoryNode};
pub use decide::{DecideInput, DecideOutput};
pub use error::EngineError;
pub use ingest::Receipt;
pub use ingest::trust::{Origin, UserProof};
pub use keys::{ConfiguredKeys, GeneratedKeys, KeyOwner, Keys, Scope, SourceInfo, SourceKind};
pub use measure::decision_export::{DecisionExport, DecisionFilter, LoggingPolicy};
pub use profile::{Profile, ProfileView};
pub use recs::Recs;
pub use registry::Registry;

use consent::{ConsentPolicy, Permission};
use experiments::PlacementExperiment;
use journeys::policy::SendPolicy;
use predictions::{ModelVersion, Predictions, TrainingState, forecast::Forecast};
use privacy::ErasureReport;
use retention::{RetentionReport, RetentionSettings};

/// Counts for operations.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    pub profiles: usize,
    pub products: usize,
    pub queued_jobs: usize,
    /// Bytes SQLite holds in this process (page caches, statements), outside Rust's heap.
    pub sqlite_memory: u64,
}

#[derive(Clone)]
pub struct Engine {
    parts: Arc<boot::Parts>,
}

type Result<T, E = EngineError> = std::result::Result<T, E>;

impl Engine {
    // Life cycle.

    /// Loads the catalog and the last profile checkpoint, replays the log after it, and
    /// starts the engine's threads. Returns the keys generated on this start, if any.
    pub fn open(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        options: Options,
    ) -> Result<(Engine, GeneratedKeys)> {
        boot::open(store, clock, options).map(|(p, keys)| (Engine { parts: Arc::new(p) }, keys))
    }

    /// Finishes queued work, writes a final checkpoint and stops every thread.
    pub async fn shutdown(&self) -> Result<()> {
        self.parts.shutdown().await
    }

    /// Waits until the work queued behind acknowledged calls is done: journey events, runs
    /// and outbox messages due now, and logged decisions. For tests: no sleeping and hoping.
    pub async fn settle(&self) -> Result<()> {
        self.parts.settle().await
    }

    pub fn keys(&self) -> &Keys {
        &self.parts.keys
    }

    /// The sources events and decisions come from (names and kinds, never keys).
    pub fn sources(&self) -> Vec<SourceInfo> {
        self.parts.keys.sources()
    }

    /// Adds a source, or gives an existing one a new key; returns the key, shown once.
    pub fn put_source(&self, name: &str, kind: SourceKind) -> Result<String> {
        self.parts.keys.put_source(&*self.parts.store, name, kind)
    }

    /// Removes a source: its key stops working at once.
    pub fn delete_source(&self, name: &str) -> Result<()> {
        self.parts.keys.delete_source(&*self.parts.store, name)
    }

    /// The user hash the store's backend would send for `user_id` (for the demo storefront
    /// and tests; a real backend computes it with the shared identity secret).
    pub fn user_hash(&self, user_id: &str) -> String {
        self.parts.tokens.user_hash(user_id)
    }

    pub fn now(&self) -> Millis {
        self.parts.clock.now()
    }

    pub fn stats(&self) -> Stats {
        let (profiles, products) = (
            self.parts.live.with_registry(|r| r.len()),
            self.parts.live.with_catalog(|c| c.product_count()),
        );
        Stats {
            profiles,
            products,
            queued_jobs: self.parts.ingest.queued(),
            sqlite_memory: tailor_store::sqlite_memory_used(),
        }
    }

    // Ingest and erasure (through the writer thread).

    /// Stores messages durably and folds them into profiles, as far as their origin may
    /// (a browser's userId claims count only with proof). Returns once both are done.
    pub async fn ingest(
        &self,
        messages: Vec<tailor_core::Message>,
        origin: Origin,
    ) -> Result<Receipt> {
        self.parts.ingest.append(messages, origin).await
    }

    /// Erases the person `id` names from everything Tailor keeps (see `privacy`), waiting
    /// until it is done and unrecoverable from the files.
    pub async fn erase(&self, id: &str) -> Result<ErasureReport> {
        self.parts.ingest.erase(id).await
    }

    /// Writes every changed profile now instead of at the next periodic checkpoint (the bench
    /// does, so a burst of ingest is not saved in the middle of what it times next).
    pub async fn checkpoint(&self) -> Result<()> {
        self.parts.ingest.checkpoint().await.map(|_| ())
    }

    /// Whether the store answers now (readiness: PostgreSQL reachable).
    pub fn store_ready(&self) -> Result<()> {
        Ok(self.parts.store.ping()?)
    }

    pub fn event_count(&self) -> Result<u64> {
        Ok(self.parts.store.event_count()?)
    }

    // People. Methods that read the log block on disk: call them off the async executor.

    /// A profile by internal id (`p_12`), userId or anonymousId, as seen now, without
    /// predictions (see [`Engine::profile_in_full`]).
    pub fn profile(&self, id: &str) -> Option<ProfileView> {
        self.parts.people.profile(id)
    }

    /// [`Engine::profile`] with every prediction, the best send hour included.
    pub fn profile_in_full(&self, id: &str) -> Result<Option<ProfileView>> {
        self.parts.people.profile_in_full(id)
    }

    /// What drives the purchase-intent prediction of the person `id` names, strongest first;
    /// empty before a model version or for an unknown id.
    pub fn prediction_drivers(&self, id: &str) -> Vec<predictions::Driver> {
        let models = self.parts.predictions.current();
        models
            .and_then(|m| self.with_profile(id, |p| m.intent_drivers(p, self.now())))
            .unwrap_or_default()
    }

    pub fn predictions(&self, id: &str) -> Result<Option<Predictions>> {
        self.parts.people.predictions(id)
    }

    /// Runs `f` on a profile without copying it.
    pub fn with_profile<T>(&self, id: &str, f: impl FnOnce(&Profile) -> T) -> Option<T> {
        self.parts.live.with_profile(id, f)
    }

    /// The newest events of the person `id` names, newest first.
    pub fn events_of(&self, id: &str, limit: usize) -> Result<Option<Vec<StoredEvent>>> {
        self.parts.people.events_of(id, limit)
    }

    /// What the person `id` names declared (zero-party data); `None` if unknown.
    pub fn declared_preferences(&self, id: &str) -> Option<Preferences> {
        self.parts.people.declared_preferences(id)
    }

    /// Everything Tailor keeps about the person `id` names, in one document.
    pub fn export(&self, id: &str) -> Result<Option<export::ExportDocument>> {
        self.parts.people.export(id)
    }

    /// Records that the admin read the personal data of the person `id` names.
    pub fn audit_read(&self, what: &str, id: &str) -> Result<()> {
        self.parts.people.audit_read(what, id)
    }

    /// Records in one entry that the admin read these people (a list, such as a search's).
    pub fn audit_reads(&self, what: &str, ids: &[String]) -> Result<()> {
        self.parts.people.audit_reads(what, ids)
    }

    pub fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>> {
        self.parts.people.audit_log(limit)
    }

    /// Whether a caller may act for the person these ids name (consent, preferences): a
    /// server key always, a browser with proof (see `People::may_act_for`).
    pub fn may_act_for(
        &self,
        origin: Origin,
        user_id: Option<&str>,
        anonymous_id: Option<&str>,
        proof: Option<&UserProof>,
    ) -> Result<()> {
        self.parts
            .people
            .may_act_for(origin, user_id, anonymous_id, proof)
    }

    /// Lifts the suppression of an erased id; whether it was suppressed.
    pub fn lift_suppression(&self, id: &str) -> Result<bool> {
        self.parts.people.lift_suppression(id)
    }

    // Consent.

    pub fn consent_policy(&self) -> Arc<ConsentPolicy> {
        self.parts.settings.consent.policy()
    }

    pub fn put_consent_policy(&self, policy: ConsentPolicy) -> Result<()> {
        self.parts.settings.put_consent_policy(policy)
    }

    /// What each purpose may do with the person `id` names, and why; `None` if unknown.
    pub fn consent_state(&self, id: &str) -> Option<BTreeMap<Purpose, Permission>> {
        self.parts.people.consent_state(id)
    }

    /// The consent ledger of the person `id` names (oldest first).
    pub fn consent_ledger(&self, id: &str) -> Result<Option<Vec<consent::LedgerEntry>>> {
        self.parts.people.consent_ledger(id)
    }

    /// A profile token for `user_id` (see `tokens`); its expiry.
    pub fn issue_token(&self, user_id: &str, ttl: Option<Millis>) -> (String, Millis) {
        self.parts
            .tokens
            .issue(user_id, self.now(), ttl.unwrap_or(tokens::DEFAULT_TTL))
    }

    /// The userId a profile token proves.
    pub fn verify_token(&self, token: &str) -> Result<String, tokens::TokenError> {
        self.parts.tokens.verify(token, self.now())
    }

    // Catalog.

    pub fn put_products(&self, products: Vec<Product>) -> Result<usize> {
        self.parts.catalog.put_products(products)
    }

    pub fn delete_product(&self, id: &str) -> Result<()> {
        self.parts.catalog.delete_product(id)
    }

    pub fn product(&self, id: &str) -> Option<Arc<Product>> {
        self.parts.live.with_catalog(|c| c.product_arc(id))
    }

    pub fn products(&self, category: Option<&str>) -> Vec<Arc<Product>> {
        self.parts.live.with_catalog(|c| c.products(category))
    }

    /// Whether the catalog has this category path (at any depth).
    pub fn has_category(&self, path: &str) -> bool {
        self.parts
            .live
            .with_catalog(|c| !c.products_in(path).is_empty())
    }

    pub fn category_tree(&self) -> Vec<CategoryNode> {
        self.parts.live.with_catalog(|c| c.category_tree().to_vec())
    }

    pub fn put_content(&self, items: Vec<ContentItem>) -> Result<usize> {
        self.parts.catalog.put_content(items)
    }

    pub fn delete_content(&self, id: &str) -> Result<()> {
        self.parts.catalog.delete_content(id)
    }

    pub fn content_item(&self, id: &str) -> Option<Arc<ContentItem>> {
        self.parts.live.with_catalog(|c| c.content_item(id))
    }

    pub fn content(&self, placement: Option<&str>) -> Vec<Arc<ContentItem>> {
        self.parts.live.with_catalog(|c| c.content(placement))
    }

    // Decisions and placements.

    /// Answers each requested placement for the visitor, from memory, and queues the
    /// decision for the log.
    pub fn decide(&self, input: DecideInput) -> Result<DecideOutput> {
        self.parts.decider.decide(input)
    }

    /// A logged decision with the rewards joined to it.
    pub fn decision(&self, id: &str) -> Result<Option<(DecisionRecord, Vec<Reward>)>> {
        self.parts.measure.decision(id)
    }

    /// What [`Engine::decide`] would answer, logging nothing (no decision, exposure,
    /// learning or on-site delivery): the console's preview as a chosen shopper.
    pub fn preview_decision(&self, input: DecideInput) -> Result<DecideOutput> {
        self.parts.decider.preview(input)
    }

    /// The daily rollups of decisions retention deleted, from `since` on.
    pub fn decision_days(
        &self,
        since: tailor_core::Millis,
    ) -> Result<Vec<tailor_store::DecisionDay>> {
        Ok(self.parts.store.decision_days(since)?)
    }

    /// What the store's files take on disk and the space left.
    pub fn disk_usage(&self) -> Result<tailor_store::DiskUsage> {
        Ok(self.parts.store.disk_usage()?)
    }

    /// The placements `decide` answers, standard ones included.
    pub fn placements(&self) -> Vec<decide::Placement> {
        self.parts.settings.placements.list().to_vec()
    }

    /// Adds or replaces placements by id.
    pub fn put_placements(&self, new: Vec<decide::Placement>) -> Result<usize> {
        self.parts.settings.put_placements(new)
    }

    pub fn delete_placement(&self, id: &str) -> Result<()> {
        self.parts.settings.delete_placement(id)
    }

    /// What a learning placement has learned so far.
    pub fn policy_summary(&self, placement: &str) -> Option<policies::PolicySummary> {
        self.parts.settings.policy_summary(placement)
    }

    /// The decisions `filter` selects, in the Open Bandit Dataset's format.
    pub fn export_decisions(&self, filter: &DecisionFilter) -> Result<DecisionExport> {
        self.parts
            .settings
            .require_placement(&filter.placement)
            .and_then(|()| self.parts.measure.export_decisions(filter))
    }

    // Experiments.

    pub fn experiments(&self) -> Vec<PlacementExperiment> {
        self.parts.measure.experiments.list()
    }

    /// Adds or replaces an experiment, validated; takes effect on the next decision.
    pub fn put_experiment(&self, exp: PlacementExperiment) -> Result<()> {
        self.parts.settings.put_experiment(exp)
    }

    pub fn delete_experiment(&self, id: &str) -> Result<()> {
        self.parts.settings.delete_experiment(id)
    }

    /// The results of experiment `id` (see `measure::experiment_results`).
    pub fn experiment_results(
        &self,
        id: &str,
    ) -> Result<measure::experiment_results::ExperimentResults> {
        self.parts.measure.experiment_results(id)
    }

    // Zero-party data.

    pub fn quizzes(&self) -> Vec<Quiz> {
        self.parts.settings.quizzes()
    }

    /// Adds or replaces a quiz (validated by the caller with `Quiz::parse`).
    pub fn put_quiz(&self, quiz: Quiz) -> Result<()> {
        self.parts.settings.put_quiz(quiz)
    }

    pub fn delete_quiz(&self, id: &str) -> Result<()> {
        self.parts.settings.delete_quiz(id)
    }

    // Predictions.

    /// Trains a new model version now, on this thread, and puts it in service.
    pub fn train_models(&self) -> Result<ModelVersion> {
        self.parts.predictions.train_now()
    }

    /// Starts training in the background; `false` if a run is already going.
    pub fn start_training(&self) -> bool {
        self.parts.predictions.train_in_background()
    }

    /// Recorded model versions (newest last) and what the trainer is doing.
    pub fn models(&self) -> (Vec<ModelVersion>, TrainingState) {
        self.parts.predictions.models()
    }

    /// The per-category forecast of orders and revenue for the next 4 weeks.
    pub fn forecast(&self) -> Result<Forecast> {
        self.parts.predictions.forecast()
    }

    // Journeys.

    pub fn journeys(&self) -> Vec<journeys::JourneySummary> {
        self.parts.journeys.journeys()
    }

    /// One journey, its current version or `version`.
    pub fn journey(&self, id: &str, version: Option<u32>) -> Option<journeys::JourneySummary> {
        self.parts.journeys.journey(id, version)
    }

    /// Validates and stores a definition; a changed one becomes a new version.
    pub fn put_journey(&self, definition: serde_json::Value) -> Result<journeys::JourneySummary> {
        self.parts.journeys.put_journey(definition)
    }

    pub fn delete_journey(&self, id: &str) -> Result<()> {
        self.parts.journeys.delete_journey(id)
    }

    /// Pauses (no one enters, timers hold) or resumes a journey.
    pub fn set_journey_paused(&self, id: &str, paused: bool) -> Result<journeys::JourneySummary> {
        self.parts.journeys.set_journey_paused(id, paused)
    }

    /// Sent vs control of journey `id`.
    pub fn journey_report(&self, id: &str) -> Result<journeys::report::JourneyReport> {
        self.parts.journeys.journey_report(id)
    }

    /// Counts per step and for the journey.
    pub fn journey_stats(&self, id: &str) -> Result<journeys::JourneyStats> {
        self.parts.journeys.journey_stats(id)
    }

    pub fn journey_templates(&self) -> journeys::JourneyTemplates {
        self.parts.journeys.journey_templates()
    }

    pub fn journey_policy(&self) -> Arc<SendPolicy> {
        self.parts.journeys.journey_policy()
    }

    pub fn put_journey_policy(&self, policy: SendPolicy) -> Result<()> {
        self.parts.journeys.put_journey_policy(policy)
    }

    /// The runs of the person `id` names (any of their ids).
    pub fn journey_runs(&self, id: &str) -> Result<Vec<journeys::RunView>> {
        self.parts.journeys.journey_runs(id)
    }

    /// Outbox messages by status and/or person.
    pub fn outbox(
        &self,
        status: Option<&str>,
        person: Option<&str>,
        limit: usize,
    ) -> Result<Vec<journeys::OutboxMessage>> {
        self.parts.journeys.outbox(status, person, limit)
    }

    /// Puts a dead message back in the queue, due now, with its attempts reset.
    pub fn replay_dead(&self, key: &str) -> Result<journeys::OutboxMessage> {
        self.parts.journeys.replay_dead(key)
    }

    // Message templates.

    /// Every message template in service, built-ins included.
    pub fn message_templates(&self) -> Vec<serde_json::Value> {
        self.parts.journeys.message_templates()
    }

    pub fn message_template(&self, id: &str) -> Option<serde_json::Value> {
        self.parts.journeys.message_template(id)
    }

    /// Validates and saves a template (under a built-in id: replaces the default).
    pub fn put_template(
        &self,
        id: &str,
        definition: serde_json::Value,
    ) -> Result<serde_json::Value> {
        self.parts.journeys.put_template(id, definition)
    }

    /// Deletes a saved template; a built-in one goes back to its default.
    pub fn delete_template(&self, id: &str) -> Result<serde_json::Value> {
        self.parts.journeys.delete_template(id)
    }

    /// Template `id` (or an unsaved `draft`) rendered for the person `person` names.
    pub fn preview_template(
        &self,
        id: &str,
        person: &str,
        draft: Option<serde_json::Value>,
    ) -> Result<journeys::render::Rendered> {
        self.parts.journeys.preview_template(id, person, draft)
    }

    // Unsubscribe links and provider feedback.

    /// What an unsubscribe link is about (its page); not found for a bad link.
    pub fn unsubscribe_status(&self, token: &str) -> Result<journeys::unsubscribe::Unsubscribe> {
        self.parts.journeys.unsubscribe_status(token)
    }

    /// Withdraws the consent an unsubscribe link names (RFC 8058 one-click).
    pub async fn unsubscribe(&self, token: &str) -> Result<journeys::unsubscribe::Unsubscribe> {
        self.parts.journeys.unsubscribe(token).await
    }

    /// Whether an inbound provider webhook knows the inbound secret (see `journeys::inbound`).
    pub fn inbound_authentic(
        &self,
        presented: Option<&str>,
        signed: Option<(&str, &str, &str)>,
        body: &[u8],
    ) -> bool {
        self.parts
            .journeys
            .inbound_authentic(presented, signed, body)
    }

    /// Whether inbound provider webhooks are on (an inbound secret is set).
    pub fn inbound_enabled(&self) -> bool {
        self.parts.journeys.inbound_enabled()
    }

    /// Records bounces and spam complaints as events of the people they concern.
    pub async fn email_feedback(
        &self,
        reports: Vec<journeys::inbound::EmailFeedback>,
    ) -> Result<journeys::inbound::InboundReceipt> {
        self.parts.journeys.email_feedback(reports).await
    }

    /// Records an SMS reply (STOP withdraws SMS consent, START grants it).
    pub async fn sms_reply(
        &self,
        reply: journeys::inbound::SmsReply,
    ) -> Result<journeys::inbound::InboundReceipt> {
        self.parts.journeys.sms_reply(reply).await
    }

    /// Every audience: the ones segments define and the ones journey steps fill.
    pub fn audiences(&self) -> Result<Vec<journeys::audience_book::AudienceSummary>> {
        self.parts.journeys.audiences()
    }

    /// Defines a segment audience (members follow as profiles change).
    pub fn put_audience(
        &self,
        name: &str,
        definition: journeys::audience_book::AudienceDefinition,
    ) -> Result<journeys::audience_book::AudienceSummary> {
        self.parts.journeys.put_audience(name, definition)
    }

    /// Deletes a segment audience; every member gets a `remove`.
    pub fn delete_audience(&self, name: &str) -> Result<()> {
        self.parts.journeys.delete_audience(name)
    }

    /// An audience's members who may be used for advertising now.
    pub fn audience(&self, name: &str) -> Result<journeys::Audience> {
        self.parts.journeys.audience(name)
    }

    /// The audience's add/remove stream after position `after`.
    pub fn audience_changes(
        &self,
        name: &str,
        after: i64,
        limit: usize,
    ) -> Result<journeys::AudienceChanges> {
        self.parts.journeys.audience_changes(name, after, limit)
    }

    /// The audience as a Google Ads or Meta upload file (hashed email and phone).
    pub fn audience_export(
        &self,
        name: &str,
        format: journeys::audiences::ExportFormat,
    ) -> Result<String> {
        self.parts.journeys.audience_export(name, format)
    }

    // Retention.

    pub fn retention_settings(&self) -> RetentionSettings {
        self.parts.retention.settings()
    }

    /// Runs retention now; blocks on disk and on the writer.
    pub fn run_retention(&self) -> Result<RetentionReport> {
        self.parts.retention.run()
    }

    // The console's reads over everyone (see `population`) and saved segments.

    /// Events accepted and decisions made per minute, the last `minutes` minutes.
    pub fn activity(&self, minutes: usize) -> Vec<measure::activity::Minute> {
        self.parts.activity.last(minutes, self.now())
    }

    /// Profiles by lifecycle stage, totals, and orders and revenue per day for `days` days.
    pub fn population(&self, days: u32) -> population::Overview {
        population::overview(&self.parts.live, self.now(), days)
    }

    /// People by id, or whose e-mail or a trait contains `query`.
    pub fn search_people(&self, query: &str) -> Vec<population::PersonRow> {
        population::search(&self.parts.live, query, self.now())
    }

    /// Who a condition matches now, validated first, with up to `sample` of them.
    pub fn match_condition(
        &self,
        condition: &serde_json::Value,
        sample: usize,
    ) -> Result<population::ConditionMatch> {
        tailor_core::condition::validate_condition(condition)?;
        // Predictions cost ~15 µs a person: made only for a condition that reads them.
        let models = tailor_core::condition::reads_predictions(condition)
            .then(|| self.parts.predictions.current())
            .flatten();
        Ok(population::matching(
            &self.parts.live,
            condition,
            models.as_deref(),
            sample,
            self.now(),
        ))
    }

    /// How each numeric prediction spreads over (a sample of) people; empty before the
    /// first model version.
    pub fn prediction_distributions(&self, sample: usize) -> Vec<population::Distribution> {
        let models = self.parts.predictions.current();
        models.map_or_else(Vec::new, |m| {
            population::prediction_distributions(&self.parts.live, &m, sample, 20, self.now())
        })
    }

    /// Per purpose, how many people it may use now and why, and the choices of the last
    /// `days` days.
    pub fn consent_rates(&self, days: u32) -> Vec<population::ConsentRate> {
        population::consent_rates(&self.parts.live, &self.consent_policy(), days, self.now())
    }

    pub fn segments(&self) -> Vec<segments::SavedSegment> {
        self.parts.segments.list()
    }

    /// Adds or replaces a saved segment, validated.
    pub fn put_segment(&self, segment: segments::SavedSegment) -> Result<()> {
        self.parts.segments.put(segment)
    }

    pub fn delete_segment(&self, id: &str) -> Result<()> {
        self.parts.segments.delete(id)
    }
}
