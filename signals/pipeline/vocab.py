"""Vocabularies of the pipeline, as plain data.

Terms are lower-case; words are matched whole, a space in a term also matches a
hyphen or any punctuation between words ("bab el-mandeb" = "bab el mandeb").
A trailing "(s)" or "(es)" adds the plural spelling under the same canonical
term. ``text.py`` compiles all of this once, at import.

Where several terms overlap, the longest phrase wins: "customs" inside
"Immigration and Customs Enforcement" is part of a name and counts for nothing.
"""

from __future__ import annotations

from .types import Category, SignalType

# --- Off-topic markets: matched in the question/title (and source tags) only.
# Team names that contain a risk word ("Carolina Hurricanes", "Colorado
# Avalanche") are listed so that they read as sport, never as weather.
SPORTS_ENTERTAINMENT_BLOCKLIST: tuple[str, ...] = (
    "sport(s)", "nba", "nfl", "nhl", "mlb", "mls", "wnba", "ncaa", "fifa", "uefa",
    "world cup", "super bowl", "stanley cup", "nba finals", "premier league",
    "champions league", "europa league", "la liga", "serie a", "bundesliga",
    "ligue 1", "euro 2024", "euro 2028", "copa america", "olympic(s)",
    "olympic games", "wimbledon", "us open", "french open", "australian open",
    "grand slam", "tennis", "golf", "pga", "masters tournament", "ufc", "boxing",
    "formula 1", "f1", "grand prix", "nascar", "playoff(s)", "mvp", "touchdown",
    "quarterback", "heisman", "halftime", "halftime show", "grammy", "grammys",
    "oscar(s)", "academy awards", "emmy", "emmys", "golden globe(s)", "album(s)",
    "box office", "billboard", "eurovision", "esports", "tiktok", "youtube",
    "mrbeast", "reality show", "bachelor", "love island",
    # Crypto prices and launches: not the analyst's business (a regulator's case on them is).
    "bitcoin", "btc", "ethereum", "eth", "solana", "dogecoin", "memecoin(s)", "meme coin(s)",
    "crypto", "cryptocurrency", "cryptocurrencies", "airdrop(s)", "nft(s)", "fdv", "stablecoin(s)",
    "carolina hurricanes", "miami hurricanes", "colorado avalanche",
    "tampa bay lightning", "seattle storm", "oklahoma city thunder",
    "houston rockets", "winnipeg jets", "new york jets", "miami heat",
    "golden state warriors", "houston oilers", "edmonton oilers", "calgary flames",
)

# --- Terms that several tables below share.
# Courts and regulators deciding on an industry: regulatory risk, and strong terms.
COURT_AND_REGULATOR_TERMS: tuple[str, ...] = (
    "supreme court", "federal court", "appeals court", "court of appeals", "court ruling",
    "regulator(s)", "regulatory", "antitrust", "cftc", "commodity futures trading commission",
    "securities and exchange commission", "federal trade commission", "federal jurisdiction",
)
# Who holds national power, and what a government decides.
POLITICAL_TERMS: tuple[str, ...] = (
    "election(s)", "presidential election(s)", "general election(s)", "parliamentary election(s)",
    "national election(s)", "federal election(s)", "snap election(s)", "midterm(s)",
    "midterm election(s)", "presidency", "us president", "president of the united states",
    "out as president", "out as prime minister", "out as chancellor", "prime minister", "chancellor",
    "head of state", "head of government", "general secretary", "parliament", "congress",
    "senate", "house of representatives", "legislature", "ruling coalition", "coalition government",
    "government collapse", "no confidence", "impeachment", "impeach", "impeached",
    "removed from power", "deport", "deports", "deported", "deportation(s)", "mass deportation(s)",
    "executive order(s)", "government shutdown", "win the house", "win the senate",
    "control the house", "control of the house", "control the senate", "control of the senate",
    "control of congress", "house majority", "senate majority", "balance of power",
)
# Growth, prices and what central banks decide.
MACRO_TERMS: tuple[str, ...] = (
    "gdp", "gdp growth", "recession", "interest rate(s)", "rate cut(s)", "rate hike(s)",
    "rate decision(s)", "central bank", "monetary policy", "inflation", "default on its debt",
    "debt ceiling",
)
# A plant that stops making things.
PRODUCTION_HALT_TERMS: tuple[str, ...] = (
    "production halt(s)", "halts production", "halted production", "halt production",
    "production halted", "production stop(s)", "stops production", "stopped production",
    "production suspended", "suspends production", "suspended production",
)

