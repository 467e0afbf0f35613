//! The catalogue: every scenario, grouped by part of the notes, with a
//! topic finder.

use crate::present::filter_catalogue;
use crate::scenarios::{cards, Card};
use leptos::prelude::*;

/// Lists every registered scenario.
#[component]
pub fn Catalogue() -> impl IntoView {
    let specs: Vec<&'static Card> = cards().map(|all| all.iter().collect()).unwrap_or_default();
    let (filter, set_filter) = signal(String::new());
    let groups = move || filter_catalogue(&specs, &filter.get());
    view! {
        <header class="site">
            <h1>"Prodsim"</h1>
            <p class="tagline">"See how backend systems behave in production: deterministic simulations you can poke, compare and share."</p>
        </header>
        <main class="catalogue">
            <label class="finder">
                "Find a topic "
                <input type="search" placeholder="cache, retry, memory, pool…" aria-label="Find a topic"
                    prop:value=filter on:input=move |ev| set_filter.set(event_target_value(&ev)) />
            </label>
            {move || {
                let groups = groups();
                if groups.is_empty() {
                    return view! { <p class="empty">"No scenario matches that topic yet."</p> }.into_any();
                }
                groups
                    .into_iter()
                    .map(|(part, list)| {
                        view! {
                            <section class="part">
                                <h2>{part}</h2>
                                <ul class="cards">
                                    {list
                                        .into_iter()
                                        .map(|s| {
                                            let href = format!("?s={}", s.id);
                                            view! {
                                                <li class="card" data-scenario=s.id.clone()>
                                                    <a href=href><h3>{s.title.clone()}</h3></a>
                                                    <p>{s.summary.clone()}</p>
                                                </li>
                                            }
                                        })
                                        .collect_view()}
                                </ul>
                            </section>
                        }
                    })
                    .collect_view()
                    .into_any()
            }}
        </main>
    }
}
