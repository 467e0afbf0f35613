//! The top level: the catalogue, or one scenario when the URL names it.

use super::browser;
use super::catalogue::Catalogue;
use super::scenario::ScenarioPage;
use crate::scenarios::{cards, find};
use crate::spec::url::scenario_id;
use leptos::prelude::*;

/// Mounts the whole app into `parent`: the catalogue, or one scenario when
/// the URL names it. Navigation is by plain links (`?s=<id>`), so every view
/// has a URL that works on any static host and sub-path. Each view is
/// mounted as its own type, never erased into an `AnyView`: an erased view
/// compiles in every render method of its type (re-render, HTML for
/// servers), tens of KB of wasm that a page built once never runs.
/// Dropping the returned handle unmounts it.
pub fn mount_app(
    parent: web_sys::HtmlElement,
    // Why the named scenario's data file could not be fetched, if so.
    load_error: Option<String>,
) -> Box<dyn std::any::Any> {
    use leptos::mount::mount_to;
    let query = browser::query();
    if let Err(e) = cards() {
        let text = format!("The scenario registry failed to load: {e}");
        return Box::new(mount_to(parent, move || {
            view! { <p class="error" role="alert">{text}</p> }
        }));
    }
    let notice = match (load_error, scenario_id(&query)) {
        (Some(e), _) => Some(format!("This scenario could not start: {e}.")),
        (None, Some(id)) => match find(&id) {
            Ok(scenario) => {
                return Box::new(mount_to(parent, move || {
                    view! { <ScenarioPage scenario=scenario query=query /> }
                }))
            }
            Err(e) => Some(format!("{e}. Showing the catalogue instead.")),
        },
        (None, None) => None,
    };
    Box::new(mount_to(parent, move || {
        view! {
            {notice.map(|text| view! { <div class="notices" role="status"><p>{text}</p></div> })}
            <Catalogue />
        }
    }))
}
