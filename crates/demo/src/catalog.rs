//! The demo store's catalog: a two-level category tree (6 departments, 28 leaf
//! categories), the products generated from it (names, brands, log-normal prices per
//! category, stock, attributes) and the content that placements choose from (hero
//! banners, promotions, navigation entries, messages).
//!
//! It produces the JSON the public catalog API takes. The one thing it knows that the
//! store never sees is each product's hidden popularity, which the shoppers use.

use serde_json::{Map, Value, json};
use tailor_core::Millis;
use tailor_core::time::{DAY, HOUR, format_timestamp};

use super::random::{self, DemoRng};

/// Which attributes a leaf category's products carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attrs {
    Clothing,
    Footwear,
    Accessory,
    Home,
    Beauty,
    Gear,
    Device,
}

pub struct LeafSpec {
    pub name: &'static str,
    pub nouns: &'static [&'static str],
    /// Median price in USD; prices are log-normal around it.
    pub median_price: f64,
    /// Log-scale spread of prices.
    pub spread: f64,
    pub attrs: Attrs,
}

pub struct TopSpec {
    pub name: &'static str,
    pub slug: &'static str,
    pub brands: &'static [&'static str],
    pub adjectives: &'static [&'static str],
    pub hero: (&'static str, &'static str),
    /// The leaf this department's running offer is about, and its discount.
    pub offer: (&'static str, u32),
    pub leaves: &'static [LeafSpec],
}

const fn leaf(
    name: &'static str,
    nouns: &'static [&'static str],
    median_price: f64,
    spread: f64,
    attrs: Attrs,
) -> LeafSpec {
    LeafSpec {
        name,
        nouns,
        median_price,
        spread,
        attrs,
    }
}

