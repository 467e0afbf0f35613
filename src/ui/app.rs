//! The top level: the catalogue, or one scenario when the URL names it.

use super::browser;
use super::catalogue::Catalogue;
use super::scenario::ScenarioPage;
use crate::scenarios::{cards, find};
use crate::spec::url::scenario_id;
use leptos::prelude::*;

/// The whole app. Navigation is by plain links (`?s=<id>`), so every view
/// has a URL that works on any static host and sub-path.
#[component]
pub fn App(
    /// Why the named scenario's data file could not be fetched, if so.
    load_error: Option<String>,
) -> impl IntoView {
    let query = browser::query();
    if let Some(e) = load_error {
        return view! {
            <div class="notices" role="alert"><p>{format!("This scenario could not start: {e}.")}</p></div>
            <Catalogue />
        }
        .into_any();
    }
    if let Err(e) = cards() {
        return view! { <p class="error" role="alert">{format!("The scenario registry failed to load: {e}")}</p> }
            .into_any();
    }
    match scenario_id(&query) {
        Some(id) => match find(&id) {
            Ok(scenario) => view! { <ScenarioPage scenario=scenario query=query /> }.into_any(),
            Err(e) => view! {
                <div class="notices" role="status"><p>{format!("{e}. Showing the catalogue instead.")}</p></div>
                <Catalogue />
            }
            .into_any(),
        },
        None => view! { <Catalogue /> }.into_any(),
    }
}