# --- The six risk categories of semantic_relevance.
RISK_CATEGORIES: dict[str, tuple[str, ...]] = {
    "geopolitical": (
        "war(s)", "warfare", "invasion(s)", "invade", "invades", "invaded", "invading",
        "military", "missile(s)", "airstrike(s)", "air strike(s)", "drone strike(s)",
        "military strike(s)", "bombing(s)", "troops", "armed conflict", "conflict(s)",
        "hostilities", "ceasefire(s)", "cease fire", "truce", "armistice",
        "peace deal", "peace talks", "peace agreement", "coup", "insurgency",
        "terrorist attack(s)", "terrorism", "annexation", "annex", "naval blockade",
        "blockade(s)", "houthi(s)", "hezbollah", "hamas", "nato", "nuclear weapon(s)",
        "martial law", "escalation", "geopolitical", "territorial dispute",
    ),
    "shipping": (
        "shipping", "shipment(s)", "freight", "cargo", "container ship(s)",
        "containership(s)", "vessel(s)", "tanker(s)", "maritime", "seaport(s)",
        "port(s)", "canal", "strait", "shipping lane(s)", "sea lane(s)",
        "trade route(s)", "shipping route(s)", "chokepoint(s)", "piracy", "pirates",
        "suez", "suez canal", "red sea", "bab el mandeb", "bab al mandab", "hormuz",
        "strait of hormuz", "malacca", "strait of malacca", "panama canal",
        "bosphorus", "bosporus", "gibraltar", "strait of gibraltar", "taiwan strait",
        "logistics", "supply chain(s)", "container rates", "freight rates",
    ),
    "energy": (
        "oil", "crude", "crude oil", "brent", "wti", "natural gas", "lng", "opec",
        "pipeline(s)", "refinery", "refineries", "petroleum", "gasoline", "diesel",
        "fuel", "jet fuel", "power grid", "blackout(s)", "power outage(s)",
        "electricity", "energy", "gas price(s)", "oil price(s)", "barrel(s)",
        "nuclear plant(s)", "power plant(s)", "nord stream", "coal",
    ),
    "labor": (
        "strike(s)", "striking", "walkout(s)", "lockout(s)", "work stoppage(s)",
        "industrial action", "labor dispute(s)", "labour dispute(s)", "labor",
        "labour", "union(s)", "labor union(s)", "trade union(s)", "dockworkers",
        "dock workers", "longshoremen", "longshore", "teamsters", "ilwu",
        "collective bargaining",
    ),
    "climate": (
        "hurricane(s)", "typhoon(s)", "cyclone(s)", "tropical storm(s)", "storm(s)",
        "flood(s)", "flooding", "drought(s)", "wildfire(s)", "heatwave(s)",
        "heat wave(s)", "earthquake(s)", "tsunami(s)", "volcano", "volcanic eruption",
        "el nino", "la nina", "extreme weather", "blizzard(s)", "climate",
        "natural disaster(s)", "landslide(s)",
    ),
    "regulatory": (
        "tariff(s)", "sanction(s)", "sanctioned", "embargo(es)", "export control(s)",
        "export ban(s)", "import ban(s)", "trade war(s)", "trade deal(s)",
        "trade agreement(s)", "trade policy", "trade restriction(s)", "customs",
        "customs duties", "anti dumping", "countervailing duties", "wto", "quota(s)",
        "import duties", "export duties", "regulation(s)", "price cap",
        *COURT_AND_REGULATOR_TERMS,
    ),
    # Political and policy risk. Counted only when the text names a major economy (or its
    # leader or central bank) and is not about a party's internal race (CONDITIONAL_CATEGORIES).
    "political": POLITICAL_TERMS,
    "macro": MACRO_TERMS,
    # A halt, outage, fire, explosion, sabotage or arson counts only at a named facility (a
    # plant, port, mine, refinery, pipeline...): CONDITIONAL_CATEGORIES.
    "disruption": (
        *PRODUCTION_HALT_TERMS, "shutdown(s)", "shut down", "shuts down", "power cut(s)", "outage(s)",
        "fire at", "fire broke out", "caught fire", "factory fire", "plant fire", "refinery fire",
        "blaze", "explosion(s)", "blast", "sabotage", "sabotaged", "arson", "arson attack", "halts",
        "halted",
    ),
}