#[rustfmt::skip]
pub const TREE: &[TopSpec] = &[
    TopSpec {
        name: "Women",
        slug: "women",
        brands: &["Aurelia", "Mira & Co", "Northline", "Saffron Lane"],
        adjectives: &["Linen", "Silk", "Floral", "Classic", "Cropped", "Relaxed", "Ribbed"],
        hero: ("New in Women", "Fresh dresses, easy tops and denim for the season."),
        offer: ("Dresses", 20),
        leaves: &[
            leaf("Dresses", &["Wrap Dress", "Midi Dress", "Slip Dress", "Shirt Dress", "Maxi Dress"], 79.0, 0.45, Attrs::Clothing),
            leaf("Tops", &["Blouse", "Knit Top", "Tank", "Cardigan", "Tee"], 39.0, 0.45, Attrs::Clothing),
            leaf("Jeans", &["Skinny Jeans", "Wide-Leg Jeans", "Mom Jeans", "Bootcut Jeans"], 69.0, 0.4, Attrs::Clothing),
            leaf("Shoes", &["Ankle Boots", "Ballet Flats", "Sneakers", "Sandals", "Loafers"], 89.0, 0.5, Attrs::Footwear),
            leaf("Handbags", &["Tote", "Crossbody Bag", "Clutch", "Shoulder Bag"], 120.0, 0.6, Attrs::Accessory),
        ],
    },
    TopSpec {
        name: "Men",
        slug: "men",
        brands: &["Harbor & Pine", "Ironwood", "Kestrel", "Oxley"],
        adjectives: &["Oxford", "Heritage", "Slim", "Rugged", "Tailored", "Washed"],
        hero: ("Men's essentials", "Shirts, jackets and shoes that last."),
        offer: ("Jackets", 25),
        leaves: &[
            leaf("Shirts", &["Oxford Shirt", "Flannel Shirt", "Polo", "Linen Shirt"], 49.0, 0.4, Attrs::Clothing),
            leaf("Trousers", &["Chinos", "Cargo Pants", "Dress Trousers", "Joggers"], 59.0, 0.4, Attrs::Clothing),
            leaf("Shoes", &["Derby Shoes", "Chelsea Boots", "Sneakers", "Loafers"], 110.0, 0.5, Attrs::Footwear),
            leaf("Jackets", &["Bomber Jacket", "Parka", "Denim Jacket", "Blazer"], 149.0, 0.5, Attrs::Clothing),
            leaf("Watches", &["Field Watch", "Chronograph", "Dive Watch", "Dress Watch"], 180.0, 0.7, Attrs::Accessory),
        ],
    },
    TopSpec {
        name: "Home",
        slug: "home",
        brands: &["Hearth", "Lumen & Loom", "Casa Verde", "Nordhus"],
        adjectives: &["Stoneware", "Oak", "Nordic", "Rustic", "Minimal", "Woven"],
        hero: ("Make it home", "Kitchen, bedding and lighting picked for you."),
        offer: ("Kitchen", 15),
        leaves: &[
            leaf("Kitchen", &["Chef's Knife", "Dutch Oven", "Skillet", "Knife Block", "Kettle"], 65.0, 0.7, Attrs::Home),
            leaf("Bedding", &["Duvet Cover", "Sheet Set", "Pillow", "Throw Blanket"], 79.0, 0.5, Attrs::Home),
            leaf("Decor", &["Vase", "Wall Mirror", "Candle Set", "Picture Frame", "Rug"], 45.0, 0.7, Attrs::Home),
            leaf("Lighting", &["Table Lamp", "Floor Lamp", "Pendant Light", "String Lights"], 89.0, 0.6, Attrs::Home),
        ],
    },
    TopSpec {
        name: "Beauty",
        slug: "beauty",
        brands: &["Glowhaus", "Petal & Pine", "Lumiere", "Verde Botanics"],
        adjectives: &["Hydrating", "Radiant", "Velvet", "Pure", "Overnight", "Botanical"],
        hero: ("Beauty edit", "Skincare and fragrance our shoppers love."),
        offer: ("Skincare", 15),
        leaves: &[
            leaf("Skincare", &["Face Serum", "Moisturizer", "Cleanser", "Eye Cream", "Sunscreen"], 32.0, 0.5, Attrs::Beauty),
            leaf("Makeup", &["Lipstick", "Mascara", "Foundation", "Eyeshadow Palette", "Blush"], 24.0, 0.45, Attrs::Beauty),
            leaf("Fragrance", &["Eau de Parfum", "Eau de Toilette", "Body Mist", "Cologne"], 75.0, 0.5, Attrs::Beauty),
            leaf("Haircare", &["Shampoo", "Conditioner", "Hair Oil", "Hair Mask", "Hair Dryer"], 22.0, 0.8, Attrs::Beauty),
        ],
    },
    TopSpec {
        name: "Sports",
        slug: "sports",
        brands: &["Stride", "Summit Gear", "Flowform", "Velo Works", "Apex"],
        adjectives: &["Pro", "Lightweight", "Trail", "Breathable", "All-Weather", "Performance"],
        hero: ("Move more", "Running, yoga and outdoor gear for every pace."),
        offer: ("Running", 20),
        leaves: &[
            leaf("Running", &["Running Shoes", "Trail Shoes", "Running Shorts", "Running Jacket"], 95.0, 0.45, Attrs::Gear),
            leaf("Yoga", &["Yoga Mat", "Yoga Leggings", "Yoga Block", "Sports Bra"], 45.0, 0.5, Attrs::Gear),
            leaf("Cycling", &["Cycling Helmet", "Bike Light", "Cycling Jersey", "Bike Lock"], 60.0, 0.6, Attrs::Gear),
            leaf("Outdoor", &["Tent", "Backpack", "Sleeping Bag", "Hiking Boots", "Trekking Poles"], 120.0, 0.7, Attrs::Gear),
            leaf("Fitness", &["Dumbbell Set", "Kettlebell", "Resistance Bands", "Jump Rope", "Foam Roller"], 40.0, 0.8, Attrs::Gear),
        ],
    },
    TopSpec {
        name: "Electronics",
        slug: "electronics",
        brands: &["Sonora", "Voltix", "Pixelon", "Aerotone", "Northbyte"],
        adjectives: &["Wireless", "Smart", "Compact", "Ultra", "Noise-Cancelling", "4K"],
        hero: ("Tech that fits", "Audio, wearables and cameras, hand-picked."),
        offer: ("Audio", 10),
        leaves: &[
            leaf("Audio", &["Earbuds", "Headphones", "Bluetooth Speaker", "Soundbar"], 129.0, 0.7, Attrs::Device),
            leaf("Phones", &["Smartphone", "Phone Case", "Charger", "Power Bank"], 90.0, 1.1, Attrs::Device),
            leaf("Laptops", &["Ultrabook", "Gaming Laptop", "Laptop Sleeve", "Docking Station"], 600.0, 0.9, Attrs::Device),
            leaf("Cameras", &["Mirrorless Camera", "Action Camera", "Camera Lens", "Tripod"], 350.0, 0.8, Attrs::Device),
            leaf("Wearables", &["Smartwatch", "Fitness Tracker", "Smart Ring"], 180.0, 0.6, Attrs::Device),
        ],
    },
];

