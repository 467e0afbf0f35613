//! The catalogue: every scenario, grouped by part of the notes, with a
//! topic finder that searches the lessons too.

use crate::present::{filter_catalogue, part_name, searchable_text};
use crate::scenarios::{cards, find, lesson, Card};
use crate::spec::Lesson;
use leptos::prelude::*;

/// Lists every registered scenario.
#[component]
pub fn Catalogue() -> impl IntoView {
    super::browser::set_title("Prodsim: see how backend systems behave in production");
    let specs: Vec<&'static Card> = cards().map(|all| all.iter().collect()).unwrap_or_default();
    let (filter, set_filter) = signal(String::new());
    // The lessons are searched once their data files are here: the site
    // fetches them the first time someone types (the CLI and tests embed
    // them). Until then the cards alone are searched.
    let lessons_loaded = RwSignal::new(0u32);
    let fetch_started = StoredValue::new(false);
    let fetch_lessons = move || {
        if fetch_started.get_value() {
            return;
        }
        fetch_started.set_value(true);
        for card in cards().into_iter().flatten() {
            let id = card.id.clone();
            leptos::task::spawn_local(async move {
                if super::data::ensure(&id).await.is_ok() {
                    lessons_loaded.update(|n| *n += 1);
                }
                if super::data::ensure_lesson(&id).await.is_ok() {
                    lessons_loaded.update(|n| *n += 1);
                }
            });
        }
    };
    let groups = move || {
        lessons_loaded.track();
        let no_lesson = Lesson::default();
        filter_catalogue(&specs, &filter.get(), |c| {
            find(&c.id).map_or(String::new(), |s| {
                searchable_text(&s.spec, lesson(&c.id).unwrap_or(&no_lesson))
            })
        })
    };
    view! {
        <header class="site">
            <h1>"Prodsim"</h1>
            <p class="tagline">"See how backend systems behave in production: deterministic simulations you can poke, compare and share."</p>
        </header>
        <main class="catalogue">
            <label class="finder">
                "Find a topic "
                <input type="search" placeholder="retry, cache, memory, pool…" aria-label="Find a topic"
                    prop:value=filter on:focus=move |_| fetch_lessons()
                    on:input=move |ev| { fetch_lessons(); set_filter.set(event_target_value(&ev)) } />
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
                                <h2>{part_name(&part)}</h2>
                                <ul class="cards">
                                    {list
                                        .into_iter()
                                        .map(|s| {
                                            // The whole card is the link.
                                            let href = format!("?s={}", s.id);
                                            view! {
                                                <li class="card" data-scenario=s.id.clone()>
                                                    <a href=href class="card-link">
                                                        <h3>{s.title.clone()}</h3>
                                                        <p>{s.summary.clone()}</p>
                                                    </a>
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