# Categories of RISK_CATEGORIES that count only under a condition on the whole text.
CONDITIONAL_CATEGORIES = ("political", "macro", "disruption")

# --- Facilities where an incident ("disruption") becomes a supply-chain disruption.
FACILITY_TERMS: tuple[str, ...] = (
    "plant(s)", "factory", "factories", "gigafactory", "gigafactories", "mine(s)", "refinery",
    "refineries", "pipeline(s)", "port(s)", "seaport(s)", "smelter(s)", "foundry", "foundries",
    "terminal(s)", "warehouse(s)", "assembly line(s)", "production line(s)", "oilfield(s)",
    "gas field(s)", "power station(s)", "power plant(s)", "chip plant(s)", "steel mill(s)",
)

# --- Major economies (the G20's members and the other economies among the world's twenty
# largest), named by country, demonym-free phrase, leader or central bank. Political and macro
# terms count only beside one of these.
MAJOR_ECONOMIES: dict[str, tuple[str, ...]] = {
    "United States": (
        # "US" in capitals is read from the raw text (text._US): lower-cased it is also "us".
        "united states", "u s", "usa", "america", "american", "federal reserve", "the fed",
        "fed", "white house", "trump", "donald trump", "biden", "joe biden",
    ),
    "China": ("china", "chinese", "beijing", "xi jinping", "ccp", "communist party of china", "pboc"),
    "Euro area": ("european union", "eurozone", "euro area", "european central bank", "ecb", "eu"),
    "Germany": ("germany", "german", "bundestag", "merz", "friedrich merz", "bundesbank"),
    "Japan": ("japan", "japanese", "bank of japan", "boj", "diet of japan"),
    "India": ("india", "indian", "modi", "narendra modi", "lok sabha", "reserve bank of india"),
    "United Kingdom": ("united kingdom", "uk", "britain", "british", "starmer", "bank of england"),
    "France": ("france", "french", "macron", "emmanuel macron", "national assembly"),
    "Italy": ("italy", "italian", "meloni"),
    "Canada": ("canada", "canadian", "carney", "bank of canada"),
    "Brazil": ("brazil", "brazilian", "lula"),
    "Russia": ("russia", "russian", "kremlin", "putin", "vladimir putin", "duma"),
    "South Korea": ("south korea", "korean", "seoul"),
    "Australia": ("australia", "australian"),
    "Mexico": ("mexico", "mexican", "sheinbaum"),
    "Spain": ("spain", "spanish"),
    "Indonesia": ("indonesia", "indonesian"),
    "Netherlands": ("netherlands", "dutch"),
    "Saudi Arabia": ("saudi arabia", "saudi"),
    "Turkey": ("turkey", "turkish", "erdogan"),
    "Switzerland": ("switzerland", "swiss"),
    "Argentina": ("argentina", "argentine", "milei"),
    "South Africa": ("south africa",),
    "Taiwan": ("taiwan", "taiwanese"),
}

# --- A party's internal race, or a city's or a state's, decides no national power: with one
# of these in the question, the "political" category does not count.
NOT_NATIONAL_TERMS: tuple[str, ...] = (
    "nomination", "nominee", "primary", "primaries", "caucus", "caucuses", "party leader",
    "leadership race", "leadership contest", "mayor", "mayoral", "governor", "gubernatorial",
    "city council", "state senate", "state house", "state legislature", "municipal",
    "local election(s)", "attorney general",
)

# --- A question about what someone will say, mention or post ("Will Trump say 'tariff'?")
# asks about words, not events: never relevant, whatever the words.
SPEECH_TERMS: tuple[str, ...] = (
    "say", "says", "said", "mention", "mentions", "mentioned", "utter", "endorse", "endorses",
    "endorsement",
)
# Posting is always about words: "Will Trump post about tariffs on Truth Social?"
SOCIAL_POST_TERMS: tuple[str, ...] = (
    "tweet", "tweets", "tweet about", "post about", "posts about", "truth social", "x post(s)",
)

