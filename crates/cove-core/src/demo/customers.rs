//! Demo members: Chinese names, unique mainland mobile numbers, cities by
//! population, join channels like the case, and the network they joined through.

use super::calendar::Calendar;
use super::network::Network;
use crate::clock::{Micros, DAY};
use rand::distributions::{Distribution, WeightedIndex};
use rand::Rng;

/// Common surnames with rough relative frequencies.
#[rustfmt::skip]
const SURNAMES: &[(&str, u32)] = &[
    ("王", 72), ("李", 70), ("张", 66), ("刘", 53), ("陈", 47), ("杨", 32), ("黄", 25),
    ("赵", 21), ("吴", 20), ("周", 19), ("徐", 16), ("孙", 15), ("马", 15), ("朱", 14),
    ("胡", 13), ("郭", 12), ("何", 12), ("林", 11), ("高", 11), ("罗", 10), ("郑", 10),
    ("梁", 9), ("谢", 8), ("宋", 8), ("唐", 8), ("许", 7), ("韩", 7), ("冯", 7), ("邓", 7),
    ("曹", 7), ("彭", 6), ("曾", 6), ("肖", 6), ("田", 6), ("董", 5), ("袁", 5), ("潘", 5),
    ("于", 5), ("蒋", 5), ("蔡", 5), ("余", 5), ("杜", 4), ("叶", 4), ("程", 4), ("苏", 4),
    ("魏", 4), ("吕", 4), ("丁", 4), ("任", 4), ("沈", 4), ("姚", 3), ("卢", 3), ("姜", 3),
    ("崔", 3), ("钟", 3), ("谭", 3), ("陆", 3), ("汪", 3), ("范", 3), ("金", 3), ("石", 3),
    ("廖", 3), ("贾", 3), ("夏", 3), ("韦", 3), ("方", 3), ("白", 2), ("邹", 2), ("孟", 2),
    ("熊", 2), ("秦", 2), ("邱", 2), ("江", 2), ("尹", 2), ("薛", 2), ("欧阳", 1), ("司马", 1),
];

/// Characters common in given names.
#[rustfmt::skip]
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛",
    "明", "超", "秀", "霞", "平", "刚", "桂", "英", "华", "玉", "文", "辉", "建", "鹏", "宇",
    "浩", "然", "子", "轩", "梓", "涵", "欣", "怡", "思", "雨", "晨", "博", "嘉", "佳", "俊",
    "睿", "泽", "宁", "琳", "婷", "雪", "晓", "悦", "诗", "一", "可", "心", "志", "海", "峰",
    "亮", "斌", "飞", "凯", "昊", "天", "瑞", "航", "毅", "晶", "颖", "倩", "慧", "璐", "蕾",
    "楠", "鑫", "彤", "萱", "阳", "振", "国", "东", "晖", "琪", "妍", "铭", "哲", "逸", "安",
];

/// Cities with rough weights (urban population, leaning to where computers sell).
#[rustfmt::skip]
pub const CITIES: &[(&str, u32)] = &[
    ("上海", 24), ("北京", 22), ("深圳", 18), ("广州", 19), ("成都", 17), ("重庆", 16),
    ("杭州", 12), ("武汉", 12), ("西安", 12), ("南京", 9), ("天津", 11), ("苏州", 11),
    ("郑州", 10), ("长沙", 9), ("东莞", 9), ("青岛", 8), ("沈阳", 8), ("宁波", 8),
    ("昆明", 7), ("合肥", 8), ("佛山", 8), ("济南", 8), ("福州", 7), ("厦门", 5),
    ("大连", 6), ("哈尔滨", 8), ("长春", 7), ("石家庄", 8), ("南昌", 6), ("南宁", 7),
    ("贵阳", 6), ("太原", 5), ("无锡", 6), ("温州", 6), ("泉州", 6), ("乌鲁木齐", 4),
    ("兰州", 4), ("海口", 3), ("呼和浩特", 3), ("银川", 2), ("西宁", 2), ("拉萨", 1),
];

