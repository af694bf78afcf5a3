"""The demo's region: Guizhou's prefectures, real attractions (where, how entered, how
big, how popular), travellers' home regions, and the review and complaint texts."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Shanghai")
REGION = ("CN-GZ", "Guizhou")
PREFECTURES = (
    ("CN-GZ-GY", "Guiyang"),
    ("CN-GZ-AS", "Anshun"),
    ("CN-GZ-QDN", "Qiandongnan"),
    ("CN-GZ-QN", "Qiannan"),
    ("CN-GZ-TR", "Tongren"),
    ("CN-GZ-ZY", "Zunyi"),
    ("CN-GZ-BJ", "Bijie"),
    ("CN-GZ-QXN", "Qianxinan"),
    ("CN-GZ-LPS", "Liupanshui"),
)

# home regions of travellers, weighted (Guizhou itself first, then the big source markets)
HOMES: tuple[tuple[str, float], ...] = (
    ("CN-GZ", 30),
    ("CN-44", 12),
    ("CN-50", 9),
    ("CN-51", 9),
    ("CN-53", 6),
    ("CN-43", 5),
    ("CN-11", 5),
    ("CN-31", 5),
    ("CN-32", 4),
    ("CN-33", 4),
    ("HK", 2),
    ("TW", 1.5),
    ("KR", 1.2),
    ("JP", 0.8),
    ("US", 0.8),
    ("GB", 0.5),
    ("FR", 0.4),
)


@dataclass(frozen=True)
class Attraction:
    """A real attraction: where it is, how it is entered, how popular and how long a visit is."""

    key: str
    name: str
    region: str
    lat: float
    lon: float
    kind: str
    gated: bool
    requires_booking: bool
    entry_rule: str
    real_capacity_instant: int  # the real-world order of magnitude (people inside at once)
    real_capacity_daily: int
    popularity: float
    dwell_hours: tuple[float, float]
    gates: int = 1


ATTRACTIONS: tuple[Attraction, ...] = (
    Attraction(
        "hgs",
        "Huangguoshu Waterfall",
        "CN-GZ-AS",
        25.992,
        105.667,
        "waterfall",
        True,
        True,
        "single",
        25_000,
        60_000,
        10,
        (2.5, 4.5),
        gates=2,
    ),
    Attraction(
        "xj",
        "Xijiang Thousand-Household Miao Village",
        "CN-GZ-QDN",
        26.497,
        108.173,
        "ethnic_village",
        False,
        False,
        "daily:1",
        20_000,
        50_000,
        8,
        (2.0, 5.0),
    ),
    Attraction(
        "fjs",
        "Fanjingshan",
        "CN-GZ-TR",
        27.918,
        108.694,
        "mountain",
        True,
        True,
        "single",
        8_000,
        20_000,
        7,
        (4.0, 7.0),
        gates=2,
    ),
    Attraction(
        "libo",
        "Libo Xiaoqikong",
        "CN-GZ-QN",
        25.261,
        107.731,
        "karst_forest",
        True,
        False,
        "single",
        15_000,
        40_000,
        7,
        (3.0, 5.0),
    ),
    Attraction(
        "qy",
        "Qingyan Ancient Town",
        "CN-GZ-GY",
        26.331,
        106.680,
        "ancient_town",
        False,
        False,
        "daily:1",
        15_000,
        40_000,
        8,
        (1.5, 3.0),
    ),
    Attraction(
        "zy",
        "Zhenyuan Ancient Town",
        "CN-GZ-QDN",
        27.049,
        108.423,
        "ancient_town",
        False,
        False,
        "daily:1",
        12_000,
        30_000,
        5,
        (2.0, 4.0),
    ),
    Attraction(
        "jxl",
        "Jiaxiu Pavilion",
        "CN-GZ-GY",
        26.573,
        106.714,
        "landmark",
        True,
        False,
        "reentry",
        2_000,
        10_000,
        6,
        (0.5, 1.2),
    ),
    Attraction(
        "ql",
        "Qianling Park",
        "CN-GZ-GY",
        26.602,
        106.700,
        "park",
        True,
        False,
        "reentry",
        10_000,
        30_000,
        6,
        (1.0, 3.0),
    ),
    Attraction(
        "zj",
        "Zhijin Cave",
        "CN-GZ-BJ",
        26.667,
        105.927,
        "cave",
        True,
        False,
        "single",
        3_000,
        8_000,
        4,
        (2.0, 3.0),
    ),
    Attraction(
        "ml",
        "Maling River Canyon",
        "CN-GZ-QXN",
        25.144,
        104.950,
        "canyon",
        True,
        False,
        "single",
        4_000,
        10_000,
        3,
        (1.5, 3.0),
    ),
    Attraction(
        "wfl",
        "Wanfenglin",
        "CN-GZ-QXN",
        25.041,
        104.952,
        "karst_forest",
        True,
        False,
        "single",
        6_000,
        15_000,
        3,
        (2.0, 3.5),
    ),
    Attraction(
        "cs",
        "Chishui Danxia",
        "CN-GZ-ZY",
        28.430,
        105.955,
        "geopark",
        True,
        False,
        "single",
        6_000,
        15_000,
        4,
        (2.5, 4.5),
    ),
)

REVIEW_TEXTS = {
    5: ("Breathtaking, worth the trip.", "Wonderful day, well organised entry."),
    4: ("Beautiful, a bit crowded at noon.", "Very nice; arrive early."),
    3: ("Nice but queues at the gate.", "OK, signage could be better."),
    2: ("Too crowded, long waits.", "Overpriced shuttle."),
    1: ("Disappointing visit.",),
}
COMPLAINTS = (
    ("crowding", "The queue at the entrance took over an hour."),
    ("service", "Staff at the shuttle stop were not helpful."),
    ("cleanliness", "Toilets near the main path were dirty."),
    ("price", "Parking price was not shown anywhere."),
    ("safety", "A railing on the lower path is loose."),
)

ATTRACTION_BY_KEY = {a.key: a for a in ATTRACTIONS}