# --- Strong risk terms: a question that carries one is never vetoed by the sports and
# entertainment blocklist (a court case or a regulator on sports betting, a sanction on a club).
STRONG_RISK_TERMS: tuple[str, ...] = (*COURT_AND_REGULATOR_TERMS, "embargo(es)", "export control(s)", "tariff(s)")

# --- Chokepoints: coordinates (lat, lon) and the terms that name them.
CHOKEPOINTS: dict[str, tuple[float, float, tuple[str, ...]]] = {
    "Bab el-Mandeb": (12.6, 43.3, ("bab el mandeb", "bab al mandab")),
    "Bosphorus": (41.1, 29.05, ("bosphorus", "bosporus", "turkish straits")),
    "Panama Canal": (9.1, -79.7, ("panama canal", "panama")),
    "Red Sea": (20.0, 38.0, ("red sea",)),
    "Strait of Gibraltar": (35.95, -5.6, ("gibraltar", "strait of gibraltar")),
    "Strait of Hormuz": (26.6, 56.3, ("hormuz", "strait of hormuz")),
    "Strait of Malacca": (2.5, 101.5, ("malacca", "strait of malacca")),
    "Suez Canal": (30.5, 32.3, ("suez", "suez canal")),
    "Taiwan Strait": (24.0, 119.0, ("taiwan strait",)),
}
PROXIMITY_KM = 500.0

# --- Places the geographic rule can locate (lat, lon): capitals and ports,
# matched whole-word; a place within PROXIMITY_KM of a chokepoint counts for it.
LOCATIONS: dict[str, tuple[float, float]] = {
    "taiwan": (25.03, 121.56), "taipei": (25.03, 121.56), "kaohsiung": (22.62, 120.30),
    "singapore": (1.29, 103.85), "malaysia": (3.14, 101.69), "kuala lumpur": (3.14, 101.69),
    "port klang": (3.00, 101.39), "egypt": (30.04, 31.24), "cairo": (30.04, 31.24),
    "port said": (31.26, 32.30), "ismailia": (30.60, 32.27), "yemen": (15.37, 44.19),
    "sanaa": (15.37, 44.19), "aden": (12.79, 45.02), "hodeidah": (14.80, 42.95),
    "djibouti": (11.59, 43.15), "jeddah": (21.49, 39.19), "oman": (23.59, 58.41),
    "muscat": (23.59, 58.41), "dubai": (25.20, 55.27), "united arab emirates": (24.45, 54.38),
    "uae": (24.45, 54.38), "bandar abbas": (27.18, 56.27), "istanbul": (41.01, 28.98),
    "panama city": (8.98, -79.52), "tangier": (35.76, -5.83), "morocco": (34.02, -6.84),
}

# --- Logistics terms of geographic_relevance, nine categories (about 140 terms).
LOGISTICS_TERMS: dict[str, tuple[str, ...]] = {
    "ports": (
        "port(s)", "seaport(s)", "harbor(s)", "harbour(s)", "terminal(s)",
        "container terminal(s)", "berth(s)", "dock(s)", "quay", "port congestion",
        "port closure(s)", "transshipment", "stevedore(s)", "port of los angeles",
        "port of long beach", "rotterdam", "antwerp", "shanghai", "shenzhen",
        "ningbo", "busan", "jebel ali",
    ),
    "shipping": (
        "shipping", "shipment(s)", "freight", "cargo", "container(s)", "vessel(s)",
        "tanker(s)", "bulk carrier(s)", "maritime", "fleet(s)", "charter rates",
        "freight rates", "container rates", "bunker fuel", "teu", "reefer",
        "shipowner(s)", "carrier(s)",
    ),
    "routes": (
        "red sea", "suez", "suez canal", "panama canal", "panama", "hormuz",
        "strait of hormuz", "malacca", "strait of malacca", "bosphorus", "bosporus",
        "gibraltar", "bab el mandeb", "bab al mandab", "taiwan strait", "cape of good hope",
        "strait", "canal", "shipping lane(s)", "sea lane(s)", "trade route(s)",
        "chokepoint(s)", "rerouting", "black sea", "english channel",
    ),
    "trade": (
        "tariff(s)", "customs", "customs duties", "export(s)", "import(s)",
        "exporter(s)", "importer(s)", "trade war(s)", "trade deal(s)",
        "trade agreement(s)", "trade deficit", "embargo(es)", "export control(s)",
        "supply chain(s)", "commodity", "commodities", "wto", "quota(s)",
    ),
    "energy": (
        "oil", "crude", "brent", "wti", "natural gas", "lng", "opec", "pipeline(s)",
        "refinery", "refineries", "petroleum", "fuel", "diesel", "gasoline", "barrel(s)",
        "energy", "power grid", "electricity",
    ),
    "geopolitical": (
        "sanction(s)", "blockade(s)", "war(s)", "invasion(s)", "invade", "invades",
        "invaded", "military", "missile(s)", "conflict(s)", "ceasefire(s)",
        "cease fire", "truce", "houthi(s)", "piracy", "pirates", "annexation",
        "escalation", "troops", "naval",
    ),
    "labor": (
        "strike(s)", "walkout(s)", "lockout(s)", "work stoppage(s)", "dockworkers",
        "dock workers", "longshoremen", "teamsters", "ilwu", "labor dispute(s)",
        "labour dispute(s)", "industrial action", "unions", "labor union(s)", "trade union(s)",
        "collective bargaining",
    ),
    "weather": (
        "hurricane(s)", "typhoon(s)", "cyclone(s)", "tropical storm(s)", "storm(s)",
        "flood(s)", "flooding", "drought(s)", "earthquake(s)", "tsunami(s)",
        "el nino", "la nina", "low water", "extreme weather",
    ),
    "infrastructure": (
        "railway(s)", "rail", "airport(s)", "bridge(s)", "warehouse(s)",
        "logistics", "infrastructure", "congestion", "bottleneck(s)", "highway(s)",
        "power plant(s)",
    ),
}
BONUS_LOGISTICS_CATEGORIES = ("geopolitical", "routes")