/// How members joined, weighted like the case: most through the Mini Program
/// store, many by scanning the QR code on their computer.
pub const JOIN_CHANNELS: &[(&str, u32)] = &[
    ("mini_program", 40),
    ("service_account", 17),
    ("device_qr", 12),
    ("wecom", 11),
    ("offline_store", 13),
    ("reseller", 7),
];

/// Mobile prefixes of the three mainland carriers.
#[rustfmt::skip]
const PHONE_PREFIXES: &[u32] = &[
    134, 135, 136, 137, 138, 139, 147, 150, 151, 152, 157, 158, 159, 178, 182, 183, 184, 187,
    188, 198, 130, 131, 132, 155, 156, 166, 175, 176, 185, 186, 133, 153, 173, 177, 180, 181,
    189, 191, 199,
];

/// What a member is likely to buy: 0 everyday/office, 1 gamer, 2 creator/professional.
const PERSONAS: [u32; 3] = [44, 33, 23];

/// A member being generated, before their purchases settle tier and points.
pub struct Draft {
    pub id: String,
    pub member_no: String,
    pub name: String,
    pub phone: String,
    pub city: &'static str,
    pub joined_channel: &'static str,
    pub store: Option<usize>,
    pub staff_id: Option<String>,
    pub birthday: Option<String>,
    pub joined_at: Micros,
    pub persona: usize,
    pub buyer: bool,
}

pub struct Pickers {
    surnames: WeightedIndex<u32>,
    cities: WeightedIndex<u32>,
    channels: WeightedIndex<u32>,
    personas: WeightedIndex<u32>,
    /// Own stores (not reseller ones) and reseller stores, by index into the network.
    own_stores: Vec<usize>,
    reseller_stores: Vec<usize>,
    phone_key: [u64; 4],
}

impl Pickers {
    pub fn new(network: &Network, seed: u64) -> anyhow::Result<Self> {
        let mut key = [0u64; 4];
        let mut x = seed ^ 0x9E37_79B9_7F4A_7C15;
        for k in &mut key {
            x = splitmix(x);
            *k = x;
        }
        Ok(Self {
            surnames: WeightedIndex::new(SURNAMES.iter().map(|s| s.1))?,
            cities: WeightedIndex::new(CITIES.iter().map(|c| c.1))?,
            channels: WeightedIndex::new(JOIN_CHANNELS.iter().map(|c| c.1))?,
            personas: WeightedIndex::new(PERSONAS)?,
            own_stores: network.own_stores(),
            reseller_stores: network.reseller_stores(),
            phone_key: key,
        })
    }

    pub fn city(&self, rng: &mut impl Rng) -> &'static str {
        CITIES[self.cities.sample(rng)].0
    }

    /// A store of the given kind, preferring one in `city`.
    pub fn store(
        &self,
        network: &Network,
        reseller: bool,
        city: &str,
        rng: &mut impl Rng,
    ) -> Option<usize> {
        let pool = if reseller {
            &self.reseller_stores
        } else {
            &self.own_stores
        };
        let local: Vec<usize> = pool
            .iter()
            .copied()
            .filter(|i| network.stores[*i].city == city)
            .collect();
        if !local.is_empty() && rng.gen_bool(0.85) {
            return Some(local[rng.gen_range(0..local.len())]);
        }
        if pool.is_empty() {
            None
        } else {
            Some(pool[rng.gen_range(0..pool.len())])
        }
    }

    /// The `i`-th member's mobile number: a carrier prefix and eight digits
    /// from a keyed permutation of `i`, so numbers never repeat (below 10^8 members).
    pub fn phone(&self, i: u64, rng: &mut impl Rng) -> String {
        let prefix = PHONE_PREFIXES[rng.gen_range(0..PHONE_PREFIXES.len())];
        format!("{prefix}{:08}", permute_1e8(i, &self.phone_key))
    }
}