/// What shoppers of a category take up next (a hidden structure the next-category model
/// should find): outfits grow accessories, homes grow rooms, hobbies grow gadgets.
#[rustfmt::skip]
pub const FOLLOW_ONS: &[(&str, [&str; 2])] = &[
    ("Women/Dresses", ["Women/Shoes", "Women/Handbags"]),
    ("Women/Tops", ["Women/Jeans", "Beauty/Makeup"]),
    ("Women/Jeans", ["Women/Tops", "Women/Shoes"]),
    ("Women/Shoes", ["Women/Handbags", "Beauty/Fragrance"]),
    ("Women/Handbags", ["Beauty/Fragrance", "Women/Dresses"]),
    ("Men/Shirts", ["Men/Trousers", "Men/Watches"]),
    ("Men/Trousers", ["Men/Shoes", "Men/Shirts"]),
    ("Men/Shoes", ["Men/Jackets", "Men/Watches"]),
    ("Men/Jackets", ["Sports/Outdoor", "Men/Shoes"]),
    ("Men/Watches", ["Electronics/Wearables", "Men/Shirts"]),
    ("Home/Kitchen", ["Home/Decor", "Home/Lighting"]),
    ("Home/Bedding", ["Home/Decor", "Home/Lighting"]),
    ("Home/Decor", ["Home/Lighting", "Home/Bedding"]),
    ("Home/Lighting", ["Home/Decor", "Electronics/Audio"]),
    ("Beauty/Skincare", ["Beauty/Makeup", "Beauty/Haircare"]),
    ("Beauty/Makeup", ["Beauty/Skincare", "Beauty/Fragrance"]),
    ("Beauty/Fragrance", ["Beauty/Skincare", "Women/Handbags"]),
    ("Beauty/Haircare", ["Beauty/Skincare", "Beauty/Fragrance"]),
    ("Sports/Running", ["Electronics/Wearables", "Sports/Fitness"]),
    ("Sports/Yoga", ["Sports/Fitness", "Beauty/Skincare"]),
    ("Sports/Cycling", ["Sports/Outdoor", "Electronics/Wearables"]),
    ("Sports/Outdoor", ["Electronics/Cameras", "Sports/Cycling"]),
    ("Sports/Fitness", ["Electronics/Audio", "Sports/Running"]),
    ("Electronics/Audio", ["Electronics/Phones", "Electronics/Wearables"]),
    ("Electronics/Phones", ["Electronics/Audio", "Electronics/Wearables"]),
    ("Electronics/Laptops", ["Electronics/Audio", "Electronics/Cameras"]),
    ("Electronics/Cameras", ["Sports/Outdoor", "Electronics/Laptops"]),
    ("Electronics/Wearables", ["Sports/Running", "Electronics/Phones"]),
];