# --- Regions, by whole-word names; a country maps to its region(s).
REGIONS: dict[str, tuple[str, ...]] = {
    "Africa": (
        "africa", "african", "egypt", "nigeria", "south africa", "kenya", "ethiopia",
        "djibouti", "somalia", "sudan", "morocco", "algeria", "libya", "cape of good hope",
    ),
    "Americas": (
        "americas", "north america", "south america", "latin america",
        "central america", "united states", "u s", "usa", "canada", "mexico",
        "brazil", "argentina", "chile", "peru", "colombia", "venezuela", "panama",
        "panama canal",
    ),
    "Asia": (
        "asia", "asian", "southeast asia", "east asia", "taiwan", "taiwan strait",
        "japan", "south korea", "north korea", "korea", "vietnam", "philippines",
        "indonesia", "malaysia", "singapore", "malacca", "strait of malacca",
        "thailand", "china", "india",
    ),
    "Atlantic": ("atlantic", "north atlantic", "south atlantic"),
    "China": ("china", "chinese", "beijing", "shanghai", "shenzhen", "ningbo", "hong kong"),
    "Europe": (
        "europe", "european", "eu", "european union", "eurozone", "ukraine",
        "russia", "germany", "france", "netherlands", "rotterdam", "antwerp",
        "poland", "italy", "spain", "united kingdom", "uk", "britain",
        "bosphorus", "bosporus", "gibraltar", "english channel", "black sea", "baltic",
    ),
    "India": ("india", "indian", "new delhi", "mumbai"),
    "Mediterranean": ("mediterranean", "suez", "suez canal", "gibraltar", "strait of gibraltar"),
    "Middle East": (
        "middle east", "iran", "iraq", "israel", "gaza", "lebanon", "syria", "yemen",
        "saudi arabia", "qatar", "uae", "united arab emirates", "oman", "kuwait",
        "red sea", "hormuz", "strait of hormuz", "persian gulf", "bab el mandeb",
        "bab al mandab", "houthi(s)",
    ),
    "Pacific": ("pacific", "asia pacific", "south china sea", "east china sea"),
}