/// Generates member `i` of `n`: members are numbered in joining order.
pub fn draft(
    i: usize,
    n: usize,
    pickers: &Pickers,
    network: &Network,
    calendar: &Calendar,
    rng: &mut impl Rng,
) -> Draft {
    let surname = SURNAMES[pickers.surnames.sample(rng)].0;
    let mut name = String::with_capacity(9);
    name.push_str(surname);
    name.push_str(GIVEN[rng.gen_range(0..GIVEN.len())]);
    if rng.gen_bool(0.72) {
        name.push_str(GIVEN[rng.gen_range(0..GIVEN.len())]);
    }
    let phone = pickers.phone(i as u64, rng);
    let joined_channel = JOIN_CHANNELS[pickers.channels.sample(rng)].0;
    let mut city = pickers.city(rng);
    let in_store = matches!(joined_channel, "offline_store" | "reseller");
    let mut store = None;
    let mut staff_id = None;
    match joined_channel {
        "offline_store" | "reseller" => {
            store = pickers.store(network, joined_channel == "reseller", city, rng);
            if let Some(s) = store {
                let s = &network.stores[s];
                if rng.gen_bool(0.9) {
                    city = s.city;
                }
                staff_id = network.staff_at(s, rng.gen_bool(0.6));
            }
        }
        "wecom" => {
            // Added by a store's WeCom salesperson.
            if let Some((user, at)) = &network.store_staff {
                if rng.gen_bool(0.8) {
                    staff_id = Some(user.clone());
                    store = Some(*at);
                }
            }
        }
        _ => {}
    }
    let joined_at = calendar.join_time((i as f64 + rng.gen::<f64>()) / n as f64, in_store, rng);
    let birthday = rng.gen_bool(0.85).then(|| birthday(joined_at, rng));
    let persona = pickers.personas.sample(rng);
    let buyer = rng.gen_bool(match joined_channel {
        "offline_store" | "reseller" => 1.0,
        "wecom" => 0.62,
        "mini_program" => 0.56,
        "device_qr" => 0.3,
        _ => 0.36,
    });
    Draft {
        id: crate::db::new_id(),
        member_no: format!("AUR{:08}", i + 1),
        name,
        phone,
        city,
        joined_channel,
        store,
        staff_id,
        birthday,
        joined_at,
        persona,
        buyer,
    }
}

/// A birthday for an adult of a plausible age for a computer buyer.
fn birthday(joined_at: Micros, rng: &mut impl Rng) -> String {
    let age_years: i64 = match rng.gen_range(0..100) {
        0..=24 => rng.gen_range(18..25),
        25..=64 => rng.gen_range(25..35),
        65..=86 => rng.gen_range(35..45),
        _ => rng.gen_range(45..61),
    };
    let born = joined_at - age_years * 365 * DAY - rng.gen_range(0..365) * DAY;
    super::calendar::local_date(born)
        .format("%Y-%m-%d")
        .to_string()
}

/// Member tier from completed spend (growth value), in yuan.
pub fn tier(spend_yuan: i64) -> &'static str {
    match spend_yuan {
        s if s >= 40_000 => "diamond",
        s if s >= 15_000 => "gold",
        s if s >= 7_000 => "silver",
        _ => "regular",
    }
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A keyed bijection on 0..10^8: a four-round Feistel network over two
/// halves of four decimal digits.
fn permute_1e8(i: u64, key: &[u64; 4]) -> u64 {
    const HALF: u64 = 10_000;
    let (mut left, mut right) = ((i / HALF) % HALF, i % HALF);
    for k in key {
        let f = splitmix(right ^ k) % HALF;
        (left, right) = (right, (left + f) % HALF);
    }
    left * HALF + right
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_suffixes_never_repeat() {
        let key = [1, 2, 3, 4];
        let mut seen = std::collections::HashSet::new();
        for i in 0..200_000 {
            let p = permute_1e8(i, &key);
            assert!(p < 100_000_000);
            assert!(seen.insert(p), "repeat at {i}");
        }
    }

    #[test]
    fn tiers_rise_with_spend() {
        assert_eq!(tier(0), "regular");
        assert_eq!(tier(8_000), "silver");
        assert_eq!(tier(20_000), "gold");
        assert_eq!(tier(60_000), "diamond");
    }
}