const COLORS: &[&str] = &[
    "Black", "White", "Navy", "Olive", "Burgundy", "Sand", "Grey", "Blush", "Forest", "Sky",
];
const CLOTHING_SIZES: &[&str] = &["XS", "S", "M", "L", "XL"];
const GEAR_SIZES: &[&str] = &["S", "M", "L"];

/// A leaf category with its place in the tree.
pub struct Leaf {
    pub top: usize,
    pub spec: &'static LeafSpec,
    /// `Top/Leaf`, the form events and the catalog use.
    pub path: String,
}

/// A generated product: what the catalog API receives, plus hidden popularity.
pub struct DemoProduct {
    pub id: String,
    pub name: String,
    pub leaf: usize,
    pub brand: &'static str,
    pub price: f64,
    pub stock: i64,
    /// Relative chance of being picked among similar products (heavy-tailed).
    pub popularity: f64,
    pub attributes: Map<String, Value>,
    pub description: String,
}

impl DemoProduct {
    /// The storefront's page of the product (`storefront::pages::product`).
    pub fn url(&self) -> String {
        format!("/p/{}", self.id)
    }
    /// Its picture, drawn by `storefront::images`.
    pub fn image_url(&self) -> String {
        format!("/img/{}.svg", self.id)
    }
}

pub struct Catalog {
    pub leaves: Vec<Leaf>,
    pub products: Vec<DemoProduct>,
    /// Product indices per leaf.
    pub by_leaf: Vec<Vec<usize>>,
}

impl Catalog {
    /// The same seed always gives the same catalog. Every product has a name of its own.
    pub fn generate(seed: u64, count: usize) -> Catalog {
        let mut rng = random::stream(seed, random::CATALOG);
        let leaves = leaves();
        let mut by_leaf = vec![Vec::new(); leaves.len()];
        let mut products: Vec<DemoProduct> = (0..count)
            .map(|i| {
                // Round-robin keeps every leaf stocked once there are as many products.
                let leaf_index = i % leaves.len();
                by_leaf[leaf_index].push(i);
                product(&mut rng, i, leaf_index, &leaves[leaf_index])
            })
            .collect();
        unique_names(&mut products);
        Catalog {
            leaves,
            products,
            by_leaf,
        }
    }