# --- Signal types: the type with most whole-word hits wins (ties by SignalType order).
SIGNAL_TYPE_PATTERNS: dict[SignalType, tuple[str, ...]] = {
    SignalType.GEOPOLITICAL_CONFLICT: (
        "war(s)", "warfare", "invasion(s)", "invade", "invades", "invaded", "invading",
        "military", "missile(s)", "airstrike(s)", "air strike(s)", "drone strike(s)",
        "military strike(s)", "bombing(s)", "troops", "armed conflict", "conflict(s)",
        "hostilities", "coup", "insurgency", "terrorist attack(s)", "terrorism",
        "annexation", "annex", "houthi(s)", "hezbollah", "hamas", "naval", "offensive",
    ),
    SignalType.GEOPOLITICAL_SANCTIONS: (
        "sanction(s)", "sanctioned", "embargo(es)", "export control(s)",
        "asset freeze", "blacklist", "blacklisted", "price cap", "entity list",
    ),
    SignalType.GEOPOLITICAL_DIPLOMATIC: (
        "ceasefire(s)", "cease fire", "truce", "armistice", "peace deal", "peace talks",
        "peace agreement", "treaty", "diplomatic", "diplomacy", "summit",
        "negotiation(s)", "normalization",
    ),
    SignalType.SUPPLY_CHAIN_DISRUPTION: (
        "supply chain(s)", "shortage(s)", "disruption(s)", "bottleneck(s)",
        "backlog(s)", "chip shortage", "rare earth(s)", "semiconductor(s)", *PRODUCTION_HALT_TERMS,
        "sabotage", "sabotaged", "arson", "arson attack", "explosion(s)", "factory", "gigafactory",
        "plant(s)",
    ),
    SignalType.SHIPPING_ROUTE_RISK: (
        "shipping", "shipping lane(s)", "sea lane(s)", "trade route(s)", "canal",
        "strait", "chokepoint(s)", "piracy", "pirates", "suez", "suez canal",
        "red sea", "hormuz", "strait of hormuz", "malacca", "strait of malacca",
        "panama canal", "bosphorus", "bosporus", "gibraltar", "taiwan strait",
        "bab el mandeb", "bab al mandab", "freight", "container ship(s)", "vessel(s)",
        "tanker(s)", "rerouting", "blockade(s)", "naval blockade",
    ),
    SignalType.PORT_OPERATIONS: (
        "port(s)", "seaport(s)", "terminal(s)", "container terminal(s)", "berth(s)",
        "dock(s)", "harbor(s)", "harbour(s)", "port congestion", "port closure(s)",
        "congestion",
    ),
    SignalType.ENERGY_SUPPLY: (
        "oil", "crude", "crude oil", "brent", "wti", "opec", "natural gas", "lng",
        "gasoline", "diesel", "fuel", "jet fuel", "petroleum", "oil price(s)",
        "gas price(s)", "barrel(s)", "energy", "coal",
    ),
    SignalType.ENERGY_INFRASTRUCTURE: (
        "pipeline(s)", "refinery", "refineries", "power grid", "blackout(s)",
        "power outage(s)", "power plant(s)", "nuclear plant(s)", "nord stream",
        "electricity", "energy infrastructure",
    ),
    SignalType.LABOR_DISRUPTION: (
        "strike(s)", "striking", "walkout(s)", "lockout(s)", "work stoppage(s)",
        "industrial action", "labor dispute(s)", "labour dispute(s)", "union(s)",
        "labor union(s)", "trade union(s)", "dockworkers", "dock workers",
        "longshoremen", "teamsters", "ilwu", "collective bargaining",
    ),
    SignalType.CLIMATE_EVENT: (
        "hurricane(s)", "typhoon(s)", "cyclone(s)", "tropical storm(s)", "storm(s)",
        "flood(s)", "flooding", "drought(s)", "wildfire(s)", "heatwave(s)",
        "heat wave(s)", "el nino", "la nina", "extreme weather", "blizzard(s)",
        "climate", "low water",
    ),
    SignalType.NATURAL_DISASTER: (
        "earthquake(s)", "tsunami(s)", "volcano", "volcanic eruption", "eruption",
        "landslide(s)", "natural disaster(s)",
    ),
    SignalType.REGULATORY_CHANGE: (
        "tariff(s)", "customs", "customs duties", "trade war(s)", "trade deal(s)",
        "trade agreement(s)", "trade policy", "trade restriction(s)", "import ban(s)",
        "export ban(s)", "anti dumping", "countervailing duties", "wto", "quota(s)",
        "import duties", "export duties", "regulation(s)", *COURT_AND_REGULATOR_TERMS,
    ),
    SignalType.POLITICAL_POLICY: (*POLITICAL_TERMS, *MACRO_TERMS),
}

