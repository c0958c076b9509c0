//! The `security_event`s the services log, caught for the tests to read: the test system
//! runs in this process, so its log events pass through the subscriber installed here.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use tracing::field::{Field, Visit};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, SubscriberExt};

#[derive(Clone, Default)]
pub struct SecurityEvents(Arc<Mutex<Vec<String>>>);

impl SecurityEvents {
    /// The process-wide catcher, installed on first use.
    pub fn installed() -> Self {
        static EVENTS: OnceLock<SecurityEvents> = OnceLock::new();
        EVENTS
            .get_or_init(|| {
                let events = Self::default();
                let subscriber = tracing_subscriber::registry()
                    .with(events.clone().with_filter(LevelFilter::WARN));
                tracing::subscriber::set_global_default(subscriber)
                    .expect("the browser tests install the only subscriber");
                events
            })
            .clone()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .any(|event| event == name)
    }
}

struct Named(Option<String>);

impl Visit for Named {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "security_event" {
            self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "security_event" {
            self.0 = Some(format!("{value:?}").trim_matches('"').to_owned());
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for SecurityEvents {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut named = Named(None);
        event.record(&mut named);
        if let Some(name) = named.0 {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(name);
        }
    }
}