    pub fn top(&self, leaf: usize) -> &'static TopSpec {
        &TREE[self.leaves[leaf].top]
    }

    pub fn leaf_index(&self, top: &str, leaf: &str) -> Option<usize> {
        self.leaves
            .iter()
            .position(|l| TREE[l.top].name == top && l.spec.name == leaf)
    }

    pub fn leaf_path(&self, leaf: usize) -> &str {
        &self.leaves[leaf].path
    }

    /// The leaves shoppers of `leaf` tend to take up later ([`FOLLOW_ONS`]), most likely first.
    pub fn follow_ons(&self, leaf: usize) -> Vec<usize> {
        let path = self.leaf_path(leaf);
        FOLLOW_ONS
            .iter()
            .find(|(from, _)| *from == path)
            .map(|(_, next)| {
                next.iter()
                    .filter_map(|n| self.leaves.iter().position(|l| l.path == *n))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The product in the catalog API's JSON shape.
    pub fn product_json(&self, p: &DemoProduct) -> Value {
        json!({
            "id": p.id,
            "name": p.name,
            "category": self.leaves[p.leaf].path,
            "brand": p.brand,
            "price": p.price,
            "currency": "USD",
            "stock": p.stock,
            "attributes": p.attributes,
            "image_url": p.image_url(),
            "url": p.url(),
            "description": p.description,
        })
    }

    pub fn products_json(&self) -> Vec<Value> {
        self.products.iter().map(|p| self.product_json(p)).collect()
    }
}

pub fn leaves() -> Vec<Leaf> {
    TREE.iter()
        .enumerate()
        .flat_map(|(top, spec)| {
            spec.leaves.iter().map(move |l| Leaf {
                top,
                spec: l,
                path: format!("{}/{}", spec.name, l.name),
            })
        })
        .collect()
}

/// Two products drawn with the same brand, adjective and noun are told apart as a shop
/// would: by their colour, then by a number. The draws are untouched, so the rest of the
/// demo (prices, shoppers, events) does not move.
fn unique_names(products: &mut [DemoProduct]) {
    let mut taken = std::collections::BTreeSet::new();
    for p in products.iter_mut() {
        if taken.contains(&p.name) {
            let color = p.attributes.get("color").and_then(Value::as_str);
            let mut name = match color {
                Some(color) => format!("{}, {color}", p.name),
                None => p.name.clone(),
            };
            let mut n = 2;
            while taken.contains(&name) {
                name = format!("{} No. {n}", p.name);
                n += 1;
            }
            p.name = name;
        }
        taken.insert(p.name.clone());
    }
}

/// Prices end in .99, like a shop's.
fn shop_price(raw: f64) -> f64 {
    let whole = raw.clamp(3.0, 5_000.0).round();
    ((whole - 0.01) * 100.0).round() / 100.0
}

fn product(rng: &mut DemoRng, index: usize, leaf_index: usize, leaf: &Leaf) -> DemoProduct {
    let top = &TREE[leaf.top];
    let brand = random::pick(rng, top.brands).copied().unwrap_or("Tailor");
    let adjective = random::pick(rng, top.adjectives)
        .copied()
        .unwrap_or("Classic");
    let noun = random::pick(rng, leaf.spec.nouns)
        .copied()
        .unwrap_or(leaf.spec.name);
    let color = random::pick(rng, COLORS).copied().unwrap_or("Black");
    let price = shop_price(random::log_normal(
        rng,
        leaf.spec.median_price,
        leaf.spec.spread,
    ));
    let stock = if random::chance(rng, 0.07) {
        0
    } else {
        random::log_normal(rng, 40.0, 1.0).round().clamp(1.0, 500.0) as i64
    };
    let mut attributes = attributes(rng, leaf.spec.attrs, color);
    if random::chance(rng, 0.12) {
        attributes.insert("on_sale".into(), json!(true));
        attributes.insert(
            "compare_at_price".into(),
            json!(shop_price(price * random::uniform(rng, 1.15, 1.5))),
        );
    }
    let description = format!(
        "{adjective} {} by {brand}, in {}.",
        noun.to_lowercase(),
        color.to_lowercase()
    );
    DemoProduct {
        id: format!("sku-{:05}", index + 1),
        name: format!("{brand} {adjective} {noun}"),
        leaf: leaf_index,
        brand,
        price,
        stock,
        popularity: random::log_normal(rng, 1.0, 0.9),
        attributes,
        description,
    }
}

fn attributes(rng: &mut DemoRng, kind: Attrs, color: &str) -> Map<String, Value> {
    let mut a = Map::new();
    let mut put = |k: &str, v: Value| {
        a.insert(k.to_string(), v);
    };
    let from = |rng: &mut DemoRng, items: &[&str]| {
        random::pick(rng, items).map_or(Value::Null, |s| Value::String((*s).to_string()))
    };
    match kind {
        Attrs::Clothing => {
            put("color", json!(color));
            put("size", from(rng, CLOTHING_SIZES));
            put(
                "material",
                from(
                    rng,
                    &[
                        "Cotton",
                        "Linen",
                        "Wool",
                        "Denim",
                        "Silk",
                        "Recycled polyester",
                    ],
                ),
            );
        }
        Attrs::Footwear => {
            put("color", json!(color));
            put("size", json!(random::between(rng, 36, 46).to_string()));
            put(
                "material",
                from(rng, &["Leather", "Suede", "Canvas", "Mesh"]),
            );
        }
        Attrs::Accessory => {
            put("color", json!(color));
            put(
                "material",
                from(rng, &["Leather", "Steel", "Canvas", "Titanium"]),
            );
        }
        Attrs::Home => {
            put("color", json!(color));
            put(
                "material",
                from(
                    rng,
                    &["Ceramic", "Cotton", "Oak", "Cast iron", "Glass", "Linen"],
                ),
            );
        }
        Attrs::Beauty => {
            put("skin_type", from(rng, &["All", "Dry", "Oily", "Sensitive"]));
            put(
                "volume_ml",
                json!([30, 50, 100, 200][random::between(rng, 0, 3) as usize]),
            );
        }
        Attrs::Gear => {
            put("color", json!(color));
            put("size", from(rng, GEAR_SIZES));
        }
        Attrs::Device => {
            put(
                "color",
                from(rng, &["Black", "White", "Silver", "Graphite", "Blue"]),
            );
            put("warranty_years", json!(random::between(rng, 1, 2)));
        }
    }
    let rating = (random::uniform(rng, 3.0, 5.0) * 10.0).round() / 10.0;
    put("rating", json!(rating));
    put(
        "reviews",
        json!(random::log_normal(rng, 40.0, 1.2).round() as u64),
    );
    a
}

/// Everything placements choose from, dated around `now`: hero banners per department
/// and a default, promotions (category offers, cart completion, welcome, loyalty,
/// win-back, one ended and one not started yet), navigation entries and checkout
/// messages.
pub fn content(catalog: &Catalog, now: Millis) -> Vec<Value> {
    let at = |days: i64| format_timestamp(now + days * DAY);
    let mut items = hero_banners();
    items.extend(category_offers(catalog, now));
    items.extend([
        json!({
            "id": "promo-cart-complete", "kind": "promotion", "placements": ["promo.banner", "checkout.flow"],
            "title": "Complete your order: free shipping today",
            "body": "Your picks are waiting. Check out in the next 24 hours and shipping is on us.",
            "link_url": "/cart", "image_url": "/img/promo-cart.svg",
            "targeting": {"stages": ["evaluation"], "condition": {"cartItems": {"$gt": 0}}, "priority": 20},
            "attributes": {"incentive": "free_shipping", "code": "SHIPFREE"}
        }),
        json!({
            "id": "promo-welcome", "kind": "promotion", "placements": ["promo.banner"],
            "title": "10% off your first order",
            "body": "New here? Sign up and take 10% off your first order.",
            "link_url": "/", "image_url": "/img/promo-welcome.svg",
            "targeting": {"stages": ["discovery", "evaluation"], "priority": 5, "max_impressions": 100000},
            "attributes": {"discount_percent": 10, "code": "WELCOME10"}
        }),
        json!({
            "id": "promo-loyalty", "kind": "promotion", "placements": ["promo.banner", "home.hero"],
            "title": "Members get double points this month",
            "body": "Thanks for coming back: every order earns double loyalty points until the end of the month.",
            "link_url": "/", "image_url": "/img/promo-loyalty.svg",
            "targeting": {"stages": ["repeat"], "condition": {"orders": {"$gte": 2}}, "priority": 15,
                           "start_at": at(-20), "end_at": at(30)},
            "attributes": {"points_multiplier": 2}
        }),
        json!({
            "id": "promo-winback", "kind": "promotion", "placements": ["promo.banner"],
            "title": "We miss you: 15% off",
            "body": "It has been a while. Here is 15% off anything in the store.",
            "link_url": "/", "image_url": "/img/promo-winback.svg",
            "targeting": {"stages": ["at-risk", "lapsed"], "priority": 10},
            "attributes": {"discount_percent": 15, "code": "COMEBACK15"}
        }),
        // Aimed at predictions: they apply once a model version is trained (`tailor train`).
        json!({
            "id": "promo-second-thoughts", "kind": "promotion", "placements": ["promo.banner"],
            "title": "Still deciding? Shipping is on us",
            "body": "Free shipping on this order, today only.",
            "link_url": "/cart", "image_url": "/img/promo-cart.svg",
            "targeting": {"condition": {"cartItems": {"$gt": 0},
                                         "predictions.purchase_intent_session": {"$gte": 0.05, "$lt": 0.3}},
                           "priority": 18},
            "attributes": {"incentive": "free_shipping", "code": "DECIDE"}
        }),
        json!({
            "id": "promo-churn-save", "kind": "promotion", "placements": ["promo.banner"],
            "title": "Something new for you: 20% off",
            "body": "A thank-you for shopping with us: 20% off your next order.",
            "link_url": "/", "image_url": "/img/promo-winback.svg",
            "targeting": {"condition": {"predictions.churn_risk": {"$gt": 0.5}}, "priority": 16},
            "attributes": {"discount_percent": 20, "code": "STAY20"}
        }),
        json!({
            "id": "promo-winter-clearance", "kind": "promotion", "placements": ["promo.banner"],
            "title": "Winter clearance: up to 40% off",
            "body": "Last chance on winter jackets and boots.",
            "link_url": "/c/men/jackets", "image_url": "/img/promo-clearance.svg",
            "targeting": {"categories": ["Men/Jackets", "Women/Shoes"], "priority": 8,
                           "start_at": at(-45), "end_at": at(-5)},
            "attributes": {"discount_percent": 40}
        }),
        json!({
            "id": "promo-spring-preview", "kind": "promotion", "placements": ["promo.banner", "home.hero"],
            "title": "Spring preview",
            "body": "First look at the new season, for members only.",
            "link_url": "/c/women", "image_url": "/img/promo-spring.svg",
            "targeting": {"categories": ["Women", "Men"], "priority": 12,
                           "start_at": at(3), "end_at": at(33)},
        }),
        json!({
            "id": "msg-free-returns", "kind": "message", "placements": ["checkout.flow"],
            "title": "Free returns within 30 days",
            "body": "Changed your mind? Send it back free of charge within 30 days."
        }),
        json!({
            "id": "msg-gift-wrap", "kind": "message", "placements": ["checkout.flow"],
            "title": "Gift wrapping available",
            "body": "Add gift wrapping at checkout for $4.99.",
            "targeting": {"categories": ["Beauty/Fragrance", "Electronics/Wearables", "Women/Handbags"]}
        }),
    ]);
    items.extend(navigation());
    items
}

fn hero_banners() -> Vec<Value> {
    let mut items: Vec<Value> = TREE
        .iter()
        .map(|top| {
            json!({
                "id": format!("hero-{}", top.slug), "kind": "banner", "placements": ["home.hero"],
                "title": top.hero.0, "body": top.hero.1,
                "image_url": format!("/img/hero-{}.svg", top.slug),
                "link_url": format!("/c/{}", top.slug),
                "targeting": {"categories": [top.name], "priority": 10},
                "attributes": {"department": top.name}
            })
        })
        .collect();
    items.push(json!({
        "id": "hero-default", "kind": "banner", "placements": ["home.hero"],
        "title": "Welcome to Tailor Outfitters",
        "body": "Clothing, home, beauty, sports and tech in one place.",
        "image_url": "/img/hero-default.svg", "link_url": "/",
        "targeting": {"priority": 0}
    }));
    items
}

/// One running offer per department, staggered so a few start or end mid-demo.
fn category_offers(catalog: &Catalog, now: Millis) -> Vec<Value> {
    TREE.iter()
        .enumerate()
        .map(|(i, top)| {
            let (leaf, discount) = top.offer;
            let path = catalog
                .leaf_index(top.name, leaf)
                .map_or_else(|| top.name.to_string(), |l| catalog.leaf_path(l).to_string());
            let start = now - (14 + 3 * i as i64) * DAY;
            let end = now + (7 + 4 * i as i64) * DAY + 12 * HOUR;
            json!({
                "id": format!("promo-{}-offer", top.slug), "kind": "promotion", "placements": ["promo.banner"],
                "title": format!("{discount}% off {}", leaf.to_lowercase()),
                "body": format!("This week only: {discount}% off {} in {}.", leaf.to_lowercase(), top.name),
                "image_url": format!("/img/promo-{}.svg", top.slug),
                "link_url": format!("/c/{}/{}", top.slug, leaf.to_lowercase()),
                "targeting": {"categories": [path], "priority": 5,
                               "start_at": format_timestamp(start), "end_at": format_timestamp(end)},
                "attributes": {"discount_percent": discount, "code": format!("{}{discount}", top.slug.to_uppercase())}
            })
        })
        .collect()
}

fn navigation() -> Vec<Value> {
    TREE.iter()
        .enumerate()
        .map(|(position, top)| {
            let children: Vec<Value> = top
                .leaves
                .iter()
                .map(|l| {
                    json!({
                        "name": l.name,
                        "category": format!("{}/{}", top.name, l.name),
                        "url": format!("/c/{}/{}", top.slug, l.name.to_lowercase()),
                    })
                })
                .collect();
            json!({
                "id": format!("nav-{}", top.slug), "kind": "navigation", "placements": ["nav.categories"],
                "title": top.name, "link_url": format!("/c/{}", top.slug),
                "targeting": {"categories": [top.name]},
                "attributes": {"position": position, "children": children}
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use tailor_core::{ContentItem, Product};

    use super::*;

    #[test]
    fn the_tree_has_at_least_twenty_leaves_in_two_levels() {
        let leaves = leaves();
        assert!(leaves.len() >= 20, "{} leaves", leaves.len());
        assert!(TREE.len() >= 6);
        for l in &leaves {
            assert_eq!(l.path.split('/').count(), 2, "{}", l.path);
        }
        for top in TREE {
            assert!(top.brands.len() >= 3, "{} has too few brands", top.name);
            assert!(top.leaves.iter().any(|l| l.name == top.offer.0));
        }
    }

    #[test]
    fn every_leaf_has_two_follow_ons_that_exist_and_differ_from_it() {
        let catalog = Catalog::generate(1, 28);
        for leaf in 0..catalog.leaves.len() {
            let next = catalog.follow_ons(leaf);
            assert_eq!(next.len(), 2, "{}", catalog.leaf_path(leaf));
            assert!(!next.contains(&leaf) && next[0] != next[1]);
        }
    }

    #[test]
    fn every_product_and_content_item_passes_the_catalog_validation() {
        let catalog = Catalog::generate(42, 1_200);
        assert!(catalog.by_leaf.iter().all(|l| !l.is_empty()));
        let mut out_of_stock = 0;
        for value in catalog.products_json() {
            let p = Product::from_json(value.clone()).unwrap_or_else(|e| panic!("{e}: {value}"));
            out_of_stock += usize::from(!p.in_stock());
        }
        assert!(out_of_stock > 0 && out_of_stock < 200, "{out_of_stock}");
        let content = content(&catalog, 1_800_000_000_000);
        assert!(content.len() >= 12);
        for value in content {
            ContentItem::from_json(value.clone()).unwrap_or_else(|e| panic!("{e}: {value}"));
        }
    }

    #[test]
    fn product_names_are_unique_and_urls_are_storefront_pages() {
        let catalog = Catalog::generate(42, 1_200);
        let names: std::collections::BTreeSet<&str> =
            catalog.products.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names.len(), catalog.products.len());
        let p = &catalog.products[0];
        assert_eq!(p.url(), format!("/p/{}", p.id));
        assert_eq!(p.image_url(), format!("/img/{}.svg", p.id));
    }

    #[test]
    fn same_seed_same_catalog() {
        let a = Catalog::generate(7, 100).products_json();
        let b = Catalog::generate(7, 100).products_json();
        let c = Catalog::generate(8, 100).products_json();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