NEGATIVE_IMPACT_WORDS: tuple[str, ...] = (
    "attack(s)", "ban(s)", "banned", "block", "blocked", "closure(s)", "closed",
    "collapse", "crisis", "damage", "decline", "delay(s)", "delayed", "disruption(s)",
    "escalation", "halt", "halted", "invasion", "loss(es)", "outage(s)", "shortage(s)",
    "shutdown", "suspend", "suspended", "threat(s)", "war",
)
POSITIVE_IMPACT_WORDS: tuple[str, ...] = (
    "agreement", "boost", "ceasefire", "deal", "easing", "expansion", "growth",
    "improve", "improvement", "peace", "recovery", "reopen", "reopened", "reopening",
    "resume", "resumed", "stabilize", "truce",
)

# --- Multi-word proper names: recognised as one unit and then ignored, so a
# word inside a name ("Customs", "Labor", "War") never counts on its own.
NEUTRAL_NAMES: tuple[str, ...] = (
    "immigration and customs enforcement", "u s immigration and customs enforcement",
    "customs and border protection", "u s customs and border protection",
    "bureau of customs and border protection", "border patrol",
    "department of homeland security", "homeland security",
    "department of labor", "bureau of labor statistics", "labor department",
    "labor party", "labour party", "labor day", "labour day", "national labor relations board",
    "department of energy", "department of war", "secretary of war", "war room",
    "state of the union", "soviet union", "european union", "african union",
    "credit union(s)", "union station", "american civil liberties union",
    "world trade center", "star wars", "war of the worlds", "world war z",
    "culture war(s)", "price war(s)", "console war(s)", "oil of olay", "pearl harbor",
    # "war" as a metaphor for competition is not armed conflict.
    "charging war(s)", "streaming war(s)", "bidding war(s)", "format war(s)", "talent war(s)",
    "browser war(s)", "cola war(s)", "flame war(s)", "war of words", "war chest", "chatbot war(s)",
    "ai war(s)", "smartphone war(s)", "subscription war(s)", "delivery war(s)", "fare war(s)",
    "energy drink(s)", "storm area 51", "trade desk", "port authority",
    "grand theft auto", "call of duty",
)

# --- Polymarket resolution boilerplate: a description sentence holding one of
# these markers is dropped whole before matching (URLs are dropped too). The
# "This market will resolve to Yes if <condition>" formula itself holds no
# vocabulary word, so the condition after it stays, at description weight.
BOILERPLATE_SENTENCE_MARKERS: tuple[str, ...] = (
    "resolution source", "otherwise, this market", "otherwise this market",
    "resolve to 50-50", "will be used for resolution", "for the purposes of this market",
)

