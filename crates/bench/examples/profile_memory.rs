//! Bytes a profile holds in memory, by part: `cargo run --release -p tailor-bench --example
//! profile_memory`. Folds `tailor bench`'s uniform workload (about ten events per shopper:
//! views, list views, cart adds, searches, orders) into a registry outside any server and
//! counts what the allocator hands out: the registry as a whole per profile, then each part
//! of an average profile (measured by cloning it, so a part's unused capacity is left out).

use std::alloc::System;

use tailor_bench::workload::{Shape, Size, generate};
use tailor_core::message::{Envelope, parse_message};
use tailor_engine::{Catalog, Profile, Registry};

#[global_allocator]
static ALLOCATOR: tailor_core::heap::Counting<System> = tailor_core::heap::Counting(System);

fn live() -> usize {
    tailor_core::heap::live_bytes().unwrap_or(0) as usize
}

/// Heap bytes `f` allocates and keeps (what cloning a part costs).
fn held<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let before = live();
    let value = f();
    (live() - before, value)
}

fn main() {
    let size = Size {
        events: 400_000,
        batch: 100,
        profiles: 40_000,
        reads: 0,
    };
    let workload = generate(Shape::Uniform, &size).expect("a workload");
    let catalog = Catalog::new(workload.products.clone(), workload.content.clone());
    let mut messages = Vec::with_capacity(workload.events);
    for body in &workload.bodies {
        let batch: serde_json::Value = serde_json::from_slice(body).expect("a batch");
        for m in batch["batch"].as_array().expect("messages") {
            let envelope = Envelope {
                received_at: 0,
                sent_at: None,
                context: None,
                integrations: None,
            };
            messages.push(parse_message(m.clone(), None, &envelope, String::new).expect("valid"));
        }
    }
    drop(workload);

    let (bytes, registry) = held(|| {
        let mut registry = Registry::new();
        for m in &messages {
            registry.apply(m, &catalog);
        }
        // As after a checkpoint: no changes queued.
        drop(registry.take_changes());
        registry
    });
    let profiles = registry.len();
    println!(
        "{} events into {profiles} profiles: {} bytes per profile in the registry ({} B of it the Profile struct itself)",
        messages.len(),
        bytes / profiles,
        std::mem::size_of::<Profile>()
    );

    // Each part of the profiles, cloned: heap bytes per profile.
    let mut parts: Vec<(&str, usize)> = Vec::new();
    macro_rules! part {
        ($field:ident) => {{
            let (b, kept) = held(|| {
                registry
                    .profiles()
                    .map(|p| p.$field.clone())
                    .collect::<Vec<_>>()
            });
            let outer = kept.len() * std::mem::size_of_val(&kept[0]);
            parts.push((stringify!($field), (b - outer) / profiles));
        }};
    }
    part!(user_ids);
    part!(anonymous_ids);
    part!(traits);
    part!(consent);
    part!(sessions);
    part!(categories);
    part!(brands);
    part!(price_bands);
    part!(recent_products);
    part!(cart);
    part!(orders);
    part!(purchased);
    part!(identity);
    // Room vectors hold beyond their length (what cloning leaves out).
    let slack = |f: &dyn Fn(&Profile) -> usize| -> usize {
        registry.profiles().map(|p| f(p)).sum::<usize>() / profiles
    };
    fn spare<T>(v: &Vec<T>) -> usize {
        (v.capacity() - v.len()) * std::mem::size_of::<T>()
    }
    println!(
        "unused vector capacity per profile: sessions {} B, categories {} B, brands {} B, price bands {} B, recent products {} B, purchased {} B",
        slack(&|p| spare(&p.sessions.recent)),
        slack(&|p| spare(&p.categories.0)),
        slack(&|p| spare(&p.brands.0)),
        slack(&|p| spare(&p.price_bands.0)),
        slack(&|p| spare(&p.recent_products)),
        slack(&|p| spare(&p.purchased)),
    );
    let total: usize = parts.iter().map(|(_, b)| b).sum();
    println!("part, heap bytes per profile (beyond the struct)");
    for (name, b) in &parts {
        println!("{name}, {b}");
    }
    println!(
        "parts together {total} B + struct {} B; the rest of the registry's {} B is its maps (ids, identity keys, Arc headers)",
        std::mem::size_of::<Profile>(),
        bytes / profiles
    );
}