# --- Classification outputs.
TYPE_CATEGORY: dict[SignalType, Category] = {
    SignalType.GEOPOLITICAL_CONFLICT: Category.GEOPOLITICAL,
    SignalType.GEOPOLITICAL_SANCTIONS: Category.GEOPOLITICAL,
    SignalType.GEOPOLITICAL_DIPLOMATIC: Category.GEOPOLITICAL,
    SignalType.SUPPLY_CHAIN_DISRUPTION: Category.ECONOMIC,
    SignalType.SHIPPING_ROUTE_RISK: Category.INFRASTRUCTURE,
    SignalType.PORT_OPERATIONS: Category.INFRASTRUCTURE,
    SignalType.ENERGY_SUPPLY: Category.ECONOMIC,
    SignalType.ENERGY_INFRASTRUCTURE: Category.INFRASTRUCTURE,
    SignalType.LABOR_DISRUPTION: Category.ECONOMIC,
    SignalType.CLIMATE_EVENT: Category.WEATHER,
    SignalType.NATURAL_DISASTER: Category.WEATHER,
    SignalType.REGULATORY_CHANGE: Category.REGULATORY,
    SignalType.POLITICAL_POLICY: Category.POLITICAL,
    SignalType.UNCLASSIFIED: Category.OTHER,
}
TYPE_DOMAINS: dict[SignalType, tuple[str, ...]] = {
    SignalType.GEOPOLITICAL_CONFLICT: ("energy", "logistics", "shipping", "trade"),
    SignalType.GEOPOLITICAL_SANCTIONS: ("energy", "finance", "trade"),
    SignalType.GEOPOLITICAL_DIPLOMATIC: ("energy", "logistics", "trade"),
    SignalType.SUPPLY_CHAIN_DISRUPTION: ("logistics", "manufacturing", "trade"),
    SignalType.SHIPPING_ROUTE_RISK: ("logistics", "shipping", "trade"),
    SignalType.PORT_OPERATIONS: ("logistics", "ports", "shipping"),
    SignalType.ENERGY_SUPPLY: ("energy", "shipping"),
    SignalType.ENERGY_INFRASTRUCTURE: ("energy", "infrastructure"),
    SignalType.LABOR_DISRUPTION: ("labor", "logistics", "ports"),
    SignalType.CLIMATE_EVENT: ("agriculture", "logistics", "shipping"),
    SignalType.NATURAL_DISASTER: ("infrastructure", "logistics"),
    SignalType.REGULATORY_CHANGE: ("customs", "trade"),
    SignalType.POLITICAL_POLICY: ("finance", "labor", "trade"),
    SignalType.UNCLASSIFIED: (),
}
TYPE_ASSET_TYPES: dict[SignalType, tuple[str, ...]] = {
    SignalType.GEOPOLITICAL_CONFLICT: ("commodities", "currencies", "equities", "freight"),
    SignalType.GEOPOLITICAL_SANCTIONS: ("commodities", "currencies", "equities"),
    SignalType.GEOPOLITICAL_DIPLOMATIC: ("commodities", "currencies", "equities"),
    SignalType.SUPPLY_CHAIN_DISRUPTION: ("equities", "freight", "inventory"),
    SignalType.SHIPPING_ROUTE_RISK: ("commodities", "freight", "insurance"),
    SignalType.PORT_OPERATIONS: ("freight", "inventory"),
    SignalType.ENERGY_SUPPLY: ("commodities", "equities"),
    SignalType.ENERGY_INFRASTRUCTURE: ("commodities", "utilities"),
    SignalType.LABOR_DISRUPTION: ("equities", "freight"),
    SignalType.CLIMATE_EVENT: ("agriculture", "commodities", "freight"),
    SignalType.NATURAL_DISASTER: ("equities", "insurance"),
    SignalType.REGULATORY_CHANGE: ("equities", "goods"),
    SignalType.POLITICAL_POLICY: ("currencies", "equities", "goods"),
    SignalType.UNCLASSIFIED: (),
}
NEGATIVE_TYPES = frozenset(
    {
        SignalType.GEOPOLITICAL_CONFLICT,
        SignalType.LABOR_DISRUPTION,
        SignalType.SUPPLY_CHAIN_DISRUPTION,
    }
)

# --- News: credibility by domain tier (news_quality).
NEWS_DOMAIN_TIERS: dict[str, float] = {
    # wire services
    "reuters.com": 0.95, "apnews.com": 0.95, "afp.com": 0.95, "bloomberg.com": 0.95,
    # major papers
    "ft.com": 0.90, "wsj.com": 0.90, "nytimes.com": 0.90, "washingtonpost.com": 0.90,
    "theguardian.com": 0.90, "economist.com": 0.90, "nikkei.com": 0.90,
    # trade press
    "lloydslist.com": 0.80, "tradewindsnews.com": 0.80, "joc.com": 0.80,
    "splash247.com": 0.80, "freightwaves.com": 0.80, "theloadstar.com": 0.80,
    "gcaptain.com": 0.80, "hellenicshippingnews.com": 0.80, "porttechnology.org": 0.80,
    "spglobal.com": 0.80, "argusmedia.com": 0.80, "supplychaindive.com": 0.80,
    # broadcasters
    "bbc.com": 0.60, "bbc.co.uk": 0.60, "cnn.com": 0.60, "cnbc.com": 0.60,
    "aljazeera.com": 0.60, "foxnews.com": 0.60, "nbcnews.com": 0.60, "cbsnews.com": 0.60,
    "abcnews.go.com": 0.60, "dw.com": 0.60, "france24.com": 0.60, "npr.org": 0.60,
}
NEWS_DEFAULT_CREDIBILITY = 0.30
NEWS_SOURCES = frozenset({"newsapi", "newsdata"})

SOURCE_TYPES: dict[str, str] = {
    "polymarket": "prediction_market",
    "newsapi": "news",
    "newsdata": "news",
    "openmeteo": "weather",
    "yahoo": "market_data",
}
